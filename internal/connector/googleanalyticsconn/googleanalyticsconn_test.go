package googleanalyticsconn

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
	"github.com/appflowd/appflowd/internal/connector/googleanalyticsconn/gatest"
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

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type saved struct {
	mu    sync.Mutex
	creds []json.RawMessage
}

func (s *saved) save(ctx context.Context, c json.RawMessage) error {
	s.mu.Lock()
	s.creds = append(s.creds, c)
	s.mu.Unlock()
	return nil
}

func openCreds(t *testing.T, srv *gatest.Server, creds string, opts Options, sv *saved) *Driver {
	t.Helper()
	if opts.Retry.Sleep == nil {
		opts.Retry = (&sleeps{}).policy()
	}
	p := connector.Profile{Name: "ga", Credentials: json.RawMessage(creds)}
	if sv != nil {
		p.SaveCredentials = sv.save
	}
	d, err := Open(connector.Deps{HTTPClient: srv.Client(), Now: func() time.Time { return base.Add(20 * 24 * time.Hour) },
		Endpoints: connector.Endpoints{connector.EndpointGoogleAnalytics: srv.URL(), connector.EndpointGoogleOAuth: srv.URL()}}, p, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

func openTest(t *testing.T, srv *gatest.Server, opts Options) *Driver {
	return openCreds(t, srv, fmt.Sprintf(`{"clientId":%q,"clientSecret":%q,"accessToken":%q,"refreshToken":%q}`,
		gatest.ClientID, gatest.ClientSecret, srv.Token(), gatest.RefreshToken), opts, nil)
}

// neutral adapts the driver to the conformance suite's neutral fields:
// "x" is asked as the dimension "x|DIMENSION" with one metric, and the
// rows come back without the raw batchGet columns and the metric.
type neutral struct{ d *Driver }

const conformMetric = "ga:hits|METRIC"

func (n neutral) req(r *connector.ReadRequest) *connector.ReadRequest {
	c := *r
	c.Fields = nil
	for _, f := range r.Fields {
		c.Fields = append(c.Fields, f+"|DIMENSION")
	}
	c.Fields = append(c.Fields, conformMetric)
	return &c
}

func (n neutral) Splits(ctx context.Context, r *connector.ReadRequest) ([]connector.Split, error) {
	return n.d.Splits(ctx, n.req(r))
}

func (n neutral) ReadSplit(ctx context.Context, r *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	return n.d.ReadSplit(ctx, n.req(r), s, func(b *record.Batch) error {
		out := &record.Batch{Split: b.Split, FirstLine: b.FirstLine, SourceBytes: b.SourceBytes, Final: b.Final}
		var keep []int
		for i, f := range b.Fields {
			if name, ok := strings.CutSuffix(f, "|DIMENSION"); ok {
				out.Fields = append(out.Fields, name)
				keep = append(keep, i)
			}
		}
		for i := range b.Len() {
			row := b.Row(i)
			for _, k := range keep {
				out.Cells = append(out.Cells, row[k])
			}
		}
		return emit(out)
	})
}

type harness struct {
	srv *gatest.Server
	n   int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return neutral{openTest(t, h.srv, Options{PageSize: 3000})}
}

func between(from, to time.Time) connector.Filter {
	return connector.Filter{Field: DateField, Operator: "BETWEEN", Values: []string{fmt.Sprint(from.UnixMilli()), fmt.Sprint(to.UnixMilli())}, DataType: "datetime"}
}

// Seed stores each table's rows in a fresh view, one hit each.
func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.n++
	view := fmt.Sprint(9000 + h.n)
	var names []string
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			r := gatest.Row{"ga:hits": 1}
			for i, f := range tb.Fields {
				r[f] = row[i]
			}
			h.srv.Add(view, "2024-01-01", r)
		}
	}
	return &connector.ReadRequest{Object: view, Fields: names, Filters: []connector.Filter{between(base, base)}}
}

// SeedMalformed asks a view the stand-in refuses.
func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	return &connector.ReadRequest{Object: "666", Fields: []string{"x"}, Filters: []connector.Filter{between(base, base)}}, "view 666"
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{srv: gatest.New(t)})
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

func seed(srv *gatest.Server) {
	srv.Add(gatest.View, "2024-01-01", gatest.Row{"ga:country": "US", "ga:sessions": 3}, gatest.Row{"ga:country": "FR", "ga:sessions": 1}, gatest.Row{"ga:country": "US", "ga:sessions": 2})
	srv.Add(gatest.View, "2024-01-02", gatest.Row{"ga:country": "DE", "ga:sessions": 7})
	srv.Add(gatest.View, "2024-01-05", gatest.Row{"ga:country": "US", "ga:sessions": 9})
}

// TestRowsAsReceivedPaged: rows come as batchGet answers them, with the
// projected fields beside them, over pages of pageSize.
func TestRowsAsReceivedPaged(t *testing.T) {
	srv := gatest.New(t)
	seed(srv)
	d := openTest(t, srv, Options{PageSize: 2})
	rows, err := readAll(t, d, &connector.ReadRequest{Object: gatest.View, Fields: []string{DateField, "ga:country|DIMENSION", "ga:sessions|METRIC"},
		Filters: []connector.Filter{between(base, base.Add(24*time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"dimensions": `["20240101","US"]`, "metrics": `[{"values":["5"]}]`, DateField: "2024-01-01T00:00:00.000Z", "ga:country|DIMENSION": "US", "ga:sessions|METRIC": "5"},
		{"dimensions": `["20240101","FR"]`, "metrics": `[{"values":["1"]}]`, DateField: "2024-01-01T00:00:00.000Z", "ga:country|DIMENSION": "FR", "ga:sessions|METRIC": "1"},
		{"dimensions": `["20240102","DE"]`, "metrics": `[{"values":["7"]}]`, DateField: "2024-01-02T00:00:00.000Z", "ga:country|DIMENSION": "DE", "ga:sessions|METRIC": "7"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows\n got %v\nwant %v", rows, want)
	}
	b := srv.Batches()
	if len(b) != 2 || !strings.Contains(b[0], `"dateRanges":[{"endDate":"2024-01-02","startDate":"2024-01-01"}]`) || !strings.Contains(b[1], `"pageToken":"2"`) {
		t.Errorf("batches %q", b)
	}
}

func TestRanges(t *testing.T) {
	d := openTest(t, gatest.New(t), Options{})
	ctx := context.Background()
	planOf := func(req *connector.ReadRequest) *plan {
		t.Helper()
		ss, err := d.Splits(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return ss[0].Opaque.(*plan)
	}
	f := []string{"ga:sessions|METRIC"}
	day := func(p *plan) string { return p.from.Format("0102") + "-" + p.to.Format("0102") }
	if p := planOf(&connector.ReadRequest{Object: "1", Fields: f}); day(p) != "0114-0120" {
		t.Errorf("default range %s, want the last 7 days to yesterday", day(p))
	}
	if p := planOf(&connector.ReadRequest{Object: "1", Fields: f, Window: &connector.Window{Start: base.Add(time.Hour), End: base.Add(72 * time.Hour)}}); day(p) != "0102-0103" {
		t.Errorf("window %s, want the days whose midnight it holds", day(p))
	}
	if p := planOf(&connector.ReadRequest{Object: "1", Fields: f, Filters: []connector.Filter{{Field: DateField, Operator: "BETWEEN", Values: []string{"20240103", "2024-01-09"}}}}); day(p) != "0103-0109" {
		t.Errorf("BETWEEN %s", day(p))
	}
	ss, err := d.Splits(ctx, &connector.ReadRequest{Object: "1", Fields: f, Window: &connector.Window{Start: base.Add(time.Hour), End: base.Add(2 * time.Hour)}})
	if err != nil || ss[0].Opaque.(*plan) != nil {
		t.Errorf("a window without a midnight: %v %v", ss, err)
	}
	for _, bad := range [][]string{{"ga:country|DIMENSION"}, {"x|SEGMENT", "ga:sessions|METRIC"},
		append(slices.Repeat([]string{"d|DIMENSION"}, 10), "m|METRIC"), slices.Repeat([]string{"m|METRIC"}, 11)} {
		if _, err := d.Splits(ctx, &connector.ReadRequest{Object: "1", Fields: bad}); !fault.Is(err, fault.Invalid) {
			t.Errorf("fields %v: %v, want Invalid", bad, err)
		}
	}
}

// TestTokens: a code is exchanged and the tokens saved; an expired token
// is refreshed once and the request resent; a refused refresh token is an
// authentication failure with Google's reason.
func TestTokens(t *testing.T) {
	srv := gatest.New(t)
	seed(srv)
	ctx := context.Background()
	sv := &saved{}
	d := openCreds(t, srv, fmt.Sprintf(`{"clientId":%q,"clientSecret":%q,"oAuthRequest":{"authCode":%q,"redirectUri":%q}}`,
		gatest.ClientID, gatest.ClientSecret, gatest.AuthCode, gatest.RedirectURI), Options{}, sv)
	if err := d.CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile with a code: %v", err)
	}
	if len(sv.creds) != 1 || !strings.Contains(string(sv.creds[0]), gatest.RefreshToken) || strings.Contains(string(sv.creds[0]), "oAuthRequest") {
		t.Errorf("saved %s", sv.creds)
	}
	srv.Expire()
	rows, err := readAll(t, d, &connector.ReadRequest{Object: gatest.View, Fields: []string{"ga:sessions|METRIC"}, Filters: []connector.Filter{between(base, base)}})
	if err != nil || len(rows) != 1 || rows[0]["ga:sessions|METRIC"] != "6" {
		t.Fatalf("after expiry: %v, %v", rows, err)
	}
	if g := srv.Grants(); !slices.Equal(g, []string{"authorization_code", "refresh_token"}) {
		t.Errorf("grants %v", g)
	}
	bad := openCreds(t, srv, fmt.Sprintf(`{"clientId":%q,"clientSecret":%q,"oAuthRequest":{"authCode":"stale","redirectUri":%q}}`,
		gatest.ClientID, gatest.ClientSecret, gatest.RedirectURI), Options{}, nil)
	if err := bad.CheckProfile(ctx); !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("stale code: %v", err)
	}
	sl := &sleeps{}
	d = openTest(t, srv, Options{Retry: sl.policy()})
	srv.Throttle(1, "5")
	if _, err := readAll(t, d, &connector.ReadRequest{Object: gatest.View, Fields: []string{"ga:sessions|METRIC"}, Filters: []connector.Filter{between(base, base)}}); err != nil {
		t.Fatal(err)
	}
	if len(sl.d) != 1 || sl.d[0] < 5*time.Second {
		t.Errorf("waits %v, want Retry-After 5 s", sl.d)
	}
}

func TestCatalog(t *testing.T) {
	srv := gatest.New(t)
	d := openTest(t, srv, Options{})
	ctx := context.Background()
	ents, err := d.ListEntities(ctx, "")
	if err != nil || len(ents["Accounts"]) != 2 || !ents["Accounts"][0].HasNestedEntities {
		t.Fatalf("accounts %v %v", ents, err)
	}
	ents, err = d.ListEntities(ctx, "1001")
	if err != nil || len(ents["Properties"]) != 1 || ents["Properties"][0].Name != "1001/UA-1001-1" {
		t.Fatalf("properties %v %v", ents, err)
	}
	ents, err = d.ListEntities(ctx, "1001/UA-1001-1")
	if err != nil || len(ents["Views"]) != 2 || ents["Views"][0].Name != gatest.View || ents["Views"][0].HasNestedEntities {
		t.Fatalf("views %v %v", ents, err)
	}
	if _, err := d.ListEntities(ctx, "9999"); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown account: %v", err)
	}
	fs, err := d.DescribeEntity(ctx, gatest.View)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
		if (f.Name == DateField) != f.IsTimestampForIncremental {
			t.Errorf("%+v", f)
		}
	}
	if strings.Join(names, ",") != "ga:date|DIMENSION,ga:country|DIMENSION,ga:sessions|METRIC,ga:bounceRate|METRIC" {
		t.Errorf("fields %v (DEPRECATED ga:visits hidden)", names)
	}
}

func TestRegisteredWithCatalog(t *testing.T) {
	r := connector.NewRegistry()
	catalog.RegisterAll(r)
	r.Register(Spec(Options{}))
	s, ok := r.Lookup(Type)
	if !ok || s.Open == nil || !s.Capabilities.ProjectionWritesRecords || !slices.Equal(s.Capabilities.Operators, []string{"PROJECTION", "BETWEEN"}) || s.Capabilities.MinScheduleMinutes != 24*60 {
		t.Fatalf("Googleanalytics: %+v", s.Capabilities)
	}
}
