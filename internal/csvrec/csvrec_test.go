package csvrec

import (
	"reflect"
	"testing"
)

func TestReadAll(t *testing.T) {
	got, err := ReadAll([]byte("\ufeffa,b\n\"x\r\ny\",\"q\"\"\"\r\n,\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b"}, {"x\r\ny", `q"`}, {"", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"a\n\"open", "a\nx\"y\n", "\"a\"b\n"} {
		if _, err := ReadAll([]byte(bad)); err == nil {
			t.Errorf("%q parsed without an error", bad)
		}
	}
}
