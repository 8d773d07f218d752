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

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/parquetfile"
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
// Layout (internal/parquetfile writes the files): row groups of
// rowGroupRows rows or rowGroupBudget bytes, column chunk statistics and
// the page index (no statistics in page headers), dictionary encoding for
// strings that repeat (parquetfile decides it on each row group's first
// page).

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

func (k colKind) pqKind() parquetfile.Kind {
	switch k {
	case colInt64:
		return parquetfile.Int64
	case colDouble:
		return parquetfile.Double
	case colDecimal:
		return parquetfile.Decimal
	case colBool:
		return parquetfile.Bool
	case colTimestamp:
		return parquetfile.Timestamp
	case colDate:
		return parquetfile.Date
	}
	return parquetfile.String
}

type parquetSchema struct {
	cols   []parquetfile.Column // in field order
	kinds  []colKind
	fields []string
}

func newParquetSchema(fields []string, kinds []colKind) (*parquetSchema, error) {
	cols := make([]parquetfile.Column, len(fields))
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		if seen[f] {
			return nil, fmt.Errorf("field %q appears twice", f)
		}
		seen[f] = true
		cols[i] = parquetfile.Column{Name: f, Kind: kinds[i].pqKind()}
	}
	return &parquetSchema{cols: cols, kinds: kinds, fields: fields}, nil
}

// dictMaxBytes bounds a row group's dictionary: past it the column's
// row group goes on PLAIN.
const dictMaxBytes = 1 << 20

// newParquetWriter starts a Parquet file on out. A column buffers its
// values up to a page before it encodes them: 256 KiB a page, less for
// wide schemas and many open files, so that the page buffers of all open
// files stay within about a quarter of rowGroupBudget (twice that with
// the full pages being encoded). Full pages are encoded and compressed on
// up to procs goroutines of their own, so that Snappy is off the
// background goroutine's path, which writes every batch's columns.
func (w *writer) newParquetWriter(out io.Writer) (*parquetfile.Writer, error) {
	columns := len(w.pqCols) * (w.openPq + 1)
	page := min(max(rowGroupBudget/4/max(columns, 1), 32<<10), 256<<10)
	return parquetfile.NewWriter(out, w.pqCols, parquetfile.Options{PageSize: page, DictMaxBytes: dictMaxBytes, CreatedBy: createdBy, Workers: w.procs})
}

// createdBy is the footer's created_by, as parquet-go wrote it for
// appflowd before parquetfile.
const createdBy = "appflowd version (build )"

var pow18 = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
var max38 = new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)

// pqVal is a converted cell: null, or a value of its column's kind.
type pqVal struct {
	s    string // String; Decimal: 16 bytes of two's complement
	n    uint64 // Int64 and Timestamp: the int64; Double: its bits; Date: the int32; Bool: 0 or 1
	null bool
}

// put adds v to a column of kind k.
func put(cw *parquetfile.ColumnWriter, k colKind, v pqVal) {
	switch {
	case v.null:
		cw.Null()
	case k == colString:
		cw.String(v.s)
	case k == colInt64 || k == colTimestamp:
		cw.Int64(int64(v.n))
	case k == colDouble:
		cw.Double(math.Float64frombits(v.n))
	case k == colDecimal:
		cw.Decimal([16]byte([]byte(v.s)))
	case k == colBool:
		cw.Bool(v.n != 0)
	case k == colDate:
		cw.Int32(int32(v.n))
	}
}

// convert turns one cell into a value of kind k; a non-empty reason when
// the value cannot have that type. The returned value may point into v.S:
// the column writer copies it.
func convert(v record.Value, k colKind) (pqVal, string) {
	var out pqVal
	if v.IsAbsent() {
		return pqVal{null: true}, ""
	}
	switch k {
	case colString:
		switch v.K {
		case record.String, record.Decimal, record.JSON:
			out.s = v.S
		default:
			out.s = v.Text()
		}
	case colInt64:
		switch v.K {
		case record.Int:
			out.n = v.N
		case record.Float:
			f := v.Float()
			if f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
				return out, "not an integer"
			}
			out.n = uint64(int64(f))
		case record.String, record.Decimal:
			n, err := strconv.ParseInt(strings.TrimSpace(v.S), 10, 64)
			if err != nil {
				f, ferr := strconv.ParseFloat(strings.TrimSpace(v.S), 64)
				if ferr != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
					return out, "not an integer"
				}
				n = int64(f)
			}
			out.n = uint64(n)
		case record.Bool:
			out.n = v.N
		default:
			return out, "not an integer"
		}
	case colDouble:
		switch v.K {
		case record.Int:
			out.n = math.Float64bits(float64(v.Int()))
		case record.Float:
			out.n = v.N
		case record.String, record.Decimal:
			f, err := strconv.ParseFloat(strings.TrimSpace(v.S), 64)
			if err != nil {
				return out, "not a number"
			}
			out.n = math.Float64bits(f)
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
		out.s = string(twosComplement16(q))
	case colBool:
		switch v.K {
		case record.Bool:
			out.n = v.N
			if v.Bool() {
				out.n = 1
			}
		case record.Int:
			if v.Int() != 0 && v.Int() != 1 {
				return out, "not a boolean"
			}
			out.n = v.N
		case record.String:
			b, err := strconv.ParseBool(strings.TrimSpace(v.S))
			if err != nil {
				return out, "not a boolean"
			}
			if b {
				out.n = 1
			}
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
			out.n = uint64(int64(int32(math.Floor(float64(ms) / 86400000))))
		} else {
			out.n = uint64(ms)
		}
	}
	return out, ""
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

// Writing (writer.go hands each partition group of a batch here).
//
// The cells go straight to the column writers (parquetfile), each column
// by the goroutine writing it, so no batch is ever copied whole into
// values of their own. The column writers read the caller's batch after
// Write returns: the writer is a connector.DeferredWriter, and the batch's
// done is called once the background goroutine has written (or dropped)
// every job of it, so the caller converts the next batch while the last
// one's columns are written. Write itself waits for that done. Cells that
// need a real conversion (text to a number, a decimal, ...) are converted
// first, by the caller, because a cell that does not convert drops its
// whole row from every column.

// pqJob is one group of a batch's rows on its way to a Parquet file.
type pqJob struct {
	p     *plan
	b     *record.Batch
	kinds []colKind
	rows  []int32 // the batch rows to write, in order; nil: rows 0..n-1
	n     int
	// slow[j] holds column j's converted values, one per row written, when
	// some of its cells need a conversion; nil when every cell is direct.
	slow    [][]pqVal
	slowBuf [][]pqVal // slow's backing arrays, kept for the next job
	keep    []int32   // rows' backing array when rows were dropped
	hold    *batchHold
}

// batchHold is a batch's hold on its done: one reference for the Write
// handing its jobs over and one for each job not yet written; the last
// drop calls done.
type batchHold struct {
	refs atomic.Int32
	done func()
}

func newBatchHold(done func()) *batchHold {
	h := &batchHold{done: done}
	h.refs.Store(1)
	return h
}

func (h *batchHold) drop() {
	if h.refs.Add(-1) == 0 {
		h.done()
	}
}

// getPQ is a free job; jobs are reused, with their conversion buffers.
func (w *writer) getPQ() *pqJob {
	select {
	case q := <-w.pqFree:
		return q
	default:
		return &pqJob{}
	}
}

// finish is the background goroutine's end of a job, written or dropped:
// it lets go of the batch.
func (w *writer) finishPQ(q *pqJob) {
	h := q.hold
	q.hold = nil
	q.release()
	select {
	case w.pqFree <- q:
	default:
	}
	h.drop()
}

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

// writeParquetRows converts n rows of b (rows[i], or i when rows is nil)
// and hands them to the background goroutine for slot s, with a reference
// on h: b is read until the job is written. It blocks while the jobs
// channel is full, which bounds the batches held.
func (w *writer) writeParquetRows(ctx context.Context, s *slot, p *plan, b *record.Batch, rows []int32, n int, h *batchHold) error {
	q := w.getPQ()
	q.p, q.b, q.kinds, q.rows, q.n = p, b, w.pschema.kinds, rows, n
	q.hold = h
	h.refs.Add(1)
	w.convertSlow(q)
	if q.n == 0 {
		w.finishPQ(q)
		return nil
	}
	if err := w.send(ctx, job{slot: s, pq: q, rows: q.n}); err != nil {
		w.finishPQ(q)
		return err
	}
	return nil
}

// release drops the job's references into the batch.
func (q *pqJob) release() {
	for j := range q.slow {
		clear(q.slow[j])
		q.slow[j] = nil
	}
	q.p, q.b, q.rows = nil, nil, nil
}

// slowColumns appends to out the columns that have a cell needing a
// conversion (not of directKinds). A column is scanned on its own, its
// kinds kept in a register, and only until its first such cell.
func (q *pqJob) slowColumns(out []int) []int {
	width, cells, rows := len(q.b.Fields), q.b.Cells, q.rows
	for j, c := range q.p.cols {
		if c < 0 {
			continue
		}
		slow := ^directKinds(q.kinds[j])
		var seen uint16
		if rows == nil {
			// Four rows at a time, each into its own register.
			col := cells[c:]
			i := 0
			for ; i+4 <= q.n && seen&slow == 0; i += 4 {
				k0 := uint16(1) << col[i*width].K
				k1 := uint16(1) << col[(i+1)*width].K
				k2 := uint16(1) << col[(i+2)*width].K
				k3 := uint16(1) << col[(i+3)*width].K
				seen |= k0 | k1 | k2 | k3
			}
			for ; i < q.n; i++ {
				seen |= 1 << col[i*width].K
			}
		} else {
			for i := 0; i < q.n && seen&slow == 0; i++ {
				seen |= 1 << cells[int(rows[i])*width+c].K
			}
		}
		if seen&slow != 0 {
			out = append(out, j)
		}
	}
	return out
}

// convertSlow converts the columns that have cells needing a conversion,
// drops the rows that do not convert (recorded as failures, in row order)
// and leaves in q.rows the rows to write.
func (w *writer) convertSlow(q *pqJob) {
	var slowBuf [32]int
	slowCols := q.slowColumns(slowBuf[:0])
	if len(slowCols) == 0 {
		return
	}
	if len(q.slow) < len(q.kinds) {
		q.slow = make([][]pqVal, len(q.kinds))
		q.slowBuf = make([][]pqVal, len(q.kinds))
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
				pv, bad := convert(v, q.kinds[j])
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
	for lo := 0; lo < q.n; {
		hi := min(q.n, lo+int(rowGroupRows-f.rgRows))
		w.writeColumns(f.pw, q, lo, hi)
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
	if f.pw.Size()-f.pw.Written() >= limit {
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
	w.finishPages(f)
	if err := f.pw.Flush(); err != nil {
		return classify(err, "write %s", f.key)
	}
	return nil
}

// closeParquet writes the file's last row group, its page index and its
// footer.
func (w *writer) closeParquet(f *outFile) error {
	w.finishPages(f)
	return f.pw.Close()
}

// finishPages encodes and compresses the columns' last, partly filled
// pages (and dictionaries) concurrently, so that the row group's Flush
// only writes them.
func (w *writer) finishPages(f *outFile) {
	pw := f.pw
	_ = w.eachColumn(pw.NumColumns(), true, func(j int) error { pw.Column(j).Finish(); return nil })
}

// writeColumns writes the job's rows [lo, hi) column by column, the
// columns spread over the CPUs: a column's writer (conversion, buffering,
// encoding, Snappy) is independent of the others', and this is most of a
// Parquet run's CPU.
func (w *writer) writeColumns(pw *parquetfile.Writer, q *pqJob, lo, hi int) {
	_ = w.eachColumn(pw.NumColumns(), hi-lo >= parallelMinRows, func(j int) error {
		q.writeColumn(pw.Column(j), j, lo, hi)
		return nil
	})
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
func (q *pqJob) writeColumn(cw *parquetfile.ColumnWriter, j, lo, hi int) {
	k := q.kinds[j]
	if j < len(q.slow) && q.slow[j] != nil {
		for _, v := range q.slow[j][lo:hi] {
			put(cw, k, v)
		}
		return
	}
	c := q.p.cols[j]
	if c < 0 {
		for range hi - lo {
			cw.Null()
		}
		return
	}
	// Every cell is direct (directKinds): its value is the cell's S or N.
	// A loop for each kind, which is tested once, not once a cell.
	width, cells, rows := len(q.b.Fields), q.b.Cells, q.rows
	cell := func(i int) *record.Value {
		if rows != nil {
			i = int(rows[i])
		}
		return &cells[i*width+c]
	}
	switch k {
	case colString:
		for i := lo; i < hi; i++ {
			if v := cell(i); v.IsAbsent() {
				cw.Null()
			} else {
				cw.String(v.S)
			}
		}
	case colDouble:
		for i := lo; i < hi; i++ {
			switch v := cell(i); {
			case v.IsAbsent():
				cw.Null()
			case v.K == record.Int:
				cw.Double(float64(v.Int()))
			default:
				cw.Double(v.Float())
			}
		}
	case colInt64, colTimestamp:
		for i := lo; i < hi; i++ {
			if v := cell(i); v.IsAbsent() {
				cw.Null()
			} else {
				cw.Int64(int64(v.N))
			}
		}
	default: // other kinds have no direct cells but nulls
		for i := lo; i < hi; i++ {
			if v := cell(i); v.IsAbsent() {
				cw.Null()
			} else {
				pv, _ := convert(*v, k)
				put(cw, k, pv)
			}
		}
	}
}
