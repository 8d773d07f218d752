package transform

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/record"
)

// mixValues are cell values of every kind, weighted towards numbers that
// pass the fast paths, with values that fail conversions and tasks.
func mixValues() []record.Value {
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

// mixPrograms are task lists over fields a, b, c, d (and z, which no batch
// has) that use every task and conversion, some failing on many values.
func mixPrograms() map[string][]Task {
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

// mixBatches are batches of mixValues, fields in different orders, one
// missing a field the programs read (b, c, d) and one with a field they do
// not (x).
func mixBatches() []*record.Batch {
	vals := mixValues()
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
	return batches
}

// oneRow is row i of in as a batch of its own.
func oneRow(in *record.Batch, i int) *record.Batch {
	w := len(in.Fields)
	return &record.Batch{Fields: in.Fields, Cells: in.Cells[i*w : (i+1)*w], Split: in.Split, FirstLine: in.FirstLine + int64(i)}
}

// writeResult writes r in full: output fields and cells (kinds and bits),
// stats, record errors and the fatal error.
func writeResult(w io.Writer, r applyResult) {
	fmt.Fprintf(w, "fields %q\n", r.out.Fields)
	for i, v := range r.out.Cells {
		fmt.Fprintf(w, "%d %d %q %d\n", i, v.K, v.S, v.N)
	}
	fmt.Fprintf(w, "stats %+v\nerrors %+v\nfatal %v\n", r.st, r.errs, r.fatal)
}

// mixDigests are the sha256 sums of writeResult over mixBatches, each
// batch whole and then each of its rows alone, for each of mixPrograms, as
// the row-at-a-time and the column-at-a-time paths of 82cd7be (which
// agreed on every one) gave them.
var mixDigests = map[string]string{
	"bench":   "7da0c69499bdb7188ad7ce456611d1f72b8bd96e3bc91661fa97674f7dd11e90",
	"mixed":   "dc928119fbf3c1b59d3464b26cddfc800f4b7474807e341331bf4c4e3cdd78df",
	"divide":  "dc3641ed40c7cc73b712ad92b2a97c5eb7e4539a6f672e3263745d7e15f98a0d",
	"times":   "82365a7b97f2d51d3a60871e4f5cab5c3a3cdf024c46c0754d05c5c084a6de02",
	"bools":   "9c3dcfc8458535ce6885f2ea63ce703999d9672bd481171e0453badebd93059a",
	"numbers": "e1b30e45f1d1d76605776fc2de85620671f006c53b431cb9ca89c6034c2f5ce3",
}

// Apply gives, over values of every kind and programs using every task and
// conversion, the rows, stats, record errors and fatal errors it gave
// before (mixDigests); a whole batch gives what its rows give one at a time
// (the same output rows and stats, the same record errors, and the first
// row's fatal error, if any, with the rows before it).
func TestMixedValues(t *testing.T) {
	batches := mixBatches()
	for name, tasks := range mixPrograms() {
		t.Run(name, func(t *testing.T) {
			p := mustCompile(t, tasks, Options{TypedDestination: true})
			h := sha256.New()
			var clean, errored, fatal, kept int
			for bi, in := range batches {
				whole := applyOnce(p, in)
				writeResult(h, whole)
				var joined applyResult
				joined.out.Fields = whole.out.Fields
				for i := 0; i < in.Len(); i++ {
					one := applyOnce(p, oneRow(in, i))
					writeResult(h, one)
					switch {
					case one.fatal != nil:
						fatal++
					case len(one.errs) > 0:
						errored++
					default:
						clean++
						kept += one.st.Out
					}
					if joined.fatal != nil {
						continue
					}
					joined.out.Cells = append(joined.out.Cells, one.out.Cells...)
					for _, e := range one.errs {
						e.Row = i
						joined.errs = append(joined.errs, e)
					}
					joined.st.In += one.st.In
					joined.st.Out += one.st.Out
					joined.st.Filtered += one.st.Filtered
					joined.st.Invalid += one.st.Invalid
					joined.st.Errored += one.st.Errored
					if one.fatal != nil {
						e := *one.fatal.(*RecordError)
						e.Row = i
						joined.fatal = &e
					}
				}
				if joined.fatal != nil {
					// Apply stops at a fatal error: the rows it counted
					// and wrote are no part of the result.
					joined.st, joined.out.Cells = whole.st, whole.out.Cells
				}
				if msg := sameResult(whole, joined); msg != "" {
					t.Fatalf("batch %d (whole, row by row): %s", bi, msg)
				}
			}
			t.Logf("one-row batches: %d clean (%d kept), %d with a record error, %d fatal", clean, kept, errored, fatal)
			if kept == 0 || (errored == 0 && fatal == 0) {
				t.Errorf("want rows with and without errors: %d clean, %d with a record error, %d fatal", clean, errored, fatal)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != mixDigests[name] {
				t.Errorf("results' digest %s, want %s", got, mixDigests[name])
			}
		})
	}
}
