package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWrapCountsOperationsAndServesMetrics(t *testing.T) {
	m := New()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start-flow" {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := m.Wrap(api, PathOperation(map[string]string{"/list-flows": "ListFlows", "/start-flow": "StartFlow"}))
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "/list-flows", nil),
		httptest.NewRequest("POST", "/list-flows", nil),
		httptest.NewRequest("POST", "/start-flow", nil),
		httptest.NewRequest("GET", "/tags/arn%3Ax", nil),
		httptest.NewRequest("POST", "/no-such-thing", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	m.RunFinished(Run{Source: "S3", Destination: "Redshift", Status: "Successful", Duration: time.Second, Records: 7, BytesRead: 70, BytesWritten: 90})

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`appflowd_api_requests_total{operation="ListFlows",status="200"} 2`,
		`appflowd_api_requests_total{operation="StartFlow",status="404"} 1`,
		`appflowd_api_requests_total{operation="ListTagsForResource",status="200"} 1`,
		`appflowd_api_requests_total{operation="unknown",status="200"} 1`,
		`appflowd_flow_runs_total{destination="Redshift",source="S3",status="Successful"} 1`,
		`appflowd_flow_records_processed_total{destination="Redshift",source="S3"} 7`,
		`appflowd_flow_bytes_written_total{destination="Redshift",source="S3"} 90`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.RunFinished(Run{Status: "Error"})
	api := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := m.Wrap(api, nil); got == nil {
		t.Fatal("nil Metrics must pass the handler through")
	}
}
