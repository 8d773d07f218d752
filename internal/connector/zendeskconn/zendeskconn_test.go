package zendeskconn

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/zendeskconn/zdtest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

func readAll(t *testing.T, d *Driver, req *connector.ReadRequest) []map[string]string {
	t.Helper()
	ctx := context.Background()
	splits, err := d.Splits(ctx, req)
	if err != nil {
		t.Fatalf("Splits: %v", err)
	}
	var out []map[string]string
	for _, s := range splits {
		err := d.ReadSplit(ctx, req, s, func(b *record.Batch) error {
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
			t.Fatalf("ReadSplit: %v", err)
		}
	}
	return out
}

func TestCheckProfile(t *testing.T) {
	s := zdtest.New(t)
	if err := openTest(t, s, testOptions(), goodCreds).CheckProfile(context.Background()); err != nil {
		t.Fatalf("good token: %v", err)
	}
	err := openTest(t, s, testOptions(), `{"clientId":"x","clientSecret":"y","accessToken":"stale"}`).CheckProfile(context.Background())
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "invalid_token") || !strings.Contains(err.Error(), "expired, revoked") {
		t.Errorf("stale token: %v, want AuthFailed with Zendesk's message", err)
	}
	// A code is exchanged once; the new tokens are saved.
	var saved json.RawMessage
	props, _ := json.Marshal(map[string]any{"instanceUrl": s.URL()})
	creds := `{"clientId":"` + zdtest.ClientID + `","clientSecret":"` + zdtest.ClientSecret + `","oAuthRequest":{"authCode":"good","redirectUri":"https://x/cb"}}`
	d, err := open(connector.Deps{HTTPClient: s.Client()}, connector.Profile{Properties: props, Credentials: json.RawMessage(creds),
		SaveCredentials: func(_ context.Context, c json.RawMessage) error { saved = c; return nil }}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckProfile(context.Background()); err != nil {
		t.Fatalf("code: %v", err)
	}
	if !strings.Contains(string(saved), `"accessToken":"zt-2"`) || !strings.Contains(string(saved), `"refreshToken":"zr-2"`) || strings.Contains(string(saved), "oAuthRequest") {
		t.Errorf("saved credentials %s", saved)
	}
	// An expired token is refreshed with the saved refresh token.
	s.ExpireTokens()
	d2, _ := open(connector.Deps{HTTPClient: s.Client()}, connector.Profile{Properties: props, Credentials: saved}, testOptions())
	if err := d2.CheckProfile(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	d3, _ := open(connector.Deps{HTTPClient: s.Client()}, connector.Profile{Properties: props, Credentials: json.RawMessage(creds)}, testOptions())
	if err := d3.CheckProfile(context.Background()); !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("used code: %v", err)
	}
}

func TestCatalog(t *testing.T) {
	s := zdtest.New(t)
	d := openTest(t, s, testOptions(), goodCreds)
	ents, err := d.ListEntities(context.Background(), "")
	if err != nil || len(ents["Objects"]) != 7 {
		t.Fatalf("ListEntities: %v %v", ents, err)
	}
	fields, err := d.DescribeEntity(context.Background(), "tickets")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]connector.EntityField{}
	for _, f := range fields {
		byName[f.Name] = f
	}
	if f := byName["id"]; !f.IsPrimaryKey || fmt.Sprint(f.WriteOperations) != "[UPDATE]" || f.Creatable {
		t.Errorf("id: %+v", f)
	}
	if f := byName["external_id"]; fmt.Sprint(f.WriteOperations) != "[UPDATE UPSERT]" {
		t.Errorf("external_id: %+v", f)
	}
	if f := byName["updated_at"]; !f.IsTimestampForIncremental || f.Type != "datetime" || fmt.Sprint(f.FilterOperators) != "[GREATER_THAN]" || f.Updatable {
		t.Errorf("updated_at: %+v", f)
	}
	if f := byName["tags"]; len(f.FilterOperators) != 0 {
		t.Errorf("tags: %+v", f)
	}
	if f, ok := byName["custom_field_360001"]; !ok || f.Label != "Order ref" || f.Type != "string" {
		t.Errorf("custom field: %+v", f)
	}
	if _, ok := byName["custom_field_1"]; ok {
		t.Error("the system subject field is listed as a custom field")
	}
	if _, err := d.DescribeEntity(context.Background(), "nope"); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown entity: %v", err)
	}
}

// The window is enforced on updated_at though the export selects by
// generated_timestamp; start_time comes from the window; a 429 with
// Retry-After is waited out.
func TestSourceTicketsWindow(t *testing.T) {
	s := zdtest.New(t)
	s.PageSize = 2
	s.ExportLimit = 1
	s.Put("tickets",
		map[string]any{"id": json.Number("1"), "subject": "a", "updated_at": "2024-01-01T00:00:10Z", "generated_timestamp": json.Number("1704067210"),
			"custom_fields": []any{map[string]any{"id": json.Number("360001"), "value": "X1"}}},
		map[string]any{"id": json.Number("2"), "subject": "old", "updated_at": "2023-12-31T23:59:00Z", "generated_timestamp": json.Number("1704067220")},
		map[string]any{"id": json.Number("3"), "subject": "c", "updated_at": "2024-01-01T00:30:00Z", "generated_timestamp": json.Number("1704069000"), "tags": []any{"x", "y"}},
		map[string]any{"id": json.Number("4"), "subject": "late", "updated_at": "2024-01-01T02:00:00Z", "generated_timestamp": json.Number("1704074400")},
		map[string]any{"id": json.Number("5"), "subject": "before", "updated_at": "2023-12-31T00:00:00Z", "generated_timestamp": json.Number("1703980800")},
	)
	var waits []time.Duration
	opts := testOptions()
	opts.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		s.Advance(time.Minute)
		return nil
	}
	opts.Retry.Max = time.Minute
	d := openTest(t, s, opts, goodCreds)
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := readAll(t, d, &connector.ReadRequest{Object: "tickets", Fields: []string{"id", "subject", "updated_at", "custom_field_360001", "tags"},
		Window: &connector.Window{Field: "updated_at", Start: start, End: start.Add(time.Hour)}})
	got := fmt.Sprint(rows)
	want := "[map[custom_field_360001:X1 id:1 subject:a tags: updated_at:2024-01-01T00:00:10.000Z] map[custom_field_360001: id:3 subject:c tags:[\"x\",\"y\"] updated_at:2024-01-01T00:30:00.000Z]]"
	if got != want {
		t.Errorf("rows\n got %s\nwant %s", got, want)
	}
	if len(waits) == 0 || waits[0] < 7*time.Second {
		t.Errorf("waits %v, want at least Retry-After 7s", waits)
	}
}

func TestStartTimeNotTooRecent(t *testing.T) {
	s := zdtest.New(t)
	s.Put("users", map[string]any{"id": json.Number("7"), "name": "u", "updated_at": s.Now().Add(-2 * time.Minute).Format(time.RFC3339)})
	d := openTest(t, s, testOptions(), goodCreds)
	now := s.Now()
	rows := readAll(t, d, &connector.ReadRequest{Object: "users", Fields: []string{"id", "name"},
		Window: &connector.Window{Field: "updated_at", Start: now.Add(-30 * time.Second), End: now}})
	if len(rows) != 0 {
		t.Errorf("rows %v, want none (the user is before the window)", rows)
	}
	rows = readAll(t, d, &connector.ReadRequest{Object: "users", Fields: []string{"id", "name"},
		Filters: []connector.Filter{{Field: "updated_at", Operator: "GREATER_THAN", Values: []string{fmt.Sprint(now.Add(-3 * time.Minute).UnixMilli())}, DataType: "datetime"}}})
	if len(rows) != 1 {
		t.Errorf("rows %v, want the user", rows)
	}
}

func TestSourceOrganizationsDedup(t *testing.T) {
	s := zdtest.New(t)
	s.PageSize = 2
	s.Put("organizations",
		map[string]any{"id": json.Number("11"), "name": "A", "updated_at": "2024-01-01T00:00:00Z"},
		map[string]any{"id": json.Number("12"), "name": "B", "updated_at": "2024-01-01T00:00:05Z"},
		map[string]any{"id": json.Number("13"), "name": "C", "updated_at": "2024-01-01T00:00:09Z"})
	d := openTest(t, s, testOptions(), goodCreds)
	rows := readAll(t, d, &connector.ReadRequest{Object: "organizations", Fields: []string{"id", "name"}})
	if got := fmt.Sprint(rows); got != "[map[id:11 name:A] map[id:12 name:B] map[id:13 name:C]]" {
		t.Errorf("rows %s", got)
	}
	for i := range 150 {
		s.Put("groups", map[string]any{"id": json.Number(fmt.Sprint(i + 1)), "name": fmt.Sprint("g", i)})
	}
	if rows := readAll(t, d, &connector.ReadRequest{Object: "groups", Fields: []string{"id"}}); len(rows) != 150 {
		t.Errorf("groups: %d rows, want 150", len(rows))
	}
}

func writeAll(t *testing.T, d *Driver, req *connector.WriteRequest, b *record.Batch) (*connector.WriteResult, error) {
	t.Helper()
	w, err := d.OpenWriter(context.Background(), req)
	if err != nil {
		return nil, err
	}
	if err := w.Write(context.Background(), b); err != nil {
		return nil, err
	}
	return w.Commit(context.Background())
}

func TestWriterFailuresAndOperations(t *testing.T) {
	s := zdtest.New(t)
	d := openTest(t, s, testOptions(), goodCreds)
	b := &record.Batch{Fields: []string{"subject", "external_id", "custom_field_360001"}, Split: "in.csv", FirstLine: 2, Final: true}
	b.AppendRow([]record.Value{record.Str("hello"), record.Str("EXT-9"), record.Str("R1")})
	b.AppendRow([]record.Value{record.Str(" "), record.Str("EXT-10"), record.NullVal()})
	res, err := writeAll(t, d, &connector.WriteRequest{Object: "tickets"}, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsWritten != 1 || len(res.Failures) != 1 || res.Failures[0].Line != 3 || !strings.Contains(res.Failures[0].Reason, "Subject: cannot be blank") {
		t.Fatalf("INSERT result %+v", res)
	}
	recs := s.Records("tickets")
	if len(recs) != 1 || fmt.Sprint(recs[0]["custom_fields"]) != "[map[id:360001 value:R1]]" {
		t.Errorf("stored %v", recs)
	}
	id := fmt.Sprint(recs[0]["id"])

	// UPSERT on external_id: EXT-9 updated, EXT-11 created.
	b = &record.Batch{Fields: []string{"subject", "external_id"}, Split: "in.csv", FirstLine: 2, Final: true}
	b.AppendRow([]record.Value{record.Str("changed"), record.Str("EXT-9")})
	b.AppendRow([]record.Value{record.Str("new"), record.Str("EXT-11")})
	res, err = writeAll(t, d, &connector.WriteRequest{Object: "tickets", WriteOperation: "UPSERT", IDFields: []string{"external_id"}}, b)
	if err != nil || res.RecordsWritten != 2 || len(res.Failures) != 0 {
		t.Fatalf("UPSERT %+v %v", res, err)
	}
	if recs := s.Records("tickets"); len(recs) != 2 || recs[0]["subject"] != "changed" {
		t.Errorf("after UPSERT %v", recs)
	}

	// UPDATE by id: an unknown id is a failure; with failOnFirstError the run stops.
	b = &record.Batch{Fields: []string{"id", "subject"}, Split: "in.csv", FirstLine: 2, Final: true}
	b.AppendRow([]record.Value{record.Str(id), record.Str("by id")})
	b.AppendRow([]record.Value{record.Str("999999"), record.Str("missing")})
	res, err = writeAll(t, d, &connector.WriteRequest{Object: "tickets", WriteOperation: "UPDATE"}, b)
	if err != nil || res.RecordsWritten != 1 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Reason, "RecordNotFound") {
		t.Fatalf("UPDATE %+v %v", res, err)
	}
	_, err = writeAll(t, d, &connector.WriteRequest{Object: "tickets", WriteOperation: "UPDATE", ErrorHandling: &connector.ErrorHandling{FailOnFirstError: true}}, b)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("fail fast: %v", err)
	}

	// users UPSERT through create_or_update_many; organizations one by one.
	b = &record.Batch{Fields: []string{"name", "external_id"}, Split: "u", FirstLine: 1, Final: true}
	b.AppendRow([]record.Value{record.Str("Ann"), record.Str("U1")})
	b.AppendRow([]record.Value{record.Str(""), record.Str("U2")})
	for _, obj := range []string{"users", "organizations"} {
		res, err = writeAll(t, d, &connector.WriteRequest{Object: obj, WriteOperation: "UPSERT", IDFields: []string{"external_id"}}, b)
		if err != nil || res.RecordsWritten != 2 {
			t.Errorf("%s UPSERT %+v %v", obj, res, err)
		}
	}
	// A users UPSERT matches on external_id only, never on email
	// (create_or_update_many would): a record with another user's email and
	// a new external_id leaves that user alone and fails as a duplicate.
	s.Put("users", map[string]any{"name": "Bea", "email": "bea@x.io", "external_id": "B1"})
	b = &record.Batch{Fields: []string{"name", "email", "external_id"}, Split: "u", FirstLine: 1, Final: true}
	b.AppendRow([]record.Value{record.Str("Impostor"), record.Str("bea@x.io"), record.Str("B2")})
	b.AppendRow([]record.Value{record.Str("Bea Renamed"), record.Str("bea@x.io"), record.Str("B1")})
	res, err = writeAll(t, d, &connector.WriteRequest{Object: "users", WriteOperation: "UPSERT", IDFields: []string{"external_id"}}, b)
	if err != nil || res.RecordsWritten != 1 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Reason, "DuplicateValue") {
		t.Fatalf("users UPSERT by external_id: %+v %v; want B1 updated and the B2 record refused", res, err)
	}
	for _, u := range s.Records("users") {
		if fmt.Sprint(u["external_id"]) == "B1" && u["name"] != "Bea Renamed" {
			t.Errorf("user B1 = %v, want it renamed by its external_id", u)
		}
	}
	for _, sub := range s.Submitted("users") {
		if sub["name"] == "Impostor" && sub["id"] != nil {
			t.Errorf("the B2 record was sent as an update of user %v", sub["id"])
		}
	}
	bad := &record.Batch{Fields: []string{"name"}, Split: "o", FirstLine: 1, Final: true}
	bad.AppendRow([]record.Value{record.Str("")})
	res, err = writeAll(t, d, &connector.WriteRequest{Object: "organizations", WriteOperation: "UPSERT", IDFields: []string{"external_id"}}, bad)
	if err != nil || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Reason, "name: Name: cannot be blank") {
		t.Errorf("organization failure %+v %v", res, err)
	}

	for _, c := range []connector.WriteRequest{
		{Object: "tickets", WriteOperation: "DELETE"},
		{Object: "groups"},
		{Object: "users", WriteOperation: "UPSERT", IDFields: []string{"email2"}},
	} {
		if _, err := d.OpenWriter(context.Background(), &c); !fault.Is(err, fault.Invalid) {
			t.Errorf("%+v: %v, want Invalid", c, err)
		}
	}
}
