package sapodataconn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/sapodataconn/odatatest"
	"github.com/appflowd/appflowd/internal/record"
)

type destHarness struct {
	s *odatatest.Server
	n int
}

func (h *destHarness) DestinationDriver(ctx context.Context, t *testing.T) connector.DestinationDriver {
	return openTest(t, h.s, basicCreds)
}

// NewRequest defines a fresh entity set of string properties, keyed on a
// number SAP assigns (the conformance records repeat their ids).
func (h *destHarness) NewRequest(ctx context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	h.n++
	names := []string{"s", "i", "f", "b", "t", "n"}
	if fields != nil {
		names = nil
		for _, f := range fields {
			names = append(names, f.Name)
		}
	}
	set := &odatatest.Set{Name: fmt.Sprintf("W%d", h.n)}
	set.Props = []odatatest.Prop{{Name: "Generated", Type: "Edm.String", Key: true, Generated: true}}
	for _, n := range names {
		set.Props = append(set.Props, odatatest.Prop{Name: n, Type: "Edm.String"})
	}
	h.s.Define(set)
	return &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Fields: fields,
		Properties: objectProps(odatatest.ServicePath + "/" + set.Name)}
}

func (h *destHarness) setOf(req *connector.WriteRequest) string {
	var p destProps
	_ = json.Unmarshal(req.Properties, &p)
	return p.ObjectPath[strings.LastIndexByte(p.ObjectPath, '/')+1:]
}

func (h *destHarness) Visible(ctx context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64 {
	if len(h.s.Rows(h.setOf(req))) == 0 {
		return nil
	}
	return map[string]int64{odatatest.ServicePath + "/" + h.setOf(req): -1}
}

func (h *destHarness) ReadBack(ctx context.Context, t *testing.T, req *connector.WriteRequest) []connectortest.Row {
	var out []connectortest.Row
	for _, r := range h.s.Rows(h.setOf(req)) {
		row := connectortest.Row{}
		for k, v := range r {
			if v != nil && k != "Generated" {
				row[k] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return out
}

func TestDestinationConformance(t *testing.T) {
	connectortest.RunDestination(t, &destHarness{s: odatatest.New(t)})
}

const salesOrders = odatatest.ServicePath + "/A_SalesOrder"

func destProperties(t *testing.T, v map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// commit writes one batch and commits it.
func commit(t *testing.T, d *Driver, req *connector.WriteRequest, b *record.Batch) *connector.WriteResult {
	t.Helper()
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, req)
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	if err := w.Write(ctx, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return res
}

func rowBy(rows []map[string]any, key, val string) map[string]any {
	for _, r := range rows {
		if fmt.Sprint(r[key]) == val {
			return r
		}
	}
	return nil
}

func writes(s *odatatest.Server) []string {
	var out []string
	for _, c := range s.Calls() {
		if !strings.Contains(c, "$metadata") {
			out = append(out, c)
		}
	}
	return out
}

// INSERT fetches one token, then POSTs each record with SAP's v2 types.
func TestInsertTypedWithCSRF(t *testing.T) {
	s := odatatest.New(t)
	d := openTest(t, s, basicCreds)
	b := &record.Batch{Fields: []string{"SalesOrder", "SoldToParty", "TotalNetAmount", "ItemCount", "Released", "LastChangeDateTime", "to_Item"}, Split: "in", FirstLine: 1, Final: true}
	b.AppendRow([]record.Value{record.Str("6"), record.Str("C1"), record.DecimalVal("12.50"), record.Str("3"), record.BoolVal(true), record.MillisVal(1704067200000),
		record.JSONVal(`[{"Material":"M1","RequestedQuantity":"10"}]`)})
	res := commit(t, d, &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Properties: objectProps(salesOrders)}, b)
	if res.RecordsWritten != 1 || len(res.Failures) != 0 || !slices.Equal(res.Objects, []string{salesOrders}) {
		t.Fatalf("result %+v", res)
	}
	got := rowBy(s.Rows("A_SalesOrder"), "SalesOrder", "6")
	want := map[string]any{"SalesOrder": "6", "SoldToParty": "C1", "TotalNetAmount": "12.50", "ItemCount": 3.0, "Released": true,
		"LastChangeDateTime": "/Date(1704067200000)/", "to_Item": []any{map[string]any{"Material": "M1", "RequestedQuantity": "10"}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored\n%v\nwant\n%v", got, want)
	}
	wantCalls := []string{
		"GET " + odatatest.ServicePath + "/?$format=json&sap-client=100&sap-language=EN",
		"POST " + salesOrders + "?sap-client=100&sap-language=EN",
	}
	if c := writes(s); !slices.Equal(c, wantCalls) {
		t.Errorf("calls\n%q\nwant\n%q", c, wantCalls)
	}
}

// A stale token draws 403 X-CSRF-Token: Required; the writer fetches a new
// token once and resends.
func TestCSRFRefetch(t *testing.T) {
	s := odatatest.New(t)
	d := openTest(t, s, basicCreds)
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{Properties: objectProps(salesOrders)})
	if err != nil {
		t.Fatal(err)
	}
	b := &record.Batch{Fields: []string{"SalesOrder"}, Split: "in", Final: true}
	b.AppendRow([]record.Value{record.Str("1")})
	b.AppendRow([]record.Value{record.Str("2")})
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	// A token from an earlier session that SAP has since dropped.
	sess := w.(*writer).sess
	if err := sess.fetch(ctx); err != nil {
		t.Fatal(err)
	}
	s.ExpireCSRF()
	s.ResetRequests()
	before := len(s.Calls())
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if res.RecordsWritten != 2 || len(s.Rows("A_SalesOrder")) != 2 {
		t.Fatalf("written %d, rows %v", res.RecordsWritten, s.Rows("A_SalesOrder"))
	}
	var methods []string
	for _, c := range s.Calls()[before:] {
		methods = append(methods, strings.Fields(c)[0])
	}
	if want := []string{"POST", "GET", "POST", "POST"}; !slices.Equal(methods, want) {
		t.Errorf("methods %v, want %v", methods, want)
	}
}

// SAP's refusals of single records become failures, written to the error
// bucket; the other records are written.
func TestPerRecordFailures(t *testing.T) {
	s := odatatest.New(t)
	s.Put("A_SalesOrder", map[string]any{"SalesOrder": "1"})
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s3", "errs"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := open(connector.Deps{HTTPClient: s.Client(), DataDir: dir}, connector.Profile{Name: "sap", Properties: testProps(s), Credentials: json.RawMessage(basicCreds)}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	b := &record.Batch{Fields: []string{"SalesOrder", "TotalNetAmount"}, Split: "in", FirstLine: 2, Final: true}
	b.AppendRow([]record.Value{record.Str("2"), record.Str("abc")})
	b.AppendRow([]record.Value{record.Str("1"), record.Str("1.00")}) // duplicate key
	b.AppendRow([]record.Value{record.Str("3"), record.Str("7")})
	res := commit(t, d, &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Properties: objectProps(salesOrders),
		ErrorHandling: &connector.ErrorHandling{BucketName: "errs", BucketPrefix: "bad"}}, b)
	if res.RecordsWritten != 1 || len(res.Failures) != 2 {
		t.Fatalf("result %+v", res)
	}
	f := res.Failures[0]
	if f.Line != 2 || f.Record["SalesOrder"] != "2" || !strings.Contains(f.Reason, "SAP responded 400 /IWBEP/CM_MGW_RT/001") || !strings.Contains(f.Reason, "TotalNetAmount") {
		t.Errorf("failure %+v", f)
	}
	if res.Failures[1].Line != 3 || !strings.Contains(res.Failures[1].Reason, "already exists") {
		t.Errorf("failure %+v", res.Failures[1])
	}
	raw, err := os.ReadFile(filepath.Join(dir, "s3", "errs", "bad", "f", "e", rejectsFile))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(raw)), "\n"); len(lines) != 2 || !strings.Contains(lines[0], `"line":2`) {
		t.Errorf("rejects file:\n%s", raw)
	}
	if rowBy(s.Rows("A_SalesOrder"), "SalesOrder", "3") == nil || rowBy(s.Rows("A_SalesOrder"), "SalesOrder", "2") != nil {
		t.Errorf("rows %v", s.Rows("A_SalesOrder"))
	}
}

// FailOnFirstError stops the run at the first refusal.
func TestFailOnFirstError(t *testing.T) {
	s := odatatest.New(t)
	d := openTest(t, s, basicCreds)
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{Properties: objectProps(salesOrders), ErrorHandling: &connector.ErrorHandling{FailOnFirstError: true}})
	if err != nil {
		t.Fatal(err)
	}
	b := &record.Batch{Fields: []string{"SalesOrder", "Bogus"}, Split: "in", Final: true}
	b.AppendRow([]record.Value{record.Str("1"), record.Str("x")})
	b.AppendRow([]record.Value{record.Str("2"), record.Str("y")})
	_ = w.Write(ctx, b)
	if _, err := w.Commit(ctx); err == nil || !strings.Contains(err.Error(), "Property 'Bogus' is invalid") {
		t.Fatalf("Commit: %v", err)
	}
	if n := len(writes(s)); n != 2 { // fetch + one POST
		t.Errorf("%d calls, want 2: %v", n, writes(s))
	}
}

// UPDATE merges into the entity its id fields name (typed, escaped key
// literals; composite keys by name); an unknown key is a failure.
func TestUpdateByKey(t *testing.T) {
	s := odatatest.New(t)
	s.Put("A_SalesOrder", map[string]any{"SalesOrder": "1", "SoldToParty": "C1", "Notes": "keep"},
		map[string]any{"SalesOrder": "O'B 2", "SoldToParty": "C1"})
	s.Put("A_SalesOrderItem", map[string]any{"SalesOrder": "1", "SalesOrderItem": "10", "Material": "M1"})
	d := openTest(t, s, basicCreds)
	b := &record.Batch{Fields: []string{"SalesOrder", "SoldToParty"}, Split: "in", FirstLine: 1, Final: true}
	b.AppendRow([]record.Value{record.Str("1"), record.Str("C2")})
	b.AppendRow([]record.Value{record.Str("O'B 2"), record.Str("C3")})
	b.AppendRow([]record.Value{record.Str("404"), record.Str("C4")})
	b.AppendRow([]record.Value{{}, record.Str("C5")})
	res := commit(t, d, &connector.WriteRequest{Properties: destProperties(t, map[string]any{
		"objectPath": salesOrders, "writeOperationType": "UPDATE", "idFieldNames": []string{"SalesOrder"}})}, b)
	if res.RecordsWritten != 2 || len(res.Failures) != 2 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(res.Failures[0].Reason, "404") || !strings.Contains(res.Failures[1].Reason, "no value for the id field SalesOrder") {
		t.Errorf("failures %+v", res.Failures)
	}
	rows := s.Rows("A_SalesOrder")
	if r := rowBy(rows, "SalesOrder", "1"); r["SoldToParty"] != "C2" || r["Notes"] != "keep" {
		t.Errorf("row 1 %v", r)
	}
	if r := rowBy(rows, "SalesOrder", "O'B 2"); r["SoldToParty"] != "C3" {
		t.Errorf("row O'B 2 %v", r)
	}
	if len(rows) != 2 {
		t.Errorf("UPDATE created rows: %v", rows)
	}
	w := writes(s)
	if !slices.Contains(w, "MERGE "+salesOrders+"('1')?sap-client=100&sap-language=EN") ||
		!slices.Contains(w, "MERGE "+salesOrders+"('O''B%202')?sap-client=100&sap-language=EN") {
		t.Errorf("calls %q", w)
	}

	s.ResetRequests()
	items := odatatest.ServicePath + "/A_SalesOrderItem"
	b = &record.Batch{Fields: []string{"SalesOrder", "SalesOrderItem", "Material"}, Split: "in", Final: true}
	b.AppendRow([]record.Value{record.Str("1"), record.Str("10"), record.Str("M2")})
	res = commit(t, d, &connector.WriteRequest{Properties: destProperties(t, map[string]any{"objectPath": items, "writeOperationType": "UPDATE"})}, b)
	if res.RecordsWritten != 1 || s.Rows("A_SalesOrderItem")[0]["Material"] != "M2" {
		t.Fatalf("result %+v rows %v", res, s.Rows("A_SalesOrderItem"))
	}
	if w := writes(s); !slices.Contains(w, "MERGE "+items+"(SalesOrder='1',SalesOrderItem='10')?sap-client=100&sap-language=EN") {
		t.Errorf("calls %q", w)
	}
}

// UPSERT merges, and POSTs the record when SAP answers 404; SAP's answers
// to creates go to the success bucket.
// An ETag-protected service answers 428 to a change without If-Match: the
// writer sends If-Match: * (it never read the entity), so UPDATE and UPSERT
// go through.
func TestUpdateETagProtected(t *testing.T) {
	s := odatatest.New(t)
	s.ProtectWithETags("A_SalesOrder")
	s.Put("A_SalesOrder", map[string]any{"SalesOrder": "1", "SoldToParty": "C1"})
	key := map[string]string{"SalesOrder": "1"}

	// The stand-in refuses a change without If-Match, as such services do.
	c := s.Client()
	fetch, _ := http.NewRequest(http.MethodGet, s.URL()+odatatest.ServicePath+"/?sap-client=100", nil)
	fetch.SetBasicAuth(odatatest.User, odatatest.Password)
	fetch.Header.Set("X-CSRF-Token", "Fetch")
	fres, err := c.Do(fetch)
	if err != nil {
		t.Fatal(err)
	}
	fres.Body.Close()
	merge, _ := http.NewRequest("MERGE", s.URL()+salesOrders+"('1')?sap-client=100", strings.NewReader(`{"SoldToParty":"X"}`))
	merge.SetBasicAuth(odatatest.User, odatatest.Password)
	merge.Header.Set("Content-Type", "application/json")
	merge.Header.Set("X-CSRF-Token", fres.Header.Get("X-CSRF-Token"))
	for _, ck := range fres.Cookies() {
		merge.AddCookie(ck)
	}
	mres, err := c.Do(merge)
	if err != nil {
		t.Fatal(err)
	}
	mres.Body.Close()
	if mres.StatusCode != http.StatusPreconditionRequired {
		t.Fatalf("MERGE without If-Match: %d, want 428 from the stand-in", mres.StatusCode)
	}

	d := openTest(t, s, basicCreds)
	before := s.ETag("A_SalesOrder", key)
	for _, op := range []string{"UPDATE", "UPSERT"} {
		b := &record.Batch{Fields: []string{"SalesOrder", "SoldToParty"}, Split: "in", FirstLine: 1, Final: true}
		b.AppendRow([]record.Value{record.Str("1"), record.Str("C-" + op)})
		res := commit(t, d, &connector.WriteRequest{Properties: destProperties(t, map[string]any{
			"objectPath": salesOrders, "writeOperationType": op, "idFieldNames": []string{"SalesOrder"}})}, b)
		if res.RecordsWritten != 1 || len(res.Failures) != 0 {
			t.Fatalf("%s of an ETag-protected entity: %+v", op, res)
		}
		if r := rowBy(s.Rows("A_SalesOrder"), "SalesOrder", "1"); r["SoldToParty"] != "C-"+op {
			t.Errorf("%s: row %v", op, r)
		}
	}
	if after := s.ETag("A_SalesOrder", key); after == before {
		t.Errorf("ETag still %s after two changes", after)
	}
}

func TestUpsertAndSuccessResponses(t *testing.T) {
	s := odatatest.New(t)
	s.Put("A_SalesOrder", map[string]any{"SalesOrder": "1", "SoldToParty": "C1"})
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s3", "ok"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := open(connector.Deps{HTTPClient: s.Client(), DataDir: dir}, connector.Profile{Name: "sap", Properties: testProps(s), Credentials: json.RawMessage(basicCreds)}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	b := &record.Batch{Fields: []string{"SalesOrder", "SoldToParty"}, Split: "in", Final: true}
	b.AppendRow([]record.Value{record.Str("1"), record.Str("C2")})
	b.AppendRow([]record.Value{record.Str("2"), record.Str("C3")})
	res := commit(t, d, &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Properties: destProperties(t, map[string]any{
		"objectPath": salesOrders, "writeOperationType": "UPSERT", "idFieldNames": []string{"SalesOrder"},
		"successResponseHandlingConfig": map[string]string{"bucketName": "ok", "bucketPrefix": "resp"}})}, b)
	if res.RecordsWritten != 2 || len(res.Failures) != 0 {
		t.Fatalf("result %+v", res)
	}
	rows := s.Rows("A_SalesOrder")
	if len(rows) != 2 || rowBy(rows, "SalesOrder", "1")["SoldToParty"] != "C2" || rowBy(rows, "SalesOrder", "2")["SoldToParty"] != "C3" {
		t.Errorf("rows %v", rows)
	}
	var methods []string
	for _, c := range writes(s)[1:] {
		methods = append(methods, strings.Fields(c)[0])
	}
	if want := []string{"MERGE", "MERGE", "POST"}; !slices.Equal(methods, want) {
		t.Errorf("methods %v, want %v", methods, want)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "s3", "ok", "resp", "f", "e", successesFile))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if lines := strings.Split(strings.TrimSpace(string(raw)), "\n"); len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &got) != nil || got["SalesOrder"] != "2" || got["__metadata"] == nil {
		t.Errorf("success file:\n%s", raw)
	}
}
