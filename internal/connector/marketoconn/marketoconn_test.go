package marketoconn

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/marketoconn/mktotest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// testOptions make retries and polls instant; sleeps records the backoffs.
func testOptions(sleeps *[]time.Duration) Options {
	return Options{
		Retry: retry.Policy{Attempts: 4, Jitter: func() float64 { return 0.5 }, Sleep: func(ctx context.Context, d time.Duration) error {
			if sleeps != nil {
				*sleeps = append(*sleeps, d)
			}
			return ctx.Err()
		}},
		PollWait: func(ctx context.Context, _ int) error { return ctx.Err() },
		Earliest: time.Date(2023, 12, 1, 0, 0, 0, 0, time.UTC),
	}
}

const goodCreds = `{"clientId":"` + mktotest.ClientID + `","clientSecret":"` + mktotest.ClientSecret + `"}`

func openTest(t *testing.T, s *mktotest.Server, opts Options, creds string) *Driver {
	t.Helper()
	props, _ := json.Marshal(map[string]any{"instanceUrl": s.URL()})
	d, err := open(connector.Deps{HTTPClient: s.Client(), Now: s.Now}, connector.Profile{Name: "mk", Properties: props, Credentials: json.RawMessage(creds)}, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return d
}

func props(object string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"object": object})
	return b
}

type harness struct{ s *mktotest.Server }

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.s, testOptions(nil), goodCreds)
}

func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.s.Reset("leads")
	seen := map[string]bool{}
	var names []string
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !seen[f] {
				seen[f] = true
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			rec := map[string]string{}
			for i, f := range tb.Fields {
				rec[f] = row[i]
			}
			h.s.Put("leads", rec)
		}
	}
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "e", Object: "leads", Properties: props("leads"), Fields: names}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.s.Reset("leads")
	h.s.Malformed("leads")
	return &connector.ReadRequest{Object: "leads", Properties: props("leads"), Fields: []string{"email"}}, "leads"
}

func (h *harness) DestinationDriver(ctx context.Context, t *testing.T) connector.DestinationDriver {
	return openTest(t, h.s, testOptions(nil), goodCreds)
}

func (h *harness) NewRequest(ctx context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	h.s.ResetImports()
	return &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Object: "leads", Properties: props("leads"), Fields: fields}
}

func (h *harness) Visible(ctx context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64 {
	if len(h.s.Submitted()) == 0 {
		return map[string]int64{}
	}
	return map[string]int64{"leads": -1}
}

func (h *harness) ReadBack(ctx context.Context, t *testing.T, req *connector.WriteRequest) []connectortest.Row {
	var rows []connectortest.Row
	for _, r := range h.s.Submitted() {
		rows = append(rows, connectortest.Row(r))
	}
	return rows
}

func TestConformance(t *testing.T) {
	h := &harness{s: mktotest.New(t)}
	t.Run("Source", func(t *testing.T) { connectortest.RunSource(t, h) })
	t.Run("Destination", func(t *testing.T) { connectortest.RunDestination(t, h) })
}

func TestImportFailuresAndUpsert(t *testing.T) {
	s := mktotest.New(t)
	s.Put("leads", map[string]string{"id": "1", "email": "a@x.io", "firstName": "Old"})
	d := openTest(t, s, testOptions(nil), goodCreds)
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{Object: "leads", WriteOperation: "UPSERT"})
	if err != nil {
		t.Fatal(err)
	}
	b := &record.Batch{Fields: []string{"email", "firstName"}, Split: "in.csv", FirstLine: 2, Final: true}
	b.AppendRow([]record.Value{record.Str("a@x.io"), record.Str("New")})
	b.AppendRow([]record.Value{record.Str("not-an-email"), record.Str("Bad")})
	b.AppendRow([]record.Value{record.Str("c@x.io"), record.Str("C, Jr.")})
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsWritten != 2 || len(res.Failures) != 1 {
		t.Fatalf("result %+v", res)
	}
	f := res.Failures[0]
	if f.Split != "in.csv" || f.Line != 3 || f.Reason != "Invalid email address" || f.Record["firstName"] != "Bad" {
		t.Errorf("failure %+v", f)
	}
	rows, err := readAll(t, d, &connector.ReadRequest{Object: "leads", Fields: []string{"email", "firstName"},
		Filters: []connector.Filter{{Field: "createdAt", Operator: "GREATER_THAN", Values: []string{"1703980800000"}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r["email"]] = r["firstName"]
	}
	if got["a@x.io"] != "New" || len(got) != 1 {
		// c@x.io was imported without createdAt, so the export misses it.
		t.Errorf("after upsert: %v", got)
	}
	if _, err := d.OpenWriter(ctx, &connector.WriteRequest{Object: "leads", WriteOperation: "DELETE"}); !fault.Is(err, fault.Invalid) {
		t.Errorf("DELETE: %v", err)
	}
	if _, err := d.OpenWriter(ctx, &connector.WriteRequest{Object: "activities"}); !fault.Is(err, fault.Invalid) {
		t.Errorf("activities: %v", err)
	}
}

func readAll(t *testing.T, d *Driver, r *connector.ReadRequest) ([]map[string]string, error) {
	t.Helper()
	ctx := context.Background()
	splits, err := d.Splits(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for _, s := range splits {
		err := d.ReadSplit(ctx, r, s, func(b *record.Batch) error {
			for i := range b.Len() {
				row := map[string]string{}
				for j, v := range b.Row(i) {
					row[b.Fields[j]] = v.Text()
				}
				out = append(out, row)
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func TestCheckProfile(t *testing.T) {
	s := mktotest.New(t)
	if err := openTest(t, s, testOptions(nil), goodCreds).CheckProfile(context.Background()); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	bad := `{"clientId":"c","clientSecret":"wrong"}`
	err := openTest(t, s, testOptions(nil), bad).CheckProfile(context.Background())
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "Bad client credentials") {
		t.Fatalf("bad secret: %v, want AuthFailed with Marketo's message", err)
	}
}

func TestExpiredTokenRefreshedOnce(t *testing.T) {
	s := mktotest.New(t)
	d := openTest(t, s, testOptions(nil), goodCreds)
	ctx := context.Background()
	if _, err := d.DescribeEntity(ctx, "leads"); err != nil {
		t.Fatal(err)
	}
	s.ExpireTokens()
	fields, err := d.DescribeEntity(ctx, "leads")
	if err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	tokens := 0
	for _, c := range s.Calls() {
		if strings.HasSuffix(c, "/identity/oauth/token") {
			tokens++
		}
	}
	if tokens != 2 {
		t.Errorf("%d token requests, want 2", tokens)
	}
	var upd connector.EntityField
	for _, f := range fields {
		if f.Name == "updatedAt" {
			upd = f
		}
		if f.Name == "id" && !f.IsPrimaryKey {
			t.Error("id is not the primary key")
		}
		if f.Name == "email" && !f.Upsertable {
			t.Error("email is not upsertable")
		}
	}
	if len(upd.FilterOperators) != 3 || upd.Updatable || !upd.IsTimestampForIncremental {
		t.Errorf("updatedAt described as %+v", upd)
	}
	// A token the profile carries that Marketo does not know (601) is
	// replaced too.
	d = openTest(t, s, testOptions(nil), `{"clientId":"c","clientSecret":"s","accessToken":"stale"}`)
	if _, err := d.DescribeEntity(ctx, "leads"); err != nil {
		t.Fatalf("with a stale profile token: %v", err)
	}
}

func TestWindowOnUpdatedAt(t *testing.T) {
	s := mktotest.New(t)
	s.Put("leads", map[string]string{"id": "1", "email": "a@x.io", "updatedAt": "2024-01-02T00:00:00Z"})
	s.Put("leads", map[string]string{"id": "2", "email": "b@x.io", "updatedAt": "2024-03-10T00:00:00Z"})
	s.Put("leads", map[string]string{"id": "3", "email": "c@x.io", "updatedAt": "2024-03-20T00:00:00Z"}) // before End (00:00:00.5)
	s.Put("leads", map[string]string{"id": "4", "email": "d@x.io", "updatedAt": "2023-12-31T23:59:59Z"})
	d := openTest(t, s, testOptions(nil), goodCreds)
	w := &connector.Window{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 3, 20, 0, 0, 0, 500e6, time.UTC)}
	rows, err := readAll(t, d, &connector.ReadRequest{Object: "leads", Fields: []string{"email"}, Window: w})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		if len(r) != 1 {
			t.Errorf("row %v carries more than the projection", r)
		}
		got = append(got, r["email"])
	}
	if strings.Join(got, " ") != "a@x.io b@x.io c@x.io" {
		t.Errorf("got %v", got)
	}
	ex := s.Exports()
	// 2024-01-01 .. 2024-03-20T00:00:01 cut into 31-day jobs: 3.
	if len(ex) != 3 {
		t.Fatalf("%d export jobs, want 3: %+v", len(ex), ex)
	}
	if ex[0].Filter != "updatedAt" || ex[0].StartAt != "2024-01-01T00:00:00Z" || ex[2].EndAt != "2024-03-20T00:00:01Z" {
		t.Errorf("jobs %+v", ex)
	}
	if ex[0].Fields[len(ex[0].Fields)-1] != "updatedAt" {
		t.Errorf("the window field is not exported: %v", ex[0].Fields)
	}
}

func TestWindowExcludesEnd(t *testing.T) {
	s := mktotest.New(t)
	s.Put("leads", map[string]string{"id": "1", "email": "a@x.io", "updatedAt": "2024-01-05T00:00:00Z"})
	s.Put("leads", map[string]string{"id": "2", "email": "b@x.io", "updatedAt": "2024-01-06T00:00:00Z"})
	d := openTest(t, s, testOptions(nil), goodCreds)
	w := &connector.Window{Field: "updatedAt", Start: time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)}
	rows, err := readAll(t, d, &connector.ReadRequest{Object: "leads", Fields: []string{"id", "email"}, Window: w})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["id"] != "1" {
		t.Errorf("got %v, want lead 1 only", rows)
	}
}

func TestFilterPushDownAndActivities(t *testing.T) {
	s := mktotest.New(t)
	s.Put("activities", map[string]string{"marketoGUID": "7", "leadId": "1", "activityDate": "2024-01-01T10:00:00Z", "activityTypeId": "1", "actionResult": "succeeded"})
	d := openTest(t, s, testOptions(nil), goodCreds)
	r := &connector.ReadRequest{Object: "activities", Filters: []connector.Filter{{Field: "activityDate", Operator: "BETWEEN",
		Values: []string{"1704067200000", "1704153600500"}}}}
	rows, err := readAll(t, d, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["leadId"] != "1" || rows[0]["marketoGUID"] != "7" || rows[0]["actionResult"] != "succeeded" {
		t.Fatalf("got %v, want activity 7 with its marketoGUID and actionResult", rows)
	}
	ex := s.Exports()
	if len(ex) != 1 || ex[0].Object != "activities" || ex[0].Filter != "createdAt" || ex[0].StartAt != "2024-01-01T00:00:00Z" || ex[0].EndAt != "2024-01-02T00:00:00Z" /* clamped to now */ {
		t.Errorf("jobs %+v", ex)
	}
}

// The activity entity is what the extract documents: marketoGUID is its
// key and there is no id, which the extract would refuse.
func TestActivityFields(t *testing.T) {
	s := mktotest.New(t)
	d := openTest(t, s, testOptions(nil), goodCreds)
	fs, err := d.DescribeEntity(context.Background(), "activities")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
		if f.IsPrimaryKey != (f.Name == "marketoGUID") {
			t.Errorf("%s: IsPrimaryKey %v, want only marketoGUID", f.Name, f.IsPrimaryKey)
		}
	}
	if want := "[marketoGUID leadId activityDate activityTypeId campaignId primaryAttributeValueId primaryAttributeValue attributes actionResult]"; fmt.Sprint(names) != want {
		t.Errorf("activity fields %v, want %s", names, want)
	}
}

// A cancelled export fails the read with Marketo's status, in either
// spelling Marketo uses.
func TestCanceledExport(t *testing.T) {
	for _, status := range []string{"Canceled", "Cancelled"} {
		s := mktotest.New(t)
		s.Put("activities", map[string]string{"marketoGUID": "7", "leadId": "1", "activityDate": "2024-01-01T10:00:00Z", "activityTypeId": "1"})
		s.CancelExports(status)
		d := openTest(t, s, testOptions(nil), goodCreds)
		_, err := readAll(t, d, &connector.ReadRequest{Object: "activities", Filters: []connector.Filter{{Field: "activityDate", Operator: "BETWEEN",
			Values: []string{"1704067200000", "1704153600500"}}}})
		if !fault.Is(err, fault.ConnectorServer) || !strings.Contains(err.Error(), status) {
			t.Errorf("%s export: %v, want a ConnectorServer error naming it", status, err)
		}
	}
}

func TestThrottledBacksOff(t *testing.T) {
	s := mktotest.New(t)
	s.Put("leads", map[string]string{"id": "1", "email": "a@x.io"})
	var sleeps []time.Duration
	d := openTest(t, s, testOptions(&sleeps), goodCreds)
	ctx := context.Background()
	if _, err := d.DescribeEntity(ctx, "leads"); err != nil {
		t.Fatal(err)
	}
	s.Throttle(2)
	rows, err := readAll(t, d, &connector.ReadRequest{Object: "leads", Fields: []string{"email"},
		Window: &connector.Window{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC)}})
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, err %v", rows, err)
	}
	if len(sleeps) != 2 || sleeps[0] != 250*time.Millisecond || sleeps[1] != 500*time.Millisecond {
		t.Errorf("backoffs %v, want [250ms 500ms]", sleeps)
	}
	// Still throttled after every attempt: a Throttled error.
	s.Throttle(10)
	_, err = d.DescribeEntity(ctx, "leads")
	if !fault.Is(err, fault.Throttled) || !strings.Contains(err.Error(), "606") {
		t.Errorf("err %v, want Throttled 606", err)
	}
}

func TestListEntitiesAndUnknownObject(t *testing.T) {
	s := mktotest.New(t)
	d := openTest(t, s, testOptions(nil), goodCreds)
	ents, err := d.ListEntities(context.Background(), "")
	if err != nil || len(ents["Objects"]) != 2 {
		t.Fatalf("entities %v, %v", ents, err)
	}
	if _, err := d.Splits(context.Background(), &connector.ReadRequest{Object: "opportunities"}); !fault.Is(err, fault.Invalid) {
		t.Errorf("unknown object: %v", err)
	}
}

// The roles the driver plays, checked at compile time.
var (
	_ connector.SourceDriver      = (*Driver)(nil)
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
	_ connector.ProfileChecker    = (*Driver)(nil)
)
