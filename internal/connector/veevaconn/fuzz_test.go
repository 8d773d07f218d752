package veevaconn

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/veevaconn/vvtest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzVault logs in and describes at a Vault test server and answers every
// query (first page and next_page) with body.
func fuzzVault(t testing.TB) (srv *vvtest.Server, read func(t *testing.T, body string) (int, error)) {
	srv = vvtest.New(t)
	srv.Object("product__v", vvtest.Field{Name: "id", Type: "ID"}, vvtest.Field{Name: "name__v", Type: "String"}, vvtest.Field{Name: "modified_date__v", Type: "DateTime"})
	return srv, func(t *testing.T, body string) (int, error) {
		v := &connectortest.Vendor{Next: srv.Client(), Answer: func(r *http.Request) (int, string) {
			if strings.Contains(r.URL.Path, "/query") {
				return 200, body
			}
			return 0, ""
		}}
		d, err := Open(connector.Deps{HTTPClient: v.Client()}, connector.Profile{Name: "vv",
			Properties:  json.RawMessage(`{"instanceUrl":"` + srv.URL() + `"}`),
			Credentials: json.RawMessage(`{"username":"` + vvtest.Username + `","password":"` + vvtest.Password + `"}`)}, Options{Retry: (&sleeps{}).policy()})
		if err != nil {
			t.Fatal(err)
		}
		bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: "product__v", Fields: []string{"id", "name__v"}})
		return connectortest.Rows(bs), err
	}
}

// Whatever a VQL query answers (the same page to every next_page and
// PAGEOFFSET), the read fails as a fault or gives each row of data.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		`{"responseStatus":"SUCCESS","responseDetails":{"pagesize":1000,"pageoffset":0,"size":2,"total":2},"data":[{"id":"00P000000000101","name__v":"Cholecap"},{"id":"00P000000000102","name__v":null}]}`,
		`{"responseStatus":"SUCCESS","responseDetails":{"pagesize":1,"pageoffset":0,"size":1,"total":3,"next_page":"/api/v24.1/query/00Q-1?pagesize=1&pageoffset=1"},"data":[{"id":"1"}]}`,
		`{"responseStatus":"SUCCESS","responseDetails":{"pageoffset":0,"size":1,"total":3},"data":[{"id":"1"}]}`,
		`{"responseStatus":"FAILURE","errors":[{"type":"INVALID_DATA","message":"Invalid field"}]}`,
		`{"responseStatus":"SUCCESS"}`, `{}`,
	} {
		f.Add(s)
	}
	_, read := fuzzVault(f)
	f.Fuzz(func(t *testing.T, body string) {
		rows, err := read(t, body)
		if err != nil {
			return
		}
		var page struct {
			Data *[]json.RawMessage `json:"data"`
		}
		if json.Unmarshal([]byte(body), &page) != nil || page.Data == nil || rows != len(*page.Data) {
			t.Fatalf("read %d rows of %q, want an error or each row", rows, body)
		}
	})
}

// The fuzzer found an answer without data read as no rows.
func TestQueryWithoutDataFails(t *testing.T) {
	_, read := fuzzVault(t)
	for _, body := range []string{`{"responseStatus":"SUCCESS"}`, `{}`} {
		if _, err := read(t, body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}
