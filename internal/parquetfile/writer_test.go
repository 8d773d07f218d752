package parquetfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// cell is one test value: null, or the value of its column's kind.
type cell struct {
	null bool
	s    string // String; Decimal's 16 bytes
	i    int64  // Int64, Timestamp, Date, Bool (0/1)
	f    float64
}

// write writes rows (cells[row][col]) to a file, cutting a row group
// every groupRows rows (0: one), and returns its bytes. Without
// opt.Workers, it writes the file with pages encoded inline and by 4
// workers, which must give the same bytes.
func write(t testing.TB, cols []Column, opt Options, rows [][]cell, groupRows int) []byte {
	t.Helper()
	if opt.Workers != 0 {
		return writeWith(t, cols, opt, rows, groupRows)
	}
	opt.Workers = 1
	data := writeWith(t, cols, opt, rows, groupRows)
	opt.Workers = 4
	if async := writeWith(t, cols, opt, rows, groupRows); !bytes.Equal(async, data) {
		t.Fatalf("4 workers wrote %d bytes, inline %d, not the same", len(async), len(data))
	}
	return data
}

func writeWith(t testing.TB, cols []Column, opt Options, rows [][]cell, groupRows int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, cols, opt)
	if err != nil {
		t.Fatal(err)
	}
	for r, row := range rows {
		for j, v := range row {
			add(w.Column(j), cols[j].Kind, v)
		}
		if groupRows > 0 && (r+1)%groupRows == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(buf.Len()) || w.Written() != int64(buf.Len()) {
		t.Errorf("Size %d, Written %d; file of %d bytes", w.Size(), w.Written(), buf.Len())
	}
	return buf.Bytes()
}

func add(c *ColumnWriter, k Kind, v cell) {
	if v.null {
		c.Null()
		return
	}
	switch k {
	case String:
		c.String(v.s)
	case Int64, Timestamp:
		c.Int64(v.i)
	case Double:
		c.Double(v.f)
	case Decimal:
		c.Decimal([16]byte([]byte(v.s)))
	case Bool:
		c.Bool(v.i == 1)
	case Date:
		c.Int32(int32(v.i))
	}
}

// node is the column as parquet-go would declare it (the nodes s3conn
// used before this package).
func node(k Kind) parquet.Node {
	switch k {
	case Int64:
		return parquet.Int(64)
	case Double:
		return parquet.Leaf(parquet.DoubleType)
	case Decimal:
		return parquet.Decimal(18, 38, parquet.FixedLenByteArrayType(16))
	case Bool:
		return parquet.Leaf(parquet.BooleanType)
	case Timestamp:
		return parquet.Timestamp(parquet.Millisecond)
	case Date:
		return parquet.Date()
	}
	return parquet.String()
}

// check reads data back through parquet-go and compares its schema and
// values with cols and rows.
func check(t testing.TB, data []byte, cols []Column, rows [][]cell) *parquet.File {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	fields := f.Schema().Fields()
	if len(fields) != len(cols) {
		t.Fatalf("%d columns, want %d", len(fields), len(cols))
	}
	for j, c := range cols {
		want := parquet.Optional(node(c.Kind))
		if fields[j].Name() != c.Name || !fields[j].Optional() || fields[j].Type().String() != want.Type().String() ||
			fmt.Sprint(fields[j].Type().LogicalType()) != fmt.Sprint(want.Type().LogicalType()) {
			t.Fatalf("column %d is %s %v %v, want %s %v %v", j, fields[j].Name(), fields[j].Type(), fields[j].Type().LogicalType(),
				c.Name, want.Type(), want.Type().LogicalType())
		}
	}
	if f.NumRows() != int64(len(rows)) {
		t.Fatalf("%d rows, want %d", f.NumRows(), len(rows))
	}
	r := parquet.NewReader(f)
	defer r.Close()
	buf := make([]parquet.Row, 100)
	n := 0
	for n < len(rows) {
		k, err := r.ReadRows(buf)
		for _, got := range buf[:k] {
			if len(got) != len(cols) {
				t.Fatalf("row %d has %d values", n, len(got))
			}
			for j, v := range got {
				if msg := differs(cols[j].Kind, v, rows[n][j]); msg != "" {
					t.Fatalf("row %d column %s: %s", n, cols[j].Name, msg)
				}
			}
			n++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read at row %d: %v", n, err)
		}
	}
	if n != len(rows) {
		t.Fatalf("read %d rows, want %d", n, len(rows))
	}
	return f
}

func differs(k Kind, v parquet.Value, want cell) string {
	if v.IsNull() != want.null {
		return fmt.Sprintf("null %v, want %v", v.IsNull(), want.null)
	}
	if want.null {
		return ""
	}
	var same bool
	switch k {
	case String, Decimal:
		same = string(v.ByteArray()) == want.s
	case Int64, Timestamp:
		same = v.Int64() == want.i
	case Double:
		same = math.Float64bits(v.Double()) == math.Float64bits(want.f)
	case Bool:
		same = v.Boolean() == (want.i == 1)
	case Date:
		same = int64(v.Int32()) == want.i
	}
	if !same {
		return fmt.Sprintf("%v, want %+v", v, want)
	}
	return ""
}

var allKinds = []Column{{"a_str", String, false}, {"b_dict", String, true}, {"c_int", Int64, false}, {"d_dbl", Double, false},
	{"e_dec", Decimal, false}, {"f_bool", Bool, false}, {"g_ts", Timestamp, false}, {"h_date", Date, false}}

// value is a random value of kind k; dict-like strings repeat.
func value(rng *rand.Rand, k Kind, repeat bool) cell {
	switch k {
	case String:
		if repeat {
			return cell{s: fmt.Sprintf("v%d", rng.IntN(20))}
		}
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return cell{s: string(b)}
	case Int64, Timestamp:
		if repeat || rng.IntN(4) > 0 { // small: pages DELTA_BINARY_PACKED
			return cell{i: rng.Int64N(2000) - 1000}
		}
		return cell{i: int64(rng.Uint64())}
	case Double:
		switch rng.IntN(20) {
		case 0:
			return cell{f: math.NaN()}
		case 1:
			return cell{f: math.Inf(-1)}
		}
		return cell{f: rng.NormFloat64() * 1e6}
	case Decimal:
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], rng.Uint64())
		binary.BigEndian.PutUint64(b[8:], rng.Uint64())
		return cell{s: string(b[:])}
	case Bool:
		return cell{i: int64(rng.IntN(2))}
	case Date:
		return cell{i: int64(int32(rng.Uint32()))}
	}
	panic(k)
}

func randomRows(rng *rand.Rand, cols []Column, n int, nullRate float64) [][]cell {
	repeat := make([]bool, len(cols))
	for j, c := range cols {
		repeat[j] = c.Dict
	}
	return randomRowsRepeat(rng, cols, repeat, n, nullRate)
}

// randomRowsRepeat is randomRows whose column j repeats its values when
// repeat[j].
func randomRowsRepeat(rng *rand.Rand, cols []Column, repeat []bool, n int, nullRate float64) [][]cell {
	rows := make([][]cell, n)
	for r := range rows {
		rows[r] = make([]cell, len(cols))
		for j, c := range cols {
			if rng.Float64() < nullRate {
				rows[r][j] = cell{null: true}
			} else {
				rows[r][j] = value(rng, c.Kind, repeat[j])
			}
		}
	}
	return rows
}

// Every kind, with nulls, in several row groups of several pages each.
func TestRoundTripEveryKind(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows := randomRows(rng, allKinds, 20_000, 0.1)
	data := write(t, allKinds, Options{PageSize: 4096, CreatedBy: "appflowd test"}, rows, 7000)
	f := check(t, data, allKinds, rows)
	md := f.Metadata()
	if md.CreatedBy != "appflowd test" || len(md.RowGroups) != 3 {
		t.Errorf("created_by %q, %d row groups", md.CreatedBy, len(md.RowGroups))
	}
	for _, rg := range md.RowGroups {
		for j, cc := range rg.Columns {
			dict := slices.Contains(cc.MetaData.Encoding, format.RLEDictionary)
			if dict != allKinds[j].Dict || cc.MetaData.Codec != format.Snappy {
				t.Errorf("column %s: encodings %v, codec %v", allKinds[j].Name, cc.MetaData.Encoding, cc.MetaData.Codec)
			}
		}
	}
	checkBounds(t, f, allKinds, rows)
}

// checkBounds compares the chunk statistics and the column index with the
// bounds of the values.
func checkBounds(t *testing.T, f *parquet.File, cols []Column, rows [][]cell) {
	t.Helper()
	fields := f.Schema().Fields()
	first := int64(0)
	for g, rg := range f.RowGroups() {
		n := rg.NumRows()
		for j, cc := range rg.ColumnChunks() {
			typ := fields[j].Type()
			cmp := typ.Compare
			if cols[j].Kind == Decimal { // DECIMAL orders signed; parquet-go compares the bytes
				cmp = func(a, b parquet.Value) int { return decCompare(string(a.ByteArray()), string(b.ByteArray())) }
			}
			var lo, hi parquet.Value
			var nulls int64
			for r := first; r < first+n; r++ {
				c := rows[r][j]
				if c.null {
					nulls++
					continue
				}
				if cols[j].Kind == Double && math.IsNaN(c.f) {
					continue
				}
				v := toValue(cols[j].Kind, c)
				if lo.IsNull() || cmp(v, lo) < 0 {
					lo = v
				}
				if hi.IsNull() || cmp(v, hi) > 0 {
					hi = v
				}
			}
			st := f.Metadata().RowGroups[g].Columns[j].MetaData.Statistics
			if st.NullCount != nulls {
				t.Errorf("row group %d column %s: %d nulls, want %d", g, cols[j].Name, st.NullCount, nulls)
			}
			if !lo.IsNull() {
				gotLo, gotHi := typ.Kind().Value(st.MinValue), typ.Kind().Value(st.MaxValue)
				if cmp(gotLo, lo) != 0 || cmp(gotHi, hi) != 0 {
					t.Errorf("row group %d column %s: bounds %v..%v, want %v..%v", g, cols[j].Name, gotLo, gotHi, lo, hi)
				}
			}
			ci, err := cc.ColumnIndex()
			if err != nil {
				t.Fatalf("column index: %v", err)
			}
			oi, err := cc.OffsetIndex()
			if err != nil {
				t.Fatalf("offset index: %v", err)
			}
			var pageNulls int64
			for p := range ci.NumPages() {
				pageNulls += ci.NullCount(p)
				if !ci.NullPage(p) && !lo.IsNull() && (cmp(ci.MinValue(p), lo) < 0 || cmp(ci.MaxValue(p), hi) > 0) {
					t.Errorf("row group %d column %s page %d: bounds %v..%v outside %v..%v", g, cols[j].Name, p, ci.MinValue(p), ci.MaxValue(p), lo, hi)
				}
			}
			if pageNulls != nulls || oi.NumPages() != ci.NumPages() {
				t.Errorf("row group %d column %s: pages count %d nulls, want %d; %d vs %d pages", g, cols[j].Name, pageNulls, nulls, oi.NumPages(), ci.NumPages())
			}
		}
		first += n
	}
}

func toValue(k Kind, c cell) parquet.Value {
	switch k {
	case String:
		return parquet.ByteArrayValue([]byte(c.s))
	case Decimal:
		return parquet.FixedLenByteArrayValue([]byte(c.s))
	case Int64, Timestamp:
		return parquet.Int64Value(c.i)
	case Double:
		return parquet.DoubleValue(c.f)
	case Bool:
		return parquet.BooleanValue(c.i == 1)
	}
	return parquet.Int32Value(int32(c.i))
}

// A dictionary column whose values stop repeating falls back to PLAIN
// within the row group, keeps every value, and starts a new dictionary in
// the next row group.
func TestDictionaryFallback(t *testing.T) {
	cols := []Column{{"s", String, true}, {"n", Int64, false}}
	var rows [][]cell
	for i := range 30_000 {
		s := fmt.Sprintf("c%d", i%7)
		if i%10_000 >= 3000 {
			s = fmt.Sprintf("%050d", i)
		}
		c := cell{s: s}
		if i%13 == 0 {
			c = cell{null: true}
		}
		rows = append(rows, []cell{c, {i: int64(i)}})
	}
	data := write(t, cols, Options{PageSize: 8192, DictMaxBytes: 64 << 10}, rows, 10_000)
	f := check(t, data, cols, rows)
	for g, rg := range f.Metadata().RowGroups {
		enc := rg.Columns[0].MetaData.Encoding
		if !slices.Contains(enc, format.RLEDictionary) || !slices.Contains(enc, format.Plain) || rg.Columns[0].MetaData.DictionaryPageOffset == 0 {
			t.Errorf("row group %d: encodings %v", g, enc)
		}
	}
	checkBounds(t, f, cols, rows)
}

// Columns of nulls only, a dictionary column of one value, a row group of
// one row.
func TestNullsAndTinyColumns(t *testing.T) {
	cols := []Column{{"a", String, true}, {"b", String, true}, {"c", Double, false}, {"d", Decimal, false}, {"e", Bool, false}}
	var rows [][]cell
	for i := range 1001 {
		rows = append(rows, []cell{{null: true}, {s: "only"}, {f: math.NaN()}, {null: i%2 == 0, s: strings.Repeat("\xff", 16)}, {null: true}})
	}
	data := write(t, cols, Options{PageSize: 100}, rows, 1000)
	check(t, data, cols, rows)
}

func TestEmptyFile(t *testing.T) {
	data := write(t, allKinds, Options{}, nil, 0)
	f := check(t, data, allKinds, nil)
	if len(f.RowGroups()) != 0 {
		t.Errorf("%d row groups", len(f.RowGroups()))
	}
	// A Flush of no rows writes nothing.
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, allKinds, Options{})
	if err := w.Flush(); err != nil || buf.Len() != 0 {
		t.Errorf("Flush of no rows: %v, %d bytes", err, buf.Len())
	}
}

// Strings far larger than a page each make a page of their own.
func TestHugeStrings(t *testing.T) {
	cols := []Column{{"s", String, false}, {"d", String, true}}
	var rows [][]cell
	for i := range 6 {
		big := strings.Repeat(string(rune('a'+i)), 3<<20+i)
		rows = append(rows, []cell{{s: big}, {s: big}})
	}
	rows = append(rows, []cell{{s: ""}, {null: true}})
	data := write(t, cols, Options{PageSize: 64 << 10, DictMaxBytes: 8 << 20}, rows, 0)
	check(t, data, cols, rows)
}

func TestDuplicateColumn(t *testing.T) {
	if _, err := NewWriter(io.Discard, []Column{{"a", String, false}, {"a", Int64, false}}, Options{}); err == nil {
		t.Error("two columns named a accepted")
	}
}

type failWriter struct{ n int }

var errDisk = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n < len(p) {
		n := f.n
		f.n = 0
		return n, errDisk
	}
	f.n -= len(p)
	return len(p), nil
}

// A failed write is the Flush's error, and the Close's after it.
func TestWriteError(t *testing.T) {
	w, _ := NewWriter(&failWriter{n: 10}, allKinds, Options{})
	rows := randomRows(rand.New(rand.NewPCG(3, 4)), allKinds, 100, 0.1)
	for _, row := range rows {
		for j, v := range row {
			add(w.Column(j), allKinds[j].Kind, v)
		}
	}
	if err := w.Flush(); !errors.Is(err, errDisk) {
		t.Errorf("Flush: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close: %v", err)
	}
}

// With pages encoded by workers, a failed write is still the Flush's
// error and the Close's after it, wherever it fails, and the workers end.
func TestWriteErrorWithWorkers(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(3, 4)), allKinds, 6000, 0.1)
	for _, at := range []int{10, 20_000, 100_000} {
		w, _ := NewWriter(&failWriter{n: at}, allKinds, Options{PageSize: 1024, Workers: 4})
		var err error
		for r, row := range rows {
			for j, v := range row {
				add(w.Column(j), allKinds[j].Kind, v)
			}
			if (r+1)%2000 == 0 && err == nil {
				err = w.Flush()
			}
		}
		if !errors.Is(err, errDisk) {
			t.Errorf("failing at byte %d: Flush: %v", at, err)
		}
		if err := w.Close(); !errors.Is(err, errDisk) {
			t.Errorf("failing at byte %d: Close: %v", at, err)
		}
		w.wg.Wait()
	}
}

// A Writer given up on before Close (a cancelled run) leaves no page
// encoder behind: they end without it (a leak would hang this test).
func TestAbandonedWriter(t *testing.T) {
	w, _ := NewWriter(io.Discard, allKinds, Options{PageSize: 1024, Workers: 4})
	for _, row := range randomRows(rand.New(rand.NewPCG(7, 8)), allKinds, 5000, 0.1) {
		for j, v := range row {
			add(w.Column(j), allKinds[j].Kind, v)
		}
	}
	w.wg.Wait()
}

// Size does not depend on the workers either, and the columns may be
// written from goroutines of their own (as s3conn does), each handing
// pages to the workers.
func TestWorkersSizeAndConcurrentColumns(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(11, 12)), allKinds, 12_000, 0.1)
	run := func(workers int) (sizes []int64, data []byte) {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, allKinds, Options{PageSize: 2048, Workers: workers})
		for lo := 0; lo < len(rows); lo += 700 {
			hi := min(lo+700, len(rows))
			var wg sync.WaitGroup
			for j, c := range allKinds {
				wg.Go(func() {
					for _, row := range rows[lo:hi] {
						add(w.Column(j), c.Kind, row[j])
					}
				})
			}
			wg.Wait()
			sizes = append(sizes, w.Size())
			if hi%4200 == 0 {
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, w.Size())
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return sizes, buf.Bytes()
	}
	sizes1, data1 := run(1)
	sizes4, data4 := run(4)
	if !slices.Equal(sizes1, sizes4) {
		t.Errorf("Size inline %v, with 4 workers %v", sizes1, sizes4)
	}
	if !bytes.Equal(data1, data4) {
		t.Errorf("4 workers wrote %d bytes, inline %d, not the same", len(data4), len(data1))
	}
	check(t, data4, allKinds, rows)
}

// Columns written in a different number of rows are the caller's bug.
func TestUnevenColumns(t *testing.T) {
	w, _ := NewWriter(io.Discard, []Column{{"a", String, false}, {"b", Int64, false}}, Options{})
	w.Column(0).String("x")
	if err := w.Flush(); err == nil {
		t.Error("Flush of uneven columns succeeded")
	}
}

// Random schemas and values, read back through parquet-go.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint16(100), uint8(10))
	f.Add(uint64(2), uint16(3000), uint8(0))
	f.Add(uint64(3), uint16(0), uint8(50))
	f.Add(uint64(4), uint16(5000), uint8(100))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, nullPct uint8) {
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		cols := make([]Column, 1+rng.IntN(10))
		repeat := make([]bool, len(cols))
		for j := range cols {
			k := Kind(rng.IntN(int(Date) + 1))
			cols[j] = Column{Name: fmt.Sprintf("c%d", j), Kind: k, Dict: k == String && rng.IntN(2) == 0}
			// String columns without Dict whose values repeat choose a
			// dictionary themselves.
			repeat[j] = cols[j].Dict || rng.IntN(2) == 0
		}
		rows := randomRowsRepeat(rng, cols, repeat, int(n), float64(nullPct%101)/100)
		opt := Options{PageSize: 64 + rng.IntN(16<<10), DictMaxBytes: 16 + rng.IntN(4<<10)}
		data := write(t, cols, opt, rows, rng.IntN(2000))
		check(t, data, cols, rows)
	})
}

// Pages of many strings whose lengths vary widely need more room for
// their lengths than a page reserves at first; short dictionary strings
// that differ only in trailing zero bytes stay distinct.
func TestManyLengthsAndShortKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cols := []Column{{"s", String, false}, {"d", String, true}}
	short := []string{"", "\x00", "a", "a\x00", "a\x00\x00", "abcdefg", "abcdefg\x00", "abcdefgh", "\xff\xff\xff\xff\xff\xff\xff"}
	var rows [][]cell
	for range 60_000 {
		rows = append(rows, []cell{{s: strings.Repeat("x", rng.IntN(300))}, {s: short[rng.IntN(len(short))]}})
	}
	data := write(t, cols, Options{PageSize: 1 << 20}, rows, 25_000)
	checkBounds(t, check(t, data, cols, rows), cols, rows)
}
