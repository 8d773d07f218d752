package parquetfile

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// pageHeaders reads the data page headers of every column chunk of f,
// found by its offset index: [row group][column][page].
func pageHeaders(t *testing.T, data []byte, f *parquet.File) [][][]format.PageHeader {
	t.Helper()
	var out [][][]format.PageHeader
	for _, rg := range f.RowGroups() {
		var cols [][]format.PageHeader
		for _, cc := range rg.ColumnChunks() {
			oi, err := cc.OffsetIndex()
			if err != nil {
				t.Fatal(err)
			}
			var hs []format.PageHeader
			for p := range oi.NumPages() {
				var h format.PageHeader
				proto := &thrift.CompactProtocol{}
				r := proto.NewReader(bytes.NewReader(data[oi.Offset(p) : oi.Offset(p)+oi.CompressedPageSize(p)]))
				if err := thrift.NewDecoder(r).Decode(&h); err != nil {
					t.Fatalf("page %d header: %v", p, err)
				}
				hs = append(hs, h)
			}
			cols = append(cols, hs)
		}
		out = append(out, cols)
	}
	return out
}

// A chunk whose first pages Snappy shrinks and whose later pages it does
// not holds compressed pages and then uncompressed ones (is_compressed
// false), for every kind; a later row group compresses again.
func TestUncompressedPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n, half = 12_000, 4_000
	cycle := make([][]cell, 4) // a few rows over and over: Snappy shrinks them
	for i := range cycle {
		cycle[i] = randomRows(rng, allKinds, 1, 0)[0]
	}
	// Random values (incompressible) for the rest of the first row group,
	// then the cycle again in the second.
	rows := randomRows(rng, allKinds, n, 0.05)
	for r := range rows {
		if r < half || r >= n/2 {
			rows[r] = slices.Clone(cycle[r%len(cycle)])
			// The PLAIN string column's values differ (else its row
			// groups would choose a dictionary) but Snappy shrinks them.
			rows[r][0].s += fmt.Sprint(r)
			continue
		}
		for j, c := range allKinds {
			if (c.Kind == Int64 || c.Kind == Timestamp) && !rows[r][j].null {
				rows[r][j].i = int64(rng.Uint64()) // neither PLAIN nor DELTA_BINARY_PACKED shrinks
			}
		}
	}
	data := write(t, allKinds, Options{PageSize: 1024}, rows, n/2)
	f := check(t, data, allKinds, rows)
	checkBounds(t, f, allKinds, rows)
	hdrs := pageHeaders(t, data, f)
	for j, c := range allKinds {
		for g := range hdrs {
			var flags []byte // C: compressed, u: not
			for _, h := range hdrs[g][j] {
				if h.Type != format.DataPageV2 {
					t.Fatalf("column %s: page of type %v", c.Name, h.Type)
				}
				flag := byte('C')
				if v, set := h.DataPageHeaderV2.V.IsCompressed.Get(); set && !v { // true when absent
					flag = 'u'
				}
				flags = append(flags, flag)
			}
			want := "^CC+u?$" // the second row group is all cycle (its last page may be too short to shrink)
			if g == 0 {
				want = "^C+u+$"
			}
			if !regexp.MustCompile(want).Match(flags) {
				t.Errorf("row group %d column %s: pages %s, want %s", g, c.Name, flags, want)
			}
		}
	}
}

// Int64 and Timestamp pages are DELTA_BINARY_PACKED when that is smaller
// than PLAIN: ids with gaps, runs, values that wrap around int64 and
// deltas of every width round-trip.
func TestDeltaInt64(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cols := []Column{{"id", Int64, false}, {"ts", Timestamp, false}}
	var rows [][]cell
	v := int64(0)
	for r := range 40_000 {
		switch s := r / 1000 % 8; s {
		case 0: // growing ids with gaps
			v += 1 + rng.Int64N(5)
		case 1: // a run
		case 2: // wraps around: deltas take 64 bits
			v = [...]int64{math.MaxInt64, math.MinInt64, -1, 0}[rng.IntN(4)]
		case 3: // deltas of a random width, up and down
			v += rng.Int64N(1<<rng.IntN(62)+1) - rng.Int64N(1<<rng.IntN(62)+1)
		case 4:
			v = int64(rng.Uint64())
		default: // times a few ms apart
			v = 1_700_000_000_000 + int64(r)*3 + rng.Int64N(3)
		}
		row := []cell{{i: v}, {i: v ^ int64(rng.IntN(2))}}
		if rng.IntN(20) == 0 {
			row[rng.IntN(2)] = cell{null: true}
		}
		rows = append(rows, row)
	}
	for _, size := range []int{64, 1000, 8 << 10, 1 << 20} {
		data := write(t, cols, Options{PageSize: size}, rows, 15_000)
		f := check(t, data, cols, rows)
		checkBounds(t, f, cols, rows)
		var delta, plain bool
		for _, rg := range f.Metadata().RowGroups {
			for _, cc := range rg.Columns {
				delta = delta || slices.Contains(cc.MetaData.Encoding, format.DeltaBinaryPacked)
				plain = plain || slices.Contains(cc.MetaData.Encoding, format.Plain)
			}
		}
		if !delta || (size < 8<<10 && !plain) {
			t.Errorf("page size %d: DELTA_BINARY_PACKED %v, PLAIN %v", size, delta, plain)
		}
	}
}

// Each column's first compressed page in the file picks its Snappy
// encoder for every page of the file: golang/snappy's, the faster, unless
// its output is larger than s2's by more than 1/32. Timestamps compress
// about as well with both; e-mail addresses much better with s2's. The
// third column holds timestamps in the first row group and e-mail
// addresses in the second: the first decides.
func TestSnappyEncoderChoice(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	cols := []Column{{"email", String, false}, {"at", String, false}, {"mixed", String, false}}
	last := []string{"brown", "perez", "smith", "kowalski", "chen", "haddad", "ivanova", "silva", "garcia", "nguyen"}
	var rows [][]cell
	for i := range 40_000 {
		rows = append(rows, []cell{
			{s: fmt.Sprintf("*****%s%d@%s.example.com", last[rng.IntN(len(last))], rng.IntN(10000), []string{"corp", "post", "mail"}[rng.IntN(3)])},
			{s: fmt.Sprintf("202%d-%02d-%02dT%02d:%02d:%02dZ", rng.IntN(5), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60))},
		})
		rows[i] = append(rows[i], rows[i][1-i/20_000])
	}
	data := write(t, cols, Options{}, rows, 20_000)
	f := check(t, data, cols, rows)
	for j, wantFast := range []bool{false, true, true} {
		var pages int
		for g, rg := range f.RowGroups() {
			oi, err := rg.ColumnChunks()[j].OffsetIndex()
			if err != nil {
				t.Fatal(err)
			}
			hdrs := pageHeaders(t, data, f)[g][j]
			for p := range oi.NumPages() {
				h := hdrs[p]
				if v, set := h.DataPageHeaderV2.V.IsCompressed.Get(); set && !v {
					continue
				}
				page := data[oi.Offset(p) : oi.Offset(p)+oi.CompressedPageSize(p)]
				comp := page[len(page)-int(h.CompressedPageSize)+int(h.DataPageHeaderV2.V.DefinitionLevelsByteLength):]
				raw, err := s2.Decode(nil, comp)
				if err != nil {
					t.Fatal(err)
				}
				fast, slow := snappy.Encode(nil, raw), s2.EncodeSnappy(nil, raw)
				if bytes.Equal(fast, slow) {
					continue
				}
				if got := bytes.Equal(comp, fast); got != wantFast || !got && !bytes.Equal(comp, slow) {
					t.Errorf("column %s row group %d page %d: fast encoder %v, want %v (%d bytes; fast %d, s2 %d)", cols[j].Name, g, p, got, wantFast, len(comp), len(fast), len(slow))
				}
				pages++
			}
		}
		if pages < 4 {
			t.Errorf("column %s: %d pages told the encoders apart", cols[j].Name, pages)
		}
	}
}
