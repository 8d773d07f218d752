package s3conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	pqsnappy "github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// Parquet output (data-plane 4.2): Snappy, every column optional.
// preserveSourceDataTyping=false writes every column as a UTF-8 string (the
// value's text). true types the columns from the declared field types
// (WriteRequest.Fields; without them, from the first batch's values):
//
//	integer, int, long, short, byte, bigint  -> INT64
//	double, float, number                    -> DOUBLE
//	decimal                                  -> DECIMAL(38,18) (16-byte FIXED_LEN_BYTE_ARRAY)
//	boolean                                  -> BOOLEAN
//	datetime, timestamp                      -> TIMESTAMP(MILLIS, UTC)
//	date                                     -> DATE
//	anything else                            -> STRING
//
// A value that does not convert to its column's type is a record failure
// (WriteResult.Failures), not a run error; the record is not written.
//
// Layout: row groups of rowGroupRows rows or rowGroupBudget bytes, column
// chunk statistics and the page index (no statistics in page headers),
// dictionary encoding for strings that repeat (chooseDictionaries).

type colKind uint8

const (
	colString colKind = iota
	colInt64
	colDouble
	colDecimal
	colBool
	colTimestamp
	colDate
)

func colKindOf(t record.FieldType) colKind {
	switch strings.ToLower(string(t)) {
	case "integer", "int", "long", "short", "byte", "bigint":
		return colInt64
	case "double", "float", "number":
		return colDouble
	case "decimal":
		return colDecimal
	case "boolean", "bool":
		return colBool
	case "datetime", "timestamp":
		return colTimestamp
	case "date":
		return colDate
	}
	return colString
}

// kindColumn infers a column type from a value, for writes without
// declared fields.
func kindColumn(k record.Kind) colKind {
	switch k {
	case record.Int:
		return colInt64
	case record.Float, record.Decimal:
		return colDouble
	case record.Bool:
		return colBool
	case record.Time:
		return colTimestamp
	}
	return colString
}

func (k colKind) node() parquet.Node {
	switch k {
	case colInt64:
		return parquet.Int(64)
	case colDouble:
		return parquet.Leaf(parquet.DoubleType)
	case colDecimal:
		return parquet.Decimal(18, 38, parquet.FixedLenByteArrayType(16))
	case colBool:
		return parquet.Leaf(parquet.BooleanType)
	case colTimestamp:
		return parquet.Timestamp(parquet.Millisecond)
	case colDate:
		return parquet.Date()
	}
	return parquet.String()
}

// orderedGroup keeps the columns in field order (parquet.Group sorts them).
type orderedGroup struct {
	parquet.Group
	order []string
}

func (g orderedGroup) Fields() []parquet.Field {
	fs := g.Group.Fields()
	rank := make(map[string]int, len(g.order))
	for i, n := range g.order {
		rank[n] = i
	}
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b parquet.Field) int { return rank[a.Name()] - rank[b.Name()] })
	return out
}

type parquetSchema struct {
	schema *parquet.Schema
	kinds  []colKind
	fields []string
	// dict marks the columns written with dictionary encoding; chosen is
	// set once the first rows were sampled to choose them.
	dict   []bool
	chosen bool
}

func newParquetSchema(fields []string, kinds []colKind) (*parquetSchema, error) {
	return buildParquetSchema(fields, kinds, make([]bool, len(fields)))
}

func buildParquetSchema(fields []string, kinds []colKind, dict []bool) (*parquetSchema, error) {
	g := parquet.Group{}
	for i, f := range fields {
		if _, dup := g[f]; dup {
			return nil, fmt.Errorf("field %q appears twice", f)
		}
		n := kinds[i].node()
		if dict[i] {
			n = parquet.Encoded(n, &parquet.RLEDictionary)
		}
		g[f] = parquet.Optional(n)
	}
	return &parquetSchema{
		schema: parquet.NewSchema("appflow", orderedGroup{Group: g, order: fields}),
		kinds:  kinds,
		fields: fields,
		dict:   dict,
	}, nil
}

// Dictionary encoding pays for strings that repeat (a country, a status, a
// name from a short list): their pages shrink to a few bits a value, and
// Snappy and the bounds have far fewer bytes to go through. For strings
// that rarely repeat it only adds a hash lookup a value and a dictionary
// page. The first rows written decide it, column by column: a string
// column is dictionary-encoded when the first dictSample rows hold at most
// one distinct value in dictRepeat. A column that turns out more varied
// later falls back to PLAIN within a row group once its dictionary passes
// dictMaxBytes.
const (
	dictSample   = 4096
	dictMinRows  = 256 // fewer first rows tell too little: PLAIN
	dictRepeat   = 8
	dictMaxBytes = 1 << 20
)

// chooseDictionaries fixes the schema's encodings from the job's rows.
func (ps *parquetSchema) chooseDictionaries(q *pqJob) (*parquetSchema, error) {
	dict := make([]bool, len(ps.kinds))
	for j := range dict {
		dict[j] = q.repeats(j)
	}
	out, err := buildParquetSchema(ps.fields, ps.kinds, dict)
	if err != nil {
		return nil, err
	}
	out.chosen = true
	return out, nil
}

// repeats reports whether column j is a string column whose first rows
// repeat their values enough for a dictionary.
func (q *pqJob) repeats(j int) bool {
	c := q.p.cols[j]
	n := min(q.n, dictSample)
	if q.kinds[j] != colString || c < 0 || n < dictMinRows || (j < len(q.slow) && q.slow[j] != nil) {
		return false
	}
	limit := n / dictRepeat
	seen := make(map[string]struct{}, limit+1)
	width := len(q.b.Fields)
	for i := range n {
		r := i
		if q.rows != nil {
			r = int(q.rows[i])
		}
		if v := &q.b.Cells[r*width+c]; !v.IsAbsent() {
			seen[v.S] = struct{}{}
			if len(seen) > limit {
				return false
			}
		}
	}
	return true
}

// writerOptions are the Parquet writer's settings for files of this
// schema. Pages carry no statistics of their own: the column chunk's
// statistics and the page index (column and offset indexes) hold the same
// bounds, and computing them twice was a tenth of the writer's CPU.
func (ps *parquetSchema) writerOptions() []parquet.WriterOption {
	return []parquet.WriterOption{ps.schema, parquet.Compression(&fastSnappy{}),
		parquet.MaxRowsPerRowGroup(rowGroupRows), parquet.DataPageStatistics(false),
		parquet.DictionaryMaxBytes(dictMaxBytes),
		parquet.CreatedBy("appflowd", "", "")}
}

// newParquetWriter starts a Parquet file on out. A column buffers its
// values up to a page before it encodes them: parquet-go's 256 KiB a page,
// less for wide schemas and many open files, so that the page buffers of
// all open files stay within about a quarter of rowGroupBudget.
func (w *writer) newParquetWriter(out io.Writer) *parquet.Writer {
	columns := len(w.pschema.kinds) * (w.openPq + 1)
	page := min(max(rowGroupBudget/4/max(columns, 1), 32<<10), 256<<10)
	return parquet.NewWriter(out, append(slices.Clip(w.parquetOpt), parquet.PageBufferSize(page))...)
}

// fastSnappy is parquet's SNAPPY codec with s2's fast Snappy encoder:
// parquet-go's codec uses the "better" encoder, which cost about 0.3 CPU-s
// per million bench rows on one goroutine for a few percent smaller output.
// The blocks are standard Snappy; decoding is parquet-go's.
type fastSnappy struct{ pqsnappy.Codec }

func (fastSnappy) Encode(dst, src []byte) ([]byte, error) { return s2.EncodeSnappy(dst, src), nil }

func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

var pow18 = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
var max38 = new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)

// convert turns one cell into a parquet value of kind k; ok=false when the
// value cannot have that type. The returned value may point into v.S: the
// parquet writer copies it on WriteRows.
func convert(v record.Value, k colKind, col int) (parquet.Value, string) {
	if v.IsAbsent() {
		return parquet.Value{}.Level(0, 0, col), ""
	}
	var out parquet.Value
	switch k {
	case colString:
		switch v.K {
		case record.String, record.Decimal, record.JSON:
			out = parquet.ByteArrayValue(bytesOf(v.S))
		default:
			out = parquet.ByteArrayValue([]byte(v.Text()))
		}
	case colInt64:
		switch v.K {
		case record.Int:
			out = parquet.Int64Value(v.Int())
		case record.Float:
			f := v.Float()
			if f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
				return out, "not an integer"
			}
			out = parquet.Int64Value(int64(f))
		case record.String, record.Decimal:
			n, err := strconv.ParseInt(strings.TrimSpace(v.S), 10, 64)
			if err != nil {
				f, ferr := strconv.ParseFloat(strings.TrimSpace(v.S), 64)
				if ferr != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
					return out, "not an integer"
				}
				n = int64(f)
			}
			out = parquet.Int64Value(n)
		case record.Bool:
			out = parquet.Int64Value(int64(v.N))
		default:
			return out, "not an integer"
		}
	case colDouble:
		switch v.K {
		case record.Int:
			out = parquet.DoubleValue(float64(v.Int()))
		case record.Float:
			out = parquet.DoubleValue(v.Float())
		case record.String, record.Decimal:
			f, err := strconv.ParseFloat(strings.TrimSpace(v.S), 64)
			if err != nil {
				return out, "not a number"
			}
			out = parquet.DoubleValue(f)
		default:
			return out, "not a number"
		}
	case colDecimal:
		var r big.Rat
		switch v.K {
		case record.Int:
			r.SetInt64(v.Int())
		case record.Float:
			if r.SetFloat64(v.Float()) == nil {
				return out, "not a decimal"
			}
		case record.String, record.Decimal:
			if _, ok := r.SetString(strings.TrimSpace(v.S)); !ok {
				return out, "not a decimal"
			}
		default:
			return out, "not a decimal"
		}
		r.Mul(&r, new(big.Rat).SetInt(pow18))
		// Round half away from zero to 18 decimal places.
		num, den := r.Num(), r.Denom()
		q, m := new(big.Int).QuoRem(num, den, new(big.Int))
		if m.Sign() != 0 && new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
			q.Add(q, big.NewInt(int64(num.Sign())))
		}
		if new(big.Int).Abs(q).Cmp(max38) >= 0 {
			return out, "decimal does not fit DECIMAL(38,18)"
		}
		out = parquet.FixedLenByteArrayValue(twosComplement16(q))
	case colBool:
		switch v.K {
		case record.Bool:
			out = parquet.BooleanValue(v.Bool())
		case record.Int:
			if v.Int() != 0 && v.Int() != 1 {
				return out, "not a boolean"
			}
			out = parquet.BooleanValue(v.Int() == 1)
		case record.String:
			b, err := strconv.ParseBool(strings.TrimSpace(v.S))
			if err != nil {
				return out, "not a boolean"
			}
			out = parquet.BooleanValue(b)
		default:
			return out, "not a boolean"
		}
	case colTimestamp, colDate:
		var ms int64
		switch v.K {
		case record.Time:
			ms = v.Millis()
		case record.Int:
			ms = v.Int() // epoch milliseconds, as AppFlow's datetime filters use
		case record.String:
			t, ok := parseTime(v.S)
			if !ok {
				return out, "not a datetime"
			}
			ms = t.UnixMilli()
		default:
			return out, "not a datetime"
		}
		if k == colDate {
			out = parquet.Int32Value(int32(math.Floor(float64(ms) / 86400000)))
		} else {
			out = parquet.Int64Value(ms)
		}
	}
	return out.Level(0, 1, col), ""
}

func twosComplement16(q *big.Int) []byte {
	b := make([]byte, 16)
	if q.Sign() >= 0 {
		q.FillBytes(b)
		return b
	}
	// 2^128 + q
	t := new(big.Int).Lsh(big.NewInt(1), 128)
	t.Add(t, q)
	t.FillBytes(b)
	return b
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// parseTime reads the datetime forms AppFlow sources produce; a zone-less
// time is UTC.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 10 || s[4] != '-' {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// pqLayout mirrors the data words of parquet.Value (v0.32: ptr, u64, then
// kind and levels). levelled builds a column's values from a template made
// once through Value.Level, setting only the data words: Value.Level is not
// inlined and was ~6% of a Parquet run's CPU at one call per cell. fastValues
// is false, and the callers use the public constructors, unless init finds
// the layout still matches (a parquet-go upgrade that changes it only costs
// speed).
type pqLayout struct {
	ptr *byte
	u64 uint64
}

var fastValues = checkValueLayout()

func checkValueLayout() bool {
	if unsafe.Sizeof(parquet.Value{}) < unsafe.Sizeof(pqLayout{}) {
		return false
	}
	same := func(a, b parquet.Value) bool {
		return a.Kind() == b.Kind() && a.DefinitionLevel() == b.DefinitionLevel() &&
			a.RepetitionLevel() == b.RepetitionLevel() && a.Column() == b.Column() &&
			string(a.Bytes()) == string(b.Bytes()) && a == b
	}
	for _, col := range []int{0, 3, 255} {
		for _, s := range []string{"", "a", "hello, parquet"} {
			if !same(levelledString(parquet.ByteArrayValue(nil).Level(0, 1, col), s),
				parquet.ByteArrayValue(bytesOf(s)).Level(0, 1, col)) {
				return false
			}
		}
		for _, i := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64} {
			if !same(levelledWord(parquet.Int64Value(0).Level(0, 1, col), uint64(i)),
				parquet.Int64Value(i).Level(0, 1, col)) {
				return false
			}
		}
		for _, f := range []float64{0, -0.5, 1265, math.MaxFloat64, math.Inf(-1)} {
			if !same(levelledWord(parquet.DoubleValue(0).Level(0, 1, col), math.Float64bits(f)),
				parquet.DoubleValue(f).Level(0, 1, col)) {
				return false
			}
		}
	}
	return true
}

// levelledString is tmpl (a BYTE_ARRAY value with its levels) holding s.
func levelledString(tmpl parquet.Value, s string) parquet.Value {
	l := (*pqLayout)(unsafe.Pointer(&tmpl))
	l.ptr, l.u64 = unsafe.StringData(s), uint64(len(s))
	return tmpl
}

// levelledWord is tmpl (an INT64 or DOUBLE value with its levels) holding
// the 64 bits w.
func levelledWord(tmpl parquet.Value, w uint64) parquet.Value {
	(*pqLayout)(unsafe.Pointer(&tmpl)).u64 = w
	return tmpl
}

// Writing (writer.go hands each partition group of a batch here).
//
// The cells go to parquet-go's column writers a few hundred at a time,
// converted on the fly by the goroutine writing their column, so no batch
// is ever copied whole into parquet.Values (24 bytes a cell, written and
// read back once more, in batch-sized buffers).
// The column writers read the caller's batch, so a Write waits until its
// rows are written; the engine's queue keeps the sources and tasks busy
// meanwhile. Cells that need a real conversion (text to a number, a
// decimal, ...) are converted first, by the caller, because a cell that
// does not convert drops its whole row from every column.

// pqJob is one group of a batch's rows on its way to a Parquet file.
type pqJob struct {
	p     *plan
	b     *record.Batch
	kinds []colKind
	rows  []int32 // the batch rows to write, in order; nil: rows 0..n-1
	n     int
	// slow[j] holds column j's converted values, one per row written, when
	// some of its cells need a conversion; nil when every cell is direct.
	slow    [][]parquet.Value
	slowBuf [][]parquet.Value // slow's backing arrays, kept for the next job
	keep    []int32           // rows' backing array when rows were dropped
	done    chan struct{}
	bufs    [][]parquet.Value // per column, the background side's chunk
}

// pqChunk is how many cells a column writer converts at once: its values
// stay in the L1 cache until parquet-go copies them.
const pqChunk = 512

// directKinds is the set (bit 1<<Kind) of the cell kinds that go to a
// column of kind k without a conversion that could fail or allocate.
func directKinds(k colKind) uint16 {
	set := func(ks ...record.Kind) uint16 {
		var m uint16 = 1<<record.Missing | 1<<record.Null
		for _, vk := range ks {
			m |= 1 << vk
		}
		return m
	}
	switch k {
	case colString:
		return set(record.String, record.Decimal, record.JSON)
	case colInt64:
		return set(record.Int)
	case colDouble:
		return set(record.Float, record.Int)
	case colTimestamp:
		return set(record.Time, record.Int)
	}
	return set()
}

// writeParquetRows writes n rows of b (rows[i], or i when rows is nil) to
// slot s and returns once they are written.
func (w *writer) writeParquetRows(ctx context.Context, s *slot, p *plan, b *record.Batch, rows []int32, n int) error {
	q := &w.pq
	if q.done == nil {
		q.done = make(chan struct{}, 1)
	}
	q.p, q.b, q.kinds, q.rows, q.n = p, b, w.pschema.kinds, rows, n
	defer q.release()
	w.convertSlow(q)
	if q.n == 0 {
		return nil
	}
	if !w.pschema.chosen {
		ps, err := w.pschema.chooseDictionaries(q)
		if err != nil {
			return fault.Wrap(fault.Invalid, err, "parquet schema")
		}
		w.pschema, w.parquetOpt = ps, ps.writerOptions()
	}
	if err := w.send(ctx, job{slot: s, pq: q, rows: q.n}); err != nil {
		return err
	}
	<-q.done // the background goroutine answers every job it takes
	return w.failed()
}

// release drops the job's references into the batch.
func (q *pqJob) release() {
	for j := range q.slow {
		clear(q.slow[j])
		q.slow[j] = nil
	}
	q.p, q.b, q.rows = nil, nil, nil
}

// convertSlow converts the columns that have cells needing a conversion,
// drops the rows that do not convert (recorded as failures, in row order)
// and leaves in q.rows the rows to write.
func (w *writer) convertSlow(q *pqJob) {
	// One pass over the rows, in memory order, collects each column's
	// cell kinds.
	var seenBuf [32]uint16
	seen := append(seenBuf[:0], make([]uint16, len(q.p.cols))...)
	width, cells := len(q.b.Fields), q.b.Cells
	for i := range q.n {
		r := i
		if q.rows != nil {
			r = int(q.rows[i])
		}
		row := cells[r*width : (r+1)*width]
		for j, c := range q.p.cols {
			if c >= 0 {
				seen[j] |= 1 << row[c].K
			}
		}
	}
	var slowCols []int
	for j, kinds := range seen {
		if kinds&^directKinds(q.kinds[j]) != 0 {
			slowCols = append(slowCols, j)
		}
	}
	if len(slowCols) == 0 {
		return
	}
	if len(q.slow) < len(q.kinds) {
		q.slow = make([][]parquet.Value, len(q.kinds))
		q.slowBuf = make([][]parquet.Value, len(q.kinds))
	}
	for _, j := range slowCols {
		q.slowBuf[j] = slices.Grow(q.slowBuf[j][:0], q.n)[:q.n]
		q.slow[j] = q.slowBuf[j]
	}
	// Big batches convert in parallel parts of rows. A part writes its
	// kept rows' values from its first index on; the parts after the first
	// then move down over the rows dropped before them.
	keep := slices.Grow(q.keep[:0], q.n)[:q.n]
	parts := 1
	if w.procs > 1 && q.n >= 2*parallelMinRows {
		parts = min(w.procs, q.n/parallelMinRows)
	}
	kept := make([]int, parts)
	fails := make([][]connector.RecordFailure, parts)
	do := func(part int) {
		lo, hi := q.n*part/parts, q.n*(part+1)/parts
		k := lo
		for i := lo; i < hi; i++ {
			r := i
			if q.rows != nil {
				r = int(q.rows[i])
			}
			row := q.b.Row(r)
			ok := true
			for _, j := range slowCols {
				v := row[q.p.cols[j]]
				pv, bad := convert(v, q.kinds[j], j)
				if bad != "" {
					fails[part] = append(fails[part], recordFailure(q.p, q.b, r, fmt.Sprintf("field %q: %q is %s", q.p.fields[j], v.Text(), bad)))
					ok = false
					break
				}
				q.slow[j][k] = pv
			}
			if ok {
				keep[k] = int32(r)
				k++
			}
		}
		kept[part] = k - lo
	}
	var wg sync.WaitGroup
	for part := 1; part < parts; part++ {
		wg.Go(func() { do(part) })
	}
	do(0)
	wg.Wait()
	k := kept[0]
	for part := 1; part < parts; part++ {
		lo := q.n * part / parts
		if k != lo {
			for _, j := range slowCols {
				copy(q.slow[j][k:], q.slow[j][lo:lo+kept[part]])
			}
			copy(keep[k:], keep[lo:lo+kept[part]])
		}
		k += kept[part]
	}
	for _, fs := range fails {
		for _, f := range fs {
			if len(w.failures) >= maxStoredRecords {
				f.Record = nil
			}
			w.failures = append(w.failures, f)
		}
	}
	for _, j := range slowCols {
		clear(q.slow[j][k:]) // moved or dropped: no references into the batch
		q.slow[j] = q.slow[j][:k]
	}
	q.keep, q.rows, q.n = keep, keep[:k], k
}

// writeParquet writes a job's rows: the background side.
func (w *writer) writeParquet(s *slot, q *pqJob) error {
	f, err := w.openFile(s)
	if err != nil {
		return err
	}
	// Row groups hold rowGroupRows rows: the columns are written directly,
	// so the cut is made here (WriteRows would make it).
	for lo := 0; lo < q.n; {
		hi := min(q.n, lo+int(rowGroupRows-f.rgRows))
		if err := w.writeColumns(f.pw.ColumnWriters(), q, lo, hi); err != nil {
			return classify(err, "write %s", f.key)
		}
		f.rgRows += int64(hi - lo)
		lo = hi
		if f.rgRows >= rowGroupRows {
			if err := w.flushParquet(f); err != nil {
				return err
			}
		}
	}
	f.rows += int64(q.n)
	// Bound the row groups held in memory across the open files.
	limit := max(int64(rowGroupBudget/max(w.openPq, 1)), mib)
	if f.pw.Size()-f.cw.n >= limit {
		if err := w.flushParquet(f); err != nil {
			return err
		}
	}
	if t := w.cfg.target; t > 0 && f.pw.Size() >= t {
		if err := w.flushParquet(f); err != nil {
			return err
		}
		if f.pw.Size() >= t {
			return w.closeFile(s)
		}
	}
	return nil
}

func (w *writer) flushParquet(f *outFile) error {
	f.rgRows = 0
	if err := w.flushPages(f); err != nil {
		return classify(err, "write %s", f.key)
	}
	if err := f.pw.Flush(); err != nil {
		return classify(err, "write %s", f.key)
	}
	return nil
}

// closeParquet writes the file's last row group and its footer.
func (w *writer) closeParquet(f *outFile) error {
	if err := w.flushPages(f); err != nil {
		return err
	}
	return f.pw.Close()
}

// flushPages encodes and compresses the columns' last, partly filled pages
// concurrently: parquet-go's row group flush would do it column after
// column on the writer's goroutine.
func (w *writer) flushPages(f *outFile) error {
	cws := f.pw.ColumnWriters()
	return w.eachColumn(len(cws), true, func(j int) error { return cws[j].Flush() })
}

// writeColumns writes the job's rows [lo, hi) column by column, the
// columns spread over the CPUs: a column's writer (conversion, buffering,
// encoding, Snappy) is independent of the others', and this is most of a
// Parquet run's CPU.
func (w *writer) writeColumns(cws []*parquet.ColumnWriter, q *pqJob, lo, hi int) error {
	if len(q.bufs) < len(cws) {
		q.bufs = make([][]parquet.Value, len(cws))
		for j := range q.bufs {
			q.bufs[j] = make([]parquet.Value, pqChunk)
		}
	}
	return w.eachColumn(len(cws), hi-lo >= parallelMinRows, func(j int) error { return q.writeColumn(cws[j], j, lo, hi) })
}

// eachColumn runs fn for columns 0..n-1, on up to w.procs goroutines when
// parallel, and joins their errors.
func (w *writer) eachColumn(n int, parallel bool, fn func(j int) error) error {
	errs := make([]error, n)
	var next atomic.Int32
	work := func() {
		for {
			j := int(next.Add(1) - 1)
			if j >= n {
				return
			}
			errs[j] = fn(j)
		}
	}
	if workers := min(w.procs, n); parallel && workers > 1 {
		var wg sync.WaitGroup
		for range workers - 1 {
			wg.Go(work)
		}
		work()
		wg.Wait()
	} else {
		work()
	}
	return errors.Join(errs...)
}

// writeColumn writes column j of rows [lo, hi).
func (q *pqJob) writeColumn(cw *parquet.ColumnWriter, j, lo, hi int) error {
	if j < len(q.slow) && q.slow[j] != nil {
		_, err := cw.WriteRowValues(q.slow[j][lo:hi])
		return err
	}
	buf := q.bufs[j]
	defer clear(buf) // drop the references into the batch
	for lo < hi {
		m := min(hi-lo, len(buf))
		vals := buf[:m]
		q.fill(vals, j, lo)
		if _, err := cw.WriteRowValues(vals); err != nil {
			return err
		}
		lo += m
	}
	return nil
}

// fill sets vals to column j's values of rows [lo, lo+len(vals)), whose
// cells are all direct.
func (q *pqJob) fill(vals []parquet.Value, j, lo int) {
	k, c := q.kinds[j], q.p.cols[j]
	null := parquet.Value{}.Level(0, 0, j)
	if c < 0 {
		for i := range vals {
			vals[i] = null
		}
		return
	}
	width := len(q.b.Fields)
	cells := q.b.Cells
	at := func(i int) *record.Value {
		r := lo + i
		if q.rows != nil {
			r = int(q.rows[r])
		}
		return &cells[r*width+c]
	}
	switch {
	case !fastValues:
		for i := range vals {
			vals[i], _ = convert(*at(i), k, j)
		}
	case k == colString:
		tmpl := parquet.ByteArrayValue(nil).Level(0, 1, j)
		for i := range vals {
			if v := at(i); v.IsAbsent() {
				vals[i] = null
			} else {
				vals[i] = levelledString(tmpl, v.S)
			}
		}
	default: // INT64 and DOUBLE kinds, whose cells hold their 64 bits in N
		tmpl := parquet.Int64Value(0).Level(0, 1, j)
		if k == colDouble {
			tmpl = parquet.DoubleValue(0).Level(0, 1, j)
		}
		for i := range vals {
			switch v := at(i); {
			case v.IsAbsent():
				vals[i] = null
			case k == colDouble && v.K == record.Int:
				vals[i] = levelledWord(tmpl, math.Float64bits(float64(v.Int())))
			default:
				vals[i] = levelledWord(tmpl, v.N)
			}
		}
	}
}
