package datadogconn

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
	"github.com/appflowd/appflowd/internal/connector/datadogconn/ddtest"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) policy() retry.Policy {
	return retry.Policy{Attempts: 4, Jitter: func() float64 { return 0 }, Sleep: func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		s.d = append(s.d, d)
		s.mu.Unlock()
		return ctx.Err()
	}}
}

const goodCreds = `{"apiKey":"k","applicationKey":"a"}`

func openTest(t *testing.T, srv *ddtest.Server, creds string, opts Options) *Driver {
	t.Helper()
	if opts.Retry.Sleep == nil {
		opts.Retry = (&sleeps{}).policy()
	}
	d, err := Open(connector.Deps{HTTPClient: srv.Client()}, connector.Profile{Name: "dd",
		Properties: json.RawMessage(fmt.Sprintf(`{"instanceUrl":%q}`, srv.URL())), Credentials: json.RawMessage(creds)}, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

type harness struct {
	srv *ddtest.Server
	n   int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.srv, goodCreds, Options{})
}

func logsRequest(service string, fields []string) *connector.ReadRequest {
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "e", Object: Logs, Fields: fields, Filters: []connector.Filter{
		{Field: "query", Operator: "EQUAL_TO", Values: []string{"service:" + service}},
		{Field: "from", Operator: "BETWEEN", Values: []string{ms(base), ms(base.Add(24 * time.Hour))}, DataType: "datetime"},
	}}
}

func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.n++
	svc := fmt.Sprintf("conf%d", h.n)
	var names []string
	var logs []ddtest.Log
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			l := ddtest.Log{Service: svc, Timestamp: base.Add(time.Duration(len(logs)) * time.Millisecond), Attributes: map[string]any{}}
			for i, f := range tb.Fields {
				if f == "id" {
					l.ID = row[i]
				} else {
					l.Attributes[f] = row[i]
				}
			}
			logs = append(logs, l)
		}
	}
	h.srv.AddLogs(logs...)
	return logsRequest(svc, names)
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.n++
	svc := fmt.Sprintf("bad%d", h.n)
	h.srv.Malformed(svc)
	return logsRequest(svc, []string{"message"}), Logs
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{srv: ddtest.New(t)})
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

func TestLogsWindowPushedAndTrimmed(t *testing.T) {
	srv := ddtest.New(t)
	for i := range 4 {
		srv.AddLogs(ddtest.Log{ID: fmt.Sprintf("L%d", i), Timestamp: base.Add(time.Duration(i) * time.Minute), Host: "h1", Service: "web",
			Status: "info", Message: fmt.Sprintf("m%d", i), Tags: []string{"env:prod"}, Attributes: map[string]any{"http": map[string]any{"status": 200}, "user": "u1"}})
	}
	d := openTest(t, srv, goodCreds, Options{PageSize: 1})
	// The window is [1 min, 3 min): Datadog's "to" is inclusive, so it is
	// sent as 3 min - 1 ms and L3 at exactly 3 min is not asked for.
	req := &connector.ReadRequest{Object: Logs, Fields: []string{"id", "timestamp", "message", "tags", "attributes", "user", "query", "from"},
		Filters: []connector.Filter{{Field: "query", Operator: "EQUAL_TO", Values: []string{"service:web"}}},
		Window:  &connector.Window{Field: "timestamp", Start: base.Add(time.Minute), End: base.Add(3 * time.Minute)}}
	rows, err := readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"id": "L1", "timestamp": "2024-01-01T00:01:00.000Z", "message": "m1", "tags": `["env:prod"]`, "attributes": `{"http":{"status":200},"user":"u1"}`,
			"user": "u1", "query": "service:web", "from": "2024-01-01T00:01:00.000Z"},
		{"id": "L2", "timestamp": "2024-01-01T00:02:00.000Z", "message": "m2", "tags": `["env:prod"]`, "attributes": `{"http":{"status":200},"user":"u1"}`,
			"user": "u1", "query": "service:web", "from": "2024-01-01T00:01:00.000Z"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows\n got %v\nwant %v", rows, want)
	}
	reqs := srv.Requests()
	if len(reqs) == 0 || reqs[0] != "/api/v2/logs/events/search service:web 2024-01-01T00:01:00.000Z 2024-01-01T00:02:59.999Z" {
		t.Errorf("requests %q: want the window as filter.from/to", reqs)
	}
	if n := srv.Calls("/api/v2/logs/events/search"); n != 2 {
		t.Errorf("%d search calls, want 2 (page.limit 1, L1 and L2)", n)
	}

	// A BETWEEN on from narrows it further (inclusive upper bound).
	req.Window = nil
	req.Filters = append(req.Filters, connector.Filter{Field: "from", Operator: "BETWEEN", Values: []string{ms(base.Add(2 * time.Minute)), ms(base.Add(3 * time.Minute))}})
	rows, err = readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["id"] != "L2" || rows[1]["id"] != "L3" {
		t.Errorf("BETWEEN rows %v, want L2, L3", rows)
	}
}

func TestMetricsChunkedAndConcatenated(t *testing.T) {
	srv := ddtest.New(t)
	const q = "avg:system.cpu.user{*}by{host}"
	var pa, pb [][2]float64
	for i := range 150 { // 2.5 h of 1-minute points
		at := float64(base.Add(time.Duration(i) * time.Minute).UnixMilli())
		pa = append(pa, [2]float64{at, float64(i) + 0.5})
		if i%2 == 0 {
			pb = append(pb, [2]float64{at, 2})
		}
	}
	srv.AddSeries(q,
		ddtest.Series{Metric: "system.cpu.user", Scope: "host:a", Expression: "avg:system.cpu.user{host:a}", Aggr: "avg", TagSet: []string{"host:a"}, Interval: 60, Points: pa},
		ddtest.Series{Metric: "system.cpu.user", Scope: "host:b", Expression: "avg:system.cpu.user{host:b}", Aggr: "avg", TagSet: []string{"host:b"}, Interval: 60, Points: pb})
	d := openTest(t, srv, goodCreds, Options{})
	// BETWEEN [00:00, 01:59:59.999] inclusive: two 1-hour calls, 120 points of host a.
	req := &connector.ReadRequest{Object: Metrics, Filters: []connector.Filter{
		{Field: "query", Operator: "EQUAL_TO", Values: []string{q}},
		{Field: "from_to_date", Operator: "BETWEEN", Values: []string{ms(base), ms(base.Add(2*time.Hour - time.Millisecond))}, DataType: "datetime"},
	}}
	rows, err := readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/api/v1/query " + q + " 1704067200 1704070800",
		"/api/v1/query " + q + " 1704070800 1704074400",
	}
	if got := srv.Requests(); !slices.Equal(got, want) {
		t.Errorf("requests\n got %q\nwant %q", got, want)
	}
	if len(rows) != 2 {
		t.Fatalf("%d records, want one per series: %v", len(rows), rows)
	}
	a := rows[0]
	if a["scope"] != "host:a" || a["length"] != "120" || a["start"] != "2024-01-01T00:00:00.000Z" || a["end"] != "2024-01-01T01:59:59.000Z" ||
		a["tag_set"] != `["host:a"]` || a["interval"] != "60" || a["metric"] != "system.cpu.user" {
		t.Errorf("series a: %v", a)
	}
	var pts [][2]float64
	if err := json.Unmarshal([]byte(a["pointlist"]), &pts); err != nil || len(pts) != 120 || pts[0][1] != 0.5 || pts[119][1] != 119.5 {
		t.Errorf("pointlist of a: %d points, err %v", len(pts), err)
	}
	if rows[1]["scope"] != "host:b" || rows[1]["length"] != "60" {
		t.Errorf("series b: %v", rows[1])
	}
	if _, ok := a["query"]; ok {
		t.Errorf("pseudo-field query emitted without being projected: %v", a)
	}
}

func TestRangeAndQueryRequired(t *testing.T) {
	srv := ddtest.New(t)
	d := openTest(t, srv, goodCreds, Options{})
	_, err := d.Splits(context.Background(), &connector.ReadRequest{Object: Logs})
	if !fault.Is(err, fault.Invalid) {
		t.Errorf("logs without a range: %v, want Invalid", err)
	}
	_, err = d.Splits(context.Background(), &connector.ReadRequest{Object: Metrics,
		Window: &connector.Window{Field: "start", Start: base, End: base.Add(time.Hour)}})
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "query") {
		t.Errorf("metrics without a query: %v, want Invalid naming query", err)
	}
	_, err = d.Splits(context.Background(), &connector.ReadRequest{Object: "events", Window: &connector.Window{Start: base, End: base.Add(time.Hour)}})
	if !fault.Is(err, fault.Invalid) {
		t.Errorf("unknown entity: %v", err)
	}
}

func TestAuthFailures(t *testing.T) {
	srv := ddtest.New(t)
	ctx := context.Background()
	if err := openTest(t, srv, goodCreds, Options{}).CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	err := openTest(t, srv, `{"apiKey":"wrong","applicationKey":"a"}`, Options{}).CheckProfile(ctx)
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("bad API key: %v, want AuthFailed with Datadog's message", err)
	}
	// A wrong application key passes /api/v1/validate and fails the first read.
	d := openTest(t, srv, `{"apiKey":"k","applicationKey":"wrong"}`, Options{})
	if err := d.CheckProfile(ctx); err != nil {
		t.Errorf("CheckProfile with a bad app key: %v (validate proves the API key only)", err)
	}
	_, err = readAll(t, d, logsRequest("web", []string{"id"}))
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "Forbidden") || !strings.Contains(err.Error(), Logs) {
		t.Errorf("bad app key read: %v, want AuthFailed naming the split", err)
	}
	if _, err := Open(connector.Deps{}, connector.Profile{Properties: json.RawMessage(`{"instanceUrl":"https://api.datadoghq.com"}`),
		Credentials: json.RawMessage(`{"apiKey":"k"}`)}, Options{}); !fault.Is(err, fault.AuthFailed) {
		t.Errorf("Open without applicationKey: %v", err)
	}
}

func TestRateLimitWaitsReset(t *testing.T) {
	srv := ddtest.New(t)
	srv.AddLogs(ddtest.Log{ID: "L1", Timestamp: base, Service: "web"})
	sl := &sleeps{}
	d := openTest(t, srv, goodCreds, Options{Retry: sl.policy()})
	srv.Throttle(2)
	rows, err := readAll(t, d, logsRequest("web", []string{"id"}))
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, err %v", rows, err)
	}
	if len(sl.d) != 2 || sl.d[0] < 4*time.Second || sl.d[1] < 4*time.Second {
		t.Errorf("slept %v, want twice at least X-RateLimit-Reset (4s)", sl.d)
	}
	srv.Throttle(10)
	_, err = readAll(t, d, logsRequest("web", []string{"id"}))
	if !fault.Is(err, fault.Throttled) {
		t.Errorf("throttled past the attempts: %v, want Throttled", err)
	}
}

// Datadog's reset can be a minute away: the read waits it out when the
// run's deadline leaves room, and fails at once, as throttled, when not.
func TestRateLimitResetBoundedByDeadline(t *testing.T) {
	srv := ddtest.New(t)
	srv.AddLogs(ddtest.Log{ID: "L1", Timestamp: base, Service: "web"})
	sl := &sleeps{}
	d := openTest(t, srv, goodCreds, Options{Retry: sl.policy()})
	req := logsRequest("web", []string{"id"})
	read := func(ctx context.Context) (int, error) {
		splits, err := d.Splits(ctx, req)
		if err != nil {
			return 0, err
		}
		n := 0
		err = d.ReadSplit(ctx, req, splits[0], func(b *record.Batch) error { n += b.Len(); return nil })
		return n, err
	}
	srv.ThrottleFor(1, 60)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if n, err := read(ctx); err != nil || n != 1 || len(sl.d) != 1 || sl.d[0] != time.Minute {
		t.Fatalf("60s reset, 10m deadline: %d rows, %v, slept %v; want 1 row after a 1m wait", n, err, sl.d)
	}
	srv.ThrottleFor(1, 60)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	_, err := read(ctx2)
	if !fault.Is(err, fault.Throttled) || !strings.Contains(err.Error(), "deadline") || len(sl.d) != 1 {
		t.Errorf("60s reset, 30s deadline: %v, slept %v; want Throttled naming the deadline, no sleep", err, sl.d)
	}
}

func TestCatalog(t *testing.T) {
	srv := ddtest.New(t)
	d := openTest(t, srv, goodCreds, Options{})
	ents, err := d.ListEntities(context.Background(), "")
	if err != nil || len(ents["Objects"]) != 2 {
		t.Fatalf("ListEntities: %v %v", ents, err)
	}
	fs, err := d.DescribeEntity(context.Background(), Logs)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string][]string{}
	for _, f := range fs {
		ops[f.Name] = f.FilterOperators
	}
	if !slices.Equal(ops["from"], []string{"BETWEEN"}) || !slices.Equal(ops["query"], []string{"EQUAL_TO"}) || ops["message"] != nil {
		t.Errorf("operators %v", ops)
	}
}

func TestRegisteredWithCatalog(t *testing.T) {
	r := connector.NewRegistry()
	catalog.RegisterAll(r)
	r.Register(httpconn.Spec(Type, httpconn.Source, Options{}, Open))
	s, ok := r.Lookup(Type)
	if !ok || s.Open == nil {
		t.Fatalf("Datadog not registered with a driver: %+v", s)
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
