package transform

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/apd/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// ---- helpers ----

func op(typ, operator string, fields []string, dest string, props ...string) Task {
	t := Task{Type: typ, Operator: operator, SourceFields: fields, DestinationField: dest, Properties: map[string]string{}}
	for i := 0; i+1 < len(props); i += 2 {
		t.Properties[props[i]] = props[i+1]
	}
	return t
}

func f(names ...string) []string { return names }

func mapT(src, dst string, props ...string) Task { return op("Map", "NO_OP", f(src), dst, props...) }

// strBatch builds a batch of String cells; "<null>" and "<missing>" make those kinds.
func strBatch(fields []string, rows ...[]string) *record.Batch {
	b := &record.Batch{Fields: fields, Split: "in/data.csv", FirstLine: 2}
	for _, r := range rows {
		for _, c := range r {
			switch c {
			case "<null>":
				b.Cells = append(b.Cells, record.NullVal())
			case "<missing>":
				b.Cells = append(b.Cells, record.Value{})
			default:
				b.Cells = append(b.Cells, record.Str(c))
			}
		}
	}
	return b
}

// show renders a cell: strings as themselves, other kinds as kind:text.
func show(v record.Value) string {
	switch v.K {
	case record.String:
		return v.S
	case record.Missing, record.Null:
		return "<" + v.K.String() + ">"
	}
	return v.K.String() + ":" + v.Text()
}

func rows(b *record.Batch) [][]string {
	var out [][]string
	for i := 0; i < b.Len(); i++ {
		var r []string
		for _, v := range b.Row(i) {
			r = append(r, show(v))
		}
		out = append(out, r)
	}
	return out
}

func mustCompile(t *testing.T, tasks []Task, opts Options) *Program {
	t.Helper()
	p, err := Compile(tasks, opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func apply(t *testing.T, p *Program, in *record.Batch) (*record.Batch, Stats, []RecordError) {
	t.Helper()
	out := &record.Batch{}
	st, errs, err := p.Apply(in, out)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return out, st, errs
}

// ---- Filter ----

func TestFilterOperators(t *testing.T) {
	tests := []struct {
		name   string
		filter Task
		values []string // one row per value, field "x"
		want   []string // the values kept
	}{
		{"GT double", op("Filter", "GREATER_THAN", f("x"), "", "DATA_TYPE", "double", "VALUE", "100"),
			f("100.5", "99", "100", "100.00", "1e3", "abc", "", "<null>", "<missing>", " 250 "), f("100.5", "1e3", " 250 ")},
		{"LT integer", op("Filter", "LESS_THAN", f("x"), "", "DATA_TYPE", "integer", "VALUE", "10"),
			f("9", "10", "-3", "9.99", "x"), f("9", "-3", "9.99")},
		{"LTE", op("Filter", "LESS_THAN_OR_EQUAL_TO", f("x"), "", "DATA_TYPE", "double", "VALUE", "0.3"),
			f("0.3", "0.30000000000000004", "0.29"), f("0.3", "0.29")},
		{"GTE", op("Filter", "GREATER_THAN_OR_EQUAL_TO", f("x"), "", "DATA_TYPE", "decimal", "VALUE", "5"),
			f("5", "4.999", "5.0001"), f("5", "5.0001")},
		{"BETWEEN inclusive", op("Filter", "BETWEEN", f("x"), "", "DATA_TYPE", "double", "LOWER_BOUND", "1", "UPPER_BOUND", "2"),
			f("0.99", "1", "1.5", "2", "2.01"), f("1", "1.5", "2")},
		{"EQ numeric", op("Filter", "EQUAL_TO", f("x"), "", "DATA_TYPE", "double", "VALUE", "7"),
			f("7", "7.00", "07", "7.1"), f("7", "7.00", "07")},
		{"EQ VALUES comma list ORed", op("Filter", "EQUAL_TO", f("x"), "", "DATA_TYPE", "string", "VALUES", "DE, FR"),
			f("DE", "FR", "US", "de"), f("DE", "FR")},
		{"EQ VALUES JSON array", op("Filter", "EQUAL_TO", f("x"), "", "VALUES", `["a,b","c"]`),
			f("a,b", "a", "c"), f("a,b", "c")},
		{"NE VALUES is not-in", op("Filter", "NOT_EQUAL_TO", f("x"), "", "VALUES", "DE,FR"),
			f("DE", "FR", "US", "", "<null>"), f("US", "")},
		{"CONTAINS case-sensitive", op("Filter", "CONTAINS", f("x"), "", "DATA_TYPE", "string", "VALUE", "Acme"),
			f("Acme Inc", "acme", "The Acme", ""), f("Acme Inc", "The Acme")},
		{"CONTAINS VALUES ORed", op("Filter", "CONTAINS", f("x"), "", "VALUES", "Acme,Corp"),
			f("Acme Inc", "Big Corp", "Other"), f("Acme Inc", "Big Corp")},
		{"string GT compares as strings", op("Filter", "GREATER_THAN", f("x"), "", "DATA_TYPE", "string", "VALUE", "100"),
			f("99", "1000", "099"), f("99", "1000")},
		{"no DATA_TYPE is string", op("Filter", "LESS_THAN", f("x"), "", "VALUE", "b"),
			f("a", "b", "B"), f("a", "B")},
		{"datetime epoch ms vs ISO and epoch values", op("Filter", "GREATER_THAN", f("x"), "", "DATA_TYPE", "datetime", "VALUE", "1612148400000"),
			f("2021-02-01T03:00:00Z", "2021-02-01T03:00:00.001Z", "2021-02-01T04:00:00+01:00", "2021-02-01T05:00:00+01:00",
				"2021-02-02", "1612148400001", "2021-04-20T10:30:35.000+0000", "not a date"),
			f("2021-02-01T03:00:00.001Z", "2021-02-01T05:00:00+01:00", "2021-02-02", "1612148400001", "2021-04-20T10:30:35.000+0000")},
		{"datetime BETWEEN", op("Filter", "BETWEEN", f("x"), "", "DATA_TYPE", "datetime",
			"LOWER_BOUND", "1612148400000", "UPPER_BOUND", "1614481200000"),
			f("2021-01-31T23:59:59Z", "2021-02-01T03:00:00Z", "2021-02-15 12:00:00", "2021-02-28T03:00:00Z", "2021-02-28T03:00:00.001Z"),
			f("2021-02-01T03:00:00Z", "2021-02-15 12:00:00", "2021-02-28T03:00:00Z")},
		{"boolean EQ", op("Filter", "EQUAL_TO", f("x"), "", "DATA_TYPE", "boolean", "VALUE", "true"),
			f("true", "TRUE", "1", "false", "yes"), f("true", "TRUE", "1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, []Task{tc.filter, mapT("x", "x")}, sourceOpts("Salesforce"))
			var rs [][]string
			for _, v := range tc.values {
				rs = append(rs, []string{v})
			}
			out, st, _ := apply(t, p, strBatch(f("x"), rs...))
			var got []string
			for _, r := range rows(out) {
				got = append(got, r[0])
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("kept rows (-want +got):\n%s", diff)
			}
			if st.Filtered != len(tc.values)-len(tc.want) {
				t.Errorf("Filtered = %d, want %d", st.Filtered, len(tc.values)-len(tc.want))
			}
		})
	}
}

func TestFilterTypedValues(t *testing.T) {
	// JSON sources give ints, floats, times and bools: the same filters apply.
	p := mustCompile(t, []Task{
		op("Filter", "GREATER_THAN", f("n"), "", "DATA_TYPE", "double", "VALUE", "0.2"),
		op("Filter", "LESS_THAN", f("t"), "", "DATA_TYPE", "datetime", "VALUE", "2000"),
		mapT("n", "n"),
	}, Options{})
	in := &record.Batch{Fields: f("n", "t"), Cells: []record.Value{
		record.FloatVal(0.30000000000000004), record.MillisVal(1999),
		record.FloatVal(0.2), record.MillisVal(1),
		record.IntVal(5), record.IntVal(1999),
		record.IntVal(5), record.IntVal(2000),
		record.BoolVal(true), record.MillisVal(1),
	}}
	out, _, _ := apply(t, p, in)
	want := [][]string{{"float:0.30000000000000004"}, {"int:5"}}
	if diff := cmp.Diff(want, rows(out)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// ---- Map, Map_all, Passthrough ----

func TestMapRenamesAndWritesOnlyMappedFields(t *testing.T) {
	p := mustCompile(t, []Task{
		op("Filter", "PROJECTION", f("id", "name", "created"), ""),
		op("Filter", "GREATER_THAN", f("created"), "", "DATA_TYPE", "datetime", "VALUE", "0"),
		mapT("id", "Id"), mapT("name", "FullName"), mapT("name", "Name2"),
	}, sourceOpts("S3"))
	if got, want := p.Projection(), f("id", "name", "created"); !cmp.Equal(got, want) {
		t.Errorf("Projection = %v, want %v", got, want)
	}
	wantSpecs := []connector.FieldSpec{{Name: "Id"}, {Name: "FullName"}, {Name: "Name2"}}
	if diff := cmp.Diff(wantSpecs, p.OutputFields()); diff != "" {
		t.Errorf("OutputFields (-want +got):\n%s", diff)
	}
	out, _, _ := apply(t, p, strBatch(f("id", "name", "created"), f("1", "Ann", "2024-01-01")))
	if !cmp.Equal(out.Fields, f("Id", "FullName", "Name2")) {
		t.Errorf("Fields = %v", out.Fields)
	}
	if diff := cmp.Diff([][]string{{"1", "Ann", "Ann"}}, rows(out)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestMapProjectionFromReferences(t *testing.T) {
	// Without a PROJECTION task, the fetch list is every field a task reads.
	p := mustCompile(t, []Task{
		mapT("b", "B"),
		op("Filter", "EQUAL_TO", f("c"), "", "VALUE", "x"),
		op("Arithmetic", "ADDITION", f("d", "e"), "d,e"),
		mapT("d,e", "Sum"),
	}, Options{})
	if got, want := p.Projection(), f("b", "c", "d", "e"); !cmp.Equal(got, want) {
		t.Errorf("Projection = %v, want %v", got, want)
	}
}

func TestMapTypedConversion(t *testing.T) {
	tests := []struct {
		typ, in, want, wantErr string
	}{
		{"integer", "42", "int:42", ""},
		{"bigint", " -7 ", "int:-7", ""},
		{"integer", "12.0", "int:12", ""},
		{"integer", "12.5", "", `value "12.5" (string) is not an integer`},
		{"integer", "abc", "", `value "abc" (string) is not an integer`},
		{"integer", "", "<null>", ""},
		{"double", "246.90", "float:246.9", ""},
		{"double", "NaN", "", "is not a double"},
		{"decimal", "0.10", "decimal:0.10", ""},
		{"decimal", "1,5", "", "is not a decimal"},
		{"boolean", "TRUE", "bool:true", ""},
		{"boolean", "0", "bool:false", ""},
		{"boolean", "maybe", "", "is not a boolean"},
		{"datetime", "2021-02-01T03:00:00Z", "time:2021-02-01T03:00:00.000Z", ""},
		{"datetime", "1612148400000", "time:2021-02-01T03:00:00.000Z", ""},
		{"date", "2021-02-01", "time:2021-02-01T00:00:00.000Z", ""},
		{"datetime", "yesterday", "", "is not a datetime"},
		{"string", "abc", "abc", ""},
		{"phone", "+1 555", "+1 555", ""},
		{"", "abc", "abc", ""},
		{"varchar(10)", "abc", "abc", ""},
	}
	for _, tc := range tests {
		t.Run(tc.typ+"/"+tc.in, func(t *testing.T) {
			p := mustCompile(t, []Task{mapT("x", "y", "DESTINATION_DATA_TYPE", tc.typ)}, Options{TypedDestination: true})
			out, st, errs := apply(t, p, strBatch(f("x"), f(tc.in)))
			if tc.wantErr != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Reason, tc.wantErr) {
					t.Fatalf("errs = %+v, want one containing %q", errs, tc.wantErr)
				}
				e := errs[0]
				if e.Line != 2 || e.Field != "x" || e.Task != 0 || e.TaskType != "Map" || e.Split != "in/data.csv" {
					t.Errorf("error = %+v, want line 2 field x task 0 Map split in/data.csv", e)
				}
				if out.Len() != 0 || st.Errored != 1 {
					t.Errorf("got %d rows, Errored %d; want 0 rows, 1 errored", out.Len(), st.Errored)
				}
				return
			}
			if len(errs) != 0 {
				t.Fatalf("errs = %+v", errs)
			}
			if got := show(out.Cells[0]); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMapUntypedCopiesValues(t *testing.T) {
	p := mustCompile(t, []Task{mapT("x", "y", "DESTINATION_DATA_TYPE", "integer")}, Options{TypedDestination: false})
	out, _, errs := apply(t, p, strBatch(f("x"), f("abc")))
	if len(errs) != 0 || show(out.Cells[0]) != "abc" {
		t.Errorf("got %v, errs %v; want abc unchanged", rows(out), errs)
	}
	if got := p.OutputFields()[0].Type; got != "integer" {
		t.Errorf("OutputFields type = %q, want integer", got)
	}
}

func TestMapAll(t *testing.T) {
	in := strBatch(f("a", "Secret", "b", "Ssn"), f("1", "s", "2", "n"))
	tests := []struct {
		name       string
		tasks      []Task
		wantFields []string
		wantRow    []string
		static     bool
	}{
		{"all fields", []Task{op("Map_all", "NO_OP", nil, "", "EXCLUDE_SOURCE_FIELDS_LIST", "[]")},
			f("a", "Secret", "b", "Ssn"), f("1", "s", "2", "n"), false},
		{"exclude JSON", []Task{op("Map_all", "", nil, "", "EXCLUDE_SOURCE_FIELDS_LIST", `["Secret","Ssn"]`)},
			f("a", "b"), f("1", "2"), false},
		{"exclude comma list", []Task{op("Map_all", "", nil, "", "EXCLUDE_SOURCE_FIELDS_LIST", "Secret, Ssn")},
			f("a", "b"), f("1", "2"), false},
		{"explicit Map wins", []Task{op("Map_all", "", nil, ""), mapT("Ssn", "a")},
			f("Secret", "b", "Ssn", "a"), f("s", "2", "n", "n"), false},
		{"with projection", []Task{op("Filter", "PROJECTION", f("b", "a"), ""),
			op("Filter", "EQUAL_TO", f("Ssn"), "", "VALUE", "n"), op("Map_all", "", nil, "")},
			f("b", "a"), f("2", "1"), true},
		{"whole-record Passthrough", []Task{op("Passthrough", "", nil, "")},
			f("a", "Secret", "b", "Ssn"), f("1", "s", "2", "n"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, tc.tasks, Options{})
			out, _, _ := apply(t, p, in)
			if !cmp.Equal(out.Fields, tc.wantFields) {
				t.Errorf("Fields = %v, want %v", out.Fields, tc.wantFields)
			}
			if diff := cmp.Diff([][]string{tc.wantRow}, rows(out)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if got := p.OutputFields() != nil; got != tc.static {
				t.Errorf("static OutputFields = %v, want %v", got, tc.static)
			}
		})
	}
}

func TestMapAllFollowsEachBatchFields(t *testing.T) {
	p := mustCompile(t, []Task{op("Map_all", "", nil, "", "EXCLUDE_SOURCE_FIELDS_LIST", `["x"]`)}, Options{})
	out1, _, _ := apply(t, p, strBatch(f("a", "x"), f("1", "2")))
	out2, _, _ := apply(t, p, strBatch(f("x", "c", "d"), f("1", "2", "3")))
	if !cmp.Equal(out1.Fields, f("a")) || !cmp.Equal(out2.Fields, f("c", "d")) {
		t.Errorf("Fields = %v then %v, want [a] then [c d]", out1.Fields, out2.Fields)
	}
}

func TestPassthroughCopiesAsIs(t *testing.T) {
	p := mustCompile(t, []Task{
		op("Passthrough", "NO_OP", f("n"), ""),
		op("Passthrough", "NO_OP", f("m"), "m2", "DESTINATION_DATA_TYPE", "integer"),
	}, Options{TypedDestination: true})
	in := &record.Batch{Fields: f("n", "m"), Cells: []record.Value{record.JSONVal(`{"a":[1]}`), record.Str("abc")}}
	out, _, errs := apply(t, p, in)
	want := [][]string{{`json:{"a":[1]}`, "abc"}}
	if diff := cmp.Diff(want, rows(out)); diff != "" || len(errs) != 0 {
		t.Errorf("rows (-want +got):\n%s errs %v", diff, errs)
	}
	if !cmp.Equal(out.Fields, f("n", "m2")) {
		t.Errorf("Fields = %v", out.Fields)
	}
}

// ---- Mask and Truncate ----

func TestMaskAndTruncate(t *testing.T) {
	tests := []struct {
		name string
		task Task
		in   string
		want string
	}{
		{"first 5", op("Mask", "MASK_FIRST_N", f("x"), "", "MASK_LENGTH", "5", "MASK_VALUE", "*"), "john@example.com", "*****example.com"},
		{"first default mask", op("Mask", "MASK_FIRST_N", f("x"), "", "MASK_LENGTH", "2"), "abcd", "**cd"},
		{"first N > length", op("Mask", "MASK_FIRST_N", f("x"), "", "MASK_LENGTH", "10"), "abc", "***"},
		{"first 0", op("Mask", "MASK_FIRST_N", f("x"), "", "MASK_LENGTH", "0"), "abc", "abc"},
		{"last 5 runes", op("Mask", "MASK_LAST_N", f("x"), "", "MASK_LENGTH", "5", "MASK_VALUE", "#"), "+49 30 1234567", "+49 30 12#####"},
		{"last counts runes", op("Mask", "MASK_LAST_N", f("x"), "", "MASK_LENGTH", "2", "MASK_VALUE", "•"), "Zoë née", "Zoë n••"},
		{"first counts runes", op("Mask", "MASK_FIRST_N", f("x"), "", "MASK_LENGTH", "3"), "Zoë née", "*** née"},
		{"all ignores MASK_LENGTH", op("Mask", "MASK_ALL", f("x"), "", "MASK_LENGTH", "5", "MASK_VALUE", "x"), "日本語", "xxx"},
		{"empty stays empty", op("Mask", "MASK_ALL", f("x"), ""), "", ""},
		{"null stays null", op("Mask", "MASK_ALL", f("x"), ""), "<null>", "<null>"},
		{"truncate", op("Truncate", "NO_OP", f("x"), "", "TRUNCATE_LENGTH", "3"), "abcdef", "abc"},
		{"truncate runes", op("Truncate", "", f("x"), "", "TRUNCATE_LENGTH", "2"), "日本語", "日本"},
		{"truncate short", op("Truncate", "", f("x"), "", "TRUNCATE_LENGTH", "10"), "abc", "abc"},
		{"truncate 0", op("Truncate", "", f("x"), "", "TRUNCATE_LENGTH", "0"), "abc", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, []Task{tc.task, mapT("x", "x")}, sourceOpts("S3"))
			in := strBatch(f("x"), f(tc.in))
			out, _, _ := apply(t, p, in)
			if got := show(out.Cells[0]); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if got := show(in.Cells[0]); got != tc.in {
				t.Errorf("input changed to %q", got)
			}
		})
	}
}

func TestMaskNonString(t *testing.T) {
	p := mustCompile(t, []Task{op("Mask", "MASK_LAST_N", f("x"), "", "MASK_LENGTH", "2"), mapT("x", "x")}, Options{})
	out, _, _ := apply(t, p, &record.Batch{Fields: f("x"), Cells: []record.Value{record.IntVal(12345)}})
	if got := show(out.Cells[0]); got != "123**" {
		t.Errorf("got %q, want 123**", got)
	}
}

// ---- Merge and Arithmetic ----

func TestMerge(t *testing.T) {
	tests := []struct {
		name   string
		format string
		in     []string
		want   string
	}{
		{"template", "${First} ${Last}", f("Ann", "Lee"), "Ann Lee"},
		{"template with literal text", "Name: ${Last}, ${First}!", f("Ann", "Lee"), "Name: Lee, Ann!"},
		{"separator when no placeholder", " - ", f("Ann", "Lee"), "Ann - Lee"},
		{"null reads as empty", "${First}|${Last}", f("<null>", "Lee"), "|Lee"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, []Task{
				op("Merge", "NO_OP", f("First", "Last"), "First,Last", "CONCAT_FORMAT", tc.format),
				mapT("First,Last", "FullName"),
			}, Options{})
			out, _, _ := apply(t, p, strBatch(f("First", "Last"), tc.in))
			if got := show(out.Cells[0]); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestArithmetic(t *testing.T) {
	tests := []struct {
		name, op, order string
		a, b            string
		want            string
		wantErr         string
	}{
		{"add exact", "ADDITION", "", "0.1", "0.2", "decimal:0.3", ""},
		{"add keeps scale", "ADDITION", "", "123.45", "123.45", "decimal:246.90", ""},
		{"add mixed scale", "ADDITION", "", "1", "0.05", "decimal:1.05", ""},
		{"add negative", "ADDITION", "", "-5", "3", "decimal:-2", ""},
		{"add beyond int64", "ADDITION", "", "99999999999999999999", "1", "decimal:100000000000000000000", ""},
		{"add exponent", "ADDITION", "", "1e3", "1", "decimal:1001", ""},
		{"sub order", "SUBTRACTION", "a,b", "10", "3", "decimal:7", ""},
		{"sub reversed order", "SUBTRACTION", "b,a", "10", "3", "decimal:-7", ""},
		{"mul", "MULTIPLICATION", "", "1.5", "2.25", "decimal:3.375", ""},
		{"mul overflow to apd", "MULTIPLICATION", "", "123456789012", "123456789012", "decimal:15241578753153483936144", ""},
		{"div terminating", "DIVISION", "", "10", "4", "decimal:2.5", ""},
		{"div repeating", "DIVISION", "", "1", "3", "decimal:0.3333333333333333333333333333333333", ""},
		{"div reversed", "DIVISION", "b,a", "10", "4", "decimal:0.4", ""},
		{"null operand", "ADDITION", "", "<null>", "1", "<null>", ""},
		{"empty operand", "ADDITION", "", "", "1", "<null>", ""},
		{"non-numeric", "ADDITION", "", "abc", "1", "", `a: value "abc" is not a number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			props := []string{}
			if tc.order != "" {
				props = append(props, "MATH_OPERATION_FIELDS_ORDER", tc.order)
			}
			p := mustCompile(t, []Task{
				op("Arithmetic", tc.op, f("a", "b"), "a,b", props...),
				mapT("a,b", "r"),
			}, sourceOpts("S3"))
			out, _, errs := apply(t, p, strBatch(f("a", "b"), f(tc.a, tc.b)))
			if tc.wantErr != "" {
				if len(errs) != 1 || errs[0].Reason != tc.wantErr || errs[0].TaskType != "Arithmetic" {
					t.Fatalf("errs = %+v, want reason %q", errs, tc.wantErr)
				}
				return
			}
			if len(errs) != 0 {
				t.Fatalf("errs = %+v", errs)
			}
			if got := show(out.Cells[0]); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestArithmeticTypedOperands(t *testing.T) {
	p := mustCompile(t, []Task{op("Arithmetic", "ADDITION", f("a", "b"), "a,b"), mapT("a,b", "r")}, Options{})
	in := &record.Batch{Fields: f("a", "b"), Cells: []record.Value{
		record.FloatVal(0.1), record.FloatVal(0.2),
		record.IntVal(1 << 62), record.IntVal(1 << 62),
		record.DecimalVal("1.10"), record.IntVal(2),
	}}
	out, _, _ := apply(t, p, in)
	want := [][]string{{"decimal:0.3"}, {"decimal:9223372036854775808"}, {"decimal:3.10"}}
	if diff := cmp.Diff(want, rows(out)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestDivisionByZeroFailsNamingTheRecord(t *testing.T) {
	p := mustCompile(t, []Task{op("Arithmetic", "DIVISION", f("a", "b"), "a,b"), mapT("a,b", "r")}, Options{})
	in := strBatch(f("a", "b"), f("1", "2"), f("1", "0.00"))
	in.FirstLine = 10
	_, _, err := p.Apply(in, &record.Batch{})
	var re *RecordError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a *RecordError", err)
	}
	want := RecordError{Split: "in/data.csv", Line: 11, Row: 1, Field: "a,b", Task: 0, TaskType: "Arithmetic", Reason: "division by zero"}
	if *re != want {
		t.Errorf("got %+v, want %+v", *re, want)
	}
	if got := err.Error(); got != "split in/data.csv line 11 field a,b: tasks[0] (Arithmetic): division by zero" {
		t.Errorf("message = %q", got)
	}
}

func TestDerivedFieldsChainWhateverTheOrder(t *testing.T) {
	// The Merge reads the Arithmetic's virtual field; it comes first in the list.
	p := mustCompile(t, []Task{
		mapT("label", "Label"),
		op("Merge", "NO_OP", f("name", "net,tax"), "label", "CONCAT_FORMAT", "${name}: ${net,tax}"),
		op("Arithmetic", "ADDITION", f("net", "tax"), "net,tax"),
	}, Options{})
	out, _, _ := apply(t, p, strBatch(f("name", "net", "tax"), f("Ann", "10.50", "2.10")))
	if got := show(out.Cells[0]); got != "Ann: 12.60" {
		t.Errorf("got %q, want %q", got, "Ann: 12.60")
	}
}

func TestMaskRunsBeforeMerge(t *testing.T) {
	p := mustCompile(t, []Task{
		op("Merge", "NO_OP", f("a", "b"), "a,b", "CONCAT_FORMAT", "${a}/${b}"),
		mapT("a,b", "ab"),
		op("Mask", "MASK_ALL", f("b"), ""),
	}, Options{})
	out, _, _ := apply(t, p, strBatch(f("a", "b"), f("x", "secret")))
	if got := show(out.Cells[0]); got != "x/******" {
		t.Errorf("got %q, want x/******", got)
	}
}

// ---- Validate ----

func TestValidate(t *testing.T) {
	values := f("5", "0", "-1", "abc", "", "<null>", "<missing>", "0.00", "-0")
	tests := []struct {
		op   string
		want []string // kept
	}{
		{"VALIDATE_NON_NULL", f("5", "0", "-1", "abc", "0.00", "-0")},
		{"VALIDATE_NON_ZERO", f("5", "-1", "abc", "", "<null>", "<missing>")},
		{"VALIDATE_NON_NEGATIVE", f("5", "0", "abc", "", "<null>", "<missing>", "0.00", "-0")},
		{"VALIDATE_NUMERIC", f("5", "0", "-1", "0.00", "-0")},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			p := mustCompile(t, []Task{
				op("Validate", tc.op, f("x"), "", "VALIDATION_ACTION", "DropRecord"),
				mapT("keep", "keep"),
			}, sourceOpts("S3"))
			in := &record.Batch{Fields: f("x", "keep")}
			for _, v := range values {
				cell := strBatch(f("x"), f(v)).Cells[0]
				in.Cells = append(in.Cells, cell, record.Str(v))
			}
			out, st, _ := apply(t, p, in)
			var got []string
			for _, r := range rows(out) {
				got = append(got, r[0])
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			if st.Invalid != len(values)-len(tc.want) {
				t.Errorf("Invalid = %d, want %d", st.Invalid, len(values)-len(tc.want))
			}
		})
	}
}

func TestValidateTerminates(t *testing.T) {
	for _, action := range []string{"DropDataset", "TerminateFlow"} {
		t.Run(action, func(t *testing.T) {
			p := mustCompile(t, []Task{
				mapT("id", "id"),
				op("Validate", "VALIDATE_NON_NULL", f("id"), "", "VALIDATION_ACTION", action),
			}, Options{})
			in := strBatch(f("id"), f("1"), f("2"), f(""))
			in.FirstLine = 100
			_, _, err := p.Apply(in, &record.Batch{})
			var re *RecordError
			if !errors.As(err, &re) || re.Line != 102 || re.Task != 1 || re.Field != "id" || re.TaskType != "Validate" {
				t.Fatalf("err = %v, want record error at line 102 tasks[1] field id", err)
			}
			if !strings.Contains(re.Reason, "VALIDATE_NON_NULL failed: the value is empty") {
				t.Errorf("reason = %q", re.Reason)
			}
		})
	}
}

func TestValidateNoOpKeepsRecord(t *testing.T) {
	p := mustCompile(t, []Task{mapT("id", "id"), op("Validate", "VALIDATE_NON_NULL", f("id"), "", "VALIDATION_ACTION", "NoOp")}, Options{})
	out, st, _ := apply(t, p, strBatch(f("id"), f("")))
	if out.Len() != 1 || st.Invalid != 0 {
		t.Errorf("got %d rows, %d invalid; want 1, 0", out.Len(), st.Invalid)
	}
}

// ---- Partition, window, pushdown ----

func TestPartitionKeys(t *testing.T) {
	for _, v := range []string{`["Industry","Rating"]`, "Industry, Rating"} {
		p := mustCompile(t, []Task{mapT("a", "Industry"), mapT("b", "Rating"),
			op("Partition", "NO_OP", nil, "", "ORDERED_PARTITION_KEYS_LIST", v)}, Options{})
		if got := p.PartitionKeys(); !cmp.Equal(got, f("Industry", "Rating")) {
			t.Errorf("%s: PartitionKeys = %v", v, got)
		}
	}
}

func TestWithWindow(t *testing.T) {
	p := mustCompile(t, []Task{op("Filter", "PROJECTION", f("id"), ""), mapT("id", "id")}, Options{})
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	q := p.WithWindow(&connector.Window{Field: "ts", Start: start, End: start.Add(time.Hour)})
	if got := q.Projection(); !cmp.Equal(got, f("id", "ts")) {
		t.Errorf("Projection = %v, want [id ts]", got)
	}
	if got := p.Projection(); !cmp.Equal(got, f("id")) {
		t.Errorf("original Projection changed to %v", got)
	}
	in := strBatch(f("id", "ts"),
		f("1", "2023-12-31T23:59:59.999Z"), f("2", "2024-01-01T00:00:00Z"),
		f("3", "2024-01-01T00:59:59Z"), f("4", "2024-01-01T01:00:00Z"), f("5", "bad"))
	out, st, _ := apply(t, q, in)
	if diff := cmp.Diff([][]string{{"2"}, {"3"}}, rows(out)); diff != "" || st.Filtered != 3 {
		t.Errorf("rows (-want +got):\n%s filtered %d", diff, st.Filtered)
	}
}

func TestFiltersForPushdown(t *testing.T) {
	p := mustCompile(t, []Task{
		op("Filter", "BETWEEN", f("d"), "", "DATA_TYPE", "datetime", "LOWER_BOUND", "1", "UPPER_BOUND", "2"),
		op("Filter", "EQUAL_TO", f("c"), "", "VALUE", "x", "VALUES", "y,z"),
		mapT("c", "c"),
	}, Options{})
	want := []connector.Filter{
		{Field: "d", Operator: "BETWEEN", Values: f("1", "2"), DataType: "datetime"},
		{Field: "c", Operator: "EQUAL_TO", Values: f("x", "y", "z")},
	}
	if diff := cmp.Diff(want, p.Filters()); diff != "" {
		t.Errorf("Filters (-want +got):\n%s", diff)
	}
}

// A source may apply any subset of the pushed-down filters: the output must
// be the same as when it applies none.
func TestSameOutputWhetherFiltersArePushedDown(t *testing.T) {
	tasks := []Task{
		op("Filter", "GREATER_THAN", f("amount"), "", "DATA_TYPE", "double", "VALUE", "100"),
		op("Filter", "NOT_EQUAL_TO", f("country"), "", "VALUES", "DE,FR"),
		op("Mask", "MASK_FIRST_N", f("email"), "", "MASK_LENGTH", "5"),
		mapT("email", "email"), mapT("amount", "amount"),
	}
	p := mustCompile(t, tasks, sourceOpts("S3"))
	full := benchBatch(2000)
	full.Fields = f("id", "name", "email", "amount", "created_at", "country")
	want, _, _ := apply(t, p, full)

	for k := range p.Filters() {
		// A naive source that applies filter k (with its own logic).
		pushed := p.Filters()[k]
		one := mustCompile(t, []Task{op("Filter", pushed.Operator, f(pushed.Field), "",
			"DATA_TYPE", pushed.DataType, "VALUES", strings.Join(pushed.Values, ",")),
			op("Map_all", "", nil, "")}, Options{})
		pre, _, _ := apply(t, one, full)
		if pre.Len() == full.Len() {
			t.Fatalf("filter %d removed nothing; the test proves nothing", k)
		}
		got, _, _ := apply(t, p, pre)
		if diff := cmp.Diff(rows(want), rows(got)); diff != "" {
			t.Errorf("with filter %d pushed down (-want +got):\n%s", k, diff)
		}
	}
}

func TestPhaseOrderIgnoresListOrder(t *testing.T) {
	tasks := []Task{
		op("Filter", "PROJECTION", f("id", "name", "email", "amount", "created_at", "country"), ""),
		op("Filter", "GREATER_THAN", f("amount"), "", "DATA_TYPE", "double", "VALUE", "100"),
		op("Mask", "MASK_FIRST_N", f("email"), "", "MASK_LENGTH", "5", "MASK_VALUE", "*"),
		op("Arithmetic", "ADDITION", f("amount", "amount"), "amount,amount", "MATH_OPERATION_FIELDS_ORDER", "amount,amount"),
		op("Validate", "VALIDATE_NON_NULL", f("id"), "", "VALIDATION_ACTION", "DropRecord"),
		op("Truncate", "NO_OP", f("name"), "", "TRUNCATE_LENGTH", "4"),
		op("Merge", "NO_OP", f("email", "country"), "email,country", "CONCAT_FORMAT", "${email}@${country}"),
		mapT("id", "customer_id"), mapT("name", "full_name"), mapT("email", "email_masked"),
		mapT("amount,amount", "amount_x2"), mapT("email,country", "ec"),
	}
	in := benchBatch(500)
	want, _, _ := apply(t, mustCompile(t, tasks, sourceOpts("S3")), in)
	reversed := make([]Task, len(tasks))
	for i, t := range tasks {
		reversed[len(tasks)-1-i] = t
	}
	rp := mustCompile(t, reversed, sourceOpts("S3"))
	got, _, _ := apply(t, rp, in)
	// The reversed list maps in reversed order; compare by field name.
	byName := func(b *record.Batch) map[string][]string {
		m := map[string][]string{}
		for i := 0; i < b.Len(); i++ {
			for c, name := range b.Fields {
				m[name] = append(m[name], show(b.Row(i)[c]))
			}
		}
		return m
	}
	if diff := cmp.Diff(byName(want), byName(got)); diff != "" {
		t.Errorf("reversed task list (-want +got):\n%s", diff)
	}
	r0 := rows(want)[0]
	if !strings.HasPrefix(r0[2], "*****") || !strings.HasPrefix(r0[4], "*****") || len([]rune(r0[1])) > 4 {
		t.Errorf("first row %v: want email masked (also inside the merge), name truncated", r0)
	}
}

// ---- Compile errors ----

func TestCompileErrors(t *testing.T) {
	good := mapT("a", "A")
	tests := []struct {
		name   string
		source string
		tasks  []Task
		want   string
	}{
		{"unknown type", "S3", []Task{good, op("Rename", "NO_OP", f("a"), "b")}, "tasks[1] (Rename): unknown task type"},
		{"operator not for source", "S3", []Task{good, op("Filter", "CONTAINS", f("a"), "", "VALUE", "x")},
			"tasks[1] (Filter): operator CONTAINS is not available for source S3"},
		{"NOT_EQUAL_TO not for Slack", "Slack", []Task{op("Filter", "NOT_EQUAL_TO", f("a"), "", "VALUE", "x"), good},
			"tasks[0] (Filter): operator NOT_EQUAL_TO is not available for source Slack"},
		{"operator for another type", "S3", []Task{good, op("Mask", "ADDITION", f("a"), "")}, "tasks[1] (Mask): operator ADDITION is not a Mask operator"},
		{"missing operator", "S3", []Task{good, op("Validate", "", f("a"), "", "VALIDATION_ACTION", "DropRecord")}, "tasks[1] (Validate): needs a connectorOperator"},
		{"Map with operator", "S3", []Task{op("Map", "MASK_ALL", f("a"), "b")}, "tasks[0] (Map): operator MASK_ALL does not apply"},
		{"MASK_LENGTH abc", "S3", []Task{good, mapT("b", "B"), mapT("c", "C"), op("Mask", "MASK_FIRST_N", f("a"), "", "MASK_LENGTH", "abc")},
			`tasks[3] (Mask): MASK_LENGTH "abc" is not a whole number`},
		{"MASK_LENGTH missing", "S3", []Task{good, op("Mask", "MASK_LAST_N", f("a"), "")}, "tasks[1] (Mask): needs MASK_LENGTH"},
		{"TRUNCATE_LENGTH negative", "S3", []Task{good, op("Truncate", "NO_OP", f("a"), "", "TRUNCATE_LENGTH", "-1")},
			`tasks[1] (Truncate): TRUNCATE_LENGTH "-1" is not a whole number`},
		{"Arithmetic 3 fields", "S3", []Task{good, op("Arithmetic", "ADDITION", f("a", "b", "c"), "a,b,c")},
			"tasks[1] (Arithmetic): ADDITION takes exactly 2 fields"},
		{"Arithmetic order names other field", "S3", []Task{good, op("Arithmetic", "ADDITION", f("a", "b"), "a,b", "MATH_OPERATION_FIELDS_ORDER", "a,c")},
			`tasks[1] (Arithmetic): MATH_OPERATION_FIELDS_ORDER names "c"`},
		{"Arithmetic no destination", "S3", []Task{good, op("Arithmetic", "ADDITION", f("a", "b"), "")},
			"tasks[1] (Arithmetic): needs a destinationField"},
		{"Merge without CONCAT_FORMAT", "S3", []Task{good, op("Merge", "NO_OP", f("a", "b"), "a,b")},
			"tasks[1] (Merge): needs CONCAT_FORMAT"},
		{"Merge bad template", "S3", []Task{good, op("Merge", "NO_OP", f("a"), "x", "CONCAT_FORMAT", "${a")},
			"tasks[1] (Merge): CONCAT_FORMAT \"${a\" has an unclosed ${"},
		{"duplicate virtual", "S3", []Task{good, op("Merge", "NO_OP", f("a"), "x", "CONCAT_FORMAT", "-"),
			op("Arithmetic", "ADDITION", f("a", "b"), "x")}, `tasks[2] (Arithmetic): destinationField "x" is already computed`},
		{"virtual cycle", "", []Task{good, op("Merge", "NO_OP", f("y"), "x", "CONCAT_FORMAT", "-"),
			op("Merge", "NO_OP", f("x"), "y", "CONCAT_FORMAT", "-")}, "tasks[1] (Merge): its inputs depend on its own result"},
		{"Map no destination", "S3", []Task{mapT("a", "")}, "tasks[0] (Map): needs a destinationField"},
		{"Map two sources", "S3", []Task{op("Map", "NO_OP", f("a", "b"), "c")}, "tasks[0] (Map): needs exactly one source field, got 2"},
		{"duplicate destination", "S3", []Task{good, mapT("b", "B"), mapT("c", "A")}, `tasks[2] (Map): destinationField "A" is already written by tasks[0]`},
		{"Validate no action", "S3", []Task{good, op("Validate", "VALIDATE_NUMERIC", f("a"), "")}, "tasks[1] (Validate): needs VALIDATION_ACTION"},
		{"Validate bad action", "S3", []Task{good, op("Validate", "VALIDATE_NUMERIC", f("a"), "", "VALIDATION_ACTION", "Explode")},
			`tasks[1] (Validate): VALIDATION_ACTION "Explode" is not`},
		{"Filter no value", "S3", []Task{good, op("Filter", "EQUAL_TO", f("a"), "")}, "tasks[1] (Filter): EQUAL_TO needs VALUE or VALUES"},
		{"Filter bad number", "S3", []Task{good, op("Filter", "GREATER_THAN", f("a"), "", "DATA_TYPE", "double", "VALUE", "ten")},
			`tasks[1] (Filter): VALUE "ten" is not a number (DATA_TYPE double)`},
		{"Filter bad datetime", "S3", []Task{good, op("Filter", "GREATER_THAN", f("a"), "", "DATA_TYPE", "datetime", "VALUE", "monday")},
			`tasks[1] (Filter): VALUE "monday" is not a datetime`},
		{"BETWEEN one bound", "S3", []Task{good, op("Filter", "BETWEEN", f("a"), "", "LOWER_BOUND", "1")},
			"tasks[1] (Filter): BETWEEN needs LOWER_BOUND and UPPER_BOUND"},
		{"Filter two fields", "S3", []Task{good, op("Filter", "EQUAL_TO", f("a", "b"), "", "VALUE", "1")},
			"tasks[1] (Filter): a EQUAL_TO filter needs exactly one source field, got 2"},
		{"empty projection", "S3", []Task{good, op("Filter", "PROJECTION", nil, "")}, "tasks[1] (Filter): PROJECTION needs the fields"},
		{"bad VALUES JSON", "S3", []Task{good, op("Filter", "EQUAL_TO", f("a"), "", "VALUES", "[1,")}, "tasks[1] (Filter): VALUES \"[1,\" is not a JSON array"},
		{"two Map_all", "S3", []Task{op("Map_all", "", nil, ""), op("Map_all", "", nil, "")}, "tasks[1] (Map_all): only one Map_all"},
		{"bad exclude list", "S3", []Task{op("Map_all", "", nil, "", "EXCLUDE_SOURCE_FIELDS_LIST", `[{"a":1}]`)},
			"tasks[0] (Map_all): EXCLUDE_SOURCE_FIELDS_LIST"},
		{"partition key not an output", "S3", []Task{good, op("Partition", "NO_OP", nil, "", "ORDERED_PARTITION_KEYS_LIST", `["B"]`)},
			`tasks[1] (Partition): partition key "B" is not a destination field`},
		{"partition without keys", "S3", []Task{good, op("Partition", "NO_OP", nil, "")}, "tasks[1] (Partition): needs ORDERED_PARTITION_KEYS_LIST"},
		{"nothing written", "S3", []Task{op("Filter", "PROJECTION", f("a"), "")}, "no Map, Map_all or Passthrough task"},
		{"Amplitude has no NO_OP", "Amplitude", []Task{op("Map", "NO_OP", f("a"), "b")}, "operator NO_OP is not available for source Amplitude"},
		// The ConnectorType spelling (not the union key GoogleAnalytics)
		// finds the list.
		{"Googleanalytics has no EQUAL_TO", "Googleanalytics", []Task{op("Map", "", f("a"), "b"),
			op("Filter", "EQUAL_TO", f("a"), "", "VALUE", "1")}, "operator EQUAL_TO is not available for source Googleanalytics (it offers PROJECTION, BETWEEN)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.tasks, sourceOpts(tc.source))
			if err == nil {
				t.Fatalf("Compile succeeded, want error containing %q", tc.want)
			}
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("code = %v, want Invalid", fault.CodeOf(err))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to contain %q", err.Error(), tc.want)
			}
		})
	}
}

func TestCompileAcceptsSpecExamples(t *testing.T) {
	// Spec §2.5 A and C, and Map tasks without operator (Amplitude).
	tests := map[string]struct {
		source string
		tasks  []Task
	}{
		"A": {"Salesforce", []Task{
			op("Filter", "PROJECTION", f("Id", "Name", "Phone"), ""),
			mapT("Id", "Id", "SOURCE_DATA_TYPE", "id", "DESTINATION_DATA_TYPE", "id"),
			mapT("Name", "Name", "SOURCE_DATA_TYPE", "string", "DESTINATION_DATA_TYPE", "string"),
			mapT("Phone", "Phone", "SOURCE_DATA_TYPE", "phone", "DESTINATION_DATA_TYPE", "phone"),
			op("Validate", "VALIDATE_NON_NULL", f("Id"), "", "VALIDATION_ACTION", "DropRecord"),
			op("Mask", "MASK_LAST_N", f("Phone"), "", "MASK_LENGTH", "5", "MASK_VALUE", "*"),
		}},
		"C": {"S3", []Task{
			op("Filter", "PROJECTION", f("First", "Last", "Net", "Tax"), ""),
			op("Merge", "NO_OP", f("First", "Last"), "First,Last", "CONCAT_FORMAT", "${First} ${Last}"),
			mapT("First,Last", "FullName"),
			op("Arithmetic", "ADDITION", f("Net", "Tax"), "Net,Tax", "MATH_OPERATION_FIELDS_ORDER", "Net,Tax"),
			mapT("Net,Tax", "Gross", "SOURCE_DATA_TYPE", "string", "DESTINATION_DATA_TYPE", "double"),
		}},
		"Amplitude": {"Amplitude", []Task{
			op("Filter", "BETWEEN", f("t"), "", "DATA_TYPE", "datetime", "LOWER_BOUND", "1", "UPPER_BOUND", "2"),
			op("Map", "", f("a"), "b"),
		}},
	}
	for name, tc := range tests {
		if _, err := Compile(tc.tasks, sourceOpts(tc.source)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// ---- concurrency ----

func TestApplyConcurrently(t *testing.T) {
	p := mustCompile(t, benchTasks(), Options{SourceConnector: "S3", SourceOperators: sourceOpts("S3").SourceOperators, TypedDestination: true})
	in := benchBatch(1000)
	want, _, _ := apply(t, p, in)
	wantCells := append([]record.Value(nil), want.Cells...)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := &record.Batch{}
			for k := 0; k < 20; k++ {
				if _, _, err := p.Apply(in, out); err != nil {
					errs <- err.Error()
					return
				}
				if !equalCells(wantCells, out.Cells) {
					errs <- "output differs under concurrency"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func equalCells(a, b []record.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestApplyCarriesBatchMetadata(t *testing.T) {
	p := mustCompile(t, []Task{op("Filter", "EQUAL_TO", f("a"), "", "VALUE", "nope"), mapT("a", "a")}, Options{})
	in := strBatch(f("a"), f("x"))
	in.Final, in.SourceBytes, in.FirstLine = true, 99, 7
	out, st, _ := apply(t, p, in)
	if out.Len() != 0 || !out.Final || out.SourceBytes != 99 || out.FirstLine != 7 || out.Split != "in/data.csv" {
		t.Errorf("out = %+v, want empty with Final, SourceBytes 99, FirstLine 7, Split", out)
	}
	if st != (Stats{In: 1, Filtered: 1}) {
		t.Errorf("stats = %+v", st)
	}
}

// ---- benchmark: the bench workload (bench/appflowd_flow.sh) ----

func benchTasks() []Task {
	m := func(src, dst, typ string) Task { return mapT(src, dst, "DESTINATION_DATA_TYPE", typ) }
	return []Task{
		op("Filter", "PROJECTION", f("id", "name", "email", "amount", "created_at", "country"), ""),
		op("Filter", "GREATER_THAN", f("amount"), "", "DATA_TYPE", "double", "VALUE", "100"),
		op("Mask", "MASK_FIRST_N", f("email"), "", "MASK_LENGTH", "5", "MASK_VALUE", "*"),
		op("Arithmetic", "ADDITION", f("amount", "amount"), "amount,amount", "MATH_OPERATION_FIELDS_ORDER", "amount,amount"),
		m("id", "customer_id", "bigint"), m("name", "full_name", "string"), m("email", "email_masked", "string"),
		m("amount,amount", "amount_x2", "double"), m("created_at", "created_at", "string"), m("country", "country_code", "string"),
	}
}

// benchBatch makes rows like bench/gen_data.go: amount uniform in [0, 1000).
func benchBatch(n int) *record.Batch {
	countries := f("US", "DE", "FR", "GB", "JP", "BR", "IN", "CA")
	b := &record.Batch{Fields: f("id", "name", "email", "amount", "created_at", "country"), Split: "data.csv", FirstLine: 2}
	x := uint64(42)
	next := func() uint64 { // splitmix64
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	for i := 0; i < n; i++ {
		r := next()
		b.Cells = append(b.Cells,
			record.Str(fmt.Sprint(i+1)),
			record.Str(fmt.Sprintf("Name %d", r%100000)),
			record.Str(fmt.Sprintf("user%d@example.com", r%1000000)),
			record.Str(fmt.Sprintf("%d.%02d", (r>>20)%1000, (r>>40)%100)),
			record.Str(time.Unix(1577836800+int64(r%157766400), 0).UTC().Format(time.RFC3339)),
			record.Str(countries[(r>>8)%uint64(len(countries))]),
		)
	}
	return b
}

func benchmarkApply(b *testing.B, typed bool) {
	p, err := Compile(benchTasks(), Options{SourceConnector: "S3", SourceOperators: sourceOpts("S3").SourceOperators, TypedDestination: typed})
	if err != nil {
		b.Fatal(err)
	}
	runApply(b, p, benchBatch(100_000))
}

// runApply applies p to in b.N times and reports the CPU time, wall time
// and allocations per row.
func runApply(b *testing.B, p *Program, in *record.Batch) {
	out := &record.Batch{}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := p.Apply(in, out); err != nil {
			b.Fatal(err)
		}
		if out.Release != nil { // as the engine does once the batch is written
			out.Release()
			out.Release = nil
		}
	}
	b.StopTimer()
	// CPU time is steadier than wall time on a shared, loaded machine.
	rowsRun := float64(b.N * in.Len())
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/rowsRun, "cpu-ns/row")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/rowsRun, "ns/row")
	b.ReportMetric(rowsRun/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() { p.Apply(in, out) }))/float64(in.Len()), "allocs/row")
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkApplyBenchWorkload(b *testing.B)      { benchmarkApply(b, false) }
func BenchmarkApplyBenchWorkloadTyped(b *testing.B) { benchmarkApply(b, true) }

// csvBatch makes a batch as the S3 CSV reader hands one to the engine for
// the bench flow: String cells over one text buffer, marked PlainText, with
// values like bench/peers/gendata's.
func csvBatch(n int) *record.Batch {
	names := f("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gil", "Hana", "Ivo", "Jane", "Kai", "Lena")
	domains := f("example.com", "corp.example.com", "post.example.de", "webmail.example.io")
	countries := f("US", "DE", "FR", "GB", "JP", "BR", "IN", "CA")
	x := uint64(7)
	next := func(k int) int {
		x = x*6364136223846793005 + 1442695040888963407
		return int((x >> 33) % uint64(k))
	}
	var text []byte
	var ends []int
	for i := 0; i < n; i++ {
		first, last := names[next(len(names))], names[next(len(names))]
		cents := next(100000)
		for _, v := range []string{fmt.Sprint(i + 1), first + " " + last,
			strings.ToLower(first+"."+last) + fmt.Sprint(next(10000)) + "@" + domains[next(len(domains))],
			fmt.Sprintf("%d.%02d", cents/100, cents%100),
			time.Unix(1577836800+int64(next(157766400)), 0).UTC().Format(time.RFC3339), countries[next(len(countries))]} {
			text = append(text, v...)
			ends = append(ends, len(text))
		}
	}
	s := string(text)
	b := &record.Batch{Fields: f("id", "name", "email", "amount", "created_at", "country"), Split: "data.csv", FirstLine: 2}
	start := 0
	for _, e := range ends {
		b.Cells = append(b.Cells, record.PlainStr(s[start:e]))
		start = e
	}
	return b
}

// BenchmarkApplyCSVBatch is the bench flow's program (typed, as for an S3
// destination with preserveSourceDataTyping) on a batch like the CSV
// reader's, applied again and again as the engine applies each new one.
func BenchmarkApplyCSVBatch(b *testing.B) {
	p, err := Compile(benchTasks(), Options{SourceConnector: "S3", TypedDestination: true})
	if err != nil {
		b.Fatal(err)
	}
	runApply(b, p, csvBatch(1024))
}

// jsonBatch is csvBatch as the S3 JSON Lines reader gives it: ids as Int,
// amounts as Decimal with their parsed number (record.DecimalNum).
func jsonBatch(n int) *record.Batch {
	b := csvBatch(n)
	for i := 0; i < b.Len(); i++ {
		row := b.Row(i)
		id, _ := strconv.ParseInt(row[0].S, 10, 64)
		row[0] = record.IntVal(id)
		d, _ := parseDec(row[3].S)
		row[3] = record.DecimalNum(row[3].S, d.m, int(d.s))
	}
	return b
}

// BenchmarkApplyJSONBatch is BenchmarkApplyCSVBatch over jsonBatch.
func BenchmarkApplyJSONBatch(b *testing.B) {
	p, err := Compile(benchTasks(), Options{SourceConnector: "S3", TypedDestination: true})
	if err != nil {
		b.Fatal(err)
	}
	runApply(b, p, jsonBatch(1024))
}

// An Arithmetic result read only by integer/double conversions is kept as a
// number, not text; a field a Filter parsed is not parsed again. Results must
// be the same as through text, including where the number path gives up
// (beyond 2^53, not integral) and where the same result is also read as text.
func TestNumbersParsedOnceGiveTheTextResults(t *testing.T) {
	in := strBatch(f("a", "b"),
		[]string{"632.50", "1"},
		[]string{"100", "2"},
		[]string{"4503599627370496.5", "3"},
		[]string{" 7 ", "4"},
		[]string{"", "5"},
		[]string{"x", "6"},
		[]string{"-0.25", "7"},
		[]string{"1e3", "8"},
	)
	filter := op("Filter", "GREATER_THAN", f("a"), "", "DATA_TYPE", "double", "VALUE", "-1")
	sum := op("Arithmetic", "ADDITION", f("a", "a"), "a,a", "MATH_OPERATION_FIELDS_ORDER", "a,a")
	numOnly := mustCompile(t, []Task{filter, sum,
		mapT("a,a", "d", "DESTINATION_DATA_TYPE", "double"), mapT("a,a", "i", "DESTINATION_DATA_TYPE", "integer"),
		mapT("a", "ad", "DESTINATION_DATA_TYPE", "double")}, Options{TypedDestination: true})
	withText := mustCompile(t, []Task{filter, sum,
		mapT("a,a", "d", "DESTINATION_DATA_TYPE", "double"), mapT("a,a", "i", "DESTINATION_DATA_TYPE", "integer"),
		mapT("a", "ad", "DESTINATION_DATA_TYPE", "double"), mapT("a,a", "s")}, Options{TypedDestination: true})
	got, _, gotErrs := apply(t, numOnly, in)
	want, _, wantErrs := apply(t, withText, in)
	var trimmed [][]string
	for _, r := range rows(want) {
		trimmed = append(trimmed, r[:3])
	}
	if diff := cmp.Diff(trimmed, rows(got)); diff != "" {
		t.Errorf("number-only rows differ from text rows (-text +number):\n%s", diff)
	}
	if diff := cmp.Diff(wantErrs, gotErrs); diff != "" {
		t.Errorf("record errors differ (-text +number):\n%s", diff)
	}
	if len(rows(got)) == 0 || rows(want)[0][3] != "decimal:1265.00" {
		t.Errorf("rows %v", rows(want))
	}
}

// sourceOpts are the Options of a flow from source typ, with the
// operators the catalog lists for it ("" or an unknown type: every one).
func sourceOpts(typ string) Options {
	for _, c := range catalog.Builtin() {
		if c.Type == typ {
			return Options{SourceConnector: typ, SourceOperators: c.Operators}
		}
	}
	return Options{SourceConnector: typ}
}

// numTexts are numbers and near-numbers at the edges of the fast paths.
var numTexts = []string{"0", "-0", "+0", "7", "+7", "-7", "632.50", "100", "100.00", "100.001", "-100.5", ".5", "5.", "-.5",
	"", ".", "-", "+", "-.", "1.2.3", "1..2", "1e3", "1E-2", " 7", "7 ", "\t3", "abc", "0x10", "1_000", "٣", "--1",
	"123456789012345678", "1234567890123456789", "-123456789012345678", "12345678901234567.8", "0.123456789012345678",
	"0.0000000000000000001", "0.000000000000000001", "000000000000000000001", "00000000000000000000123.4500",
	"999999999999999999", "1000000000000000000", "9223372036854775807", "123456789012345678901234567890.5",
	"4503599627370496.5", "9007199254740993", "99999999999999999.99"}

// parseDec's short-text loop gives what the digit-counting one does.
func TestParseDecShortAndLongAgree(t *testing.T) {
	texts := append([]string(nil), numTexts...)
	const alphabet = "0123456789.-+e "
	x := uint64(1)
	for i := 0; i < 20000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		n := int(x>>59) % 21
		b := make([]byte, n)
		for j := range b {
			x = x*6364136223846793005 + 1442695040888963407
			b[j] = alphabet[(x>>33)%uint64(len(alphabet))]
		}
		texts = append(texts, string(b))
	}
	for _, s := range texts {
		i, neg := 0, false
		if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
			i, neg = 1, s[0] == '-'
		}
		got, gotOK := parseDec(s)
		want, wantOK := parseDecLong(s, i, neg)
		if got != want || gotOK != wantOK {
			t.Errorf("parseDec(%q) = %v, %v; the long way gives %v, %v", s, got, gotOK, want, wantOK)
		}
	}
}

// A numeric Filter's precomputed VALUE keeps the rows the general
// comparison keeps, for every operator, on both sides of every scale.
func TestDecConstMatchesCmpNumber(t *testing.T) {
	for _, op := range []filterOp{opLT, opGT, opLTE, opGTE, opEQ, opNE} {
		for _, cs := range []string{"100", "100.5", "-1e2", "0.001", "0", "-7", "999999999999999999", "0.000000000000000001"} {
			c, ok := parseNumberText(cs, new(apd.Decimal))
			if !ok || c.big != nil {
				continue
			}
			k := newDecConst(c.d, op)
			for _, s := range numTexts {
				x, ok := parseDec(s)
				if !ok {
					continue
				}
				n := number{d: x}
				if got, want := k.match(x), hit(op, cmpNumber(&n, &c)); got != want {
					t.Errorf("op %d VALUE %s: %q matches %v, want %v", op, cs, s, got, want)
				}
			}
		}
	}
}

// Mask and Truncate keep a string's PlainText mark only when their result
// needs no JSON escaping either, so the JSON writer's output is the same.
func TestEditKeepsPlainTextOnlyWhenPlain(t *testing.T) {
	for _, tc := range []struct {
		task  Task
		in    record.Value
		plain bool
	}{
		{op("Mask", "MASK_FIRST_N", f("e"), "", "MASK_LENGTH", "2"), record.PlainStr("josé@x"), true},
		{op("Mask", "MASK_FIRST_N", f("e"), "", "MASK_LENGTH", "2"), record.Str("josé@x"), false},
		{op("Mask", "MASK_FIRST_N", f("e"), "", "MASK_LENGTH", "2", "MASK_VALUE", `"`), record.PlainStr("abc"), false},
		{op("Mask", "MASK_LAST_N", f("e"), "", "MASK_LENGTH", "9", "MASK_VALUE", "é"), record.PlainStr("日本語"), true},
		{op("Mask", "MASK_ALL", f("e"), "", "MASK_VALUE", "\t"), record.PlainStr("ab"), false},
		{op("Mask", "MASK_FIRST_N", f("e"), "", "MASK_LENGTH", "0"), record.PlainStr("ab"), true},
		{op("Truncate", "NO_OP", f("e"), "", "TRUNCATE_LENGTH", "1"), record.PlainStr("日本"), true},
		{op("Mask", "MASK_FIRST_N", f("e"), "", "MASK_LENGTH", "1"), record.IntVal(42), false},
	} {
		p := mustCompile(t, []Task{tc.task, mapT("e", "e")}, Options{})
		in := &record.Batch{Fields: f("e"), Cells: []record.Value{tc.in}}
		out, _, _ := apply(t, p, in)
		got := out.Cells[0]
		if (got.N == record.PlainText) != tc.plain {
			t.Errorf("%s %v of %q: got %+v, want plain %v", tc.task.Operator, tc.task.Properties, tc.in.S, got, tc.plain)
		}
		plainJSON := record.AppendJSON(nil, got)
		got.N = 0
		if want := record.AppendJSON(nil, got); string(plainJSON) != string(want) {
			t.Errorf("%s of %q: JSON %s, want %s", tc.task.Operator, tc.in.S, plainJSON, want)
		}
	}
}

// A typed Map column that takes a row's parsed number gets what converting
// the text would give.
func TestDecAsMatchesConvert(t *testing.T) {
	for _, s := range numTexts {
		d, ok := parseDec(s)
		if !ok {
			continue
		}
		for _, c := range []typeClass{classInt, classFloat, classDecimal, classString} {
			got, ok := decAs(d, c)
			if !ok {
				continue
			}
			want, reason := convert(record.Str(s), c, nil, new(apd.Decimal))
			if reason != "" || got != want {
				t.Errorf("%q as class %d: %v, want %v (%s)", s, c, got, want, reason)
			}
		}
	}
}

func TestASCIIPrefix(t *testing.T) {
	for _, s := range []string{"", "abc", "abcdefgh", "abcdefghij", "é", "abcdefgé", "éabcdefgh", "abcd\x80efgh", "日本語のメール@example.jp"} {
		for n := 0; n <= len(s); n++ {
			if got, want := asciiPrefix(s, n), isASCII(s[:n]); got != want {
				t.Errorf("asciiPrefix(%q, %d) = %v, want %v", s, n, got, want)
			}
		}
	}
}

// MASK_FIRST_N, whichever way it takes (one 8-byte store of a short mask,
// or rune by rune), gives the mask repeated for the first N runes and the
// rest as it was, and keeps PlainText only when the input and mask have it.
func TestMaskFirstNMatchesRunes(t *testing.T) {
	masks := []string{"*", "#-", "abcd", "12345678", "é", `"`, "xyzxyzxyz"}
	texts := []string{"", "a", "abcdefg", "abcdefgh", "john@example.com", "Zoë née", "日本語のテキスト", "ab\"cdefghij", "é1234567890"}
	x := uint64(3)
	for range 300 {
		var b []byte
		x = x*6364136223846793005 + 1442695040888963407
		for range int(x>>59) % 14 {
			x = x*6364136223846793005 + 1442695040888963407
			b = append(b, "abcXYZ019@.é日\""[(x>>33)%16])
		}
		if utf8.Valid(b) {
			texts = append(texts, string(b))
		}
	}
	for _, mask := range masks {
		for n := 0; n <= 9; n++ {
			p := mustCompile(t, []Task{op("Mask", "MASK_FIRST_N", f("e"), "", "MASK_LENGTH", fmt.Sprint(n), "MASK_VALUE", mask), mapT("e", "e")}, Options{})
			for _, s := range texts {
				for _, plain := range []bool{false, true} {
					in := record.Str(s)
					if plain {
						in = record.PlainStr(s)
					}
					out, _, _ := apply(t, p, &record.Batch{Fields: f("e"), Cells: []record.Value{in}})
					runes := []rune(s)
					k := min(n, len(runes))
					want := strings.Repeat(mask, k) + string(runes[k:])
					got := out.Cells[0]
					wantPlain := plain && (k == 0 || (utf8.ValidString(mask) && record.JSONStop(mask, 0) == len(mask)))
					if got.K != record.String || got.S != want || (got.N == record.PlainText) != wantPlain {
						t.Errorf("mask %q n %d of %q (plain %v): got %+v, want %q plain %v", mask, n, s, plain, got, want, wantPlain)
					}
				}
			}
		}
	}
}

// A Map conversion gives what convert gives for every kind of value, the
// ones fill passes on without calling it (of the kind the conversion keeps,
// Missing and Null) included.
func TestMapConvertsEveryKindAsConvert(t *testing.T) {
	values := []record.Value{{}, record.NullVal(), record.Str("12"), record.PlainStr("x"), record.Str(""),
		record.IntVal(-3), record.FloatVal(2.5), record.BoolVal(true), record.DecimalVal("12.50"),
		record.MillisVal(1612148400000), record.JSONVal(`{"a":1}`)}
	for _, typ := range []string{"string", "bigint", "double", "decimal", "boolean", "datetime", "other"} {
		p := mustCompile(t, []Task{mapT("x", "y", "DESTINATION_DATA_TYPE", typ)}, Options{TypedDestination: true})
		for _, v := range values {
			out, _, errs := apply(t, p, &record.Batch{Fields: f("x"), Cells: []record.Value{v}, Split: "s", FirstLine: 1})
			want, reason := convert(v, classify(typ), nil, new(apd.Decimal))
			if reason != "" {
				if len(errs) != 1 || !strings.HasPrefix(errs[0].Reason, reason) {
					t.Errorf("%s of %v: errors %+v, want %q", typ, v, errs, reason)
				}
				continue
			}
			if len(errs) != 0 || out.Len() != 1 || out.Cells[0] != want {
				t.Errorf("%s of %v: %v (errors %+v), want %v", typ, v, out.Cells, errs, want)
			}
		}
	}
}

// A Decimal that carries its value (record.DecimalNum, from the JSON
// reader) gives the rows and errors its text alone gives.
func TestDecimalNumGivesTheTextResults(t *testing.T) {
	p := mustCompile(t, benchTasks(), Options{SourceConnector: "S3", TypedDestination: true})
	texts := []struct {
		s     string
		m     int64
		scale int
	}{{"632.50", 63250, 2}, {"100.00", 10000, 2}, {"100.01", 10001, 2}, {"-0.5", -5, 1}, {"99.999", 99999, 3}, {"1234567890.123456", 1234567890123456, 6}}
	var withNum, textOnly record.Batch
	for _, b := range []*record.Batch{&withNum, &textOnly} {
		b.Fields, b.Split, b.FirstLine = f("id", "name", "email", "amount", "created_at", "country"), "s", 1
	}
	for i, x := range texts {
		row := []record.Value{record.IntVal(int64(i)), record.Str("n"), record.Str("someone@example.com"), {}, record.Str("2020-01-01T00:00:00Z"), record.Str("US")}
		row[3] = record.DecimalNum(x.s, x.m, x.scale)
		withNum.AppendRow(row)
		row[3] = record.DecimalVal(x.s)
		textOnly.AppendRow(row)
	}
	got, gotSt, gotErrs := apply(t, p, &withNum)
	want, wantSt, wantErrs := apply(t, p, &textOnly)
	if diff := cmp.Diff(rows(want), rows(got)); diff != "" || gotSt != wantSt || cmp.Diff(wantErrs, gotErrs) != "" {
		t.Errorf("rows (-text +num):\n%s\nstats %+v, %+v; errors %+v, %+v", diff, wantSt, gotSt, wantErrs, gotErrs)
	}
	if len(rows(got)) != 3 {
		t.Errorf("%d rows, want 3: %v", len(rows(got)), rows(got))
	}
}

// An output batch's Release hands its arena memory back for later batches'
// strings; the strings of a batch not released never change, however many
// batches are made and released beside it, on several goroutines at once.
func TestReleasedOutputsLeaveOthersIntact(t *testing.T) {
	p := mustCompile(t, benchTasks(), Options{SourceConnector: "S3", TypedDestination: true})
	in := csvBatch(2000) // ~60 KiB of masked emails: each batch takes most of a chunk
	want := rows(mustApply(t, p, in))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			var kept []*record.Batch
			for i := 0; i < 40; i++ {
				out := &record.Batch{}
				if _, _, err := p.Apply(in, out); err != nil {
					t.Error(err)
					return
				}
				if out.Release == nil {
					t.Error("an output with masked strings has no Release")
					return
				}
				if i%3 == 0 {
					kept = append(kept, out)
					continue
				}
				out.Release()
			}
			for _, out := range kept {
				if got := rows(out); !slices.EqualFunc(got, want, slices.Equal) {
					t.Error("a batch not released changed")
					return
				}
				out.Release()
			}
		})
	}
	wg.Wait()
	// A batch without strings of the arena's has nothing to hand back.
	out := mustApply(t, mustCompile(t, []Task{mapT("id", "x")}, Options{}), in)
	if out.Release != nil {
		t.Error("an output without arena strings has a Release")
	}
}

func mustApply(t *testing.T, p *Program, in *record.Batch) *record.Batch {
	t.Helper()
	out, _, _ := apply(t, p, in)
	return out
}
