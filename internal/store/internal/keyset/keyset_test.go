package keyset

import (
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, key := range [][]string{{"a"}, {"", "x"}, {"1700000000000000", "exec/ü\"'"}} {
		got, err := Decode(Encode(key...), len(key))
		if err != nil {
			t.Fatalf("Decode(Encode(%q)): %v", key, err)
		}
		if len(got) != len(key) {
			t.Fatalf("got %q, want %q", got, key)
		}
		for i := range key {
			if got[i] != key[i] {
				t.Fatalf("got %q, want %q", got, key)
			}
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, c := range []string{"%%%", Encode("a", "b"), "bm90IGpzb24"} {
		_, err := Decode(c, 1)
		if fault.CodeOf(err) != fault.Invalid {
			t.Errorf("Decode(%q): got %v, want an Invalid fault", c, err)
		}
	}
	if key, err := Decode("", 2); key != nil || err != nil {
		t.Errorf("Decode(\"\"): got %q, %v, want nil, nil", key, err)
	}
}

func TestTime(t *testing.T) {
	in := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	got := Time(in)
	want := time.Date(2024, 5, 6, 6, 8, 9, 123456000, time.UTC)
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("Time: got %v, want %v", got, want)
	}
	if back := FromMicros(Micros(got)); !back.Equal(got) {
		t.Fatalf("FromMicros(Micros): got %v, want %v", back, got)
	}
	if Time(time.Time{}).IsZero() {
		t.Fatal("Time(zero) stayed zero, want now")
	}
}
