package parquetfile

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The table finds every value it was given, through its growths, and
// nothing else; values that differ only in the middle (e-mail addresses
// of one length and domain) spread over the table instead of sharing a
// hash.
func TestStrTable(t *testing.T) {
	var tab strTable
	var vals []string
	tags := map[uint64]bool{}
	for i := range 20_000 {
		s := fmt.Sprintf("*****brown%05d@corp.example.com", i)
		if i%3 == 0 {
			s = s[:i%(len(s)+1)] // short ones too, down to ""
		}
		h := hashStr(s)
		if _, ok := tab.find(vals, s, h); ok {
			continue
		}
		tab.add(uint32(len(vals)), h)
		vals = append(vals, s)
		tags[h>>32] = true
	}
	if len(tags) < len(vals)-10 {
		t.Errorf("%d values, %d distinct hash tags", len(vals), len(tags))
	}
	for i, s := range vals {
		if got, ok := tab.find(vals, s, hashStr(s)); !ok || got != uint32(i) {
			t.Fatalf("find(%q) = %d, %v; want %d", s, got, ok, i)
		}
		if _, ok := tab.find(vals, s+"x", hashStr(s+"x")); ok && !slices.Contains(vals, s+"x") {
			t.Fatalf("found %q, never added", s+"x")
		}
	}
	tab.reset()
	if _, ok := tab.find(vals, vals[0], hashStr(vals[0])); ok {
		t.Error("found a value after reset")
	}
}

// hashStr reads every byte: a change of any one changes the hash.
func TestHashStrEveryByte(t *testing.T) {
	for n := 1; n <= 40; n++ {
		b := []byte(strings.Repeat("a", n))
		h := hashStr(string(b))
		for i := range n {
			b[i] = 'b'
			if hashStr(string(b)) == h {
				t.Errorf("length %d: byte %d does not change the hash", n, i)
			}
			b[i] = 'a'
		}
	}
}

// Two values whose hashes share the top 32 bits (found by trying) are
// told apart by their bytes.
func TestStrTableTagCollision(t *testing.T) {
	seen := map[uint64]string{}
	var a, b string
	for i := 0; a == ""; i++ {
		s := fmt.Sprintf("value %d", i)
		tag := hashStr(s) >> 32
		if o, ok := seen[tag]; ok {
			a, b = o, s
		}
		seen[tag] = s
	}
	var tab strTable
	vals := []string{a}
	tab.add(0, hashStr(a))
	if i, ok := tab.find(vals, b, hashStr(b)); ok {
		t.Errorf("find(%q) = %d, the index of %q", b, i, a)
	}
	if i, ok := tab.find(vals, a, hashStr(a)); !ok || i != 0 {
		t.Errorf("find(%q) = %d, %v", a, i, ok)
	}
}
