package singularconn

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/singularconn/sngtest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzSingular runs reports at a Singular test server and answers every
// report download with body.
func fuzzSingular(t testing.TB) func(t *testing.T, body string) (int, error) {
	srv := sngtest.New(t)
	day := base.Add(24 * time.Hour)
	return func(t *testing.T, body string) (int, error) {
		v := &connectortest.Vendor{Next: srv.Client(), Answer: func(r *http.Request) (int, string) {
			if strings.HasPrefix(r.URL.Path, "/download/") {
				return 200, body
			}
			return 0, ""
		}}
		d, err := Open(connector.Deps{HTTPClient: v.Client(), Endpoints: connector.Endpoints{connector.EndpointSingular: srv.URL()},
			Now: func() time.Time { return base.Add(40 * 24 * time.Hour) }},
			connector.Profile{Name: "sng", Credentials: json.RawMessage(`{"apiKey":"` + sngtest.APIKey + `"}`)}, (&waits{}).options())
		if err != nil {
			t.Fatal(err)
		}
		bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: Reporting, Fields: []string{"start_date", "app", "source", "adn_cost", "adn_clicks"}, Window: dayWindow(day)})
		return connectortest.Rows(bs), err
	}
}

// Whatever a report download holds, the read fails as a fault or gives
// each of its results.
func FuzzReportDownload(f *testing.F) {
	connectortest.FuzzList(f, "results", []string{
		`{"results":[{"start_date":"2024-01-02","app":"Fuzz","source":"AdNet","adn_cost":12.5,"adn_clicks":3},{"app":null,"adn_cost":"n/a"}]}`,
		`{"results":[]}`, `{}`, `{"status":1,"value":"error"}`, `<Error><Code>AccessDenied</Code></Error>`,
	}, fuzzSingular(f))
}

// The fuzzer found a download without results read as an empty report.
func TestDownloadWithoutResultsFails(t *testing.T) {
	read := fuzzSingular(t)
	for _, body := range []string{`{}`, `{"results":null}`} {
		if _, err := read(t, body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}
