package infornexusconn

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/infornexusconn/inxtest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzRead reads orders from a vendor answering body to every query.
func fuzzRead(t *testing.T, body string) (int, error) {
	v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, body }}
	d, err := Open(connector.Deps{HTTPClient: v.Client()}, connector.Profile{Name: "inx",
		Properties:  json.RawMessage(`{"instanceUrl":"https://network.infornexus.test/rest/3.1"}`),
		Credentials: json.RawMessage(`{"accessKeyId":"` + inxtest.AccessKey + `","userId":"` + inxtest.User + `","secretAccessKey":"s","datakey":"` + inxtest.DataKey + `"}`)},
		Options{Retry: (&sleeps{}).policy(), PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: "OrderDetail", Fields: []string{MetaUID, "poNumber"}})
	return connectortest.Rows(bs), err
}

// Whatever a query answers (the same page at every offset), the read
// fails as a fault or gives each result of the answer.
func FuzzQuery(f *testing.F) {
	connectortest.FuzzList(f, "result", []string{
		`{"result":[{"__metadata":{"type":"OrderDetail","uid":"123","createTimestamp":"2024-01-02 03:04:05.000"},"poNumber":"PO-1"},{"__metadata":{"uid":"124"},"poNumber":null}],"resultInfo":{"count":2,"hasMore":false,"firstRowNumber":0}}`,
		`{"result":[{"__metadata":{"uid":"1"}}],"resultInfo":{"count":1,"hasMore":true}}`,
		`{"result":[],"resultInfo":{"count":0,"hasMore":true}}`, `{"message":"Unauthorized","error":"401"}`, `{}`,
	}, fuzzRead)
}

// The fuzzer found an answer without result read as no rows, and one that
// says hasMore at every offset read forever.
func TestBrokenQueriesFail(t *testing.T) {
	for _, body := range []string{`{}`, `{"result":[{"__metadata":{"uid":"1"}}],"resultInfo":{"count":1,"hasMore":true}}`} {
		if _, err := fuzzRead(t, body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}
