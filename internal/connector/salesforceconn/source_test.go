package salesforceconn

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// seedAccounts makes a typed object with n records, one soft-deleted.
func seedAccounts(o *sftest.Org, n int) *sftest.Object {
	acct := o.AddObject("Account", sftest.F("Name", "string"), sftest.F("Employees", "int"), sftest.F("Revenue", "currency"),
		sftest.F("Active", "boolean"), sftest.F("Founded", "date"), sftest.F("LastModifiedDate", "datetime"), sftest.F("Notes", "textarea"),
		sftest.Field{Name: "BillingAddress", Type: "address"})
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		rec := map[string]any{"Name": []string{"Acme", "acme \"q\"", "line\r\nbreak", "50%_off, yes"}[i%4] + string(rune('a'+i%26)),
			"Employees": float64(i), "Revenue": float64(i) + 0.25, "Active": i%2 == 0,
			"Founded": base.AddDate(0, 0, i).Format("2006-01-02"), "LastModifiedDate": base.Add(time.Duration(i) * time.Hour)}
		if i%5 == 0 {
			rec["Notes"] = nil
			rec["Revenue"] = nil
		} else {
			rec["Notes"] = "note " + string(rune('A'+i%26))
		}
		o.Insert("Account", rec)
	}
	if n > 1 {
		acct.SoftDelete(1)
	}
	return acct
}

func readAll(t *testing.T, d *Driver, req *connector.ReadRequest) ([]*record.Batch, error) {
	t.Helper()
	ctx := context.Background()
	splits, err := d.Splits(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []*record.Batch
	for _, s := range splits {
		err := d.ReadSplit(ctx, req, s, func(b *record.Batch) error { out = append(out, b); return nil })
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func rowsOf(bs []*record.Batch) [][]record.Value {
	var out [][]record.Value
	for _, b := range bs {
		for i := range b.Len() {
			out = append(out, append([]record.Value(nil), b.Row(i)...))
		}
	}
	return out
}

func sourceReq(object, api string, deleted bool, fields ...string) *connector.ReadRequest {
	p, _ := json.Marshal(map[string]any{"object": object, "dataTransferApi": api, "includeDeletedRecords": deleted})
	return &connector.ReadRequest{Object: object, Properties: p, Fields: fields}
}

func TestRESTAndBulkGiveIdenticalRecords(t *testing.T) {
	for _, deleted := range []bool{false, true} {
		o := sftest.NewOrg(t)
		seedAccounts(o, 45)
		opts := testOptions()
		opts.PageSize = 200
		o.SetRESTPage(10) // several REST pages
		var got [2][][]record.Value
		for i, api := range []string{"REST_SYNC", "BULKV2"} {
			d := openTest(t, o, opts, goodCreds)
			bs, err := readAll(t, d, sourceReq("Account", api, deleted))
			if err != nil {
				t.Fatalf("%s: %v", api, err)
			}
			got[i] = rowsOf(bs)
			if want := 44; deleted {
				want = 45
				if len(got[i]) != want {
					t.Errorf("%s includeDeletedRecords: %d records, want %d", api, len(got[i]), want)
				}
			} else if len(got[i]) != want {
				t.Errorf("%s: %d records, want %d", api, len(got[i]), want)
			}
			if bs[0].Fields[0] != "Id" || slices.Contains(bs[0].Fields, "BillingAddress") || slices.Contains(bs[0].Fields, "attributes") {
				t.Errorf("%s fields = %v, want describe order without compound fields", api, bs[0].Fields)
			}
		}
		if o.Logged("GET "+sftest.VersionPrefix+"/query") < 5 || o.Logged("POST "+sftest.VersionPrefix+"/jobs/query") != 1 {
			t.Errorf("API calls: %v", o.Log())
		}
		if deleted && o.Logged("GET "+sftest.VersionPrefix+"/queryAll") != 1 {
			t.Errorf("includeDeletedRecords did not use queryAll: %v", o.Log())
		}
		if len(got[0]) != len(got[1]) {
			t.Fatalf("REST read %d records, Bulk %d", len(got[0]), len(got[1]))
		}
		for r := range got[0] {
			for c := range got[0][r] {
				if a, b := got[0][r][c], got[1][r][c]; a != b {
					t.Errorf("record %d field %d: REST %v (%s), Bulk %v (%s)", r, c, a.Text(), a.K, b.Text(), b.K)
				}
			}
		}
		if deleted {
			continue
		}
		// Types come from the describe, whichever API.
		row := got[1][1] // the third record: the second is deleted
		if row[3].K != record.Int || row[4].K != record.Float || row[5].K != record.Bool || row[6].K != record.String || row[7].K != record.Time {
			t.Errorf("kinds = %v %v %v %v %v, want int float bool string(date) time", row[3].K, row[4].K, row[5].K, row[6].K, row[7].K)
		}
		if got := row[7].Text(); got != "2024-01-01T02:00:00.000Z" {
			t.Errorf("datetime = %s", got)
		}
		if !strings.Contains(got[0][1][2].S, "\r\n") {
			t.Errorf("Name %q lost its CRLF", got[0][1][2].S)
		}
	}
}

func TestAutomaticCountsThenPicksREST(t *testing.T) {
	o := sftest.NewOrg(t)
	seedAccounts(o, 12)
	d := openTest(t, o, testOptions(), goodCreds)
	req := sourceReq("Account", "AUTOMATIC", false, "Name", "Employees")
	req.Filters = []connector.Filter{{Field: "Employees", Operator: "GREATER_THAN", Values: []string{"5"}, DataType: "integer"}}
	bs, err := readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rowsOf(bs)); n != 6 {
		t.Errorf("read %d records with Employees > 5, want 6", n)
	}
	if o.Logged("POST "+sftest.VersionPrefix+"/jobs") != 0 || o.Logged("GET "+sftest.VersionPrefix+"/query") != 2 {
		t.Errorf("want a COUNT() query then one REST query, got %v", o.Log())
	}
}

func TestPushedDownFiltersKeepEveryMatch(t *testing.T) {
	o := sftest.NewOrg(t)
	seedAccounts(o, 30)
	start := time.Date(2024, 1, 1, 3, 0, 0, 0, time.UTC)
	for _, api := range []string{"REST_SYNC", "BULKV2"} {
		d := openTest(t, o, testOptions(), goodCreds)
		req := sourceReq("Account", api, false, "Name", "LastModifiedDate")
		req.Filters = []connector.Filter{
			{Field: "Name", Operator: "CONTAINS", Values: []string{"50%_OFF", "acme \"Q"}},
			{Field: "Active", Operator: "EQUAL_TO", Values: []string{"true"}, DataType: "boolean"},
			{Field: "Founded", Operator: "BETWEEN", Values: []string{"1704067200000", "1706659200000"}, DataType: "date"},
		}
		req.Window = &connector.Window{Field: "LastModifiedDate", Start: start, End: start.Add(20 * time.Hour)}
		bs, err := readAll(t, d, req)
		if err != nil {
			t.Fatalf("%s: %v", api, err)
		}
		// Case-blind CONTAINS: "50%_off, yes" (i%4==3) and `acme "q"` (i%4==1), active
		// (even i) never meets i%4 odd, so only the window and CONTAINS matter for odd i.
		for _, r := range rowsOf(bs) {
			ts := r[1].Time()
			if ts.Before(start) || !ts.Before(start.Add(20*time.Hour)) {
				t.Errorf("%s: record at %v is outside the window", api, ts)
			}
		}
	}
}

func TestTokenRefreshOnInvalidSession(t *testing.T) {
	o := sftest.NewOrg(t)
	seedAccounts(o, 30)
	o.SetRESTPage(10)
	d := openTest(t, o, testOptions(), goodCreds)
	pages := 0
	o.Inject(func(r *http.Request) (int, string, bool) {
		if strings.HasPrefix(r.URL.Path, sftest.VersionPrefix+"/query/") {
			pages++
			if pages == 1 { // the session times out mid-run
				o.ExpireTokens()
				return 401, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`, true
			}
		}
		return 0, "", false
	})
	bs, err := readAll(t, d, sourceReq("Account", "REST_SYNC", false, "Name"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rowsOf(bs)); n != 29 {
		t.Errorf("read %d records, want 29", n)
	}
	if o.Logged("POST /services/oauth2/token") != 1 {
		t.Errorf("want one token refresh, log: %v", o.Log())
	}
	if used, limit := d.APIUsage(); used == 0 || limit != 15000 {
		t.Errorf("APIUsage = %d/%d, want the Sforce-Limit-Info values", used, limit)
	}
}

func TestCheckProfile(t *testing.T) {
	o := sftest.NewOrg(t)
	o.AddCode("code-1")
	for _, c := range []struct {
		name, creds string
		opts        func(*Options)
		wantErr     string
	}{
		{"access token", goodCreds, nil, ""},
		{"expired token refreshed", `{"accessToken":"stale","refreshToken":"refresh-1"}`, nil, ""},
		{"authorization code", `{"oAuthRequest":{"authCode":"code-1","redirectUri":"https://example.com/cb"}}`, nil, ""},
		{"client credentials", `{"oAuth2GrantType":"CLIENT_CREDENTIALS"}`, nil, ""},
		{"bad refresh token", `{"accessToken":"stale","refreshToken":"nope"}`, nil, "expired access/refresh token"},
		{"used code", `{"oAuthRequest":{"authCode":"code-1"}}`, nil, "invalid authorization code"},
		{"no refresh token", `{"accessToken":"stale"}`, nil, "INVALID_SESSION_ID: Session expired or invalid"},
		{"bad client secret", `{"accessToken":"stale","refreshToken":"refresh-1"}`, func(o *Options) { o.ClientSecret = "wrong" }, "invalid client credentials"},
		{"no connected app", `{"accessToken":"stale","refreshToken":"refresh-1"}`, func(o *Options) { o.ClientID = "" }, "APPFLOWD_SALESFORCE_CLIENT_ID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions()
			if c.opts != nil {
				c.opts(&opts)
			}
			d := openTest(t, o, opts, c.creds)
			err := connector.NewConn(Type, d).CheckProfile(context.Background())
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckProfile: %v", err)
				}
				return
			}
			if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("CheckProfile = %v (%v), want AuthFailed with %q", err, fault.CodeOf(err), c.wantErr)
			}
		})
	}
}

func TestRetriedPagesNeitherLoseNorRepeat(t *testing.T) {
	for _, c := range []struct{ api, path, status, body string }{
		{"REST_SYNC", "/query/", "503", `[{"message":"Server unavailable","errorCode":"SERVER_UNAVAILABLE"}]`},
		{"REST_SYNC", "/query/", "403", `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`},
		{"BULKV2", "/results", "503", `[{"message":"Server unavailable","errorCode":"SERVER_UNAVAILABLE"}]`},
	} {
		t.Run(c.api+c.status, func(t *testing.T) {
			o := sftest.NewOrg(t)
			seedAccounts(o, 40)
			o.SetRESTPage(10)
			opts := testOptions()
			opts.PageSize = 200
			var sleeps []time.Duration
			opts.Retry.Sleep = func(ctx context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }
			d := openTest(t, o, opts, goodCreds)
			hits := 0
			o.Inject(func(r *http.Request) (int, string, bool) {
				if !strings.Contains(r.URL.Path, c.path) || (c.api == "BULKV2" && r.URL.Query().Get("locator") == "") {
					return 0, "", false
				}
				hits++
				if hits == 1 {
					status := 503
					if c.status == "403" {
						status = 403
					}
					return status, c.body, true
				}
				return 0, "", false
			})
			if c.api == "BULKV2" {
				d.opts.PageSize = 7
			}
			bs, err := readAll(t, d, sourceReq("Account", c.api, false, "Id", "Name"))
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, r := range rowsOf(bs) {
				seen[r[0].S]++
			}
			if len(seen) != 39 {
				t.Errorf("read %d distinct records, want 39", len(seen))
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("record %s read %d times", id, n)
				}
			}
			if len(sleeps) != 1 || hits < 2 {
				t.Errorf("slept %v over %d hits, want one backoff and a retry", sleeps, hits)
			}
		})
	}
}

func TestThrottlingExhaustedIsThrottled(t *testing.T) {
	o := sftest.NewOrg(t)
	seedAccounts(o, 3)
	d := openTest(t, o, testOptions(), goodCreds)
	o.Inject(func(r *http.Request) (int, string, bool) {
		return 403, `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`, true
	})
	_, err := readAll(t, d, sourceReq("Account", "REST_SYNC", false, "Name"))
	if !fault.Is(err, fault.Throttled) || !strings.Contains(err.Error(), "REQUEST_LIMIT_EXCEEDED") {
		t.Errorf("got %v, want Throttled naming REQUEST_LIMIT_EXCEEDED", err)
	}
}

func TestCatalog(t *testing.T) {
	o := sftest.NewOrg(t)
	seedAccounts(o, 1).AddField(sftest.Field{Name: "Ext__c", Label: "Ext", Type: "string", Createable: true, Updateable: true, ExternalID: true, IDLookup: true, Filterable: true})
	d := openTest(t, o, testOptions(), goodCreds)
	ents, err := d.ListEntities(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents["Objects"]) != 1 || ents["Objects"][0].Name != "Account" {
		t.Errorf("ListEntities = %v, want only the queryable Account", ents)
	}
	fields, err := d.DescribeEntity(context.Background(), "Account")
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]connector.EntityField{}
	for _, f := range fields {
		by[f.Name] = f
	}
	if f := by["Id"]; !f.IsPrimaryKey || !slices.Equal(f.WriteOperations, []string{"UPDATE", "UPSERT", "DELETE"}) {
		t.Errorf("Id = %+v", f)
	}
	if f := by["Name"]; !slices.Contains(f.FilterOperators, "CONTAINS") || !slices.Contains(f.WriteOperations, "INSERT") {
		t.Errorf("Name = %+v", f)
	}
	if f := by["Employees"]; !slices.Contains(f.FilterOperators, "BETWEEN") || f.Type != "int" {
		t.Errorf("Employees = %+v", f)
	}
	if f := by["LastModifiedDate"]; !f.IsTimestampForIncremental {
		t.Errorf("LastModifiedDate = %+v, want an incremental timestamp", f)
	}
	if f := by["Ext__c"]; !f.Upsertable || !slices.Contains(f.WriteOperations, "UPSERT") {
		t.Errorf("Ext__c = %+v", f)
	}
	if _, err := connector.NewConn(Type, d).DescribeEntity(context.Background(), "Nope"); !fault.Is(err, fault.NotFound) {
		t.Errorf("describe of an unknown object = %v, want NotFound", err)
	}
}
