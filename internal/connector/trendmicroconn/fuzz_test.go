package trendmicroconn

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzRead reads computers from a vendor answering body to every search.
func fuzzRead(t *testing.T, body string) (int, error) {
	v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, body }}
	d, err := Open(connector.Deps{HTTPClient: v.Client(), Endpoints: connector.Endpoints{connector.EndpointTrendMicro: "https://workload.trendmicro.test"}},
		connector.Profile{Name: "tm", Credentials: json.RawMessage(`{"apiSecretKey":"k"}`)}, Options{Retry: (&sleeps{}).policy(), PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: "computers", Fields: []string{"ID", "hostName", "description", "lastAgentCommunication"}})
	return connectortest.Rows(bs), err
}

// Whatever a search answers (the same page after every ID), the read
// fails as a fault or gives each object of the answer.
func FuzzSearch(f *testing.F) {
	connectortest.FuzzList(f, "computers", []string{
		`{"computers":[{"ID":1,"hostName":"web-1","description":"tag","lastAgentCommunication":1704067200000},{"ID":7,"hostName":"web-2"}]}`,
		`{"computers":[{"ID":3}]}`, `{"computers":[{"ID":2},{"ID":1}]}`, `{"computers":[{"hostName":"no id"}]}`,
		`{"message":"Invalid API key"}`, `{}`, `{"computers":null}`,
	}, fuzzRead)
}

// The fuzzer found a search answer without the resource's list read as
// no objects.
func TestSearchWithoutListFails(t *testing.T) {
	for _, body := range []string{`{}`, `{"computers":null}`, `{"policies":[]}`} {
		if _, err := fuzzRead(t, body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}
