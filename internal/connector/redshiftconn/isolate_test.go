package redshiftconn

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

type dbRow struct {
	id int64
	v  string
}

// loadRows loads rows (id, v; v "<null>" is NULL) into object in batches
// of perBatch, handing taskFailures[i] to RecordFailures before batch i,
// and returns the writer, the Commit's result and the run's error (a Write
// error ends the run there).
func loadRows(t *testing.T, fx *fixture, object string, eh *connector.ErrorHandling, rows []dbRow, perBatch int, taskFailures map[int][]connector.RecordFailure) (*writer, *connector.WriteResult, error) {
	t.Helper()
	ctx := context.Background()
	fields := []connector.FieldSpec{{Name: "id", Type: "long"}, {Name: "v", Type: "string"}}
	cw, err := fx.driver(t, "postgres").OpenWriter(ctx, &connector.WriteRequest{FlowName: "flow", ExecutionID: "exec", Object: object, Fields: fields, ErrorHandling: eh})
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	w := cw.(*writer)
	line := int64(2) // after the CSV header
	for from, bi := 0, 0; from < len(rows); from, bi = from+perBatch, bi+1 {
		if fs := taskFailures[bi]; fs != nil {
			if err := w.RecordFailures(ctx, fs); err != nil {
				t.Fatalf("RecordFailures: %v", err)
			}
		}
		b := &record.Batch{Fields: []string{"id", "v"}, Split: "in.csv", FirstLine: line}
		line += int64(min(perBatch, len(rows)-from) + len(taskFailures[bi]))
		for _, r := range rows[from:min(from+perBatch, len(rows))] {
			v := record.Str(r.v)
			if r.v == "<null>" {
				v = record.NullVal()
			}
			b.AppendRow([]record.Value{record.IntVal(r.id), v})
		}
		if err := w.Write(ctx, b); err != nil {
			_ = w.Abort(ctx)
			return w, nil, err
		}
	}
	res, err := w.Commit(ctx)
	if err != nil {
		_ = w.Abort(ctx)
	}
	return w, res, err
}

func errorFileLines(t *testing.T, fx *fixture, prefix string) []connector.RecordFailure {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fx.dataDir, "s3", "errors", prefix, "flow", "exec", "redshift-rejected-records.jsonl"))
	if err != nil {
		t.Fatalf("error file: %v", err)
	}
	var out []connector.RecordFailure
	for l := range strings.Lines(string(data)) {
		var f connector.RecordFailure
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("error file line %q: %v", l, err)
		}
		out = append(out, f)
	}
	return out
}

func idsOf(t *testing.T, got [][]string) []string {
	var ids []string
	for _, r := range got {
		ids = append(ids, r[0])
	}
	return ids
}

// 10k rows of which the database refuses some: a CHECK constraint, a
// primary key clash with a row already in the table, and a key repeated in
// the input (the first occurrence loads). In continue mode the good rows
// load, with COPY, and the refused ones are in the error file and the
// result with the database's message and the constraint; in fail-first
// mode nothing loads.
func TestDatabaseRejectsRows(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	const n = 10_000
	var rows []dbRow
	for i := range n {
		rows = append(rows, dbRow{int64(i + 1), fmt.Sprintf("row %d", i+1)})
	}
	rows[1234].v = "forbidden" // line 1236: CHECK
	rows[5000].id = 100_000    // line 5002: the row already in the table
	rows[7777].id = 7000       // line 7779: repeats the key of line 7002
	rows[9999].v = "forbidden" // line 10001: CHECK, the last row
	rows[3000].v = "<null>"    // line 3002: NOT NULL, caught before the database
	bad := map[int64]bool{1236: true, 5002: true, 7779: true, 10001: true, 3002: true}
	var wantIDs []string
	for i, r := range rows {
		if !bad[int64(i+2)] {
			wantIDs = append(wantIDs, fmt.Sprint(r.id))
		}
	}
	wantIDs = append(wantIDs, "100000")
	sortRows := func(ids []string) []string {
		rs := make([][]string, len(ids))
		for i, id := range ids {
			rs[i] = []string{id}
		}
		sortRowsText(rs)
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r[0]
		}
		return out
	}
	wantIDs = sortRows(wantIDs)
	mk := func(name string) string {
		tbl := schema + "." + name
		mustExec(t, conn, "CREATE TABLE "+tbl+" (id bigint PRIMARY KEY, v text NOT NULL CONSTRAINT v_allowed CHECK (v <> 'forbidden'))")
		mustExec(t, conn, "INSERT INTO "+tbl+" VALUES (100000, 'before')")
		return tbl
	}

	t.Run("continue", func(t *testing.T) {
		tbl := mk("cont")
		fx := newFixture(t)
		// A Map task rejected line 4503 (id 4502), which is therefore not
		// in the third batch: its rows are lines ..., 4502, 4504, ...
		rs := append(append([]dbRow(nil), rows[:4501]...), rows[4502:]...)
		delete(bad, 4503)
		task := map[int][]connector.RecordFailure{2: {{Split: "in.csv", Line: 4503, Reason: "tasks[0] (Map) field id: x is not an integer", Record: map[string]string{"id": "x"}}}}
		w, res, err := loadRows(t, fx, tbl, &connector.ErrorHandling{BucketName: "errors", BucketPrefix: "rej"}, rs, 1500, task)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		var want []string
		for _, r := range wantIDs {
			if r != "4502" {
				want = append(want, r)
			}
		}
		if d := cmp.Diff(want, sortRows(idsOf(t, tableText(t, conn, tbl)))); d != "" {
			t.Errorf("table ids (-want +got):\n%s", d)
		}
		if res.RecordsWritten != int64(len(want)-1) {
			t.Errorf("RecordsWritten = %d, want %d", res.RecordsWritten, len(want)-1)
		}
		wantFail := []struct {
			line   int64
			reason string
		}{
			{1236, `the database rejected the row: new row for relation "cont" violates check constraint "v_allowed" - Failing row contains (1235, forbidden). (SQLSTATE 23514, constraint v_allowed)`},
			{3002, `column "v" (text): null value in a NOT NULL column`},
			{4503, "tasks[0] (Map) field id: x is not an integer"},
			{5002, `the database rejected the row: duplicate key value violates unique constraint "cont_pkey" - Key (id)=(100000) already exists. (SQLSTATE 23505, constraint cont_pkey)`},
			{7779, `the database rejected the row: duplicate key value violates unique constraint "cont_pkey" - Key (id)=(7000) already exists. (SQLSTATE 23505, constraint cont_pkey)`},
			{10001, `the database rejected the row: new row for relation "cont" violates check constraint "v_allowed" - Failing row contains (10000, forbidden). (SQLSTATE 23514, constraint v_allowed)`},
		}
		var got, wantS []string
		for _, f := range res.Failures {
			got = append(got, fmt.Sprintf("%s %d %s", f.Split, f.Line, f.Reason))
		}
		for _, f := range wantFail {
			wantS = append(wantS, fmt.Sprintf("in.csv %d %s", f.line, f.reason))
		}
		if d := cmp.Diff(wantS, got); d != "" {
			t.Errorf("failures (-want +got):\n%s", d)
		}
		file := errorFileLines(t, fx, "rej")
		if d := cmp.Diff(res.Failures, file); d != "" {
			t.Errorf("error file differs from the result's failures (-result +file):\n%s", d)
		}
		if len(file) == 6 && !cmp.Equal(file[0].Record, map[string]string{"id": "1235", "v": "forbidden"}) {
			t.Errorf("error file record of line 1236 = %v", file[0].Record)
		}
		// The streaming COPY found the first refused row; each of the 4
		// costs at most 3 more COPYs (the rows before it, it, the rest).
		if c := w.sink.(*copySink).rangeCopies; c > 3*4+1 {
			t.Errorf("isolating 4 refused rows took %d COPYs, want at most 13", c)
		}
	})

	t.Run("fail-first", func(t *testing.T) {
		tbl := mk("first")
		fx := newFixture(t)
		rs := append([]dbRow(nil), rows...)
		rs[3000].v = "ok" // no row the driver itself refuses
		_, _, err := loadRows(t, fx, tbl, &connector.ErrorHandling{FailOnFirstError: true, BucketName: "errors", BucketPrefix: "rej"}, rs, 1500, nil)
		if err == nil || !strings.Contains(err.Error(), "check constraint") || !strings.Contains(err.Error(), tbl) {
			t.Fatalf("error = %v, want the check-constraint failure naming %s", err, tbl)
		}
		if fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("code = %v, want ConnectorServer", fault.CodeOf(err))
		}
		if d := cmp.Diff([]string{"100000"}, idsOf(t, tableText(t, conn, tbl))); d != "" {
			t.Errorf("table after a fail-first run (-want +got):\n%s", d)
		}
		if entries, _ := os.ReadDir(filepath.Join(fx.dataDir, "s3", "errors")); len(entries) != 0 {
			t.Errorf("error bucket holds %d entries after a fail-first run, want none", len(entries))
		}
	})
}

func sortRowsText(rows [][]string) {
	for i := range rows {
		rows[i][0] = fmt.Sprintf("%12s", rows[i][0])
	}
	sortRows(rows)
	for i := range rows {
		rows[i][0] = strings.TrimSpace(rows[i][0])
	}
}

// Many refused rows spread over the input, of several kinds: a CHECK, a
// foreign key (checked by a trigger at the end of the COPY, so the server
// names no useful line), a DEFERRABLE INITIALLY DEFERRED unique key (which
// would otherwise fail only at COMMIT) and a trigger that raises. Every good
// row loads, every bad one is in the result in input order.
func TestDatabaseRejectsSpreadRows(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".parent (k text PRIMARY KEY)")
	mustExec(t, conn, "INSERT INTO "+schema+".parent SELECT 'row ' || g FROM generate_series(1, 20000) g")
	mustExec(t, conn, "INSERT INTO "+schema+".parent VALUES ('forbidden'), ('boom')")
	mustExec(t, conn, `CREATE FUNCTION `+schema+`.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.v = 'boom' THEN RAISE EXCEPTION 'boom is not welcome (id %)', NEW.id; END IF; RETURN NEW; END $$`)
	for _, tc := range []struct {
		name, ddl string
		bad       func(i int) (string, bool) // the v of row i, if it is refused
		code      string
		perBatch  int
		named     bool // the server names the failing line
	}{
		{"check", "v text CHECK (v <> 'forbidden')", func(i int) (string, bool) {
			if i%397 == 5 || i == 0 || i == 4999 {
				return "forbidden", true
			}
			return "", false
		}, "23514", 700, true},
		{"foreign-key", "v text REFERENCES " + schema + ".parent (k)", func(i int) (string, bool) {
			if i%1013 == 17 || i == 4999 {
				return fmt.Sprintf("orphan %d", i), true
			}
			return "", false
		}, "23503", 5000, false},
		{"deferred-unique", "v text, CONSTRAINT v_unique UNIQUE (v) DEFERRABLE INITIALLY DEFERRED", func(i int) (string, bool) {
			if i%611 == 300 {
				return "row 1", true // repeats row 0's v
			}
			return "", false
		}, "23505", 1000, false},
		{"trigger", "v text", func(i int) (string, bool) {
			if i%833 == 1 {
				return "boom", true
			}
			return "", false
		}, "P0001", 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := schema + "." + strings.ReplaceAll(tc.name, "-", "_")
			mustExec(t, conn, "CREATE TABLE "+tbl+" (id bigint, "+tc.ddl+")")
			if tc.name == "trigger" {
				mustExec(t, conn, "CREATE TRIGGER refuse BEFORE INSERT ON "+tbl+" FOR EACH ROW EXECUTE FUNCTION "+schema+".refuse()")
			}
			var rows []dbRow
			var wantIDs []string
			var wantLines []int64
			for i := range 5000 {
				r := dbRow{int64(i), fmt.Sprintf("row %d", i+1)}
				if v, bad := tc.bad(i); bad {
					r.v = v
					wantLines = append(wantLines, int64(i+2))
				} else {
					wantIDs = append(wantIDs, fmt.Sprint(i))
				}
				rows = append(rows, r)
			}
			fx := newFixture(t)
			w, res, err := loadRows(t, fx, tbl, &connector.ErrorHandling{BucketName: "errors"}, rows, tc.perBatch, nil)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			got := idsOf(t, tableText(t, conn, tbl))
			gs := make([][]string, len(got))
			for i, id := range got {
				gs[i] = []string{id}
			}
			sortRowsText(gs)
			if len(gs) != len(wantIDs) {
				t.Errorf("table holds %d rows, want %d", len(gs), len(wantIDs))
			} else {
				for i := range gs {
					if gs[i][0] != wantIDs[i] {
						t.Errorf("table row %d has id %s, want %s", i, gs[i][0], wantIDs[i])
						break
					}
				}
			}
			var lines []int64
			for _, f := range res.Failures {
				lines = append(lines, f.Line)
				if !strings.Contains(f.Reason, "SQLSTATE "+tc.code) {
					t.Errorf("line %d reason %q, want SQLSTATE %s", f.Line, f.Reason, tc.code)
				}
			}
			if d := cmp.Diff(wantLines, lines); d != "" {
				t.Errorf("rejected lines (-want +got):\n%s", d)
			}
			if res.RecordsWritten != int64(len(wantIDs)) {
				t.Errorf("RecordsWritten = %d, want %d", res.RecordsWritten, len(wantIDs))
			}
			// O(bad * log n): 2 * ceil(log2 5000) = 26 COPYs per bad row at
			// most when the server names no line; 3 when it does (the rows
			// before it, it, the rest).
			limit := 26 * len(wantLines)
			if tc.named {
				limit = 3 * len(wantLines)
			}
			if c := w.sink.(*copySink).rangeCopies; c > limit {
				t.Errorf("isolating %d rows took %d COPYs, want at most %d", len(wantLines), c, limit)
			}
			t.Logf("%d refused rows isolated with %d COPYs", len(wantLines), w.sink.(*copySink).rangeCopies)
		})
	}
}

// Only row errors (classes 22 and 23, P0001) are isolated; a COPY that
// fails for another reason fails the run. copyLine reads the line the
// server names; parseCSVRow reads back what stage.AppendCSV wrote.
func TestIsRowError(t *testing.T) {
	for code, want := range map[string]bool{"23505": true, "23514": true, "23503": true, "22001": true, "P0001": true,
		"42P01": false, "57014": false, "08006": false, "53100": false} {
		_, got := isRowError(fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code}))
		if got != want {
			t.Errorf("isRowError(%s) = %v, want %v", code, got, want)
		}
	}
	if _, ok := isRowError(fmt.Errorf("plain")); ok {
		t.Error("isRowError(non-PgError) = true")
	}
	for where, want := range map[string]int{
		`COPY t, line 51: "70,bad"`: 51,
		"COPY t, line 5001":         5001,
		"PL/pgSQL function f() line 2 at RAISE\nCOPY t, line 9: \"9,x\"": 9,
		`COPY "a, b", line 7, column v: "x"`:                             7,
		"SQL statement \"SELECT 1\"\nCOPY t":                             0,
		"":                                                               0,
	} {
		if got := copyLine(&pgconn.PgError{Where: where}); got != want {
			t.Errorf("copyLine(%q) = %d, want %d", where, got, want)
		}
	}
	cells, nulls := parseCSVRow([]byte(`"a ""q"", b",,"",`+"\"x\ny\"\n"), 4)
	if !cmp.Equal(cells, []string{`a "q", b`, "", "", "x\ny"}) || !cmp.Equal(nulls, []bool{false, true, false, false}) {
		t.Errorf("parseCSVRow = %q %v", cells, nulls)
	}
}
