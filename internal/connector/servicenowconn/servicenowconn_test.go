package servicenowconn

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
	"github.com/appflowd/appflowd/internal/connector/servicenowconn/sntest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) policy() retry.Policy {
	return retry.Policy{Attempts: 3, Jitter: func() float64 { return 0 }, Sleep: func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		s.d = append(s.d, d)
		s.mu.Unlock()
		return ctx.Err()
	}}
}

const basicCreds = `{"username":"admin","password":"secret"}`

func openTest(t *testing.T, in *sntest.Instance, creds string, pageSize int, pol retry.Policy, save func(context.Context, json.RawMessage) error) *Driver {
	t.Helper()
	props, _ := json.Marshal(map[string]string{"instanceUrl": in.URL()})
	d, err := Open(connector.Deps{HTTPClient: in.Client()}, connector.Profile{Name: "sn", Properties: props, Credentials: json.RawMessage(creds), SaveCredentials: save},
		Options{Retry: pol, PageSize: pageSize})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

type harness struct {
	in *sntest.Instance
	n  int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.in, basicCreds, 3000, (&sleeps{}).policy(), nil)
}

func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.n++
	name := fmt.Sprintf("u_conf%d", h.n)
	var names []string
	var cols []sntest.Column
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
				cols = append(cols, sntest.Column{Name: f, Label: f, Type: "string"})
			}
		}
	}
	h.in.AddTable(name, name, "", cols...)
	for _, tb := range tables {
		for _, row := range tb.Rows {
			r := map[string]string{}
			for i, f := range tb.Fields {
				r[f] = row[i]
			}
			h.in.Insert(name, r)
		}
	}
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "e", Object: name, Fields: names}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.n++
	name := fmt.Sprintf("u_bad%d", h.n)
	h.in.AddTable(name, name, "", sntest.Column{Name: "name", Type: "string"}).Malformed = true
	return &connector.ReadRequest{Object: name, Fields: []string{"name"}}, name
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{in: sntest.New(t)})
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
					if v.K != record.Missing {
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

// A row updated while the read is under way moves in sys_updated_on order
// but not in sys_id order: every row present when the read started is read
// exactly once (offset paging over sys_updated_on skipped one and read the
// moved one twice).
func TestReadWhileRowsAreUpdated(t *testing.T) {
	in := sntest.New(t)
	for i := 1; i <= 6; i++ {
		in.Insert("incident", map[string]string{"sys_id": fmt.Sprintf("b%d", i), "number": fmt.Sprintf("INC%03d", i),
			"sys_updated_on": fmt.Sprintf("2024-01-01 0%d:00:00", i)})
	}
	in.AfterPage = func(n int) {
		if n == 1 { // a user edits the first row read
			in.Update("incident", "b1", map[string]string{"sys_updated_on": "2024-01-01 09:30:00"})
		}
	}
	d := openTest(t, in, basicCreds, 2, (&sleeps{}).policy(), nil)
	rows, err := readAll(t, d, &connector.ReadRequest{Object: "incident", Fields: []string{"number"},
		Window: &connector.Window{Field: "sys_updated_on", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		seen[r["number"]]++
	}
	for i := 1; i <= 6; i++ {
		if n := seen[fmt.Sprintf("INC%03d", i)]; n != 1 {
			t.Errorf("INC%03d read %d times, want once (rows %v)", i, n, rows)
		}
	}
	for _, q := range in.Queries() {
		if strings.Contains(q, "sysparm_offset") {
			t.Errorf("a read paged by offset: %s", q)
		}
	}
}

func seedIncidents(in *sntest.Instance) {
	in.Insert("incident", map[string]string{"sys_id": "a1", "number": "INC001", "short_description": "Printer down", "priority": "1", "active": "true",
		"assigned_to": "u1", "severity": "2", "sys_updated_on": "2023-12-31 23:59:59"})
	in.Insert("incident", map[string]string{"sys_id": "a2", "number": "INC002", "short_description": "VPN", "priority": "3", "active": "false",
		"assigned_to": "u2", "severity": "1", "sys_updated_on": "2024-01-01 08:00:00"})
	in.Insert("incident", map[string]string{"sys_id": "a3", "number": "INC003", "short_description": "printer jam", "priority": "2", "active": "true",
		"assigned_to": "u1", "severity": "3", "sys_updated_on": "2024-01-01 12:30:00"})
	in.Insert("incident", map[string]string{"sys_id": "a4", "number": "INC004", "short_description": "Mail", "priority": "4", "active": "true",
		"assigned_to": "", "severity": "3", "sys_updated_on": "2024-01-02 00:00:00"})
}

func TestReadWindowFiltersPaging(t *testing.T) {
	in := sntest.New(t)
	seedIncidents(in)
	d := openTest(t, in, basicCreds, 2, (&sleeps{}).policy(), nil)
	req := &connector.ReadRequest{Object: "incident", Fields: []string{"number", "sys_updated_on", "assigned_to", "priority", "active"},
		Window: &connector.Window{Field: "sys_updated_on", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}}
	rows, err := readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"number": "INC002", "sys_updated_on": "2024-01-01T08:00:00.000Z", "assigned_to": "u2", "priority": "3", "active": "false"},
		{"number": "INC003", "sys_updated_on": "2024-01-01T12:30:00.000Z", "assigned_to": "u1", "priority": "2", "active": "true"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("window rows\n got %v\nwant %v", rows, want)
	}
	qs := in.Queries()
	if q := qs[0]; !strings.Contains(q, "sysparm_query=sys_updated_on%3E%3D2024-01-01+00%3A00%3A00%5Esys_updated_on%3C2024-01-02+00%3A00%3A00%5EORDERBYsys_id") ||
		!strings.Contains(q, "sysparm_fields=number%2Csys_updated_on%2Cassigned_to%2Cpriority%2Cactive%2Csys_id") || !strings.Contains(q, "sysparm_limit=2") {
		t.Errorf("first query %s", q)
	}

	// Filters: CONTAINS (case-insensitive LIKE, a superset), priority < 3
	// pushed; NOT_EQUAL_TO on a string stays in the engine.
	req = &connector.ReadRequest{Object: "incident", Fields: []string{"number"}, Filters: []connector.Filter{
		{Field: "short_description", Operator: "CONTAINS", Values: []string{"printer"}},
		{Field: "priority", Operator: "LESS_THAN", Values: []string{"3"}, DataType: "integer"},
		{Field: "number", Operator: "NOT_EQUAL_TO", Values: []string{"inc001"}},
		{Field: "assigned_to", Operator: "EQUAL_TO", Values: []string{"u1", "u2"}},
	}}
	rows, err = readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rows) != "[map[number:INC001] map[number:INC003]]" {
		t.Errorf("filtered rows %v", rows)
	}
	qs = in.Queries()
	if q := qs[len(qs)-1]; !strings.Contains(q, "short_descriptionLIKEprinter%5Epriority%3C3%5Eassigned_toINu1%2Cu2%5EORDERBYsys_id") {
		t.Errorf("filter query %s", q)
	}

	// Every field, typed from the dictionary, inherited columns included.
	rows, err = readAll(t, d, &connector.ReadRequest{Object: "incident"})
	if err != nil || len(rows) != 4 || rows[0]["severity"] != "2" || rows[0]["short_description"] != "Printer down" {
		t.Errorf("all fields: %v %v", rows, err)
	}
}

func TestCatalog(t *testing.T) {
	in := sntest.New(t)
	in.AddTable("u_custom", "Custom", "", sntest.Column{Name: "u_x", Label: "X", Type: "decimal"})
	d := openTest(t, in, basicCreds, 2, (&sleeps{}).policy(), nil)
	ctx := context.Background()
	ents, err := d.ListEntities(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := "[{incident Incident false} {task Task false} {u_custom Custom false}]"
	if fmt.Sprint(ents["Objects"]) != want {
		t.Errorf("entities %v, want %s", ents, want)
	}
	fields, err := d.DescribeEntity(ctx, "incident")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]connector.EntityField{}
	var names []string
	for _, f := range fields {
		byName[f.Name] = f
		names = append(names, f.Name)
	}
	if fmt.Sprint(names) != "[sys_id number short_description priority active assigned_to sys_updated_on severity]" {
		t.Errorf("fields %v", names)
	}
	if f := byName["sys_updated_on"]; f.Type != "datetime" || !f.IsTimestampForIncremental || !slices.Contains(f.FilterOperators, "BETWEEN") {
		t.Errorf("sys_updated_on %+v", f)
	}
	if f := byName["sys_id"]; !f.IsPrimaryKey {
		t.Errorf("sys_id %+v", f)
	}
	if f := byName["active"]; f.Type != "boolean" || fmt.Sprint(f.FilterOperators) != "[EQUAL_TO NOT_EQUAL_TO]" {
		t.Errorf("active %+v", f)
	}
	if f := byName["short_description"]; fmt.Sprint(f.FilterOperators) != "[EQUAL_TO NOT_EQUAL_TO CONTAINS]" {
		t.Errorf("short_description %+v", f)
	}
	if _, err := d.DescribeEntity(ctx, "nope"); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown table: %v", err)
	}
}

func TestAuthAndErrors(t *testing.T) {
	in := sntest.New(t)
	seedIncidents(in)
	ctx := context.Background()
	err := openTest(t, in, `{"username":"admin","password":"wrong"}`, 0, (&sleeps{}).policy(), nil).CheckProfile(ctx)
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "User Not Authenticated") {
		t.Errorf("bad password: %v", err)
	}
	if err := openTest(t, in, basicCreds, 0, (&sleeps{}).policy(), nil).CheckProfile(ctx); err != nil {
		t.Errorf("basic: %v", err)
	}

	// OAuth: an expired token is refreshed once and the new one saved.
	in.Grant("sn-0")
	var saved json.RawMessage
	d := openTest(t, in, `{"oAuth2Credentials":{"clientId":"c","clientSecret":"s","accessToken":"sn-0","refreshToken":"snr-1"}}`, 0, (&sleeps{}).policy(),
		func(_ context.Context, c json.RawMessage) error { saved = c; return nil })
	if err := d.CheckProfile(ctx); err != nil || saved != nil {
		t.Fatalf("oauth: %v, saved %s", err, saved)
	}
	in.Expire()
	if _, err := readAll(t, d, &connector.ReadRequest{Object: "incident", Fields: []string{"number"}}); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if !strings.Contains(string(saved), `"accessToken":"sn-1"`) {
		t.Errorf("saved %s", saved)
	}
	// An authorization code is exchanged.
	code := openTest(t, in, `{"oAuth2Credentials":{"clientId":"c","clientSecret":"s","oAuthRequest":{"authCode":"good","redirectUri":"https://x"}}}`, 0, (&sleeps{}).policy(), nil)
	if err := code.CheckProfile(ctx); err != nil {
		t.Errorf("code: %v", err)
	}
	badClient := openTest(t, in, `{"oAuth2Credentials":{"clientId":"c","clientSecret":"nope","refreshToken":"snr-1"}}`, 0, (&sleeps{}).policy(), nil)
	if err := badClient.CheckProfile(ctx); !fault.Is(err, fault.AuthFailed) {
		t.Errorf("bad client secret: %v", err)
	}

	// 403 names the table; 429 waits Retry-After and gives up as Throttled.
	in.AddTable("u_secret", "Secret", "", sntest.Column{Name: "u_x", Type: "string"}).NoACL = true
	basic := openTest(t, in, basicCreds, 0, (&sleeps{}).policy(), nil)
	_, err = readAll(t, basic, &connector.ReadRequest{Object: "u_secret"})
	if !fault.Is(err, fault.ConnectorServer) || !strings.Contains(err.Error(), "User Not Authorized") || !strings.Contains(err.Error(), "u_secret") {
		t.Errorf("no ACL: %v", err)
	}
	s := &sleeps{}
	limited := openTest(t, in, basicCreds, 0, s.policy(), nil)
	in.Limit(2) // the table list and the dictionary pass; the read is refused
	_, err = readAll(t, limited, &connector.ReadRequest{Object: "incident", Fields: []string{"number"}})
	if !fault.Is(err, fault.Throttled) || !strings.Contains(err.Error(), "Rate limit exceeded") {
		t.Errorf("rate limited: %v", err)
	}
	if len(s.d) != 2 || s.d[0] != 5*time.Second {
		t.Errorf("waits %v, want Retry-After 5s twice", s.d)
	}
}

// The roles the driver plays, checked at compile time.
var (
	_ connector.SourceDriver   = (*Driver)(nil)
	_ connector.CatalogDriver  = (*Driver)(nil)
	_ connector.ProfileChecker = (*Driver)(nil)
)
