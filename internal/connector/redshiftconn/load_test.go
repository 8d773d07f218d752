package redshiftconn

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

const typedDDL = `(id integer PRIMARY KEY, amount numeric(8,2), code varchar(5) NOT NULL,
	active boolean, born date, seen timestamptz, doc jsonb, note text)`

var typedFields = []connector.FieldSpec{
	{Name: "id", Type: "integer"}, {Name: "amount", Type: "decimal"}, {Name: "code", Type: "string"},
	{Name: "active", Type: "boolean"}, {Name: "born", Type: "date"}, {Name: "seen", Type: "datetime"},
	{Name: "doc", Type: "string"}, {Name: "note", Type: "string"},
}

var typedNames = []string{"id", "amount", "code", "active", "born", "seen", "doc", "note"}

func typedRow(id int64, amount, code string, active bool, born, seen, doc, note record.Value) []record.Value {
	return []record.Value{record.IntVal(id), record.DecimalVal(amount), record.Str(code), record.BoolVal(active), born, seen, doc, note}
}

func TestLoadComparesExactly(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".typed "+typedDDL)
	fx := newFixture(t)
	d := fx.driver(t, "")
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "f", ExecutionID: "e1", Object: schema + ".typed", Fields: typedFields})
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	// Source rows arrive with mixed kinds; the declared types convert them.
	b1 := batch("a.csv", 2, typedNames,
		typedRow(1, "12.50", "AB", true, record.Str("2024-03-05"), record.MillisVal(1709647620123), record.JSONVal(`{"k":[1,2]}`), record.Str(`quote " comma , nl`+"\n")),
		[]record.Value{record.Str("2"), record.Str("-0.5"), record.Str(""), record.Str("false"), record.NullVal(), record.Str("2024-03-05T10:00:00+02:00"), record.NullVal(), record.Str("")},
	)
	b2 := batch("b.csv", 2, []string{"code", "id", "note"}, // another field order, fields missing
		[]record.Value{record.Str("ünï"), record.IntVal(3), record.Str(`back\slash`)},
	)
	for _, b := range []*record.Batch{b1, b2} {
		if err := w.Write(ctx, b); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if res.RecordsWritten != 3 || len(res.Failures) != 0 || !cmp.Equal(res.Objects, []string{schema + ".typed"}) {
		t.Errorf("result = %+v, want 3 rows, no failures, object %s.typed", res, schema)
	}
	mustExec(t, conn, "SET TIME ZONE 'UTC'")
	got := tableText(t, conn, schema+".typed")
	want := [][]string{
		{"1", "12.50", "AB", "t", "2024-03-05", "2024-03-05 14:07:00.123+00", `{"k": [1, 2]}`, "quote \" comma , nl\n"},
		{"2", "-0.50", "", "f", "<null>", "2024-03-05 08:00:00+00", "<null>", ""},
		{"3", "<null>", "ünï", "<null>", "<null>", "<null>", "<null>", `back\slash`},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("table contents (-want +got):\n%s", d)
	}
}

// badRows returns a batch whose rows 2, 4 and 5 do not fit typedDDL.
func badRows() *record.Batch {
	n := record.NullVal()
	return batch("in.csv", 10, typedNames,
		typedRow(1, "1.00", "ok", true, n, n, n, n),
		[]record.Value{record.Str("abc"), n, record.Str("x"), n, n, n, n, n}, // not an integer
		typedRow(3, "3.00", "ok", false, n, n, n, n),
		[]record.Value{record.IntVal(4), n, n, n, n, n, n, n},                     // NOT NULL code
		[]record.Value{record.IntVal(5), n, record.Str("toolong"), n, n, n, n, n}, // varchar(5)
		typedRow(6, "123456.78", "ok", true, n, n, n, n),
	)
}

func TestRejectedRowsContinue(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".typed "+typedDDL)
	fx := newFixture(t)
	d := fx.driver(t, "")
	ctx := context.Background()
	req := &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec1", Object: schema + ".typed", Fields: typedFields,
		ErrorHandling: &connector.ErrorHandling{FailOnFirstError: false, BucketName: "errors", BucketPrefix: "rejects"}}
	w, err := d.OpenWriter(ctx, req)
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	if err := w.Write(ctx, badRows()); err != nil {
		t.Fatalf("Write: %v", err)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if res.RecordsWritten != 3 {
		t.Errorf("RecordsWritten = %d, want 3", res.RecordsWritten)
	}
	wantFail := []struct {
		line   int64
		reason string
	}{
		{11, `field "id": does not fit its declared type integer: "abc" is not an integer`},
		{13, `column "code" (character varying): null value in a NOT NULL column`},
		{14, `column "code" (character varying): value of 7 characters is longer than 5`},
	}
	if len(res.Failures) != len(wantFail) {
		t.Fatalf("Failures = %+v, want %d", res.Failures, len(wantFail))
	}
	for i, f := range res.Failures {
		if f.Split != "in.csv" || f.Line != wantFail[i].line || f.Reason != wantFail[i].reason {
			t.Errorf("failure %d = {%s %d %q}, want {in.csv %d %q}", i, f.Split, f.Line, f.Reason, wantFail[i].line, wantFail[i].reason)
		}
	}
	if got := tableText(t, conn, schema+".typed"); len(got) != 3 || got[0][0] != "1" || got[1][0] != "3" || got[2][0] != "6" {
		t.Errorf("table = %v, want ids 1, 3, 6", got)
	}
	// The error bucket holds the rejected records as JSON Lines.
	f, err := os.Open(filepath.Join(fx.dataDir, "s3", "errors", "rejects", "flow1", "exec1", "redshift-rejected-records.jsonl"))
	if err != nil {
		t.Fatalf("error file: %v", err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("error file line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("error file has %d lines, want 3", len(lines))
	}
	if lines[0]["reason"] != wantFail[0].reason || lines[0]["line"] != float64(11) ||
		lines[0]["record"].(map[string]any)["id"] != "abc" {
		t.Errorf("error line 0 = %v", lines[0])
	}
}

func TestRejectedRowFailsFirst(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".typed "+typedDDL)
	fx := newFixture(t)
	d := fx.driver(t, "")
	ctx := context.Background()
	req := &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec1", Object: schema + ".typed", Fields: typedFields,
		ErrorHandling: &connector.ErrorHandling{FailOnFirstError: true, BucketName: "errors"}}
	w, err := d.OpenWriter(ctx, req)
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	err = w.Write(ctx, badRows())
	want := `record 11 of "in.csv" rejected by ` + schema + `.typed: field "id": does not fit its declared type integer: "abc" is not an integer`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Write error = %v, want it to contain %q", err, want)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if got := tableText(t, conn, schema+".typed"); len(got) != 0 {
		t.Errorf("table after a failed run = %v, want empty (row 1 came before the bad row)", got)
	}
	entries, _ := os.ReadDir(filepath.Join(fx.dataDir, "s3", "errors"))
	if len(entries) != 0 {
		t.Errorf("error bucket holds %d entries after a fail-first run, want none", len(entries))
	}
}

// A run that fails part-way leaves the table exactly as it was: by Abort
// after some batches, and by a COPY the server refuses at Commit (a CHECK
// constraint, which the pre-validation does not know).
func TestMidLoadFailureLeavesTableUnchanged(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".t (id integer, v text CHECK (v <> 'forbidden'))")
	mustExec(t, conn, "INSERT INTO "+schema+".t VALUES (1, 'before'), (2, 'before')")
	before := tableText(t, conn, schema+".t")
	fx := newFixture(t)
	ctx := context.Background()
	fields := []connector.FieldSpec{{Name: "id", Type: "integer"}, {Name: "v", Type: "string"}}
	mk := func(from, n int, v string) *record.Batch {
		b := &record.Batch{Fields: []string{"id", "v"}, Split: "s", FirstLine: int64(from)}
		for i := from; i < from+n; i++ {
			b.AppendRow([]record.Value{record.IntVal(int64(i)), record.Str(v)})
		}
		return b
	}

	t.Run("Abort", func(t *testing.T) {
		w, err := fx.driver(t, "postgres").OpenWriter(ctx, &connector.WriteRequest{Object: schema + ".t", Fields: fields})
		if err != nil {
			t.Fatalf("OpenWriter: %v", err)
		}
		for i := range 5 {
			if err := w.Write(ctx, mk(100+i*1000, 1000, "new")); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
		if err := w.Abort(ctx); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if d := cmp.Diff(before, tableText(t, conn, schema+".t")); d != "" {
			t.Errorf("table changed by an aborted run (-before +after):\n%s", d)
		}
	})

	t.Run("ServerRefusesCopy", func(t *testing.T) {
		w, err := fx.driver(t, "postgres").OpenWriter(ctx, &connector.WriteRequest{Object: schema + ".t", Fields: fields})
		if err != nil {
			t.Fatalf("OpenWriter: %v", err)
		}
		if err := w.Write(ctx, mk(100, 3000, "new")); err != nil {
			t.Fatalf("Write: %v", err)
		}
		// The server may notice the violation during this Write or at Commit.
		werr := w.Write(ctx, mk(5000, 10, "forbidden"))
		var cerr error
		if werr == nil {
			_, cerr = w.Commit(ctx)
		}
		err = werr
		if err == nil {
			err = cerr
		}
		if err == nil || !strings.Contains(err.Error(), "check constraint") || !strings.Contains(err.Error(), schema+".t") {
			t.Fatalf("error = %v, want the server's check-constraint failure naming %s.t", err, schema)
		}
		if fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("code = %v, want ConnectorServer", fault.CodeOf(err))
		}
		_ = w.Abort(ctx)
		if d := cmp.Diff(before, tableText(t, conn, schema+".t")); d != "" {
			t.Errorf("table changed by a failed run (-before +after):\n%s", d)
		}
	})
}

func TestMissingTableOrColumnIsNamed(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".t (id integer, v text, must text NOT NULL)")
	d := newFixture(t).driver(t, "postgres")
	ctx := context.Background()
	for _, tc := range []struct {
		object string
		fields []string
		want   string
	}{
		{schema + ".nope", []string{"id"}, "destination table " + schema + ".nope does not exist"},
		{schema + ".t", []string{"id", "must", "extra"}, `column "extra" (field "extra") does not exist in table ` + schema + ".t; its columns are id, v, must"},
		{schema + ".t", []string{"id", "v"}, `column "must" of ` + schema + ".t is NOT NULL without a default, and no field maps to it"},
		{"a.b.c", []string{"id"}, `destination object "a.b.c" is not schema.table`},
	} {
		var fs []connector.FieldSpec
		for _, f := range tc.fields {
			fs = append(fs, connector.FieldSpec{Name: f, Type: "string"})
		}
		_, err := d.OpenWriter(ctx, &connector.WriteRequest{Object: tc.object, Fields: fs})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenWriter(%s, %v) = %v, want %q", tc.object, tc.fields, err, tc.want)
		}
	}
}

func TestConvert(t *testing.T) {
	col := func(dt string, nullable bool, maxLen, prec, scale int) *target {
		c := &column{Name: "c", DataType: dt, Nullable: nullable, MaxLen: maxLen, Precision: prec, Scale: scale}
		return &target{Field: "c", Col: c, cat: categorize(dt)}
	}
	for _, tc := range []struct {
		v       record.Value
		t       *target
		want    string
		null    bool
		wantErr string
	}{
		{record.IntVal(40000), col("smallint", true, 0, 0, 0), "", false, "40000 is out of range [-32768, 32767]"},
		{record.FloatVal(3), col("integer", true, 0, 0, 0), "3", false, ""},
		{record.FloatVal(3.5), col("integer", true, 0, 0, 0), "", false, "3.5 is not an integer"},
		{record.Str("12.30"), col("bigint", true, 0, 0, 0), "", false, `"12.30" is not an integer`},
		{record.Str("12.00"), col("bigint", true, 0, 0, 0), "12", false, ""},
		{record.Str("1e3"), col("double precision", true, 0, 0, 0), "1000", false, ""},
		{record.Str("12345.6"), col("numeric", true, 0, 6, 2), "", false, "12345.6 has 5 integer digits; numeric(6,2) allows 4"},
		{record.Str("1e3"), col("numeric", true, 0, 0, 0), "", false, `"1e3" is not a decimal number`},
		{record.Str("yes"), col("boolean", true, 0, 0, 0), "true", false, ""},
		{record.Str("maybe"), col("boolean", true, 0, 0, 0), "", false, `"maybe" is not a boolean`},
		{record.Str("2024-02-30"), col("date", true, 0, 0, 0), "", false, "is not a date or time"},
		{record.MillisVal(0), col("timestamp without time zone", true, 0, 0, 0), "1970-01-01 00:00:00", false, ""},
		{record.Str("{bad"), col("jsonb", true, 0, 0, 0), "", false, `"{bad" is not JSON`},
		{record.Str("not-a-uuid"), col("uuid", true, 0, 0, 0), "", false, "is not a UUID"},
		{record.Str("a\x00b"), col("text", true, 0, 0, 0), "", false, "NUL byte"},
		{record.Str("ab✓"), col("character varying", true, 3, 0, 0), "ab✓", false, ""},
		{record.Value{}, col("text", true, 0, 0, 0), "", true, ""},
		{record.NullVal(), col("text", false, 0, 0, 0), "", false, "null value in a NOT NULL column"},
	} {
		got, null, err := convert(tc.v, tc.t)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("convert(%v into %s) error = %v, want %q", tc.v, tc.t.Col.DataType, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want || null != tc.null {
			t.Errorf("convert(%v into %s) = %q, %v, %v; want %q, %v", tc.v, tc.t.Col.DataType, got, null, err, tc.want, tc.null)
		}
	}
}

// Records a Map task rejected reach the writer through RecordFailures: they
// join the error file and WriteResult.Failures in input order with the
// rows the table refuses, and the lines of the rows after them stay right.
func TestRecordFailuresJoinTheErrorFile(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".typed "+typedDDL)
	fx := newFixture(t)
	d := fx.driver(t, "")
	ctx := context.Background()
	req := &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec1", Object: schema + ".typed", Fields: typedFields,
		ErrorHandling: &connector.ErrorHandling{BucketName: "errors", BucketPrefix: "rejects"}}
	w, err := d.OpenWriter(ctx, req)
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	fr, ok := w.(connector.FailureRecorder)
	if !ok {
		t.Fatalf("%T is not a connector.FailureRecorder", w)
	}
	n := record.NullVal()
	// The source batch was lines 10-14; the Map task rejected lines 11 and
	// 12, so the batch the writer gets holds lines 10, 13 and 14, of which
	// the table refuses 13 (code too long).
	if err := fr.RecordFailures(ctx, []connector.RecordFailure{
		{Split: "in.csv", Line: 11, Reason: "tasks[0] (Map) field id: x7 is not an integer", Record: map[string]string{"id": "x7"}},
		{Split: "in.csv", Line: 12, Reason: "tasks[0] (Map) field id: y is not an integer", Record: map[string]string{"id": "y"}},
	}); err != nil {
		t.Fatalf("RecordFailures: %v", err)
	}
	if err := w.Write(ctx, batch("in.csv", 10, typedNames,
		typedRow(1, "1.00", "ok", true, n, n, n, n),
		typedRow(2, "2.00", "toolong", true, n, n, n, n),
		typedRow(3, "3.00", "ok", true, n, n, n, n),
	)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	// A later batch with no task failures keeps its own numbering.
	if err := w.Write(ctx, batch("in.csv", 15, typedNames,
		[]record.Value{record.Str("abc"), n, record.Str("x"), n, n, n, n, n},
	)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	var got []int64
	for _, f := range res.Failures {
		got = append(got, f.Line)
	}
	if !cmp.Equal(got, []int64{11, 12, 13, 15}) || res.RecordsWritten != 2 {
		t.Errorf("failure lines %v, written %d; want [11 12 13 15], 2", got, res.RecordsWritten)
	}
	data, err := os.ReadFile(filepath.Join(fx.dataDir, "s3", "errors", "rejects", "flow1", "exec1", "redshift-rejected-records.jsonl"))
	if err != nil {
		t.Fatalf("error file: %v", err)
	}
	var lines []string
	for l := range strings.Lines(string(data)) {
		var m struct {
			Line   int64             `json:"line"`
			Reason string            `json:"reason"`
			Record map[string]string `json:"record"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("error file line %q: %v", l, err)
		}
		lines = append(lines, fmt.Sprintf("%d %s %s", m.Line, m.Record["id"], m.Reason))
	}
	want := []string{
		"11 x7 tasks[0] (Map) field id: x7 is not an integer",
		"12 y tasks[0] (Map) field id: y is not an integer",
		`13 2 column "code" (character varying): value of 7 characters is longer than 5`,
		`15 abc field "id": does not fit its declared type integer: "abc" is not an integer`,
	}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("error file (-want +got):\n%s", d)
	}
	// After Commit the writer takes no more.
	if err := fr.RecordFailures(ctx, []connector.RecordFailure{{Line: 1}}); !fault.Is(err, fault.Invalid) || !strings.HasPrefix(err.Error(), "redshift: RecordFailures after Commit") {
		t.Errorf("RecordFailures after Commit: %v, want the writer's refusal", err)
	}
}
