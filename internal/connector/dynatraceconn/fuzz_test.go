package dynatraceconn

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/fault"
)

var fuzzEntities = []string{Problems, Events, Metrics}

// fuzzRead reads an entity from a vendor answering body to every call.
func fuzzRead(t *testing.T, body, entity string) (int, error) {
	v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, body }}
	d, err := Open(connector.Deps{HTTPClient: v.Client()}, connector.Profile{Name: "dt",
		Properties: json.RawMessage(`{"instanceUrl":"https://abc123.live.dynatrace.test"}`), Credentials: json.RawMessage(`{"apiToken":"dt0c01.x"}`)},
		Options{Retry: (&sleeps{}).policy(), PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	req := metricsRequest("builtin:host.cpu.usage", nil)
	if entity != Metrics {
		req = &connector.ReadRequest{Object: entity, Window: &connector.Window{Field: "startTime", Start: base, End: base.Add(time.Hour)}}
	}
	bs, err := connectortest.FuzzRead(t, v, d, req)
	return connectortest.Rows(bs), err
}

// Whatever Dynatrace answers (the same page to every nextPageKey), the
// read fails as a fault or gives what the answer holds.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		`{"totalCount":1,"pageSize":1,"problems":[{"problemId":"1","displayId":"P-1","status":"CLOSED","startTime":1704070800000,"endTime":-1,"rootCauseEntity":{"entityId":{"id":"HOST-1","type":"HOST"}}}]}`,
		`{"totalCount":2,"pageSize":1,"nextPageKey":"AQAAABQBAAAABQ==","events":[{"eventId":"e1","startTime":1704067200000,"properties":[{"key":"v","value":"1"}]}]}`,
		`{"totalCount":1,"resolution":"1h","result":[{"metricId":"builtin:host.cpu.usage","data":[{"dimensions":["HOST-1"],"dimensionMap":{"dt.entity.host":"HOST-1"},"timestamps":[1704067200000,1704070800000],"values":[1.5,null]}]}]}`,
		`{"result":[{"metricId":"m","data":[{"timestamps":[1],"values":[]}]}]}`, `{}`, `{"error":{"code":400,"message":"Constraints violated."}}`,
	} {
		for i := range fuzzEntities {
			f.Add(s, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		entity := fuzzEntities[int(which)%len(fuzzEntities)]
		rows, err := fuzzRead(t, body, entity)
		if err != nil || entity == Metrics {
			return
		}
		var page map[string]json.RawMessage
		var items []json.RawMessage
		if json.Unmarshal([]byte(body), &page) != nil || page[entity] == nil || json.Unmarshal(page[entity], &items) != nil || rows != len(items) {
			t.Fatalf("read %d %s of %q, want an error", rows, entity, body)
		}
	})
}

// The fuzzer found a nextPageKey that does not move paged forever, and an
// answer without the entity's list read as none.
func TestBrokenPagesFail(t *testing.T) {
	for _, c := range []struct{ entity, body string }{
		{Problems, `{}`}, {Events, `{"problems":[]}`}, {Metrics, `{"totalCount":0}`},
		{Events, `{"events":[],"nextPageKey":"AQAAABQBAAAABQ=="}`},
	} {
		if _, err := fuzzRead(t, c.body, c.entity); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s %s: err = %v, want a ConnectorServer fault", c.entity, c.body, err)
		}
	}
}
