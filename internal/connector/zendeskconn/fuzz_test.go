package zendeskconn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
)

// Objects by how they are read: the cursor export, the time export, a
// cursor-paged list; tickets also read the ticket fields first.
var fuzzObjects = []struct {
	name   string
	fields []string
}{
	{"tickets", []string{"id", "subject", "updated_at", "custom_field_7"}},
	{"organizations", []string{"id", "name", "updated_at"}},
	{"groups", []string{"id", "name", "default"}},
	{"tickets", nil},
}

// Whatever Zendesk answers, a read ends: with a fault, or with every item
// of the answer (the same answer to every page: a cursor that does not
// move must fail, not loop); never with a page quietly taken as empty.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		`{"tickets":[{"id":1,"subject":"Help","updated_at":"2024-01-02T03:04:05Z","custom_fields":[{"id":7,"value":"x"}]}],"after_cursor":null,"end_of_stream":true}`,
		`{"tickets":[{"id":1}],"after_cursor":"MTU3","end_of_stream":false}`,
		`{"organizations":[{"id":1,"name":"Acme","updated_at":"2024-01-02T03:04:05Z"},{"id":1,"name":"Acme 2"}],"end_time":1700000000,"end_of_stream":false}`,
		`{"organizations":[{"name":"no id"},{"name":"none either"}],"end_of_stream":true}`,
		`{"groups":[{"id":12345678901234567890,"name":"Support","default":true}],"meta":{"has_more":true,"after_cursor":"xyz"}}`,
		`{"ticket_fields":[{"id":7,"type":"text","title":"T"}],"meta":{"has_more":false}}`,
		`{}`, `{"tickets":null,"end_of_stream":true}`, `{"tickets":[`, `{"tickets":[]} trailing`,
	} {
		for i := range fuzzObjects {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		obj := fuzzObjects[int(which)%len(fuzzObjects)]
		v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, body }}
		props, _ := json.Marshal(map[string]any{"instanceUrl": "https://acme.zendesk.test"})
		d, err := open(connector.Deps{HTTPClient: v.Client()}, connector.Profile{Name: "zd", Properties: props, Credentials: json.RawMessage(`{"accessToken":"t"}`)}, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: obj.name, Fields: obj.fields})
		if err != nil {
			return
		}
		rows := 0
		for _, b := range bs {
			rows += b.Len()
		}
		items, ok := fuzzItems(body, obj.name)
		if !ok {
			t.Fatalf("%s: read %d rows of %q, want an error", obj.name, rows, body)
		}
		if obj.name == "organizations" {
			ids := map[string]bool{}
			for _, it := range items {
				ids[fmt.Sprint(it["id"])] = true
			}
			items = make([]map[string]any, len(ids))
		}
		if rows != len(items) {
			t.Fatalf("%s: read %d rows of %q, want %d", obj.name, rows, body, len(items))
		}
	})
}

// fuzzItems are the items of a well-formed page: one JSON object holding
// the object's list (organizations each with an id).
func fuzzItems(body, name string) ([]map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.UseNumber()
	var page map[string]json.RawMessage
	if dec.Decode(&page) != nil || dec.More() {
		return nil, false
	}
	var items []map[string]any
	raw, ok := page[name]
	if !ok || json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	for _, it := range items {
		if it["id"] == nil && name == "organizations" { // the time export merges by id
			return nil, false
		}
	}
	return items, true
}

// refusal reads any refusal and classifies it.
func FuzzParseAPIError(f *testing.F) {
	for _, s := range []string{`{"error":"RecordInvalid","description":"Record validation errors","details":{"name":[{"description":"Name: is too short"}]}}`,
		`{"error":{"title":"Forbidden","message":"You do not have access"}}`, `{"error":"invalid_token","error_description":"expired"}`, `Rate limited`, `{"error":null}`} {
		f.Add(422, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		err := refusal(&httpconn.Response{Status: status, Body: []byte(body)})
		if fault.CodeOf(err) == fault.Unknown {
			t.Fatalf("refusal(%d, %q) = %v", status, body, err)
		}
	})
}

// Answers the fuzzer found read wrongly: a cursor that does not move paged
// forever, a page without the object's list read as empty, organizations
// without ids merged into one, and data after the JSON ignored.
func TestBrokenAnswersFail(t *testing.T) {
	for _, c := range []struct{ object, body string }{
		{"tickets", `{"tickets":[{"id":1}],"after_cursor":"MTU3","end_of_stream":false}`},
		{"groups", `{"groups":[{"id":1}],"meta":{"has_more":true,"after_cursor":"xyz"}}`},
		{"tickets", `{"error":"busy","after_cursor":null}`},
		{"groups", `{}`},
		{"organizations", `{"organizations":[{"name":"a"},{"name":"b"}],"end_of_stream":true}`},
		{"tickets", `{"tickets":[],"end_of_stream":true} {"tickets":[{"id":2}]}`},
	} {
		v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, c.body }}
		props, _ := json.Marshal(map[string]any{"instanceUrl": "https://acme.zendesk.test"})
		d, err := open(connector.Deps{HTTPClient: v.Client()}, connector.Profile{Name: "zd", Properties: props, Credentials: json.RawMessage(`{"accessToken":"t"}`)}, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		_, err = connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: c.object, Fields: []string{"id", "name"}})
		if fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s %s: err = %v, want a ConnectorServer fault", c.object, c.body, err)
		}
	}
}
