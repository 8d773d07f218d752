package veevaconn

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
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/connector/veevaconn/vvtest"
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

func openTest(t *testing.T, srv *vvtest.Server, password string, opts Options) *Driver {
	t.Helper()
	if opts.Retry.Sleep == nil {
		opts.Retry = (&sleeps{}).policy()
	}
	d, err := Open(connector.Deps{HTTPClient: srv.Client()}, connector.Profile{Name: "vv",
		Properties:  json.RawMessage(fmt.Sprintf(`{"instanceUrl":%q}`, srv.URL())),
		Credentials: json.RawMessage(fmt.Sprintf(`{"username":%q,"password":%q}`, vvtest.Username, password))}, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

type harness struct {
	srv *vvtest.Server
	n   int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.srv, vvtest.Password, Options{PageSize: 1000})
}

// Seed declares a fresh object per call holding the tables' rows.
func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.n++
	obj := fmt.Sprintf("seed%d__c", h.n)
	var names []string
	var fields []vvtest.Field
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
				fields = append(fields, vvtest.Field{Name: f, Type: "String", Label: f})
			}
		}
	}
	h.srv.Object(obj, fields...)
	for _, tb := range tables {
		for _, row := range tb.Rows {
			rec := vvtest.Record{}
			for i, f := range tb.Fields {
				rec[f] = row[i]
			}
			h.srv.Add(obj, rec)
		}
	}
	return &connector.ReadRequest{Object: obj, Fields: names}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.srv.Object("broken__c", vvtest.Field{Name: "id", Type: "ID"})
	h.srv.Malformed("broken__c")
	return &connector.ReadRequest{Object: "broken__c", Fields: []string{"id"}}, "broken__c"
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{srv: vvtest.New(t)})
}

func products(srv *vvtest.Server, n int) {
	srv.Object("product__v", vvtest.Field{Name: "id", Type: "ID"}, vvtest.Field{Name: "name__v", Type: "String"},
		vvtest.Field{Name: "price__c", Type: "Number"}, vvtest.Field{Name: "modified_date__v", Type: "DateTime"})
	for i := 1; i <= n; i++ {
		srv.Add("product__v", vvtest.Record{"id": fmt.Sprintf("P%02d", i), "name__v": fmt.Sprintf("O'Brien %d", i), "price__c": i * 10,
			"modified_date__v": time.Date(2024, 1, 1, i, 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05.000Z")})
	}
}

func read(t *testing.T, d *Driver, req *connector.ReadRequest) ([]string, error) {
	t.Helper()
	ctx := context.Background()
	splits, err := d.Splits(ctx, req)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range splits {
		err := d.ReadSplit(ctx, req, s, func(b *record.Batch) error {
			for i := range b.Len() {
				ids = append(ids, b.Row(i)[0].Text())
			}
			return nil
		})
		if err != nil {
			return ids, err
		}
	}
	return ids, nil
}

// TestPagesSessionAndLimit: a lost session logs in again once, the burst
// limit is waited out, next_page is POSTed, every page read once.
func TestPagesSessionAndLimit(t *testing.T) {
	srv := vvtest.New(t)
	products(srv, 5)
	sl := &sleeps{}
	d := openTest(t, srv, vvtest.Password, Options{PageSize: 2, Retry: sl.policy()})
	if err := d.CheckProfile(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Expire()
	srv.Limit(1)
	ms := func(h int) string { return fmt.Sprint(time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC).UnixMilli()) }
	ids, err := read(t, d, &connector.ReadRequest{Object: "product__v", Fields: []string{"id", "name__v"},
		Filters: []connector.Filter{{Field: "modified_date__v", Operator: "BETWEEN", Values: []string{ms(1), ms(5)}, DataType: "datetime"},
			{Field: "name__v", Operator: "CONTAINS", Values: []string{"'Brien"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "P01,P02,P03,P04,P05" {
		t.Errorf("ids %v", ids)
	}
	if srv.Logins() != 2 {
		t.Errorf("%d logins, want 2", srv.Logins())
	}
	var queries, pages int
	for _, r := range srv.Requests() {
		switch {
		case strings.HasPrefix(r, "POST /api/v23.1/query/"):
			pages++
		case strings.HasPrefix(r, "POST /api/v23.1/query"):
			queries++
			if want := `WHERE modified_date__v >= '2024-01-01T01:00:00.000Z' AND modified_date__v <= '2024-01-01T05:00:00.000Z' AND name__v LIKE '%\'Brien%' PAGESIZE 2`; queries == 1 && !strings.HasSuffix(r, want) {
				t.Errorf("query %s, want it to end %s", r, want)
			}
		}
	}
	// The describe before the query met INVALID_SESSION_ID and
	// API_LIMIT_EXCEEDED; then one query and two next pages.
	if queries != 1 || pages != 2 {
		t.Errorf("requests %q", srv.Requests())
	}
	if len(sl.d) != 1 || sl.d[0] < 5*time.Second {
		t.Errorf("waits %v", sl.d)
	}
}

func TestWindowAndDocuments(t *testing.T) {
	srv := vvtest.New(t)
	products(srv, 5)
	srv.Add("documents", vvtest.Record{"id": 5, "name__v": "a.pdf", "type__v": "promotional_piece__c", "major_version_number__v": 1, "minor_version_number__v": 0, "latest": false},
		vvtest.Record{"id": 5, "name__v": "a.pdf", "type__v": "promotional_piece__c", "major_version_number__v": 2, "minor_version_number__v": 0},
		vvtest.Record{"id": 6, "name__v": "b.pdf", "type__v": "other__c", "major_version_number__v": 1, "minor_version_number__v": 0})
	d := openTest(t, srv, vvtest.Password, Options{})
	start := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	ids, err := read(t, d, &connector.ReadRequest{Object: "product__v", Fields: []string{"id"},
		Window: &connector.Window{Field: "modified_date__v", Start: start, End: start.Add(2 * time.Hour)}})
	if err != nil || strings.Join(ids, ",") != "P02,P03" {
		t.Errorf("window: %v, %v", ids, err)
	}
	ids, err = read(t, d, &connector.ReadRequest{Object: Documents, Properties: json.RawMessage(`{"object":"documents","documentType":"promotional_piece__c","includeAllVersions":true}`),
		Fields: []string{"major_version_number__v"}})
	if err != nil || strings.Join(ids, ",") != "1,2" {
		t.Errorf("all versions of the type: %v, %v", ids, err)
	}
	// Map_all: every queryable property.
	ids, err = read(t, d, &connector.ReadRequest{Object: Documents})
	if err != nil || strings.Join(ids, ",") != "5,6" {
		t.Errorf("latest documents: %v, %v", ids, err)
	}
	if _, err := read(t, d, &connector.ReadRequest{Object: Documents, Properties: json.RawMessage(`{"object":"documents","includeSourceFiles":true}`)}); !fault.Is(err, fault.Invalid) {
		t.Errorf("source files: %v", err)
	}
}

func TestLoginRefusedAndCatalog(t *testing.T) {
	srv := vvtest.New(t)
	products(srv, 1)
	d := openTest(t, srv, "wrong", Options{})
	if err := d.CheckProfile(context.Background()); !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "USERNAME_OR_PASSWORD_INCORRECT") {
		t.Errorf("bad password: %v", err)
	}
	d = openTest(t, srv, vvtest.Password, Options{})
	ents, err := d.ListEntities(context.Background(), "")
	if err != nil || len(ents["Objects"]) != 2 || ents["Objects"][0].Name != Documents || ents["Objects"][1].Name != "product__v" {
		t.Errorf("entities %v, %v", ents, err)
	}
	fs, err := d.DescribeEntity(context.Background(), "product__v")
	if err != nil || len(fs) != 4 || fs[2].Type != httpconn.TypeDouble || !fs[3].IsTimestampForIncremental || !slices.Contains(fs[1].FilterOperators, "CONTAINS") {
		t.Errorf("fields %+v, %v", fs, err)
	}
	if _, err := d.DescribeEntity(context.Background(), "nope__c"); err == nil || !strings.Contains(err.Error(), "INVALID_DATA") {
		t.Errorf("unknown object: %v", err)
	}
}

// TestPageOffsetWithoutNextPage: a target Vault answers without next_page
// (users) is paged with PAGEOFFSET until total, each record once.
func TestPageOffsetWithoutNextPage(t *testing.T) {
	srv := vvtest.New(t)
	srv.Object("user__sys", vvtest.Field{Name: "id", Type: "ID"})
	for i := 1; i <= 5; i++ {
		srv.Add("user__sys", vvtest.Record{"id": fmt.Sprint(i)})
	}
	srv.NoNextPage("user__sys")
	d := openTest(t, srv, vvtest.Password, Options{PageSize: 2})
	ids, err := read(t, d, &connector.ReadRequest{Object: "user__sys", Fields: []string{"id"}})
	if err != nil || strings.Join(ids, ",") != "1,2,3,4,5" {
		t.Errorf("ids %v, %v", ids, err)
	}
	var qs []string
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r, "POST /api/v23.1/query") {
			qs = append(qs, r[strings.Index(r, "PAGESIZE"):])
		}
	}
	if want := "PAGESIZE 2|PAGESIZE 2 PAGEOFFSET 2|PAGESIZE 2 PAGEOFFSET 4"; strings.Join(qs, "|") != want {
		t.Errorf("queries %q, want %s", qs, want)
	}
}

// TestBurstSlowdown: once the headers say the burst budget is nearly
// spent, every next page waits first.
func TestBurstSlowdown(t *testing.T) {
	srv := vvtest.New(t)
	products(srv, 5)
	srv.Burst(3) // auth, describe, query: nothing left after the query
	waits := 0
	d := openTest(t, srv, vvtest.Password, Options{PageSize: 2, Slow: func(ctx context.Context) error { waits++; return ctx.Err() }})
	ids, err := read(t, d, &connector.ReadRequest{Object: "product__v", Fields: []string{"id"}})
	if err != nil || len(ids) != 5 {
		t.Fatalf("ids %v, %v", ids, err)
	}
	if waits != 2 {
		t.Errorf("%d waits, want one before each of the two next pages", waits)
	}
	srv2 := vvtest.New(t)
	products(srv2, 5)
	waits = 0
	d = openTest(t, srv2, vvtest.Password, Options{PageSize: 2, Slow: func(ctx context.Context) error { waits++; return ctx.Err() }})
	if _, err := read(t, d, &connector.ReadRequest{Object: "product__v", Fields: []string{"id"}}); err != nil || waits != 0 {
		t.Errorf("with budget left: %d waits, %v", waits, err)
	}
}
