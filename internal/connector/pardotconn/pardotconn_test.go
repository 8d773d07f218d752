package pardotconn

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
	"github.com/appflowd/appflowd/internal/connector/pardotconn/pdtest"
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

func openTest(t *testing.T, srv *pdtest.Server, creds string, opts Options) *Driver {
	t.Helper()
	if opts.Retry.Sleep == nil {
		opts.Retry = (&sleeps{}).policy()
	}
	opts.ClientID, opts.ClientSecret = pdtest.ClientID, pdtest.ClientSecret
	d, err := Open(connector.Deps{HTTPClient: srv.Client(), Endpoints: connector.Endpoints{connector.EndpointSalesforceLogin: srv.URL()}},
		connector.Profile{Name: "pd", Properties: json.RawMessage(fmt.Sprintf(`{"businessUnitId":%q,"instanceUrl":%q}`, pdtest.BusinessUnit, srv.URL())),
			Credentials: json.RawMessage(creds)}, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

type harness struct {
	srv *pdtest.Server
	n   int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.srv, `{"accessToken":"A0","refreshToken":"R1"}`, Options{PageSize: 1000})
}

// Seed puts the tables' rows in a fresh collection each time (the
// collections the driver knows, in turn), ids unique.
func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	colls := []string{"prospects", "campaigns", "lists", "opportunities", "users", "tags", "visits", "visitors"}
	coll := colls[h.n%len(colls)]
	h.n++
	var names []string
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			rec := pdtest.Record{}
			for i, f := range tb.Fields {
				rec[f] = row[i]
			}
			h.srv.Add(coll, rec)
		}
	}
	return &connector.ReadRequest{Object: coll, Fields: names}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.srv.Malformed("forms")
	return &connector.ReadRequest{Object: "forms", Fields: []string{"id"}}, "forms"
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{srv: pdtest.New(t)})
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

func prospects(srv *pdtest.Server, n int) {
	for i := 1; i <= n; i++ {
		srv.Add("prospects", pdtest.Record{"id": i, "email": fmt.Sprintf("p%d@x", i),
			"updatedAt": time.Date(2024, 1, 1, i, 0, 0, 0, time.UTC).Format(time.RFC3339)})
	}
}

// TestPagesRefreshAndBusy: an expired token is refreshed once, code 66 is
// waited out, and every page is read once through nextPageUrl.
func TestPagesRefreshAndBusy(t *testing.T) {
	srv := pdtest.New(t)
	prospects(srv, 5)
	srv.Expire()
	sl := &sleeps{}
	saved := make(chan string, 4)
	opts := Options{PageSize: 2, Retry: sl.policy()}
	opts.ClientID, opts.ClientSecret = pdtest.ClientID, pdtest.ClientSecret
	d, err := Open(connector.Deps{HTTPClient: srv.Client(), Endpoints: connector.Endpoints{connector.EndpointSalesforceLogin: srv.URL()}},
		connector.Profile{Name: "pd", Properties: json.RawMessage(fmt.Sprintf(`{"businessUnitId":%q,"instanceUrl":%q}`, pdtest.BusinessUnit, srv.URL())),
			Credentials: json.RawMessage(`{"accessToken":"A0","refreshToken":"R1"}`),
			SaveCredentials: func(ctx context.Context, c json.RawMessage) error {
				saved <- string(c)
				return nil
			}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Busy(1)
	ids, err := read(t, d, &connector.ReadRequest{Object: "prospects", Fields: []string{"id", "email"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "1,2,3,4,5" {
		t.Errorf("ids %v", ids)
	}
	if c := <-saved; !strings.Contains(c, `"accessToken":"A1"`) || !strings.Contains(c, `"refreshToken":"R1"`) {
		t.Errorf("saved credentials %s", c)
	}
	var pages, tokens int
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r, "token") {
			tokens++
		} else {
			pages++
		}
	}
	// 401, the 66, then three pages.
	if tokens != 1 || pages != 5 {
		t.Errorf("requests %q", srv.Requests())
	}
	if len(sl.d) != 1 || sl.d[0] < time.Second {
		t.Errorf("waits %v, want one of at least 1 s for code 66", sl.d)
	}
}

func TestWindowPushedDown(t *testing.T) {
	srv := pdtest.New(t)
	prospects(srv, 5)
	d := openTest(t, srv, `{"accessToken":"A0"}`, Options{})
	start := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	ids, err := read(t, d, &connector.ReadRequest{Object: "prospects", Fields: []string{"id", "updatedAt"},
		Window: &connector.Window{Field: "updatedAt", Start: start, End: start.Add(2 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	// Inclusive at both ends on Pardot's side; the engine drops the end.
	if strings.Join(ids, ",") != "2,3,4" {
		t.Errorf("ids %v", ids)
	}
	if r := srv.Requests()[0]; !strings.Contains(r, "updatedAtAfterOrEqualTo=2024-01-01T02%3A00%3A00Z") || !strings.Contains(r, "updatedAtBeforeOrEqualTo=2024-01-01T04%3A00%3A00Z") {
		t.Errorf("request %s", r)
	}
}

func TestRefusals(t *testing.T) {
	srv := pdtest.New(t)
	prospects(srv, 1)
	srv.Expire()
	srv.Revoke()
	d := openTest(t, srv, `{"accessToken":"A0","refreshToken":"R1"}`, Options{})
	err := d.CheckProfile(context.Background())
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("revoked refresh token: %v, want AuthFailed with Salesforce's reason", err)
	}
	// Without a refresh token, the refused token is the answer.
	d = openTest(t, srv, `{"accessToken":"stale"}`, Options{})
	if err := d.CheckProfile(context.Background()); !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "184") {
		t.Errorf("stale token: %v", err)
	}
	srv2 := pdtest.New(t)
	srv2.Daily()
	d = openTest(t, srv2, `{"accessToken":"A0"}`, Options{})
	if _, err := read(t, d, &connector.ReadRequest{Object: "prospects", Fields: []string{"id"}}); !fault.Is(err, fault.Throttled) || !strings.Contains(err.Error(), "122") {
		t.Errorf("code 122: %v", err)
	}
	if n := len(srv2.Requests()); n != 1 {
		t.Errorf("code 122 retried: %d requests", n)
	}
	if _, err := Open(connector.Deps{}, connector.Profile{Name: "x", Credentials: json.RawMessage(`{"accessToken":"a"}`)}, Options{}); !fault.Is(err, fault.Invalid) {
		t.Errorf("no businessUnitId: %v", err)
	}
}

func TestCatalog(t *testing.T) {
	srv := pdtest.New(t)
	srv.Add("custom-fields", pdtest.Record{"id": 1, "fieldId": "Favorite_Color__c", "name": "Favorite color"})
	d := openTest(t, srv, `{"accessToken":"A0"}`, Options{})
	ents, err := d.ListEntities(context.Background(), "")
	if err != nil || len(ents["Objects"]) != len(objects) {
		t.Fatalf("entities %v, %v", ents, err)
	}
	fields, err := d.DescribeEntity(context.Background(), "prospects")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	if !slices.Contains(names, "Favorite_Color__c") || !slices.Contains(names, "email") {
		t.Errorf("prospect fields %v", names)
	}
}

// TestCodeExchange: a profile made with an oAuthRequest exchanges the code
// at Salesforce's token endpoint and keeps the tokens.
func TestCodeExchange(t *testing.T) {
	srv := pdtest.New(t)
	saved := make(chan string, 2)
	opts := Options{Retry: (&sleeps{}).policy(), ClientID: pdtest.ClientID, ClientSecret: pdtest.ClientSecret}
	d, err := Open(connector.Deps{HTTPClient: srv.Client(), Endpoints: connector.Endpoints{connector.EndpointSalesforceLogin: srv.URL()}},
		connector.Profile{Name: "pd", Properties: json.RawMessage(fmt.Sprintf(`{"businessUnitId":%q,"instanceUrl":%q}`, pdtest.BusinessUnit, srv.URL())),
			Credentials: json.RawMessage(`{"oAuthRequest":{"authCode":"CODE","redirectUri":"https://console.example/cb"}}`),
			SaveCredentials: func(ctx context.Context, c json.RawMessage) error {
				saved <- string(c)
				return nil
			}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckProfile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := <-saved; !strings.Contains(c, `"refreshToken":"R1"`) || strings.Contains(c, "oAuthRequest") {
		t.Errorf("saved %s", c)
	}
	if got := srv.Requests(); len(got) != 2 || got[0] != "token authorization_code" {
		t.Errorf("requests %q", got)
	}
}

// TestConcurrencyCap: seven checks of one business unit, through seven
// drivers sharing the process's Shared, put five calls in flight and
// queue two; none is refused with code 66.
func TestConcurrencyCap(t *testing.T) {
	srv := pdtest.New(t)
	arrived, release := srv.Hold()
	shared := connector.NewShared()
	var ds []*Driver
	for range 7 {
		d, err := Open(connector.Deps{HTTPClient: srv.Client(), Shared: shared}, connector.Profile{Name: "pd",
			Properties:  json.RawMessage(fmt.Sprintf(`{"businessUnitId":%q,"instanceUrl":%q}`, pdtest.BusinessUnit, srv.URL())),
			Credentials: json.RawMessage(`{"accessToken":"A0"}`)}, Options{Retry: (&sleeps{}).policy()})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	errs := make(chan error, len(ds))
	for _, d := range ds {
		go func() { errs <- d.CheckProfile(context.Background()) }()
	}
	for range MaxConcurrent {
		<-arrived
	}
	for deadline := time.Now().Add(30 * time.Second); ds[0].lim.waiting.Load() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, %d in flight", ds[0].lim.waiting.Load(), srv.InFlight())
		}
	}
	if n := srv.InFlight(); n != MaxConcurrent {
		t.Errorf("%d in flight with two queued", n)
	}
	release()
	for range ds {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := srv.MostInFlight(); n != MaxConcurrent {
		t.Errorf("at most %d in flight, want %d", n, MaxConcurrent)
	}
}
