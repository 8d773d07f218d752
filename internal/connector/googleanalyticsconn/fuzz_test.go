package googleanalyticsconn

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/googleanalyticsconn/gatest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzGA describes views at a Google Analytics test server and answers
// every batchGet with body.
func fuzzGA(t testing.TB) func(t *testing.T, body string) (int, error) {
	srv := gatest.New(t)
	seed(srv)
	return func(t *testing.T, body string) (int, error) {
		v := &connectortest.Vendor{Next: srv.Client(), Answer: func(r *http.Request) (int, string) {
			if strings.HasSuffix(r.URL.Path, "reports:batchGet") {
				return 200, body
			}
			return 0, ""
		}}
		d, err := Open(connector.Deps{HTTPClient: v.Client(), Now: func() time.Time { return base.Add(20 * 24 * time.Hour) },
			Endpoints: connector.Endpoints{connector.EndpointGoogleAnalytics: srv.URL(), connector.EndpointGoogleOAuth: srv.URL()}},
			connector.Profile{Name: "ga", Credentials: json.RawMessage(fmt.Sprintf(`{"clientId":%q,"clientSecret":%q,"accessToken":%q,"refreshToken":%q}`,
				gatest.ClientID, gatest.ClientSecret, srv.Token(), gatest.RefreshToken))}, Options{Retry: (&sleeps{}).policy()})
		if err != nil {
			t.Fatal(err)
		}
		bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: gatest.View, Fields: []string{DateField, "ga:country|DIMENSION", "ga:sessions|METRIC"},
			Filters: []connector.Filter{between(base, base.Add(24*time.Hour))}})
		return connectortest.Rows(bs), err
	}
}

// Whatever batchGet answers (the same page to every pageToken), the read
// fails as a fault or gives each row with every dimension and metric.
func FuzzBatchGet(f *testing.F) {
	for _, s := range []string{
		`{"reports":[{"columnHeader":{"dimensions":["ga:date","ga:country"],"metricHeader":{"metricHeaderEntries":[{"name":"ga:sessions","type":"INTEGER"}]}},"data":{"rows":[{"dimensions":["20240101","France"],"metrics":[{"values":["12"]}]}],"rowCount":1}}]}`,
		`{"reports":[{"data":{"rows":[{"dimensions":["20240101","France"],"metrics":[{"values":["1"]}]}]},"nextPageToken":"2"}]}`,
		`{"reports":[{"data":{"rows":[{"dimensions":["20240101"],"metrics":[{"values":[]}]}]}}]}`,
		`{"reports":[{"data":{}}]}`, `{"reports":[]}`, `{}`,
	} {
		f.Add(s)
	}
	read := fuzzGA(f)
	f.Fuzz(func(t *testing.T, body string) {
		rows, err := read(t, body)
		if err != nil {
			return
		}
		var out struct {
			Reports []struct {
				Data struct {
					Rows []struct {
						Dimensions []string
						Metrics    []struct{ Values []string }
					}
				}
			}
		}
		if json.Unmarshal([]byte(body), &out) != nil || len(out.Reports) != 1 || rows != len(out.Reports[0].Data.Rows) {
			t.Fatalf("read %d rows of %q, want an error", rows, body)
		}
		for _, r := range out.Reports[0].Data.Rows {
			if len(r.Dimensions) != 2 || len(r.Metrics) == 0 || len(r.Metrics[0].Values) != 1 {
				t.Fatalf("read a row %+v of %q with cells missing, want an error", r, body)
			}
		}
	})
}

// The fuzzer found a row with fewer dimension or metric values than
// asked read with nulls in their place.
func TestShortRowsFail(t *testing.T) {
	read := fuzzGA(t)
	for _, body := range []string{
		`{"reports":[{"data":{"rows":[{"dimensions":["20240101"],"metrics":[{"values":["1"]}]}]}}]}`,
		`{"reports":[{"data":{"rows":[{"dimensions":["20240101","France"],"metrics":[{"values":[]}]}]}}]}`,
		`{"reports":[{"data":{"rows":[{"dimensions":["20240101","France"]}]}}]}`,
	} {
		if _, err := read(t, body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}
