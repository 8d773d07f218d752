package datadogconn

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzRead reads logs (or metrics over two hours) from a vendor answering
// body to every call, and returns the rows.
func fuzzRead(t *testing.T, body string, metrics bool) (int, error) {
	v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, body }}
	d, err := Open(connector.Deps{HTTPClient: v.Client()}, connector.Profile{Name: "dd",
		Properties: json.RawMessage(`{"instanceUrl":"https://api.datadoghq.test"}`), Credentials: json.RawMessage(goodCreds)},
		Options{Retry: (&sleeps{}).policy(), PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	req := logsRequest("web", []string{"id", "timestamp", "message", "tags", "attributes", "user"})
	if metrics {
		req = &connector.ReadRequest{Object: Metrics, Filters: []connector.Filter{
			{Field: "query", Operator: "EQUAL_TO", Values: []string{"avg:system.cpu.user{*}"}},
			{Field: "from_to_date", Operator: "BETWEEN", Values: []string{ms(base), ms(base.Add(2*time.Hour - time.Millisecond))}, DataType: "datetime"},
		}}
	}
	bs, err := connectortest.FuzzRead(t, v, d, req)
	return connectortest.Rows(bs), err
}

// Whatever the logs search or metrics query answers (the same page to
// every cursor and chunk), the read fails as a fault or gives what the
// answer holds.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		`{"data":[{"id":"AAAA","type":"log","attributes":{"timestamp":"2024-01-01T00:00:01.000Z","message":"hi","tags":["env:prod"],"attributes":{"user":"u1"}}}],"meta":{"page":{"after":""},"status":"done"}}`,
		`{"data":[{"id":"B","type":"log","attributes":{"timestamp":"2024-01-01T00:00:02Z"}}],"meta":{"page":{"after":"eyJhZnRlciI6IkIifQ"}}}`,
		`{"meta":{"status":"timeout"}}`, `{}`, `{"errors":["Forbidden"]}`,
		`{"status":"ok","series":[{"expression":"avg:system.cpu.user{host:a}","scope":"host:a","pointlist":[[1704067200000.0,1.5],[1704067260000.0,null]]}]}`,
		`{"status":"error","error":"bad query"}`, `{"status":"ok","series":[{"pointlist":[[1]]}]}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, metrics bool) {
		rows, err := fuzzRead(t, body, metrics)
		if err != nil || metrics {
			return
		}
		var page struct {
			Data *[]json.RawMessage `json:"data"`
		}
		if json.Unmarshal([]byte(body), &page) != nil || page.Data == nil || rows > len(*page.Data) {
			t.Fatalf("read %d logs of %q, want an error", rows, body)
		}
	})
}

// The fuzzer found a page cursor that does not move paged forever, and a
// search answer without data read as no logs.
func TestBrokenLogsFail(t *testing.T) {
	for _, body := range []string{`{}`, `{"data":[],"meta":{"page":{"after":"abc"}}}`} {
		if _, err := fuzzRead(t, body, false); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}
