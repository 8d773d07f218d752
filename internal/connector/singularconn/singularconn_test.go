package singularconn

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
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/connector/singularconn/sngtest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

type waits struct {
	mu    sync.Mutex
	retry []time.Duration
	polls int
}

func (w *waits) options() Options {
	return Options{
		Retry: retry.Policy{Attempts: 4, Jitter: func() float64 { return 0 }, Sleep: func(ctx context.Context, d time.Duration) error {
			w.mu.Lock()
			w.retry = append(w.retry, d)
			w.mu.Unlock()
			return ctx.Err()
		}},
		Wait: func(ctx context.Context, n int) error {
			w.mu.Lock()
			w.polls++
			w.mu.Unlock()
			return ctx.Err()
		},
	}
}

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func openTest(t *testing.T, srv *sngtest.Server, key string, opts Options) *Driver {
	t.Helper()
	if opts.Wait == nil {
		opts = (&waits{}).options()
	}
	d, err := Open(connector.Deps{HTTPClient: srv.Client(), Endpoints: connector.Endpoints{connector.EndpointSingular: srv.URL()},
		Now: func() time.Time { return base.Add(40 * 24 * time.Hour) }},
		connector.Profile{Name: "sng", Credentials: json.RawMessage(fmt.Sprintf(`{"apiKey":%q}`, key))}, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

func dayWindow(day time.Time) *connector.Window {
	return &connector.Window{Field: "start_date", Start: day, End: day.Add(24 * time.Hour)}
}

type harness struct {
	srv *sngtest.Server
	n   int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.srv, sngtest.APIKey, Options{})
}

// Seed stores each table's rows on a fresh day, their fields dimensions.
func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.n++
	day := base.Add(time.Duration(h.n) * 24 * time.Hour)
	var names []string
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			r := sngtest.Row{}
			for i, f := range tb.Fields {
				r[f] = row[i]
			}
			h.srv.Add(day.Format("2006-01-02"), r)
		}
	}
	return &connector.ReadRequest{Object: Reporting, Fields: names, Window: dayWindow(day)}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.n++
	day := base.Add(time.Duration(h.n) * 24 * time.Hour)
	h.srv.Malformed(day.Format("2006-01-02"))
	return &connector.ReadRequest{Object: Reporting, Fields: []string{"app"}, Window: dayWindow(day)}, Reporting
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{srv: sngtest.New(t)})
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

func seedCampaigns(srv *sngtest.Server) {
	srv.Add("2024-01-01",
		sngtest.Row{"app": "Acme", "source": "adwords", "os": "Android", "adn_cost": 1.5, "adn_clicks": 10.0},
		sngtest.Row{"app": "Acme", "source": "adwords", "os": "iOS", "adn_cost": 2.0, "adn_clicks": 5.0},
		sngtest.Row{"app": "Acme", "source": "facebook", "os": "iOS", "adn_cost": 4.0, "adn_clicks": 1.0})
	srv.Add("2024-01-02", sngtest.Row{"app": "Acme", "source": "adwords", "os": "iOS", "adn_cost": 3.0, "adn_clicks": 2.0})
}

// TestReportByDayWithFilter: a two-day window is one report broken down
// by day, the EQUAL_TO on source its filter, the projection its dimensions
// and metrics; it is polled until DONE and downloaded once.
func TestReportByDayWithFilter(t *testing.T) {
	srv := sngtest.New(t)
	seedCampaigns(srv)
	srv.Polls(2)
	w := &waits{}
	d := openTest(t, srv, sngtest.APIKey, w.options())
	req := &connector.ReadRequest{Object: Reporting, Fields: []string{"start_date", "app", "source", "adn_cost", "adn_clicks"},
		Filters: []connector.Filter{{Field: "source", Operator: "EQUAL_TO", Values: []string{"adwords"}}},
		Window:  &connector.Window{Field: "start_date", Start: base, End: base.Add(48 * time.Hour)}}
	rows, err := readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"start_date": "2024-01-01", "app": "Acme", "source": "adwords", "adn_cost": "3.5", "adn_clicks": "15"},
		{"start_date": "2024-01-02", "app": "Acme", "source": "adwords", "adn_cost": "3", "adn_clicks": "2"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows\n got %v\nwant %v", rows, want)
	}
	created := srv.Created()
	if len(created) != 1 {
		t.Fatalf("created %v", created)
	}
	c := created[0]
	if c["start_date"] != "2024-01-01" || c["end_date"] != "2024-01-02" || c["dimensions"] != "app,source" || c["metrics"] != "adn_cost" ||
		c["discrepancy_metrics"] != "adn_clicks" || c["time_breakdown"] != "day" || c["format"] != "json" ||
		c["filters"] != `[{"dimension":"source","operator":"in","values":["adwords"]}]` {
		t.Errorf("report parameters %v", c)
	}
	if w.polls != 3 || srv.Downloads() != 1 {
		t.Errorf("%d polls, %d downloads; want 3 polls (QUEUED twice, DONE) and one download", w.polls, srv.Downloads())
	}
}

func TestDays(t *testing.T) {
	d := openTest(t, sngtest.New(t), sngtest.APIKey, Options{})
	ctx := context.Background()
	names := func(req *connector.ReadRequest) []string {
		ss, err := d.Splits(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return out
	}
	// A window within a day holds no midnight: nothing to read.
	if got := names(&connector.ReadRequest{Object: Reporting, Window: &connector.Window{Start: base.Add(time.Hour), End: base.Add(2 * time.Hour)}}); !slices.Equal(got, []string{Reporting}) {
		t.Errorf("hour window: %v", got)
	}
	// [10:00 day 1, 10:00 day 3) reads days 2 and 3.
	if got := names(&connector.ReadRequest{Object: Reporting, Window: &connector.Window{Start: base.Add(10 * time.Hour), End: base.Add(58 * time.Hour)}}); !slices.Equal(got, []string{"reporting 2024-01-02..2024-01-03"}) {
		t.Errorf("window: %v", got)
	}
	// On demand: the last 30 days up to today; a long window keeps its last 30.
	got := names(&connector.ReadRequest{Object: Reporting})
	if !slices.Equal(got, []string{"reporting 2024-01-12..2024-02-10"}) {
		t.Errorf("on demand: %v", got)
	}
	got = names(&connector.ReadRequest{Object: Reporting, Window: &connector.Window{Start: base, End: base.Add(90 * 24 * time.Hour)}})
	if !slices.Equal(got, []string{"reporting 2024-03-01..2024-03-30"}) {
		t.Errorf("90-day window: %v", got)
	}
	if _, err := d.Splits(ctx, &connector.ReadRequest{Object: "skan"}); !fault.Is(err, fault.Invalid) {
		t.Errorf("unknown entity: %v", err)
	}
}

func TestFailuresAndLimits(t *testing.T) {
	srv := sngtest.New(t)
	seedCampaigns(srv)
	ctx := context.Background()
	if err := openTest(t, srv, sngtest.APIKey, Options{}).CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	err := openTest(t, srv, "wrong", Options{}).CheckProfile(ctx)
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "Invalid API Key") {
		t.Errorf("bad key: %v", err)
	}
	req := &connector.ReadRequest{Object: Reporting, Fields: []string{"app", "adn_cost"}, Window: dayWindow(base)}
	srv.FailNext("Query too heavy")
	if _, err := readAll(t, openTest(t, srv, sngtest.APIKey, Options{}), req); !fault.Is(err, fault.ConnectorServer) || !strings.Contains(err.Error(), "Query too heavy") || !strings.Contains(err.Error(), "reporting 2024-01-01") {
		t.Errorf("failed report: %v", err)
	}
	w := &waits{}
	srv.Throttle(2, "3")
	rows, err := readAll(t, openTest(t, srv, sngtest.APIKey, w.options()), req)
	if err != nil || len(rows) != 1 || rows[0]["adn_cost"] != "7.5" {
		t.Fatalf("after throttling: %v, %v", rows, err)
	}
	if len(w.retry) != 2 || w.retry[0] < 3*time.Second {
		t.Errorf("retry waits %v, want two of Retry-After 3 s", w.retry)
	}
	// AppFlow's 100,000 rows per run.
	var many []sngtest.Row
	for i := range MaxRows + 1 {
		many = append(many, sngtest.Row{"app": fmt.Sprint(i), "adn_cost": 1.0})
	}
	srv.Add("2024-01-05", many...)
	_, err = readAll(t, openTest(t, srv, sngtest.APIKey, Options{}), &connector.ReadRequest{Object: Reporting, Fields: []string{"app", "adn_cost"}, Window: dayWindow(base.Add(4 * 24 * time.Hour))})
	if !fault.Is(err, fault.QuotaExceeded) {
		t.Errorf("over 100,000 rows: %v", err)
	}
}

func TestCatalog(t *testing.T) {
	d := openTest(t, sngtest.New(t), sngtest.APIKey, Options{})
	fs, err := d.DescribeEntity(context.Background(), Reporting)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]connector.EntityField{}
	for _, f := range fs {
		by[f.Name] = f
	}
	if f := by["8e10a0ca9b6d4a1c"]; f.Label != "Team" || !slices.Equal(f.FilterOperators, []string{"EQUAL_TO"}) {
		t.Errorf("custom dimension %+v", f)
	}
	if f := by["adn_cost"]; f.Type != "double" || len(f.FilterOperators) != 0 {
		t.Errorf("metric %+v", f)
	}
	if f := by["start_date"]; !f.IsTimestampForIncremental {
		t.Errorf("start_date %+v", f)
	}
	if f := by["source"]; f.Label != "Source" {
		t.Errorf("source %+v", f)
	}
}

func TestRegisteredWithCatalog(t *testing.T) {
	r := connector.NewRegistry()
	catalog.RegisterAll(r)
	r.Register(httpconn.Spec(Type, httpconn.Source, Options{}, Open))
	s, ok := r.Lookup(Type)
	if !ok || s.Open == nil || !slices.Contains(s.Capabilities.Operators, "EQUAL_TO") || s.Capabilities.MinScheduleMinutes != 60 {
		t.Fatalf("Singular: %+v", s)
	}
}
