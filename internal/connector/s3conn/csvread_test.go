package s3conn

import (
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/appflowd/appflowd/internal/record"
)

// csvPlainRow is a shortcut: wherever it takes a record, csvParse must
// read the same fields and end, and the record must be UTF-8 and plain.
func FuzzCSVPlainRow(f *testing.F) {
	for _, s := range []string{"a,b,c\n", "a,b\r\nc", "x\n", "\n", "\r\n", "a,\"b\"\n", "caf\xc3\xa9,1\n", "a\rb\n", "a\tb,c\n",
		"0123456789,abcdefghij,klmnopqrstu,\n", "na\xc3\xafve,\xe2\x82\xac12345678,\xf0\x9f\x98\x80\n", "01234567\xe9,x\n", "0\xe2\x82,1\n", "0123456,\n", "01234567\r\n", "0123456\r\n", "a,b\\c\n", ",,,,,,,,,,,\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for pos := range min(len(s), 3) {
			got, next, ok := csvPlainRow(s, pos, nil)
			if !ok {
				continue
			}
			want, wnext, nl, st, _ := csvParse(s, pos, false, nil)
			if st != csvRecord || nl != 1 || wnext != next || !reflect.DeepEqual(got, want) {
				t.Fatalf("csvPlainRow(%q, %d) = %q, %d; csvParse gives %q, %d, %d lines, status %d", s, pos, got, next, want, wnext, nl, st)
			}
			if raw := s[pos:next]; !utf8.ValidString(raw) || csvPlain(raw) != record.PlainText {
				t.Fatalf("csvPlainRow took %q, which is not plain UTF-8", raw)
			}
		}
	})
}

// FuzzCSVPlainCells checks the reader's cell-writing fast path against
// csvPlainRow: the same record, cut the same way, whenever the row has the
// header's width and is not blank; and no record otherwise.
func FuzzCSVPlainCells(f *testing.F) {
	for _, s := range []string{"a,b,c\n", "a,b\r\nc", "x\n", "\n", "\r\n", "a,\"b\"\n", "caf\xc3\xa9,1\n", "a\rb\n", "a\tb,c\n",
		"0123456789,abcdefghij,klmnopqrstu,\n", "na\xc3\xafve,\xe2\x82\xac12345678,\xf0\x9f\x98\x80\n", "01234567\xe9,x\n", "0\xe2\x82,1\n", "0123456,\n", "01234567\r\n", "0123456\r\n", "a,b\\c\n", ",,,,,,,,,,,\n"} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, s string, w uint8) {
		width := int(w%8) + 1
		for pos := range min(len(s), 3) {
			row := make([]record.Value, width)
			next, ok := csvPlainCells(s, pos, row)
			fields, wnext, wok := csvPlainRow(s, pos, nil)
			want := wok && len(fields) == width && !isBlankLine(s[pos:wnext])
			if ok != want {
				t.Fatalf("csvPlainCells(%q, %d, width %d) ok %v; csvPlainRow gives %q, %v", s, pos, width, ok, fields, wok)
			}
			if !ok {
				continue
			}
			if next != wnext {
				t.Fatalf("csvPlainCells(%q, %d) next %d, csvPlainRow %d", s, pos, next, wnext)
			}
			for i, f := range fields {
				if row[i] != record.PlainStr(f) {
					t.Fatalf("csvPlainCells(%q, %d) cell %d = %v, want %q", s, pos, i, row[i], f)
				}
			}
		}
	})
}
