package s3conn

import (
	"reflect"
	"testing"
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
