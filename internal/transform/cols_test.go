package transform

import (
	"fmt"
	"math"
	"reflect"
	"runtime/debug"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/record"
)

// colValues are cell values of every kind, weighted towards numbers that
// pass the fast paths, with values that fail conversions and tasks.
func colValues() []record.Value {
	var vs []record.Value
	for _, s := range numTexts {
		vs = append(vs, record.Str(s), record.PlainStr(s))
	}
	for _, s := range []string{"632.50", "100", "99.99", "1234", "7", "250.5", "0.01", "-3", "100.00", "4096"} {
		vs = append(vs, record.Str(s), record.PlainStr(s), record.DecimalVal(s))
	}
	vs = append(vs,
		record.DecimalNum("632.50", 63250, 2), record.DecimalNum("-12.5", -125, 1), record.DecimalNum("100", 100, 0),
		record.DecimalVal("1e3"), record.DecimalVal("12345678901234567890.5"), record.DecimalVal(""),
		record.IntVal(0), record.IntVal(7), record.IntVal(-3), record.IntVal(150), record.IntVal(math.MaxInt64), record.IntVal(1e18),
		record.FloatVal(0.1), record.FloatVal(2.5), record.FloatVal(-1e300), record.FloatVal(math.NaN()), record.FloatVal(math.Inf(1)), record.FloatVal(101),
		record.BoolVal(true), record.BoolVal(false),
		record.MillisVal(1600000000000), record.TimeVal(time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)),
		record.JSONVal(`{"a":1}`), record.NullVal(), record.Value{},
		record.PlainStr("lisa.brown3858@corp.example.com"), record.Str("héllo wörld"), record.Str("ab"), record.Str(""),
		record.Str("true"), record.Str("FALSE"), record.Str("2020-09-02T16:57:42Z"), record.Str("2021-03-04"),
		record.Str("1600000000000"), record.Str(`quote " and \ back`), record.Str("日本語テキスト"), record.Str("e"),
	)
	return vs
}

// colPrograms are task lists over fields a, b, c, d (and z, which no batch
// has) that use every task and conversion, some failing on many values.
func colPrograms() map[string][]Task {
	typ := func(src, dst, t string) Task { return mapT(src, dst, "DESTINATION_DATA_TYPE", t) }
	return map[string][]Task{
		"bench": {
			op("Filter", "PROJECTION", f("a", "b", "c", "d"), ""),
			op("Filter", "GREATER_THAN", f("a"), "", "DATA_TYPE", "double", "VALUE", "100"),
			op("Mask", "MASK_FIRST_N", f("b"), "", "MASK_LENGTH", "5", "MASK_VALUE", "*"),
			op("Arithmetic", "ADDITION", f("a", "a"), "a,a", "MATH_OPERATION_FIELDS_ORDER", "a,a"),
			typ("a", "a1", "bigint"), typ("b", "b1", "string"), typ("a,a", "s", "double"),
			typ("c", "c1", "string"), typ("d", "d1", "string"),
		},
		"mixed": {
			op("Filter", "BETWEEN", f("a"), "", "DATA_TYPE", "integer", "LOWER_BOUND", "0", "UPPER_BOUND", "5000"),
			op("Filter", "CONTAINS", f("c"), "", "VALUE", "0"),
			op("Validate", "VALIDATE_NUMERIC", f("d"), "", "VALIDATION_ACTION", "DropRecord"),
			op("Validate", "VALIDATE_NON_NULL", f("b"), "", "VALIDATION_ACTION", "NoOp"),
			op("Mask", "MASK_LAST_N", f("c"), "", "MASK_LENGTH", "2", "MASK_VALUE", "#"),
			op("Truncate", "NO_OP", f("b"), "", "TRUNCATE_LENGTH", "3"),
			op("Merge", "NO_OP", f("a", "c"), "m", "CONCAT_FORMAT", "${a}-${c}"),
			op("Arithmetic", "MULTIPLICATION", f("a", "d"), "p"),
			op("Arithmetic", "SUBTRACTION", f("p", "a"), "q"),
			typ("m", "m1", "string"), typ("p", "p1", "double"), typ("q", "q1", "integer"),
			typ("a", "a1", "decimal"), typ("b", "b1", "string"), typ("z", "z1", "string"), typ("d", "d1", "decimal"),
		},
		"divide": {
			op("Validate", "VALIDATE_NON_NEGATIVE", f("a"), "", "VALIDATION_ACTION", "TerminateFlow"),
			op("Filter", "NOT_EQUAL_TO", f("b"), "", "DATA_TYPE", "double", "VALUES", "[\"7\", \"100\"]"),
			op("Arithmetic", "DIVISION", f("a", "b"), "dv"),
			op("Arithmetic", "ADDITION", f("c", "z"), "cz"),
			typ("dv", "dv1", "decimal"), typ("cz", "cz1", "string"),
			op("Map_all", "NO_OP", nil, "", "EXCLUDE_SOURCE_FIELDS_LIST", "[\"c\"]"),
		},
		"times": {
			op("Filter", "LESS_THAN", f("a"), "", "DATA_TYPE", "datetime", "VALUE", "2030-01-01T00:00:00Z"),
			op("Mask", "MASK_ALL", f("a", "z"), ""),
			op("Passthrough", "NO_OP", f("a", "z", "c"), ""),
			typ("d", "d1", "datetime"), typ("b", "b1", "integer"),
		},
		"bools": {
			op("Filter", "NOT_EQUAL_TO", f("b"), "", "DATA_TYPE", "boolean", "VALUE", "true"),
			op("Map_all", "NO_OP", nil, ""),
			typ("a", "a1", "boolean"),
		},
		"numbers": {
			op("Filter", "LESS_THAN_OR_EQUAL_TO", f("d"), "", "DATA_TYPE", "decimal", "VALUE", "1000.5"),
			op("Arithmetic", "ADDITION", f("a", "b"), "ab"),
			op("Arithmetic", "MULTIPLICATION", f("d", "d"), "dd"),
			typ("ab", "ab1", "integer"), typ("dd", "dd1", "double"), typ("dd", "dd2", "float"),
			typ("a", "a1", "double"), typ("b", "b1", "bigint"), typ("c", "c1", "long"),
		},
	}
}

type applyResult struct {
	out   record.Batch
	st    Stats
	errs  []RecordError
	fatal error
}

func applyOnce(p *Program, in *record.Batch) applyResult {
	var r applyResult
	r.st, r.errs, r.fatal = p.Apply(in, &r.out)
	r.out.Release = nil
	return r
}

func sameResult(a, b applyResult) string {
	if !reflect.DeepEqual(a.out.Fields, b.out.Fields) {
		return fmt.Sprintf("fields %v, %v", a.out.Fields, b.out.Fields)
	}
	if len(a.out.Cells) != len(b.out.Cells) {
		return fmt.Sprintf("%d cells, %d", len(a.out.Cells), len(b.out.Cells))
	}
	for i := range a.out.Cells {
		if x, y := a.out.Cells[i], b.out.Cells[i]; x != y {
			return fmt.Sprintf("cell %d: %#v, %#v", i, x, y)
		}
	}
	if a.st != b.st {
		return fmt.Sprintf("stats %+v, %+v", a.st, b.st)
	}
	if !reflect.DeepEqual(a.errs, b.errs) {
		return fmt.Sprintf("record errors %+v, %+v", a.errs, b.errs)
	}
	if !reflect.DeepEqual(a.fatal, b.fatal) {
		return fmt.Sprintf("error %v, %v", a.fatal, b.fatal)
	}
	return ""
}

// Column-at-a-time and row-at-a-time Apply give the same rows, stats,
// record errors and fatal error, over values of every kind, whole batches
// and one row at a time; the column path does every one-row batch that
// has no error.
func TestColumnsAndRowsAgree(t *testing.T) {
	vals := colValues()
	x := uint64(11)
	pick := func() record.Value {
		x = x*6364136223846793005 + 1442695040888963407
		return vals[(x>>33)%uint64(len(vals))]
	}
	var batches []*record.Batch
	for _, fields := range [][]string{f("a", "b", "c", "d"), f("d", "c", "b", "a"), f("b", "a", "x"), f("a")} {
		b := &record.Batch{Fields: fields, Split: "in/data.csv", FirstLine: 2}
		for i := 0; i < 600*len(fields); i++ {
			b.Cells = append(b.Cells, pick())
		}
		batches = append(batches, b)
	}
	for name, tasks := range colPrograms() {
		t.Run(name, func(t *testing.T) {
			rowP := mustCompile(t, tasks, Options{TypedDestination: true})
			rowP.rowOnly = true
			colP := mustCompile(t, tasks, Options{TypedDestination: true})
			colP.colRetry = 0
			done := 0
			colP.colsHook = func() { done++ }
			var clean, errored, fatal, cols, kept int
			for bi, in := range batches {
				if msg := sameResult(applyOnce(rowP, in), applyOnce(colP, in)); msg != "" {
					t.Fatalf("batch %d (rows, columns): %s", bi, msg)
				}
				w := len(in.Fields)
				cleanRows := &record.Batch{Fields: in.Fields, Split: in.Split, FirstLine: in.FirstLine}
				for i := 0; i < in.Len(); i++ {
					one := &record.Batch{Fields: in.Fields, Cells: in.Cells[i*w : (i+1)*w], Split: in.Split, FirstLine: in.FirstLine + int64(i)}
					want := applyOnce(rowP, one)
					kept += want.st.Out
					before := done
					got := applyOnce(colP, one)
					if msg := sameResult(want, got); msg != "" {
						t.Fatalf("batch %d row %d %v (rows, columns): %s", bi, i, one.Cells, msg)
					}
					switch {
					case want.fatal != nil:
						fatal++
					case len(want.errs) > 0:
						errored++
					default:
						clean++
						cleanRows.Cells = append(cleanRows.Cells, one.Cells...)
						if done != before+1 {
							t.Fatalf("batch %d row %d %v: no error, but not applied column at a time", bi, i, one.Cells)
						}
					}
					cols += done - before
				}
				// The rows without errors together, over several blocks.
				want := applyOnce(rowP, cleanRows)
				before := done
				if msg := sameResult(want, applyOnce(colP, cleanRows)); msg != "" {
					t.Fatalf("batch %d's %d rows without errors (rows, columns): %s", bi, cleanRows.Len(), msg)
				}
				if done != before+1 || cleanRows.Len() <= colBlock {
					t.Fatalf("batch %d's %d rows without errors: %d batches applied column at a time", bi, cleanRows.Len(), done-before)
				}
			}
			if cols != clean {
				t.Errorf("%d one-row batches applied column at a time, %d without an error", cols, clean)
			}
			t.Logf("one-row batches: %d clean (%d kept), %d with a record error, %d fatal", clean, kept, errored, fatal)
			if kept == 0 || (errored == 0 && fatal == 0) {
				t.Errorf("want rows with and without errors: %d clean, %d with a record error, %d fatal", clean, errored, fatal)
			}
		})
	}
}

// After a batch with an error, the next colRetry batches go straight to
// the row path; then the column path is tried again.
func TestColumnPathRetriesAfterErrors(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // keep the pooled applier and its count
	p := mustCompile(t, []Task{op("Arithmetic", "ADDITION", f("a", "a"), "s"), mapT("s", "s1", "DESTINATION_DATA_TYPE", "double")},
		Options{TypedDestination: true})
	p.colRetry = 3
	var cols []bool
	done := false
	p.colsHook = func() { done = true }
	bad, good := strBatch(f("a"), f("x")), strBatch(f("a"), f("1.5"))
	for _, in := range []*record.Batch{good, bad, good, good, good, good, bad, bad, good, good, good, good} {
		done = false
		if _, errs, err := p.Apply(in, &record.Batch{}); err != nil || (len(errs) > 0) != (in == bad) {
			t.Fatalf("Apply: %v, %v", errs, err)
		}
		cols = append(cols, done)
	}
	want := []bool{true, false, false, false, false, true, false, false, false, false, false, true}
	if !reflect.DeepEqual(cols, want) {
		t.Errorf("column path per batch: %v, want %v", cols, want)
	}
}
