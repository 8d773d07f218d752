package s3conn

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/record"
)

// expectedKey matches a key with its colon in one word when it is short and
// by text when long or near the line's end; a key that merely starts like
// the expected one, or is spaced from its colon, must still read right.
func TestReadJSONLinesExpectedKeys(t *testing.T) {
	in := `{"a":1,"ab":2,"a_long_key_name":3}` + "\n" +
		`{"ab":4,"a":5}` + "\n" +
		`{"a" :6,"ab": 7,"a_long_key_name" : 8}` + "\n" +
		`{"a":9}` + "\n" +
		`{"abc":10,"a_long_key_name_2":11,"a_long_key_name":12}` + "\n"
	fields, rows, err := parse(t, "JSON", in)
	if err != nil {
		t.Fatal(err)
	}
	wantFields := []string{"a", "ab", "a_long_key_name", "abc", "a_long_key_name_2"}
	want := [][]string{
		{"int:1", "int:2", "int:3", "<missing>", "<missing>"},
		{"int:5", "int:4", "<missing>", "<missing>", "<missing>"},
		{"int:6", "int:7", "int:8", "<missing>", "<missing>"},
		{"int:9", "<missing>", "<missing>", "<missing>", "<missing>"},
		{"<missing>", "<missing>", "int:12", "int:10", "int:11"},
	}
	if !reflect.DeepEqual(fields, wantFields) || !reflect.DeepEqual(rows, want) {
		t.Fatalf("got %q\n%q\nwant %q\n%q", fields, rows, wantFields, want)
	}
}

// FuzzJSONCompact checks parseLine's one-pass path against parseObject: a
// line compact takes, parseObject reads without error to the same cells.
// first sets the fields (as an earlier line would), proj a projection.
func FuzzJSONCompact(f *testing.F) {
	for _, s := range [][3]string{
		{`{"a":1,"b":"x"}`, `{"a":-12,"b":"yz"}`, ""},
		{`{"a":1,"b":"x"}`, `{"a":01,"b":"x"}`, ""},
		{`{"a":1,"b":"x"}`, `{"a":1.5e3,"b":true}` + " \r", ""},
		{`{"a":1,"b":"x"}`, `{"a":-0,"b":null}`, ""},
		{`{"a":1,"b":"x"}`, `{"a":1234567890123456789,"b":false}`, ""},
		{`{"a":1,"b":"x"}`, `{"a":"caf` + "\xc3\xa9" + `","b":"\n"}`, ""},
		{`{"a":1,"b":"x"}`, `{"a":1,"b":"x","c":2}`, ""},
		{`{"a":1}`, `{"a":1,"a":2}`, "a,a"},
		{`{"long_field_name":1,"b":"x"}`, `{"long_field_name":"0123456789abcdef","b":[1]}`, "b,long_field_name"},
		{`{"amount":1,"created_at":"x","c":0}`, `{"amount":632.50,"created_at":"2020-09-02T16:57:42Z","c":-0.5e1}`, ""},
		{`{"amount":1,"created_at":"x"}`, `{"amount":1.,"created_at":"x"}`, ""},
		{`{"amount":1,"created_at":"x"}`, `{"amount":-00.5,"created_at":"x"}`, ""},
		{`{"amount":1,"created_at":"x"}`, `{"amount":12345678901234567890.5,"created_at":"x"}`, ""},
		{`{"amount":1,"created_at":"x"}`, `{"amounT":1,"created_aT":"x"}`, ""},
		{`{"amount":1,"b":2}`, `{"amount":-0.000000000000001,"b":1234567890.123456}`, ""},
		{`{"amount":1,"b":2}`, `{"amount":0.1234567890123456,"b":1234567890.1234567}`, ""},
		{`{"amount":1,"b":2}`, `{"amount":-9999999999999999.0,"b":-0.0}`, ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, first, line, proj string) {
		var fields []string
		if proj != "" {
			fields = strings.Split(proj, ",")
		}
		p := newJSONRow("k", fields)
		p.width = len(p.fields)
		p.maxRows = 4
		p.cells = make([]record.Value, 0, 4*max(p.width, 1))
		if p.parseLine(first, 1) != nil {
			return
		}
		p.rows++
		base := len(p.cells)
		p.s, p.i, p.line, p.high = line, 0, 2, false
		// The reader runs compact on the rest of its buffer: it must stop
		// at the line break, where it stops on the line alone.
		end, ok := p.compact(line+"\n"+first, 0)
		end2, ok2 := p.compact(line, 0)
		if ok != ok2 || end != end2 {
			t.Fatalf("compact(%q) = %d, %v; on the line alone %d, %v", line, end, ok, end2, ok2)
		}
		if !ok || end != len(line) {
			return
		}
		got := slices.Clone(p.cells[base : base+p.width])
		p.s, p.i, p.high = line, 0, false
		if err := p.parseObject(); err != nil {
			t.Fatalf("compact takes %q, parseObject fails: %v", line, err)
		}
		if p.high {
			t.Fatalf("compact takes %q, which has non-ASCII strings", line)
		}
		if want := p.cells[base:]; !slices.Equal(got, want) {
			t.Fatalf("compact reads %q as %v, parseObject as %v", line, got, want)
		}
		for _, v := range got {
			checkDecimalParts(t, v)
		}
	})
}

// checkDecimalParts checks that a Decimal's stored value, if it has one,
// is its text's: the digits without the '.', scaled by those after it.
func checkDecimalParts(t *testing.T, v record.Value) {
	t.Helper()
	m, scale, ok := v.DecimalParts()
	if !ok {
		return
	}
	text := v.S
	wantScale := 0
	if i := strings.IndexByte(text, '.'); i >= 0 {
		wantScale = len(text) - i - 1
		text = text[:i] + text[i+1:]
	}
	want, err := strconv.ParseInt(text, 10, 64)
	if err != nil || m != want || int(scale) != wantScale {
		t.Fatalf("decimal %q holds %d scale %d, want %d scale %d (%v)", v.S, m, scale, want, wantScale, err)
	}
}
