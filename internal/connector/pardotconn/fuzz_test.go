package pardotconn

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/pardotconn/pdtest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzRead reads prospects from a vendor answering body to every call.
func fuzzRead(t *testing.T, body string) (int, error) {
	v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, body }}
	d, err := Open(connector.Deps{HTTPClient: v.Client(), Endpoints: connector.Endpoints{connector.EndpointSalesforceLogin: "https://login.salesforce.test"}},
		connector.Profile{Name: "pd", Properties: json.RawMessage(`{"businessUnitId":"` + pdtest.BusinessUnit + `","instanceUrl":"https://pi.pardot.test"}`),
			Credentials: json.RawMessage(`{"accessToken":"A0"}`)}, Options{ClientID: pdtest.ClientID, ClientSecret: pdtest.ClientSecret, Retry: (&sleeps{}).policy()})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: "prospects", Fields: []string{"id", "email", "score", "updatedAt"}})
	return connectortest.Rows(bs), err
}

// Whatever Pardot answers (the same page to every nextPageUrl), the read
// fails as a fault or gives each value of the answer.
func FuzzRead(f *testing.F) {
	connectortest.FuzzList(f, "values", []string{
		`{"values":[{"id":1,"email":"a@example.com","score":12,"updatedAt":"2024-01-02T03:04:05-04:00"},{"id":2,"email":null}],"nextPageToken":null,"nextPageUrl":null}`,
		`{"values":[{"id":1}],"nextPageUrl":"https://pi.pardot.test/api/v5/objects/prospects?nextPageToken=abc"}`,
		`{"code":66,"message":"Daily API rate limit met."}`, `{}`, `{"values":null}`,
	}, fuzzRead)
}

// The fuzzer found an answer without values read as an empty collection.
func TestAnswerWithoutValuesFails(t *testing.T) {
	for _, body := range []string{`{}`, `{"values":null}`} {
		if _, err := fuzzRead(t, body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}
