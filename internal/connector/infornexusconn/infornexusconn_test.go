package infornexusconn

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
	"github.com/appflowd/appflowd/internal/connector/infornexusconn/inxtest"
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

func openTest(t *testing.T, srv *inxtest.Server, secret string, opts Options) *Driver {
	t.Helper()
	if opts.Retry.Sleep == nil {
		opts.Retry = (&sleeps{}).policy()
	}
	d, err := Open(connector.Deps{HTTPClient: srv.Client()}, connector.Profile{Name: "inx",
		Properties: json.RawMessage(fmt.Sprintf(`{"instanceUrl":%q}`, srv.URL())),
		Credentials: json.RawMessage(fmt.Sprintf(`{"accessKeyId":%q,"userId":%q,"secretAccessKey":%q,"datakey":%q}`,
			inxtest.AccessKey, inxtest.User, secret, inxtest.DataKey))}, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

// TestSignatureVector is the notes' shared vector, its value frozen from
// one computation.
func TestSignatureVector(t *testing.T) {
	s := &Signer{AccessKeyID: "AK", UserID: "agent@1", Secret: "s3cr3t"}
	got := s.Sign("2024-01-01T00:00:00Z", "GET", "/rest/3.1/OrderDetail/query?oql=1%3D1&limit=2&offset=0")
	if want := "HMAC_1 AK:5rmiQ2GvI8jS0Uh8JwxHpogCjnrJs+ftWw0cjBrvLXg=:agent@1"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

type harness struct {
	srv *inxtest.Server
	n   int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.srv, inxtest.Secret, Options{PageSize: 1000})
}

var types = []string{"OrderDetail", "PackingList", "Invoice", "ShipmentDetail", "ASNType", "User"}

func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	typ := types[h.n%len(types)]
	h.n++
	var names []string
	i := 0
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			rec := inxtest.Record{"uid": fmt.Sprintf("%d-%06d", h.n, i)}
			i++
			for j, f := range tb.Fields {
				rec[f] = row[j]
			}
			h.srv.Add(typ, rec)
		}
	}
	return &connector.ReadRequest{Object: typ, Fields: names}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.srv.Malformed("OrganizationDetail")
	return &connector.ReadRequest{Object: "OrganizationDetail", Fields: []string{MetaUID}}, "OrganizationDetail"
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{srv: inxtest.New(t, nil)})
}

func orders(srv *inxtest.Server, n int) {
	for i := 1; i <= n; i++ {
		srv.Add("OrderDetail", inxtest.Record{"uid": fmt.Sprint(100 + i), "poNumber": fmt.Sprintf("P%d", i),
			"modifyTimestamp": time.Date(2024, 1, 1, i, 0, 0, 0, time.UTC).Format("2006-01-02 15:04:05.000")})
	}
}

func read(t *testing.T, d *Driver, req *connector.ReadRequest) ([]map[string]string, error) {
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
					r[b.Fields[j]] = v.Text()
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

// TestPagesFiltersAndThrottle: offset paging while hasMore, filters and
// the window in OQL, a 429 waited out, __metadata flattened.
func TestPagesFiltersAndThrottle(t *testing.T) {
	srv := inxtest.New(t, nil)
	orders(srv, 5)
	srv.Add("OrderDetail", inxtest.Record{"uid": "200", "poNumber": "X'1", "extra": map[string]any{"a": 1}})
	sl := &sleeps{}
	d := openTest(t, srv, inxtest.Secret, Options{PageSize: 2, Retry: sl.policy()})
	srv.Throttle(1)
	rows, err := read(t, d, &connector.ReadRequest{Object: "OrderDetail"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 || rows[0][MetaUID] != "101" || rows[0][MetaModified] != "2024-01-01 01:00:00.000" || rows[0][MetaPrint] != "fp-101" || rows[5]["extra"] != `{"a":1}` {
		t.Errorf("rows %v", rows)
	}
	if len(sl.d) != 1 || sl.d[0] < time.Second {
		t.Errorf("waits %v, want Retry-After's second", sl.d)
	}
	// 429, then offsets 0, 2, 4.
	if got := srv.Requests(); len(got) != 4 || !strings.Contains(got[3], "offset=4") {
		t.Errorf("requests %q", got)
	}
	ms := func(h int) string { return fmt.Sprint(time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC).UnixMilli()) }
	rows, err = read(t, d, &connector.ReadRequest{Object: "OrderDetail", Fields: []string{"poNumber"},
		Filters: []connector.Filter{{Field: "poNumber", Operator: "EQUAL_TO", Values: []string{"P2", "P3", "X'1"}},
			{Field: MetaModified, Operator: "BETWEEN", Values: []string{ms(2), ms(4)}, DataType: "datetime"}}})
	if err != nil || len(rows) != 2 || rows[0]["poNumber"] != "P2" || rows[1]["poNumber"] != "P3" {
		t.Errorf("filtered %v, %v", rows, err)
	}
	last := srv.Requests()[len(srv.Requests())-1]
	if !strings.Contains(last, "oql=%28poNumber+%3D+%27P2%27+OR+poNumber+%3D+%27P3%27+OR+poNumber+%3D+%27X%27%271%27%29+AND+modifyTimestamp+%3E%3D+%272024-01-01+02%3A00%3A00%27") {
		t.Errorf("query %s", last)
	}
	start := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	rows, err = read(t, d, &connector.ReadRequest{Object: "OrderDetail", Fields: []string{"poNumber"},
		Window: &connector.Window{Field: MetaModified, Start: start, End: start.Add(2 * time.Hour)}})
	if err != nil || len(rows) != 2 {
		t.Errorf("window %v, %v", rows, err)
	}
}

func TestRefusals(t *testing.T) {
	srv := inxtest.New(t, nil)
	d := openTest(t, srv, "wrong", Options{})
	if err := d.CheckProfile(context.Background()); !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "Invalid HMAC signature") {
		t.Errorf("wrong secret: %v", err)
	}
	// A clock an hour off is refused too.
	skewed := inxtest.New(t, func() time.Time { return time.Now().Add(time.Hour) })
	d = openTest(t, skewed, inxtest.Secret, Options{})
	if err := d.CheckProfile(context.Background()); !fault.Is(err, fault.AuthFailed) {
		t.Errorf("skewed clock: %v", err)
	}
	d = openTest(t, srv, inxtest.Secret, Options{})
	if err := d.CheckProfile(context.Background()); err != nil {
		t.Errorf("good keys: %v", err)
	}
	if _, err := Open(connector.Deps{}, connector.Profile{Name: "x", Properties: json.RawMessage(`{"instanceUrl":"acme"}`),
		Credentials: json.RawMessage(`{"accessKeyId":"a"}`)}, Options{}); !fault.Is(err, fault.AuthFailed) {
		t.Errorf("missing keys: %v", err)
	}
	fs, err := d.DescribeEntity(context.Background(), "OrderDetail")
	if err != nil || fs[0].Name != MetaUID || !fs[0].IsPrimaryKey || !fs[3].IsTimestampForIncremental {
		t.Errorf("describe %v, %v", fs, err)
	}
}
