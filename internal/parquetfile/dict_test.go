package parquetfile

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go/format"
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
		k := keyOf(s)
		h := k.hash()
		if _, ok := tab.find(vals, s, &k, h); ok {
			continue
		}
		tab.add(&k, h)
		vals = append(vals, s)
		tags[h>>32] = true
	}
	if len(tags) < len(vals)-10 {
		t.Errorf("%d values, %d distinct hash tags", len(vals), len(tags))
	}
	for i, s := range vals {
		if got, ok := find(&tab, vals, s); !ok || got != uint32(i) {
			t.Fatalf("find(%q) = %d, %v; want %d", s, got, ok, i)
		}
		if _, ok := find(&tab, vals, s+"x"); ok && !slices.Contains(vals, s+"x") {
			t.Fatalf("found %q, never added", s+"x")
		}
	}
	tab.reset()
	if _, ok := find(&tab, vals, vals[0]); ok {
		t.Error("found a value after reset")
	}
}

func find(tab *strTable, vals []string, s string) (uint32, bool) {
	k := keyOf(s)
	return tab.find(vals, s, &k, k.hash())
}

func hashStr(s string) uint64 {
	k := keyOf(s)
	return k.hash()
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

// chunkEncodings are the encodings of column j's chunk in each row group
// and whether it has a dictionary page.
func chunkEncodings(t *testing.T, data []byte, cols []Column, rows [][]cell, j int) (dict []bool) {
	f := check(t, data, cols, rows)
	checkBounds(t, f, cols, rows)
	for _, rg := range f.Metadata().RowGroups {
		md := rg.Columns[j].MetaData
		d := slices.Contains(md.Encoding, format.RLEDictionary)
		if d != (md.DictionaryPageOffset != 0) {
			t.Errorf("column %d: encodings %v, dictionary page at %d", j, md.Encoding, md.DictionaryPageOffset)
		}
		dict = append(dict, d)
	}
	return dict
}

// A String column without Dict chooses a dictionary for a row group whose
// first page repeats its values (at least twice on average), and keeps
// PLAIN for one whose first page does not: here row groups alternate
// between names from a short list and values that never repeat. The
// dictionary's values are copied off the first page's bytes (pages of
// 4 KiB, several per row group).
func TestProbeChoosesDictionary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cols := []Column{{"s", String, false}, {"n", Int64, false}}
	names := make([]string, 40)
	for i := range names {
		names[i] = fmt.Sprintf("name %d of the list", i)
	}
	const group = 3000
	var rows [][]cell
	for i := range 4 * group {
		c := cell{s: names[rng.IntN(len(names))]}
		if i/group%2 == 1 {
			c.s = fmt.Sprintf("unique %d", i)
		}
		if i%17 == 0 {
			c = cell{null: true}
		}
		rows = append(rows, []cell{c, {i: int64(i)}})
	}
	data := write(t, cols, Options{PageSize: 4096}, rows, group)
	if got := chunkEncodings(t, data, cols, rows, 0); !slices.Equal(got, []bool{true, false, true, false}) {
		t.Errorf("dictionary by row group %v, want [true false true false]", got)
	}
}

// The first page decides, at the threshold: values that repeat exactly
// twice take half of the page's bytes (a dictionary), one distinct value
// more takes more than half (PLAIN). A first page of nulls only
// (no values, written as a PLAIN page) leaves the choice to the next
// page; a row group that chose a dictionary falls back to PLAIN when the
// dictionary outgrows DictMaxBytes, the dictionary's values intact
// though the first page's buffer then holds later values.
func TestProbeThreshold(t *testing.T) {
	cols := []Column{{"s", String, false}}
	pageOf := func(distinct func(i int) int) [][]cell {
		var rows [][]cell
		for i := range 512 { // 8 bytes a value: 4096 bytes, a page
			rows = append(rows, []cell{{s: fmt.Sprintf("v%03d", distinct(i))}})
		}
		return rows
	}
	for _, tc := range []struct {
		name  string
		rows  [][]cell
		dict  bool
		opt   Options
		plain bool // DELTA_LENGTH_BYTE_ARRAY pages besides the dictionary's
	}{
		{"twice", pageOf(func(i int) int { return i / 2 }), true, Options{}, false},
		{"nearly twice", pageOf(func(i int) int { return i/2 + i%8/7 }), false, Options{}, false},
		// A row group of one short page: the page's bytes, not the page
		// size, set the bar.
		{"short, half", pageOf(func(i int) int { return i / 2 })[:100], true, Options{}, false},
		{"short, one more", pageOf(func(i int) int { return i/2 + i/99 })[:100], false, Options{}, false},
		{"after nulls", append(slices.Repeat([][]cell{{{null: true}}}, 4096), pageOf(func(i int) int { return i % 5 })...), true, Options{}, true},
		{"outgrows", append(pageOf(func(i int) int { return i % 5 }), pageOf(func(i int) int { return 100 + i })...), true, Options{DictMaxBytes: 1000}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.PageSize = 4096
			data := write(t, cols, tc.opt, tc.rows, 0)
			if got := chunkEncodings(t, data, cols, tc.rows, 0); !slices.Equal(got, []bool{tc.dict}) {
				t.Errorf("dictionary %v, want %v", got, tc.dict)
			}
			f := check(t, data, cols, tc.rows)
			enc := f.Metadata().RowGroups[0].Columns[0].MetaData.Encoding
			if slices.Contains(enc, format.DeltaLengthByteArray) != (!tc.dict || tc.plain) {
				t.Errorf("encodings %v", enc)
			}
		})
	}
}

// Values that do not repeat end the probe once its dictionary passes half
// a page: they are not hashed, nor their views kept, for the rest of the
// page.
func TestProbeGivesUp(t *testing.T) {
	w, _ := NewWriter(io.Discard, []Column{{"s", String, false}}, Options{PageSize: 4096})
	c := w.Column(0)
	for i := range 200 { // 8 bytes a value: 1600 bytes
		c.String(fmt.Sprintf("v%03d", i))
	}
	if !c.probing || len(c.dictVals) != 200 {
		t.Fatalf("probing %v with %d values after 200 distinct values", c.probing, len(c.dictVals))
	}
	for i := range 100 {
		c.String(fmt.Sprintf("w%03d", i))
	}
	if c.probing || len(c.dictVals) != 0 || c.n != 300 {
		t.Errorf("probing %v with %d values after 300 distinct values (%d rows)", c.probing, len(c.dictVals), c.n)
	}
}

// A dictionary chosen by a row group's first page keeps copies of the
// page's values: here the page buffers are full grown by an earlier row
// group, the second row group's first page chooses a dictionary, which
// then outgrows DictMaxBytes, and the PLAIN pages after it reuse the
// first page's buffer before the dictionary page is written.
func TestProbeDictionaryOutlivesPage(t *testing.T) {
	cols := []Column{{"s", String, false}}
	var rows [][]cell
	for i := range 2048 { // row group 1: 4 pages of distinct values
		rows = append(rows, []cell{{s: fmt.Sprintf("u%03d", i%1000)}})
	}
	for i := range 2048 { // row group 2: a page of 64 values, then distinct ones
		v := fmt.Sprintf("v%03d", i%64)
		if i >= 512 {
			v = fmt.Sprintf("w%03d", i%1000)
		}
		rows = append(rows, []cell{{s: v}})
	}
	data := write(t, cols, Options{PageSize: 4096, DictMaxBytes: 2000}, rows, 2048)
	if got := chunkEncodings(t, data, cols, rows, 0); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("dictionary by row group %v, want [false true]", got)
	}
}

// Two values whose hashes share the top 32 bits (found by trying), short
// ones (compared by their keys) and long ones (by their bytes), are told
// apart.
func TestStrTableTagCollision(t *testing.T) {
	for _, format := range []string{"value %d", "a longer value, number %d"} {
		seen := map[uint64]string{}
		var a, b string
		for i := 0; a == ""; i++ {
			s := fmt.Sprintf(format, i)
			tag := hashStr(s) >> 32
			if o, ok := seen[tag]; ok {
				a, b = o, s
			}
			seen[tag] = s
		}
		var tab strTable
		vals := []string{a}
		k := keyOf(a)
		tab.add(&k, k.hash())
		if i, ok := find(&tab, vals, b); ok {
			t.Errorf("find(%q) = %d, the index of %q", b, i, a)
		}
		if i, ok := find(&tab, vals, a); !ok || i != 0 {
			t.Errorf("find(%q) = %d, %v", a, i, ok)
		}
		// And so do a dictionary column and a probed one.
		cols := []Column{{"d", String, true}, {"p", String, false}}
		var rows [][]cell
		for i := range 100 {
			v := []string{a, b}[i%2]
			rows = append(rows, []cell{{s: v}, {s: v}})
		}
		data := write(t, cols, Options{}, rows, 0)
		if got := chunkEncodings(t, data, cols, rows, 1); !slices.Equal(got, []bool{true}) {
			t.Errorf("probed column: dictionary %v", got)
		}
	}
}

// Keys of values of up to 16 bytes differ when the values do: they are
// compared instead of the values.
func TestShortKeys(t *testing.T) {
	seen := map[strKey]string{}
	var add func(prefix string)
	add = func(prefix string) {
		k := keyOf(prefix)
		if o, ok := seen[k]; ok {
			t.Fatalf("%q and %q have the same key", o, prefix)
		}
		seen[k] = prefix
		if len(prefix) < 16 {
			for _, c := range []byte{0, 'a', 0xff} {
				if len(prefix) < 3 || c == 'a' || len(prefix)%5 == 0 {
					add(prefix + string(c))
				}
			}
		}
	}
	add("")
	if len(seen) < 1000 {
		t.Errorf("%d values", len(seen))
	}
}
