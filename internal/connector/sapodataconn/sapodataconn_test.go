package sapodataconn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/connector/sapodataconn/odatatest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

const soPath = odatatest.ServicePath + "/A_SalesOrder"

func date(s string) string {
	t, _ := time.Parse(time.RFC3339, s)
	return "/Date(" + strconv.FormatInt(t.UnixMilli(), 10) + ")/"
}

// seedOrders puts five sales orders (pairs 4-6 of §8.5).
func seedOrders(s *odatatest.Server) {
	for i, r := range []struct {
		so, party, amount string
		changed           string
	}{
		{"1", "C1", "50.00", "2023-12-31T23:00:00Z"},
		{"2", "C1", "150.00", "2024-01-01T00:00:00Z"},
		{"3", "C2", "250.00", "2024-01-02T00:00:00Z"},
		{"4", "C3", "350.00", "2024-01-03T00:00:00Z"},
		{"5", "C2", "450.00", "2024-01-04T00:00:00Z"},
	} {
		s.Put("A_SalesOrder", map[string]any{"SalesOrder": r.so, "SoldToParty": r.party, "TotalNetAmount": r.amount,
			"ItemCount": i + 1, "Released": i%2 == 0, "LastChangeDateTime": date(r.changed), "CreationDate": date(r.changed), "Notes": "n" + r.so})
	}
}

func readAll(t *testing.T, d *Driver, r *connector.ReadRequest) ([]map[string]string, []*record.Batch, error) {
	t.Helper()
	ctx := context.Background()
	splits, err := d.Splits(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	var rows []map[string]string
	var batches []*record.Batch
	for _, s := range splits {
		err := d.ReadSplit(ctx, r, s, func(b *record.Batch) error {
			batches = append(batches, b)
			for i := range b.Len() {
				row := map[string]string{}
				for j, v := range b.Row(i) {
					row[b.Fields[j]] = v.Text()
				}
				rows = append(rows, row)
			}
			return nil
		})
		if err != nil {
			return rows, batches, err
		}
	}
	return rows, batches, nil
}

func TestCheckProfile(t *testing.T) {
	s := odatatest.New(t)
	d := openTest(t, s, basicCreds)
	if err := d.CheckProfile(context.Background()); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	want := []string{odatatest.CatalogPath + "/?$format=json&sap-client=100&sap-language=EN"}
	if got := s.Requests(); !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	bad := openTest(t, s, `{"basicAuthCredentials":{"username":"u","password":"wrong"}}`)
	err := bad.CheckProfile(context.Background())
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "Logon failed") {
		t.Errorf("CheckProfile with a wrong password = %v, want AuthFailed with SAP's message", err)
	}
}

func TestOpenValidatesProfile(t *testing.T) {
	s := odatatest.New(t)
	for name, mod := range map[string]func(m map[string]any){
		"client 2 digits": func(m map[string]any) { m["clientNumber"] = "10" },
		"client 000":      func(m map[string]any) { m["clientNumber"] = "000" },
		"port 0":          func(m map[string]any) { m["portNumber"] = 0 },
		"host path":       func(m map[string]any) { m["applicationHostUrl"] = "http://h/sap" },
		"no service path": func(m map[string]any) { m["applicationServicePath"] = "" },
		"language":        func(m map[string]any) { m["logonLanguage"] = "ENG" },
	} {
		var m map[string]any
		_ = json.Unmarshal(testProps(s), &m)
		mod(m)
		b, _ := json.Marshal(m)
		if _, err := open(connector.Deps{}, connector.Profile{Properties: b, Credentials: json.RawMessage(basicCreds)}, testOptions()); !fault.Is(err, fault.Invalid) {
			t.Errorf("%s: open = %v, want Invalid", name, err)
		}
	}
	if _, err := open(connector.Deps{}, connector.Profile{Properties: testProps(s), Credentials: json.RawMessage(`{}`)}, testOptions()); !fault.Is(err, fault.AuthFailed) {
		t.Errorf("open without credentials = %v, want AuthFailed", err)
	}
}

func TestListEntities(t *testing.T) {
	s := odatatest.New(t)
	d := openTest(t, s, basicCreds)
	ctx := context.Background()
	top, err := d.ListEntities(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := top["Services"]; len(got) != 1 || got[0].Name != odatatest.ServicePath || !got[0].HasNestedEntities || got[0].Label != "Sales orders" {
		t.Errorf("services = %+v", top)
	}
	sets, err := d.ListEntities(ctx, odatatest.ServicePath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range sets["Entity sets"] {
		names = append(names, e.Name)
	}
	if want := []string{soPath, soPath + "Item"}; !slices.Equal(names, want) {
		t.Errorf("entity sets = %q, want %q", names, want)
	}
	want := []string{
		odatatest.CatalogPath + "/ServiceCollection?$format=json&sap-client=100&sap-language=EN",
		odatatest.ServicePath + "/?$format=json&sap-client=100&sap-language=EN",
	}
	if got := s.Requests(); !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestDescribeEntity(t *testing.T) {
	s := odatatest.New(t)
	d := openTest(t, s, basicCreds)
	ctx := context.Background()
	fields, err := d.DescribeEntity(ctx, soPath)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]connector.EntityField{}
	for _, f := range fields {
		by[f.Name] = f
	}
	for name, typ := range map[string]record.FieldType{"SalesOrder": httpconn.TypeString, "TotalNetAmount": httpconn.TypeDecimal, "ItemCount": httpconn.TypeInteger,
		"Released": httpconn.TypeBoolean, "LastChangeDateTime": httpconn.TypeDateTime, "CreationDate": httpconn.TypeDateTime, "to_Item": httpconn.TypeStruct} {
		if by[name].Type != typ {
			t.Errorf("%s type = %q, want %q", name, by[name].Type, typ)
		}
	}
	if f := by["SalesOrder"]; !f.IsPrimaryKey || f.Nullable || f.Updatable || !f.Creatable || f.Label != "SalesOrder label" {
		t.Errorf("SalesOrder = %+v", f)
	}
	if f := by["Notes"]; len(f.FilterOperators) != 0 {
		t.Errorf("Notes (sap:filterable=false) operators = %q", f.FilterOperators)
	}
	if f := by["SoldToParty"]; !slices.Contains(f.FilterOperators, "CONTAINS") || !f.Updatable {
		t.Errorf("SoldToParty = %+v", f)
	}
	if f := by["Released"]; !slices.Equal(f.FilterOperators, opsBool) {
		t.Errorf("Released operators = %q", f.FilterOperators)
	}
	if !by["LastChangeDateTime"].IsTimestampForIncremental {
		t.Error("LastChangeDateTime is not offered as the incremental field")
	}
	if _, err := d.DescribeEntity(ctx, soPath+"Item"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DescribeEntity(ctx, odatatest.ServicePath+"/Nope"); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown set = %v, want NotFound", err)
	}
	n := 0
	for _, r := range s.Requests() {
		if strings.Contains(r, "$metadata") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("$metadata fetched %d times, want once", n)
	}
}

func TestReadPushesSelectAndFilter(t *testing.T) {
	s := odatatest.New(t)
	seedOrders(s)
	d := openTest(t, s, basicCreds)
	start, _ := time.Parse(time.RFC3339, "2024-01-01T00:00:00Z")
	end, _ := time.Parse(time.RFC3339, "2024-01-04T00:00:00Z")
	r := &connector.ReadRequest{
		Properties: objectProps(soPath),
		Fields:     []string{"SalesOrder", "SoldToParty", "TotalNetAmount"},
		Window:     &connector.Window{Field: "LastChangeDateTime", Start: start, End: end},
		Filters: []connector.Filter{
			{Field: "TotalNetAmount", Operator: "GREATER_THAN", Values: []string{"100"}, DataType: "decimal"},
			{Field: "SoldToParty", Operator: "EQUAL_TO", Values: []string{"C1", "O'Brien"}, DataType: "string"},
			{Field: "Notes", Operator: "EQUAL_TO", Values: []string{"n2"}},            // not filterable: engine only
			{Field: "SoldToParty", Operator: "NOT_EQUAL_TO", Values: []string{"C9"}},  // never pushed
			{Field: "SoldToParty", Operator: "LESS_THAN", Values: []string{"C9"}},     // string order: engine only
			{Field: "TotalNetAmount", Operator: "LESS_THAN", Values: []string{"900"}}, // compared as text by the engine
			{Field: "ItemCount", Operator: "BETWEEN", Values: []string{"1", "4"}, DataType: "integer"},
		},
	}
	rows, batches, err := readAll(t, d, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{{"SalesOrder": "2", "SoldToParty": "C1", "TotalNetAmount": "150.00"}}
	if len(rows) != 1 || rows[0]["SalesOrder"] != "2" || rows[0]["TotalNetAmount"] != "150.00" || rows[0]["SoldToParty"] != "C1" {
		t.Errorf("rows = %v, want %v", rows, want)
	}
	filter := "(LastChangeDateTime ge datetimeoffset'2024-01-01T00:00:00Z' and LastChangeDateTime lt datetimeoffset'2024-01-04T00:00:00Z')" +
		" and TotalNetAmount gt 100M and (SoldToParty eq 'C1' or SoldToParty eq 'O''Brien') and (ItemCount ge 1 and ItemCount le 4)"
	first := soPath + "?$format=json&$select=SalesOrder,SoldToParty,TotalNetAmount,LastChangeDateTime&$filter=" + escape(filter) + "&$top=3000&$skip=0&sap-client=100&sap-language=EN"
	got := s.Requests()
	if len(got) != 2 || got[1] != first {
		t.Errorf("requests = %q,\nwant [$metadata, %q]", got, first)
	}
	if len(batches) != 1 || !batches[0].Final {
		t.Errorf("%d batches", len(batches))
	}
}

// A service without server paging answers every row it is asked for: the
// read asks pages of paginationConfig.maxPageSize with $top/$skip, and with
// parallelismConfig counts the rows and deals the pages to that many splits.
func TestReadPagesWithTopSkip(t *testing.T) {
	s := odatatest.New(t)
	seedOrders(s) // 5 orders
	s.SetPageSize(0)
	d := openTest(t, s, basicCreds)
	props := func(extra string) json.RawMessage {
		return json.RawMessage(`{"objectPath":"` + soPath + `","paginationConfig":{"maxPageSize":2}` + extra + `}`)
	}
	rows, batches, err := readAll(t, d, &connector.ReadRequest{Properties: props("")})
	if err != nil || len(rows) != 5 || len(batches) != 3 || !batches[2].Final || batches[1].Final {
		t.Fatalf("%d rows in %d batches (%v); want 5 in 3, the last final", len(rows), len(batches), err)
	}
	var skips []string
	for _, r := range s.Requests() {
		if u, err := url.Parse(r); err == nil && strings.HasSuffix(u.Path, "/A_SalesOrder") {
			if u.Query().Get("$top") != "2" {
				t.Errorf("request %s: want $top=2", r)
			}
			skips = append(skips, u.Query().Get("$skip"))
		}
	}
	if fmt.Sprint(skips) != "[0 2 4]" {
		t.Errorf("$skip of the pages = %v, want [0 2 4]", skips)
	}

	s.ResetRequests()
	r := &connector.ReadRequest{Properties: props(`,"parallelismConfig":{"maxParallelism":2}`)}
	splits, err := d.Splits(context.Background(), r)
	if err != nil || len(splits) != 2 {
		t.Fatalf("parallel splits = %v (%v), want 2", splits, err)
	}
	seen := map[string]int{}
	for _, sp := range splits {
		err := d.ReadSplit(context.Background(), r, sp, func(b *record.Batch) error {
			for i := range b.Len() {
				seen[b.Row(i)[0].Text()]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 5 {
		t.Errorf("parallel read saw %v, want the 5 orders", seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("order %s read %d times", k, n)
		}
	}
	counted := false
	for _, q := range s.Requests() {
		counted = counted || strings.Contains(q, "/A_SalesOrder/$count")
	}
	if !counted {
		t.Errorf("requests %v: want a $count before dealing out pages", s.Requests())
	}
}

func TestReadFollowsNext(t *testing.T) {
	s := odatatest.New(t)
	seedOrders(s)
	d := openTest(t, s, basicCreds)
	r := &connector.ReadRequest{Properties: objectProps(soPath)}
	rows, batches, err := readAll(t, d, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || len(batches) != 3 {
		t.Fatalf("%d rows in %d batches, want 5 in 3 (page size 2)", len(rows), len(batches))
	}
	for i, b := range batches {
		if b.Final != (i == 2) || b.FirstLine != int64(1+2*i) {
			t.Errorf("batch %d: Final=%v FirstLine=%d", i, b.Final, b.FirstLine)
		}
	}
	r4 := rows[3]
	if r4["SalesOrder"] != "4" || r4["TotalNetAmount"] != "350.00" || r4["ItemCount"] != "4" || r4["Released"] != "false" ||
		r4["LastChangeDateTime"] != record.MillisVal(1704240000000).Text() || r4["Notes"] != "n4" {
		t.Errorf("row 4 = %v", r4)
	}
	if _, ok := r4["to_Item"]; ok {
		t.Error("a navigation property was read as a field")
	}
	want := []string{
		odatatest.ServicePath + "/$metadata?sap-client=100&sap-language=EN",
		soPath + "?$format=json&$top=3000&$skip=0&sap-client=100&sap-language=EN",
		soPath + "?%24format=json&%24skip=0&%24skiptoken=2&%24top=3000&sap-client=100&sap-language=EN",
		soPath + "?%24format=json&%24skip=0&%24skiptoken=4&%24top=3000&sap-client=100&sap-language=EN",
	}
	if got := s.Requests(); !slices.Equal(got, want) {
		t.Errorf("requests =\n%q\nwant\n%q", got, want)
	}
}

func TestReadErrors(t *testing.T) {
	s := odatatest.New(t)
	seedOrders(s)
	d := openTest(t, s, basicCreds)
	// A property the entity lacks.
	_, _, err := readAll(t, d, &connector.ReadRequest{Properties: objectProps(soPath), Fields: []string{"Nope"}})
	if !fault.Is(err, fault.Invalid) {
		t.Errorf("unknown field = %v, want Invalid", err)
	}
	// 503 then 429 are retried (Retry-After honoured by internal/retry).
	if _, _, err := readAll(t, d, &connector.ReadRequest{Properties: objectProps(soPath)}); err != nil {
		t.Fatal(err)
	}
	s.Fail(http.StatusServiceUnavailable, http.StatusTooManyRequests)
	rows, _, err := readAll(t, d, &connector.ReadRequest{Properties: objectProps(soPath)})
	if err != nil || len(rows) != 5 {
		t.Errorf("after 503 and 429: %d rows, %v", len(rows), err)
	}
	// A 400 carries SAP's code, message and transaction id.
	s.Fail(http.StatusBadRequest)
	_, _, err = readAll(t, d, &connector.ReadRequest{Properties: objectProps(soPath)})
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "/IWFND/CM_BEC/026") || !strings.Contains(err.Error(), "4FDF0D5E2F1A4A8E") || !strings.Contains(err.Error(), soPath) {
		t.Errorf("400 = %v", err)
	}
}

func TestFilterExpressions(t *testing.T) {
	p := func(edm string) *property { return &property{Name: "F", Edm: edm, Filterable: true} }
	for _, c := range []struct {
		p    *property
		f    connector.Filter
		want string
	}{
		{p("Edm.String"), connector.Filter{Operator: "EQUAL_TO", Values: []string{"a'b"}}, "F eq 'a''b'"},
		{p("Edm.String"), connector.Filter{Operator: "CONTAINS", Values: []string{"x"}}, "substringof('x',F) eq true"},
		{p("Edm.String"), connector.Filter{Operator: "GREATER_THAN", Values: []string{"x"}}, ""},
		{p("Edm.String"), connector.Filter{Operator: "EQUAL_TO", Values: []string{"1"}, DataType: "integer"}, ""},
		{p("Edm.String"), connector.Filter{Operator: "NOT_EQUAL_TO", Values: []string{"x"}}, ""},
		{p("Edm.Int64"), connector.Filter{Operator: "LESS_THAN_OR_EQUAL_TO", Values: []string{"5"}, DataType: "long"}, "F le 5L"},
		{p("Edm.Int32"), connector.Filter{Operator: "EQUAL_TO", Values: []string{"5"}}, "F eq 5"},
		{p("Edm.Int32"), connector.Filter{Operator: "EQUAL_TO", Values: []string{"five"}}, ""},
		{p("Edm.Decimal"), connector.Filter{Operator: "BETWEEN", Values: []string{"1.5", "12.50"}, DataType: "decimal"}, "(F ge 1.5M and F le 12.50M)"},
		{p("Edm.Double"), connector.Filter{Operator: "GREATER_THAN_OR_EQUAL_TO", Values: []string{"2.5"}, DataType: "double"}, "F ge 2.5d"},
		{p("Edm.Boolean"), connector.Filter{Operator: "EQUAL_TO", Values: []string{"TRUE"}, DataType: "boolean"}, "F eq true"},
		{p("Edm.Boolean"), connector.Filter{Operator: "EQUAL_TO", Values: []string{"true"}}, ""},
		{p("Edm.DateTime"), connector.Filter{Operator: "GREATER_THAN", Values: []string{"1704067200000"}, DataType: "datetime"}, "F gt datetime'2024-01-01T00:00:00'"},
		{p("Edm.DateTime"), connector.Filter{Operator: "LESS_THAN", Values: []string{"1704067200123"}, DataType: "datetime"}, "F lt datetime'2024-01-01T00:00:00.123'"},
		{p("Edm.DateTimeOffset"), connector.Filter{Operator: "EQUAL_TO", Values: []string{"2024-01-01T01:00:00+01:00"}, DataType: "timestamp"}, "F eq datetimeoffset'2024-01-01T00:00:00Z'"},
		{p("Edm.DateTime"), connector.Filter{Operator: "EQUAL_TO", Values: []string{"1704067200000"}}, ""},
		{p("Edm.Guid"), connector.Filter{Operator: "EQUAL_TO", Values: []string{"x"}}, ""},
		{&property{Name: "F", Edm: "Edm.String"}, connector.Filter{Operator: "EQUAL_TO", Values: []string{"x"}}, ""},
	} {
		got, ok := filterExpr(c.p, c.f)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("%s %s %q (%s) = %q, %v; want %q", c.p.Edm, c.f.Operator, c.f.Values, c.f.DataType, got, ok, c.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	for in, want := range map[string]int64{"/Date(1704067200000)/": 1704067200000, "/Date(1704067200000+0060)/": 1704067200000, "/Date(-1000)/": -1000} {
		if got, ok := parseDate(in); !ok || got != want {
			t.Errorf("parseDate(%q) = %d, %v", in, got, ok)
		}
	}
}

func TestOAuth(t *testing.T) {
	s := odatatest.New(t)
	seedOrders(s)
	var mu sync.Mutex
	var saved []json.RawMessage
	props, _ := json.Marshal(map[string]any{
		"applicationHostUrl": "http://127.0.0.1", "portNumber": s.Port(),
		"applicationServicePath": odatatest.CatalogPath, "clientNumber": odatatest.SAPClient,
		"oAuthProperties": map[string]any{"tokenUrl": s.URL() + odatatest.TokenPath, "authCodeUrl": s.URL() + "/sap/bc/sec/oauth2/authorize", "oAuthScopes": []string{"ZAPI_SO_SRV_0001"}},
	})
	creds, _ := json.Marshal(map[string]any{"oAuthCredentials": map[string]any{"clientId": odatatest.ClientID, "clientSecret": odatatest.ClientSecret,
		"oAuthRequest": map[string]string{"authCode": odatatest.AuthCode, "redirectUri": odatatest.RedirectURI}}})
	d, err := open(connector.Deps{HTTPClient: s.Client()}, connector.Profile{Name: "sap", Properties: props, Credentials: creds,
		SaveCredentials: func(_ context.Context, c json.RawMessage) error {
			mu.Lock()
			saved = append(saved, c)
			mu.Unlock()
			return nil
		}}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile after the code exchange: %v", err)
	}
	if len(saved) != 1 {
		t.Fatalf("saved %d times, want 1", len(saved))
	}
	var c struct {
		O map[string]any `json:"oAuthCredentials"`
	}
	_ = json.Unmarshal(saved[0], &c)
	if c.O["accessToken"] == nil || c.O["refreshToken"] == nil || c.O["oAuthRequest"] != nil || c.O["clientId"] != odatatest.ClientID {
		t.Errorf("saved credentials = %s", saved[0])
	}
	// An expired token is refreshed once.
	s.ExpireTokens()
	rows, _, err := readAll(t, d, &connector.ReadRequest{Properties: objectProps(soPath), Fields: []string{"SalesOrder"}})
	if err != nil || len(rows) != 5 {
		t.Fatalf("read after expiry: %d rows, %v", len(rows), err)
	}
	if len(saved) != 2 {
		t.Errorf("saved %d times, want 2 (after the refresh)", len(saved))
	}
	// A token refused with no way to refresh fails as AuthFailed.
	creds, _ = json.Marshal(map[string]any{"oAuthCredentials": map[string]any{"clientId": "x", "clientSecret": "y", "accessToken": "stale"}})
	d2, err := open(connector.Deps{HTTPClient: s.Client()}, connector.Profile{Name: "sap", Properties: props, Credentials: creds}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.CheckProfile(ctx); !fault.Is(err, fault.AuthFailed) {
		t.Errorf("stale token = %v, want AuthFailed", err)
	}
}
