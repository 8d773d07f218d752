package dynatraceconn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/dynatraceconn/dttest"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
	// after runs on each sleep (e.g. to clear the server's slow flag).
	after func(n int)
}

func (s *sleeps) policy() retry.Policy {
	return retry.Policy{Attempts: 4, Jitter: func() float64 { return 0 }, Sleep: func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		s.d = append(s.d, d)
		n := len(s.d)
		s.mu.Unlock()
		if s.after != nil {
			s.after(n)
		}
		return ctx.Err()
	}}
}

func openTest(t *testing.T, srv *dttest.Server, token string, opts Options) *Driver {
	t.Helper()
	if opts.Retry.Sleep == nil {
		opts.Retry = (&sleeps{}).policy()
	}
	d, err := Open(connector.Deps{HTTPClient: srv.Client()}, connector.Profile{Name: "dt",
		Properties:  json.RawMessage(fmt.Sprintf(`{"instanceUrl":%q}`, srv.URL())),
		Credentials: json.RawMessage(fmt.Sprintf(`{"apiToken":%q}`, token))}, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

type harness struct {
	srv *dttest.Server
	n   int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.srv, dttest.Token, Options{})
}

func metricsRequest(metric string, fields []string) *connector.ReadRequest {
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "e", Object: Metrics, Fields: fields, Filters: []connector.Filter{
		{Field: "metricSelector", Operator: "EQUAL_TO", Values: []string{metric}},
		{Field: "from_to_date", Operator: "BETWEEN", Values: []string{ms(base), ms(base.Add(24 * time.Hour))}, DataType: "datetime"},
	}}
}

// Seed stores each row as one data point whose dimensions are the row's
// fields: the driver reads projected non-schema fields from dimensionMap.
func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.n++
	metric := fmt.Sprintf("conf:metric%d", h.n)
	var names []string
	var pts []dttest.Point
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			p := dttest.Point{Dimensions: map[string]string{}, Timestamp: base.Add(time.Duration(len(pts)) * time.Millisecond).UnixMilli(), Value: 1}
			for i, f := range tb.Fields {
				p.Dimensions[f] = row[i]
			}
			pts = append(pts, p)
		}
	}
	h.srv.AddPoints(metric, pts...)
	return metricsRequest(metric, names)
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.n++
	metric := fmt.Sprintf("bad:metric%d", h.n)
	h.srv.Malformed(metric)
	return metricsRequest(metric, []string{"value"}), Metrics
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{srv: dttest.New(t)})
}

func readAll(t *testing.T, d *Driver, req *connector.ReadRequest) ([]map[string]string, error) {
	t.Helper()
	ctx := context.Background()
	splits, err := d.Splits(ctx, req)
	if err != nil {
		return nil, err
	}
	var rows []map[string]string
	for _, s := range splits {
		err := d.ReadSplit(ctx, req, s, func(b *record.Batch) error {
			for i := range b.Len() {
				r := map[string]string{}
				for j, v := range b.Row(i) {
					if v.K != record.Missing && v.Text() != "" {
						r[b.Fields[j]] = v.Text()
					}
				}
				rows = append(rows, r)
			}
			return nil
		})
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func problem(id string, start, end time.Time, status string) dttest.Item {
	endMS := int64(-1)
	if !end.IsZero() {
		endMS = end.UnixMilli()
	}
	return dttest.Item{"problemId": id, "displayId": "P-" + id, "title": "Host unavailable", "impactLevel": "INFRASTRUCTURE",
		"severityLevel": "AVAILABILITY", "status": status, "startTime": start.UnixMilli(), "endTime": endMS,
		"affectedEntities": []any{}, "impactedEntities": []any{}, "managementZones": []any{}, "entityTags": []any{}, "problemFilters": []any{},
		"rootCauseEntity": map[string]any{"entityId": map[string]any{"id": "HOST-1", "type": "HOST"}, "name": "host-1"}}
}

func TestProblemsBetweenPushedAndPaged(t *testing.T) {
	srv := dttest.New(t)
	srv.AddProblems(
		problem("1", base.Add(time.Hour), base.Add(2*time.Hour), "CLOSED"),
		problem("2", base.Add(3*time.Hour), time.Time{}, "OPEN"),
		problem("3", base.Add(48*time.Hour), base.Add(49*time.Hour), "CLOSED"),
	)
	d := openTest(t, srv, dttest.Token, Options{PageSize: 1})
	req := &connector.ReadRequest{Object: Problems, Fields: []string{"problemId", "status", "startTime", "endTime", "rootCauseEntity", "problemSelector"},
		Filters: []connector.Filter{
			{Field: "from_to_date", Operator: "BETWEEN", Values: []string{ms(base), ms(base.Add(24*time.Hour - time.Millisecond))}, DataType: "datetime"},
			{Field: "problemSelector", Operator: "EQUAL_TO", Values: []string{`status("open")`}},
		}}
	rows, err := readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"problemId": "1", "status": "CLOSED", "startTime": "2024-01-01T01:00:00.000Z", "endTime": "2024-01-01T02:00:00.000Z",
			"rootCauseEntity": `{"entityId":{"id":"HOST-1","type":"HOST"},"name":"host-1"}`, "problemSelector": `status("open")`},
		{"problemId": "2", "status": "OPEN", "startTime": "2024-01-01T03:00:00.000Z",
			"rootCauseEntity": `{"entityId":{"id":"HOST-1","type":"HOST"},"name":"host-1"}`, "problemSelector": `status("open")`},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows\n got %v\nwant %v", rows, want)
	}
	wantReq := []string{fmt.Sprintf(`problems %d %d problemSelector=status("open")`, base.UnixMilli(), base.Add(24*time.Hour).UnixMilli()-1)}
	if got := srv.Requests(); !slices.Equal(got, wantReq) {
		t.Errorf("requests %q, want %q", got, wantReq)
	}
	if srv.Calls() != 2 {
		t.Errorf("%d calls, want 2 pages (the second with nextPageKey alone)", srv.Calls())
	}
}

func TestWindowAndRangeRules(t *testing.T) {
	srv := dttest.New(t)
	srv.AddEvents(dttest.Item{"eventId": "E1", "eventType": "CUSTOM_INFO", "title": "deploy", "startTime": base.UnixMilli(), "endTime": base.UnixMilli(),
		"status": "CLOSED", "entityId": map[string]any{"entityId": map[string]any{"id": "HOST-1"}}, "properties": []any{map[string]any{"key": "v", "value": "1"}}})
	d := openTest(t, srv, dttest.Token, Options{})
	ctx := context.Background()
	// A scheduled window is the timeframe.
	rows, err := readAll(t, d, &connector.ReadRequest{Object: Events, Fields: []string{"eventId", "properties"},
		Window: &connector.Window{Field: "startTime", Start: base.Add(-time.Minute), End: base.Add(time.Minute)}})
	if err != nil || len(rows) != 1 || rows[0]["properties"] != `[{"key":"v","value":"1"}]` {
		t.Fatalf("events: %v %v", rows, err)
	}
	if got := srv.Requests(); len(got) != 1 || got[0] != fmt.Sprintf("events %d %d", base.Add(-time.Minute).UnixMilli(), base.Add(time.Minute).UnixMilli()-1) {
		t.Errorf("requests %q", got)
	}
	// A first run's long look-back is clamped to 30 days.
	end := base.Add(90 * 24 * time.Hour)
	ss, err := d.Splits(ctx, &connector.ReadRequest{Object: Events, Window: &connector.Window{Field: "startTime", Start: base, End: end}})
	if err != nil {
		t.Fatal(err)
	}
	if p := ss[0].Opaque.(*plan); p.lo != end.Add(-MaxRange).UnixMilli() {
		t.Errorf("window not clamped: lo %d", p.lo)
	}
	// A BETWEEN over 30 days, no range, or metrics without a selector are refused.
	_, err = d.Splits(ctx, &connector.ReadRequest{Object: Problems, Filters: []connector.Filter{
		{Field: "from_to_date", Operator: "BETWEEN", Values: []string{ms(base), ms(base.Add(31 * 24 * time.Hour))}}}})
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "30 days") {
		t.Errorf("31-day BETWEEN: %v", err)
	}
	if _, err := d.Splits(ctx, &connector.ReadRequest{Object: Problems}); !fault.Is(err, fault.Invalid) {
		t.Errorf("no range: %v", err)
	}
	if _, err := d.Splits(ctx, &connector.ReadRequest{Object: Metrics, Window: &connector.Window{Start: base, End: end}}); !fault.Is(err, fault.Invalid) {
		t.Errorf("metrics without metricSelector: %v", err)
	}
}

func TestMetricsFlattened(t *testing.T) {
	srv := dttest.New(t)
	srv.AddPoints("builtin:host.cpu.usage",
		dttest.Point{Dimensions: map[string]string{"dt.entity.host": "HOST-1"}, Timestamp: base.UnixMilli(), Value: 12.5},
		dttest.Point{Dimensions: map[string]string{"dt.entity.host": "HOST-2"}, Timestamp: base.Add(time.Hour).UnixMilli(), Value: 7})
	d := openTest(t, srv, dttest.Token, Options{})
	req := metricsRequest("builtin:host.cpu.usage", []string{"metricId", "timestamp", "value", "dimensions", "dt.entity.host", "resolution"})
	req.Filters = append(req.Filters, connector.Filter{Field: "resolution", Operator: "EQUAL_TO", Values: []string{"1h"}})
	rows, err := readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"metricId": "builtin:host.cpu.usage", "timestamp": "2024-01-01T00:00:00.000Z", "value": "12.5", "dimensions": `["HOST-1"]`, "dt.entity.host": "HOST-1", "resolution": "1h"},
		{"metricId": "builtin:host.cpu.usage", "timestamp": "2024-01-01T01:00:00.000Z", "value": "7", "dimensions": `["HOST-2"]`, "dt.entity.host": "HOST-2", "resolution": "1h"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows\n got %v\nwant %v", rows, want)
	}
	if got := srv.Requests(); len(got) != 1 || !strings.Contains(got[0], "metricSelector=builtin:host.cpu.usage resolution=1h") {
		t.Errorf("requests %q", got)
	}
}

func TestAuthFailures(t *testing.T) {
	srv := dttest.New(t)
	ctx := context.Background()
	if err := openTest(t, srv, dttest.Token, Options{}).CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	err := openTest(t, srv, "dt0c01.WRONG.X", Options{}).CheckProfile(ctx)
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "Token Authentication failed") {
		t.Errorf("bad token: %v", err)
	}
	err = openTest(t, srv, dttest.NoScopeToken, Options{}).CheckProfile(ctx)
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "problems.read") {
		t.Errorf("scopeless token: %v", err)
	}
	_, err = readAll(t, openTest(t, srv, dttest.NoScopeToken, Options{}), metricsRequest("m", []string{"value"}))
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), Metrics) {
		t.Errorf("scopeless read: %v, want AuthFailed naming the split", err)
	}
}

func TestBare429BacksOff(t *testing.T) {
	srv := dttest.New(t)
	srv.AddProblems(problem("1", base, base.Add(time.Minute), "CLOSED"))
	sl := &sleeps{}
	sl.after = func(n int) {
		if n == 2 {
			srv.Slow(false)
		}
	}
	pol := sl.policy()
	pol.Jitter = func() float64 { return 0.5 }
	d := openTest(t, srv, dttest.Token, Options{Retry: pol})
	srv.Slow(true)
	rows, err := readAll(t, d, &connector.ReadRequest{Object: Problems, Fields: []string{"problemId"},
		Window: &connector.Window{Start: base, End: base.Add(time.Hour)}})
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, err %v", rows, err)
	}
	if len(sl.d) != 2 || sl.d[0] <= 0 || sl.d[1] < sl.d[0] {
		t.Errorf("backoff sleeps %v, want two growing waits", sl.d)
	}
}

func TestRegisteredWithCatalog(t *testing.T) {
	r := connector.NewRegistry()
	catalog.RegisterAll(r)
	r.Register(httpconn.Spec(Type, httpconn.Source, Options{}, Open))
	s, ok := r.Lookup(Type)
	if !ok || s.Open == nil {
		t.Fatalf("Dynatrace not registered with a driver: %+v", s)
	}
	if !s.Capabilities.CanUseAsSource || !s.Capabilities.NeedsProfile || s.Capabilities.Description == "" || len(s.Capabilities.Operators) == 0 {
		t.Errorf("capabilities not merged with the catalog entry: %+v", s.Capabilities)
	}
}

// The roles the driver plays, checked at compile time.
var (
	_ connector.SourceDriver   = (*Driver)(nil)
	_ connector.CatalogDriver  = (*Driver)(nil)
	_ connector.ProfileChecker = (*Driver)(nil)
)
