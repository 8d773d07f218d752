package trendmicroconn

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
	"github.com/appflowd/appflowd/internal/connector/trendmicroconn/tmtest"
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

func openTest(t *testing.T, srv *tmtest.Server, key string, opts Options) *Driver {
	t.Helper()
	if opts.Retry.Sleep == nil {
		opts.Retry = (&sleeps{}).policy()
	}
	d, err := Open(connector.Deps{HTTPClient: srv.Client(), Endpoints: connector.Endpoints{connector.EndpointTrendMicro: srv.URL()}},
		connector.Profile{Name: "tm", Credentials: json.RawMessage(fmt.Sprintf(`{"apiSecretKey":%q}`, key))}, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

type harness struct {
	srv  *tmtest.Server
	n    int
	next int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.srv, tmtest.SecretKey, Options{PageSize: 3000})
}

// Seed stores each table's rows as computers whose description names the
// seed, and reads them back with an EQUAL_TO on it.
func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.n++
	tag := fmt.Sprintf("seed-%d", h.n)
	var names []string
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			h.next++
			o := tmtest.Object{"ID": h.next, "description": tag}
			for i, f := range tb.Fields {
				o[f] = row[i]
			}
			h.srv.Add("computers", o)
		}
	}
	return &connector.ReadRequest{Object: "computers", Fields: names, Filters: []connector.Filter{{Field: "description", Operator: "EQUAL_TO", Values: []string{tag}}}}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.srv.Malformed("ipLists")
	return &connector.ReadRequest{Object: "ipLists", Fields: []string{"ID"}}, "ipLists"
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{srv: tmtest.New(t)})
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

func computers(srv *tmtest.Server) {
	srv.Add("computers",
		tmtest.Object{"ID": 1, "hostName": "web-1", "policyID": 3, "platform": "Ubuntu 22.04", "computerStatus": map[string]any{"agentStatus": "active"}, "lastAgentCommunication": 1704067200000},
		tmtest.Object{"ID": 2, "hostName": "db-1", "policyID": 3, "platform": "Red Hat 9", "computerStatus": map[string]any{"agentStatus": "inactive"}, "lastAgentCommunication": 0},
		tmtest.Object{"ID": 5, "hostName": "web-2", "policyID": 4, "platform": "Ubuntu 22.04"},
		tmtest.Object{"ID": 7, "hostName": "mail-1", "policyID": 3, "platform": "Windows", "biosUUID": "x", "newField": true},
	)
}

// TestPagedByID: pages of maxItems sorted by ID, each after the last ID,
// until a short page; Map_all keeps keys beyond the schema.
func TestPagedByID(t *testing.T) {
	srv := tmtest.New(t)
	computers(srv)
	d := openTest(t, srv, tmtest.SecretKey, Options{PageSize: 2})
	rows, err := readAll(t, d, &connector.ReadRequest{Object: "computers"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r["ID"])
	}
	if strings.Join(ids, ",") != "1,2,5,7" {
		t.Fatalf("ids %v", ids)
	}
	if rows[0]["computerStatus"] != `{"agentStatus":"active"}` || rows[0]["lastAgentCommunication"] != "1704067200000" || rows[1]["lastAgentCommunication"] != "0" || rows[3]["newField"] != "true" {
		t.Errorf("rows %v", rows)
	}
	want := []string{
		`computers {"maxItems":2,"searchCriteria":[{"idTest":"greater-than","idValue":0}],"sortByObjectID":true}`,
		`computers {"maxItems":2,"searchCriteria":[{"idTest":"greater-than","idValue":2}],"sortByObjectID":true}`,
		`computers {"maxItems":2,"searchCriteria":[{"idTest":"greater-than","idValue":7}],"sortByObjectID":true}`,
	}
	if got := srv.Searches(); !slices.Equal(got, want) {
		t.Errorf("searches\n got %q\nwant %q", got, want)
	}
}

// TestEqualTo: EQUAL_TO values become criteria of the field's kind; several
// values are one search each.
func TestEqualTo(t *testing.T) {
	srv := tmtest.New(t)
	computers(srv)
	d := openTest(t, srv, tmtest.SecretKey, Options{})
	rows, err := readAll(t, d, &connector.ReadRequest{Object: "computers", Fields: []string{"ID", "hostName"}, Filters: []connector.Filter{
		{Field: "policyID", Operator: "EQUAL_TO", Values: []string{"3"}},
		{Field: "hostName", Operator: "EQUAL_TO", Values: []string{"web-1", "mail-1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rows) != "[map[ID:1 hostName:web-1] map[ID:7 hostName:mail-1]]" {
		t.Errorf("rows %v", rows)
	}
	s := srv.Searches()
	if len(s) != 2 || !strings.Contains(s[0], `{"fieldName":"policyID","numericTest":"equal","numericValue":3}`) ||
		!strings.Contains(s[0], `{"fieldName":"hostName","stringTest":"equal","stringValue":"web-1","stringWildcards":false}`) {
		t.Errorf("searches %q", s)
	}
	if _, err := d.Splits(context.Background(), &connector.ReadRequest{Object: "computers", Filters: []connector.Filter{{Field: "policyID", Operator: "EQUAL_TO", Values: []string{"three"}}}}); !fault.Is(err, fault.Invalid) {
		t.Errorf("non-numeric policyID: %v", err)
	}
	if _, err := d.Splits(context.Background(), &connector.ReadRequest{Object: "agents"}); !fault.Is(err, fault.Invalid) {
		t.Errorf("unknown entity: %v", err)
	}
}

func TestAuthAndRateLimit(t *testing.T) {
	srv := tmtest.New(t)
	computers(srv)
	ctx := context.Background()
	if err := openTest(t, srv, tmtest.SecretKey, Options{}).CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	err := openTest(t, srv, "2:wrong", Options{}).CheckProfile(ctx)
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "Invalid API key") {
		t.Errorf("bad key: %v", err)
	}
	sl := &sleeps{}
	d := openTest(t, srv, tmtest.SecretKey, Options{Retry: sl.policy(), PageSize: 2})
	srv.Throttle(2, "4")
	rows, err := readAll(t, d, &connector.ReadRequest{Object: "computers", Fields: []string{"ID"}})
	if err != nil || len(rows) != 4 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	if len(sl.d) != 2 || sl.d[0] < 4*time.Second {
		t.Errorf("waits %v, want two after Retry-After 4 s", sl.d)
	}
}

func TestCatalog(t *testing.T) {
	d := openTest(t, tmtest.New(t), tmtest.SecretKey, Options{})
	ents, err := d.ListEntities(context.Background(), "")
	if err != nil || len(ents["Objects"]) != 10 {
		t.Fatalf("entities %v %v", ents, err)
	}
	fs, err := d.DescribeEntity(context.Background(), "computers")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		switch f.Name {
		case "ID":
			if !f.IsPrimaryKey || f.Type != "long" {
				t.Errorf("ID %+v", f)
			}
		case "lastAgentCommunication", "computerStatus":
			if len(f.FilterOperators) != 0 {
				t.Errorf("%s %+v", f.Name, f)
			}
		case "hostName":
			if !slices.Equal(f.FilterOperators, []string{"EQUAL_TO"}) {
				t.Errorf("hostName %+v", f)
			}
		}
	}
}

func TestRegisteredWithCatalog(t *testing.T) {
	r := connector.NewRegistry()
	catalog.RegisterAll(r)
	r.Register(httpconn.Spec(Type, httpconn.Source, Options{}, Open))
	s, ok := r.Lookup(Type)
	if !ok || s.Open == nil || !slices.Contains(s.Capabilities.Operators, "EQUAL_TO") || s.Capabilities.MinScheduleMinutes != 60 {
		t.Fatalf("Trendmicro: %+v", s)
	}
}
