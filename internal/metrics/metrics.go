// Package metrics exposes what appflowd does in Prometheus form on
// GET /metrics: API calls by operation and outcome, and flow runs by
// outcome, with their duration, records and bytes.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds one process's collectors. A nil *Metrics records nothing,
// so tests and tools need not build one.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	requestTime  *prometheus.HistogramVec
	runs         *prometheus.CounterVec
	runTime      *prometheus.HistogramVec
	records      *prometheus.CounterVec
	bytesRead    *prometheus.CounterVec
	bytesWritten *prometheus.CounterVec
}

// New returns Metrics on a registry of their own, with Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appflowd_api_requests_total", Help: "AppFlow API requests by operation and HTTP status.",
		}, []string{"operation", "status"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "appflowd_api_request_seconds", Help: "AppFlow API request latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"operation"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appflowd_flow_runs_total", Help: "Finished flow runs by source, destination and status.",
		}, []string{"source", "destination", "status"}),
		runTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "appflowd_flow_run_seconds", Help: "Flow run duration by source and destination.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"source", "destination"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appflowd_flow_records_processed_total", Help: "Records written by finished runs.",
		}, []string{"source", "destination"}),
		bytesRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appflowd_flow_bytes_processed_total", Help: "Source bytes read by finished runs.",
		}, []string{"source", "destination"}),
		bytesWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appflowd_flow_bytes_written_total", Help: "Destination bytes written by finished runs.",
		}, []string{"source", "destination"}),
	}
	m.reg.MustRegister(m.requests, m.requestTime, m.runs, m.runTime, m.records, m.bytesRead, m.bytesWritten,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Run is one finished flow run.
type Run struct {
	Source, Destination string // connector types
	Status              string // Successful, Error, Canceled
	Duration            time.Duration
	Records             int64
	BytesRead           int64
	BytesWritten        int64
}

// RunFinished records a finished run.
func (m *Metrics) RunFinished(r Run) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(r.Source, r.Destination, r.Status).Inc()
	m.runTime.WithLabelValues(r.Source, r.Destination).Observe(r.Duration.Seconds())
	m.records.WithLabelValues(r.Source, r.Destination).Add(float64(r.Records))
	m.bytesRead.WithLabelValues(r.Source, r.Destination).Add(float64(r.BytesRead))
	m.bytesWritten.WithLabelValues(r.Source, r.Destination).Add(float64(r.BytesWritten))
}

// Wrap serves GET /metrics and counts every other request to api by
// operation. operation names a request (from its method and path); it
// returns "" for paths that are not an operation, counted as "unknown" so
// random paths cannot grow the label set.
func (m *Metrics) Wrap(api http.Handler, operation func(*http.Request) string) http.Handler {
	if m == nil {
		return api
	}
	metricsHandler := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && r.Method == http.MethodGet {
			metricsHandler.ServeHTTP(w, r)
			return
		}
		op := operation(r)
		if op == "" {
			op = "unknown"
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		api.ServeHTTP(rec, r)
		m.requestTime.WithLabelValues(op).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(op, strconv.Itoa(rec.status)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// PathOperation maps an AppFlow request to its operation name from a table
// of fixed POST paths; the tags paths are told apart by method.
func PathOperation(fixed map[string]string) func(*http.Request) string {
	return func(r *http.Request) string {
		if strings.HasPrefix(r.URL.Path, "/tags/") {
			switch r.Method {
			case http.MethodGet:
				return "ListTagsForResource"
			case http.MethodPost:
				return "TagResource"
			case http.MethodDelete:
				return "UntagResource"
			}
			return ""
		}
		return fixed[r.URL.Path]
	}
}
