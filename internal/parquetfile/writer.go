// Package parquetfile writes Parquet files: flat schemas of OPTIONAL
// columns, PLAIN (DELTA_LENGTH_BYTE_ARRAY for strings, DELTA_BINARY_PACKED
// for INT64 pages it shrinks) and RLE_DICTIONARY data pages (v2) with
// definition levels, Snappy (pages it does not shrink stay uncompressed;
// each column's first compressed page picks golang/snappy's encoder or
// s2's for the file),
// column chunk statistics, the page index (column and offset indexes) and
// the footer.
//
// Values go straight from the caller to a column's page buffer, one typed
// call a value (no boxed value per cell); a full page is encoded and
// compressed at once, by the caller or, with Options.Workers, on a
// goroutine of its own while the caller fills the column's next page. The
// columns are independent: different columns may be written from
// different goroutines at the same time. A row group's pages stay in
// memory until Flush writes them, so that a dictionary page can precede
// them.
package parquetfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// Kind is a column's type.
type Kind uint8

const (
	String    Kind = iota // BYTE_ARRAY, STRING
	Int64                 // INT64, INT(64, signed)
	Double                // DOUBLE
	Decimal               // FIXED_LEN_BYTE_ARRAY(16), DECIMAL(38, 18): big-endian two's complement
	Bool                  // BOOLEAN
	Timestamp             // INT64, TIMESTAMP(MILLIS, UTC)
	Date                  // INT32, DATE: days since the epoch
)

// Column describes one column of the file.
type Column struct {
	Name string
	Kind Kind
	// Dict writes the column's pages RLE_DICTIONARY (String columns
	// only), falling back to PLAIN for the rest of a row group once its
	// dictionary passes Options.DictMaxBytes. Without it, a String
	// column's row group starts PLAIN and turns to RLE_DICTIONARY from
	// its first page on when that page's distinct values take at most
	// half of its bytes (see ColumnWriter.probe).
	Dict bool
}

// Options are a writer's settings; zero fields take the defaults.
type Options struct {
	PageSize     int    // bytes of values a page holds before it is encoded; 256 KiB
	DictMaxBytes int    // a row group's dictionary bytes before PLAIN; 1 MiB
	CreatedBy    string // the footer's created_by
	// Workers is how many pages may be encoded and compressed at once on
	// goroutines of their own, off the column writers' callers; 0 or 1:
	// by the caller, when its page fills. A column has at most one page
	// in flight. The file's bytes do not depend on it.
	Workers int
}

// Parquet enums used here.
const (
	typeBoolean = 0
	typeInt32   = 1
	typeInt64   = 2
	typeDouble  = 5
	typeBinary  = 6
	typeFixed   = 7

	encPlain       = 0
	encRLE         = 3
	encDeltaBinary = 5
	encDeltaLength = 6
	encRLEDict     = 8

	pageData2 = 3
	pageDict  = 2

	codecSnappy = 1

	convUTF8      = 0
	convDecimal   = 5
	convDate      = 6
	convTimestamp = 9
	convInt64     = 18
)

var magic = []byte("PAR1")

// Writer writes one Parquet file to an io.Writer.
type Writer struct {
	out     io.Writer
	cols    []Column
	cw      []*ColumnWriter
	opt     Options
	off     int64 // bytes written to out
	started bool
	closed  bool
	groups  []rowGroup
	rows    int64
	err     error
	wg      sync.WaitGroup // the page encoders
}

type rowGroup struct {
	rows, unc, comp, off int64
	chunks               []chunkMeta
}

// chunkMeta is what the footer and the page index say of a column chunk.
type chunkMeta struct {
	encodings        uint16 // bit per encoding
	values           int64
	unc, comp        int64
	dataOff          int64
	dictOff          int64 // -1 without a dictionary page
	nulls            int64
	min, max         []byte // nil: no bounds
	pages            []pageInfo
	colIdx, offIdx   int64 // page index offsets, set by Close
	colIdxN, offIdxN int32
}

type pageInfo struct {
	off      int64 // in the chunk's data pages; then in the file
	size     int32
	firstRow int64
	nulls    int64
	values   int64
	min, max []byte
}

// NewWriter starts a file of cols on out. Nothing is written before the
// first Flush or Close.
func NewWriter(out io.Writer, cols []Column, opt Options) (*Writer, error) {
	if opt.PageSize <= 0 {
		opt.PageSize = 256 << 10
	}
	if opt.DictMaxBytes <= 0 {
		opt.DictMaxBytes = 1 << 20
	}
	seen := make(map[string]bool, len(cols))
	w := &Writer{out: out, cols: cols, opt: opt, cw: make([]*ColumnWriter, len(cols))}
	var sem chan struct{}
	if opt.Workers > 1 {
		sem = make(chan struct{}, opt.Workers)
	}
	for j, c := range cols {
		if seen[c.Name] {
			return nil, fmt.Errorf("column %q appears twice", c.Name)
		}
		seen[c.Name] = true
		if c.Kind > Date {
			return nil, fmt.Errorf("column %q: unknown kind %d", c.Name, c.Kind)
		}
		cw := &ColumnWriter{kind: c.Kind, dictOK: c.Dict && c.Kind == String, pageSize: opt.PageSize, dictMax: opt.DictMaxBytes, sem: sem, wg: &w.wg}
		cw.reset()
		w.cw[j] = cw
	}
	return w, nil
}

// Column is column j's writer.
func (w *Writer) Column(j int) *ColumnWriter { return w.cw[j] }

// NumColumns is the number of columns.
func (w *Writer) NumColumns() int { return len(w.cw) }

// Size is the bytes written so far plus those the current row group
// holds (its encoded pages and the values of its unfinished pages).
func (w *Writer) Size() int64 {
	n := w.off
	for _, c := range w.cw {
		n += c.buffered()
	}
	return n
}

// Written is the bytes written to out so far.
func (w *Writer) Written() int64 { return w.off }

func (w *Writer) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.out.Write(b)
	w.off += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	w.err = err
	return err
}

// Flush ends the row group: it finishes the columns' pages (those not
// finished already by ColumnWriter.Finish) and writes them. A row group of
// no rows writes nothing.
func (w *Writer) Flush() error {
	if w.closed {
		return errors.New("parquetfile: write after Close")
	}
	if w.err != nil {
		return w.err
	}
	for _, c := range w.cw {
		c.Finish()
	}
	if len(w.cw) == 0 {
		return nil
	}
	rows := w.cw[0].rows
	for j, c := range w.cw {
		if c.rows != rows {
			return fmt.Errorf("parquetfile: column %q holds %d rows, column %q %d", w.cols[j].Name, c.rows, w.cols[0].Name, rows)
		}
	}
	defer func() {
		for _, c := range w.cw {
			c.reset()
		}
	}()
	if rows == 0 {
		return nil
	}
	if !w.started {
		if err := w.write(magic); err != nil {
			return err
		}
		w.started = true
	}
	rg := rowGroup{rows: rows, off: w.off, chunks: make([]chunkMeta, len(w.cw))}
	for j, c := range w.cw {
		m := &rg.chunks[j]
		*m = chunkMeta{encodings: c.encodings | 1<<encRLE, values: c.rows, dictOff: -1, nulls: c.nullsAll, pages: c.pages}
		c.pages = nil
		if c.chunkSt.has {
			m.min, m.max = c.chunkSt.bytes(c.kind)
		}
		start := w.off
		if len(c.dictPg) > 0 {
			m.dictOff = w.off
			m.encodings |= 1 << encPlain
			if err := w.write(c.dictPg); err != nil {
				return err
			}
		}
		m.dataOff = w.off
		if err := c.chunk.writeTo(w); err != nil {
			return err
		}
		for k := range m.pages {
			m.pages[k].off += m.dataOff
		}
		m.comp = w.off - start
		m.unc = c.unc
		rg.unc += m.unc
		rg.comp += m.comp
	}
	w.groups = append(w.groups, rg)
	w.rows += rows
	return nil
}

// Close flushes the last row group and writes the page index and the
// footer. It does not close out.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	w.closed = true
	if !w.started {
		if err := w.write(magic); err != nil {
			return err
		}
		w.started = true
	}
	var e tenc
	for pass := range 2 { // column indexes, then offset indexes
		e.b = e.b[:0]
		base := w.off
		for g := range w.groups {
			for j := range w.groups[g].chunks {
				m := &w.groups[g].chunks[j]
				at := base + int64(len(e.b))
				if pass == 0 {
					m.encodeColumnIndex(&e)
					m.colIdx, m.colIdxN = at, int32(base+int64(len(e.b))-at)
				} else {
					m.encodeOffsetIndex(&e)
					m.offIdx, m.offIdxN = at, int32(base+int64(len(e.b))-at)
				}
			}
		}
		if err := w.write(e.b); err != nil {
			return err
		}
	}
	e.b = e.b[:0]
	w.encodeFooter(&e)
	n := len(e.b)
	e.b = binary.LittleEndian.AppendUint32(e.b, uint32(n))
	e.b = append(e.b, magic...)
	return w.write(e.b)
}

func (m *chunkMeta) encodeColumnIndex(e *tenc) {
	e.last = 0
	e.list(1, tTrue, len(m.pages))
	for _, p := range m.pages {
		e.elemBool(p.nulls == p.values)
	}
	e.list(2, tBinary, len(m.pages))
	for _, p := range m.pages {
		e.elemBin(p.min)
	}
	e.list(3, tBinary, len(m.pages))
	for _, p := range m.pages {
		e.elemBin(p.max)
	}
	e.i32(4, 0) // UNORDERED
	e.list(5, tI64, len(m.pages))
	for _, p := range m.pages {
		e.elemI64(p.nulls)
	}
	e.stop()
}

func (m *chunkMeta) encodeOffsetIndex(e *tenc) {
	e.last = 0
	e.list(1, tStruct, len(m.pages))
	for _, p := range m.pages {
		e.begin(0)
		e.i64(1, p.off)
		e.i32(2, p.size)
		e.i64(3, p.firstRow)
		e.end()
	}
	e.stop()
}

func (w *Writer) encodeFooter(e *tenc) {
	e.last = 0
	e.i32(1, 2)
	e.list(2, tStruct, len(w.cols)+1)
	e.begin(0)
	e.str(4, "appflow")
	e.i32(5, int32(len(w.cols)))
	e.end()
	for _, c := range w.cols {
		e.begin(0)
		e.i32(1, physical(c.Kind))
		if c.Kind == Decimal {
			e.i32(2, 16)
		}
		e.i32(3, 1) // OPTIONAL
		e.str(4, c.Name)
		switch c.Kind {
		case String:
			e.i32(6, convUTF8)
			e.begin(10)
			e.begin(1)
			e.end()
			e.end()
		case Int64:
			e.i32(6, convInt64)
			e.begin(10)
			e.begin(10)
			e.field(1, 3) // i8 bitWidth
			e.b = append(e.b, 64)
			e.bool(2, true)
			e.end()
			e.end()
		case Decimal:
			e.i32(6, convDecimal)
			e.i32(7, 18)
			e.i32(8, 38)
			e.begin(10)
			e.begin(5)
			e.i32(1, 18)
			e.i32(2, 38)
			e.end()
			e.end()
		case Timestamp:
			e.i32(6, convTimestamp)
			e.begin(10)
			e.begin(8)
			e.bool(1, true)
			e.begin(2)
			e.begin(1) // MILLIS
			e.end()
			e.end()
			e.end()
			e.end()
		case Date:
			e.i32(6, convDate)
			e.begin(10)
			e.begin(6)
			e.end()
			e.end()
		}
		e.end()
	}
	e.i64(3, w.rows)
	e.list(4, tStruct, len(w.groups))
	for g, rg := range w.groups {
		e.begin(0)
		e.list(1, tStruct, len(rg.chunks))
		for j := range rg.chunks {
			w.encodeChunk(e, j, &rg.chunks[j])
		}
		e.i64(2, rg.unc)
		e.i64(3, rg.rows)
		e.i64(5, rg.off)
		e.i64(6, rg.comp)
		e.i16(7, int16(g))
		e.end()
	}
	if w.opt.CreatedBy != "" {
		e.str(6, w.opt.CreatedBy)
	}
	e.list(7, tStruct, len(w.cols))
	for range w.cols {
		e.begin(0)
		e.begin(1) // TYPE_ORDER
		e.end()
		e.end()
	}
	e.stop()
}

func (w *Writer) encodeChunk(e *tenc, j int, m *chunkMeta) {
	e.begin(0)
	e.i64(2, 0)
	e.begin(3)
	e.i32(1, physical(w.cols[j].Kind))
	e.list(2, tI32, bits.OnesCount16(m.encodings))
	for enc := range 16 {
		if m.encodings&(1<<enc) != 0 {
			e.elemI32(int32(enc))
		}
	}
	e.list(3, tBinary, 1)
	e.elemStr(w.cols[j].Name)
	e.i32(4, codecSnappy)
	e.i64(5, m.values)
	e.i64(6, m.unc)
	e.i64(7, m.comp)
	e.i64(9, m.dataOff)
	if m.dictOff >= 0 {
		e.i64(11, m.dictOff)
	}
	e.begin(12)
	e.i64(3, m.nulls)
	if m.min != nil {
		e.bin(5, m.max)
		e.bin(6, m.min)
	}
	e.end()
	e.end()
	e.i64(4, m.offIdx)
	e.i32(5, m.offIdxN)
	e.i64(6, m.colIdx)
	e.i32(7, m.colIdxN)
	e.end()
}

func physical(k Kind) int32 {
	switch k {
	case Int64, Timestamp:
		return typeInt64
	case Double:
		return typeDouble
	case Decimal:
		return typeFixed
	case Bool:
		return typeBoolean
	case Date:
		return typeInt32
	}
	return typeBinary
}

// bounds are a page's or a chunk's min and max. Numbers start at the
// empty range (min > max) so that the hot paths need no first-value test;
// has says whether the bounds hold a value.
type bounds struct {
	has    bool
	i0, i1 int64   // Int64, Timestamp, Date, Bool
	f0, f1 float64 // Double; NaN never enters
	s0, s1 string  // String, Decimal
	// String pages: s0's and s1's first 8 bytes, big-endian and zero
	// padded. A value whose prefix lies strictly between them lies
	// strictly between s0 and s1, which spares most values both string
	// compares.
	p0, p1 uint64
}

func emptyBounds() bounds {
	return bounds{i0: math.MaxInt64, i1: math.MinInt64, f0: math.Inf(1), f1: math.Inf(-1), p0: math.MaxUint64}
}

// bytes are the bounds in Parquet's PLAIN form of the kind.
func (b *bounds) bytes(k Kind) (lo, hi []byte) {
	switch k {
	case String, Decimal:
		return []byte(b.s0), []byte(b.s1)
	case Double:
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(b.f0)), binary.LittleEndian.AppendUint64(nil, math.Float64bits(b.f1))
	case Date:
		return binary.LittleEndian.AppendUint32(nil, uint32(b.i0)), binary.LittleEndian.AppendUint32(nil, uint32(b.i1))
	case Bool:
		return []byte{byte(b.i0)}, []byte{byte(b.i1)}
	}
	return binary.LittleEndian.AppendUint64(nil, uint64(b.i0)), binary.LittleEndian.AppendUint64(nil, uint64(b.i1))
}

// merge widens b by p (a finished page's bounds, whose strings are
// stable).
func (b *bounds) merge(k Kind, p *bounds) {
	if !p.has {
		return
	}
	if !b.has {
		*b = *p
		return
	}
	b.i0, b.i1 = min(b.i0, p.i0), max(b.i1, p.i1)
	if p.f0 < b.f0 {
		b.f0 = p.f0
	}
	if p.f1 > b.f1 {
		b.f1 = p.f1
	}
	less := strings.Compare
	if k == Decimal {
		less = decCompare
	}
	if less(p.s0, b.s0) < 0 {
		b.s0 = p.s0
	}
	if less(p.s1, b.s1) > 0 {
		b.s1 = p.s1
	}
}

// decCompare orders 16-byte big-endian two's complement numbers.
func decCompare(a, b string) int {
	if a[0] != b[0] {
		if int8(a[0]) < int8(b[0]) {
			return -1
		}
		return 1
	}
	return strings.Compare(a[1:], b[1:])
}

// ColumnWriter takes one column's values, a row at a time: each row one
// call of Null or of the method of the column's kind. Its methods must not
// be called concurrently with each other or with the Writer's.
type ColumnWriter struct {
	kind     Kind
	dictOK   bool
	pageSize int
	dictMax  int

	// The current page: its n rows' definition levels (only once it has
	// a null: until then all are 1), the non-null values PLAIN (Bool: a
	// byte each; String: the bytes, lengths in lens) or, on a dictionary
	// page, their indexes.
	n        int
	defs     []byte
	vals     []byte
	lens     []int32
	idx      []uint32
	nulls    int
	dictPage bool
	st       bounds

	// The row group.
	useDict   bool
	probing   bool // the row group's first page may yet choose a dictionary
	dict      strTable
	dictVals  []string // views of arena
	arena     []byte   // the dictionary's bytes
	dictBytes int
	seenOn    []uint32 // the page number a dictionary value was last bounded on
	pageNo    uint32
	rows      int64
	nullsAll  int64
	dictPg    []byte
	finished  bool
	// Pages being encoded: fly is in flight (nil: none), spare the free
	// one. Size counts the chunk's bytes as of the last settle and fly's
	// buffered bytes (flyRaw), so that it does not depend on when pages
	// are encoded.
	fly, spare      *page
	flyRaw, settled int64
	sem             chan struct{} // Options.Workers' tokens; nil: encode inline
	wg              *sync.WaitGroup

	// Encoded pages (encodePage's while a page is in flight).
	chunk     slabs
	pages     []pageInfo
	unc       int64
	encodings uint16
	chunkSt   bounds
	// plainPages: Snappy did not pay on this row group's last page, so
	// its later pages are stored uncompressed.
	plainPages bool
	// snappyChosen: the column's first compressed page chose
	// fastSnappy (compress) for the file.
	snappyChosen, fastSnappy bool

	tmp []byte
	hdr tenc
	// res is how many bytes a String page's vals hold in front of the
	// values, for the lengths to be written in front of them without a
	// copy of the values; grow is what the lengths of a page needed, for
	// the next pages.
	res, grow int
}

func (c *ColumnWriter) reset() {
	if c.kind == String && c.res == 0 {
		c.res = 1 << 10
	}
	c.defs, c.vals, c.idx, c.lens, c.n = c.defs[:0], slices.Grow(c.vals[:0], c.res)[:c.res], c.idx[:0], c.lens[:0], 0
	c.nulls = 0
	c.st = emptyBounds()
	c.useDict = c.dictOK
	c.dictPage = c.useDict
	c.probing = c.kind == String && !c.dictOK
	c.dict.reset()
	clear(c.dictVals)
	// Nothing refers to the last row group's dictionary any more: its
	// pages' bounds are copies.
	c.arena = c.arena[:0]
	c.dictVals, c.seenOn, c.dictBytes = c.dictVals[:0], c.seenOn[:0], 0
	c.pageNo = 1
	c.chunk.release()
	c.settled, c.flyRaw = 0, 0
	c.pages = nil
	c.rows, c.nullsAll, c.unc, c.encodings = 0, 0, 0, 0
	c.chunkSt = emptyBounds()
	c.dictPg = c.dictPg[:0]
	c.finished = false
	c.plainPages = false
}

func (c *ColumnWriter) buffered() int64 {
	return c.settled + c.flyRaw + int64(len(c.dictPg)+len(c.vals)-c.res+4*len(c.idx)+4*len(c.lens)+len(c.defs)+c.dictBytes)
}

// Null adds a null.
// present counts a value that is not null; its definition level is kept
// only once the page has a null (Null writes the ones before it).
func (c *ColumnWriter) present() {
	c.n++
	if c.nulls > 0 {
		c.defs = append(c.defs, 1)
	}
}

func (c *ColumnWriter) Null() {
	if c.nulls == 0 {
		// The page's first null: the levels so far, all 1, are written
		// out only now.
		c.defs = append(c.defs[:0], make([]byte, c.n)...)
		for i := range c.defs {
			c.defs[i] = 1
		}
	}
	c.defs = append(c.defs, 0)
	c.nulls++
	c.n++
	if c.n >= c.pageSize {
		c.endPage()
	}
}

// view is the string of the n bytes of c.vals at o: page bounds point into
// the page's values, which are never overwritten before the page ends.
func (c *ColumnWriter) view(o, n int) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&c.vals[o], n)
}

// String adds a String column's value.
func (c *ColumnWriter) String(s string) {
	if c.dictPage {
		c.dictString(s)
		return
	}
	c.present()
	o := len(c.vals)
	c.vals = append(c.vals, s...)
	c.lens = append(c.lens, int32(len(s)))
	if p := prefix(s); p <= c.st.p0 || p >= c.st.p1 {
		c.bound(s, p, o)
	}
	if c.probing {
		c.probe(s, o)
	}
	if len(c.vals)-c.res+4*len(c.lens) >= c.pageSize {
		c.endPage()
	}
}

// A String column without Column.Dict tries a dictionary on each row
// group's first page: probe indexes the page's values as they come (the
// dictionary's values are views of the page's bytes meanwhile), and
// endProbe, when the page ends, keeps the dictionary for the row group
// (this page included) if its values take at most half of the page's
// PLAIN bytes, that is if the values repeat, on average, at least twice.
// For repeating strings the dictionary's indexes are a few bits a value
// where Snappy would go through every byte of every value; values that
// do not repeat leave the page and the rest of the row group PLAIN, and
// cost a hash each only until the dictionary outgrows half a page. The
// choice depends on the values only.
func (c *ColumnWriter) probe(s string, o int) {
	k := keyOf(s)
	h := k.hash()
	i, ok := c.dict.find(c.dictVals, s, &k, h)
	if !ok {
		c.dictBytes += 4 + len(s)
		if 2*c.dictBytes > c.pageSize {
			c.stopProbe()
			return
		}
		i = uint32(len(c.dictVals))
		c.dict.add(&k, h)
		c.dictVals = append(c.dictVals, c.view(o, len(s)))
	}
	c.idx = append(c.idx, i)
}

// stopProbe drops the probe's dictionary: PLAIN for the row group.
func (c *ColumnWriter) stopProbe() {
	c.probing = false
	c.dict.reset()
	clear(c.dictVals)
	c.dictVals, c.idx, c.dictBytes = c.dictVals[:0], c.idx[:0], 0
}

// endProbe decides, as the probed page ends, between a dictionary and
// PLAIN for the row group.
func (c *ColumnWriter) endProbe() {
	if len(c.dictVals) == 0 { // only nulls so far: the next page decides
		return
	}
	if plain := len(c.vals) - c.res + 4*len(c.lens); 2*c.dictBytes > plain || c.dictBytes > c.dictMax {
		c.stopProbe()
		return
	}
	c.probing = false
	for k, v := range c.dictVals {
		c.dictVals[k] = c.keep(v) // off the page's bytes
	}
	c.seenOn = append(c.seenOn[:0], make([]uint32, len(c.dictVals))...)
	c.useDict, c.dictPage = true, true
}

// bound widens the page's bounds by s (prefix p), whose bytes are at o in
// c.vals.
func (c *ColumnWriter) bound(s string, p uint64, o int) {
	switch {
	case !c.st.has:
		c.st.has = true
		c.st.s0 = c.view(o, len(s))
		c.st.s1 = c.st.s0
		c.st.p0, c.st.p1 = p, p
	case s < c.st.s0:
		c.st.s0, c.st.p0 = c.view(o, len(s)), p
	case s > c.st.s1:
		c.st.s1, c.st.p1 = c.view(o, len(s)), p
	}
}

// prefix is s's first 8 bytes as a big-endian number, zero padded.
func prefix(s string) uint64 {
	if len(s) >= 8 {
		return binary.BigEndian.Uint64(unsafe.Slice(unsafe.StringData(s), 8))
	}
	var b [8]byte
	copy(b[:], s)
	return binary.BigEndian.Uint64(b[:])
}

func (c *ColumnWriter) dictString(s string) {
	k := keyOf(s)
	h := k.hash()
	// c.dict.find, by hand: the call cost as much as the search.
	if t := &c.dict; len(t.slots) > 0 {
		tag, mask := h>>32, uint64(len(t.slots)-1)
		for pos := tag & mask; ; pos = (pos + 1) & mask {
			e := t.slots[pos]
			if e == 0 {
				break
			}
			if i := uint32(e) - 1; e>>32 == tag && (k.n <= 16 && t.keys[i] == k || k.n > 16 && c.dictVals[i] == s) {
				c.addIndex(i)
				return
			}
		}
	}
	if c.dictBytes+4+len(s) > c.dictMax && len(c.dictVals) > 0 {
		// The dictionary is full: PLAIN for the rest of the row group.
		c.endPage()
		c.useDict, c.dictPage = false, false
		c.String(s)
		return
	}
	i := uint32(len(c.dictVals))
	c.dict.add(&k, h)
	c.dictVals = append(c.dictVals, c.keep(s))
	c.seenOn = append(c.seenOn, 0)
	c.dictBytes += 4 + len(s)
	c.addIndex(i)
}

// keep copies s into the dictionary's bytes.
func (c *ColumnWriter) keep(s string) string {
	if len(s) == 0 {
		return ""
	}
	if cap(c.arena)-len(c.arena) < len(s) {
		// A new block; the dictionary's values in the old one keep it.
		c.arena = make([]byte, 0, max(64<<10, len(s)))
	}
	o := len(c.arena)
	c.arena = append(c.arena, s...)
	return unsafe.String(&c.arena[o], len(s))
}

// addIndex adds a value by its dictionary index.
func (c *ColumnWriter) addIndex(i uint32) {
	c.present()
	c.idx = append(c.idx, i)
	if c.seenOn[i] != c.pageNo {
		// First time on this page: bound the page by it.
		c.seenOn[i] = c.pageNo
		v := c.dictVals[i]
		switch {
		case !c.st.has:
			c.st.has = true
			c.st.s0, c.st.s1 = v, v
		case v < c.st.s0:
			c.st.s0 = v
		case v > c.st.s1:
			c.st.s1 = v
		}
	}
	if len(c.idx)*4 >= c.pageSize {
		c.endPage()
	}
}

// Int64 adds an Int64 or Timestamp column's value.
func (c *ColumnWriter) Int64(v int64) {
	c.present()
	c.vals = binary.LittleEndian.AppendUint64(c.vals, uint64(v))
	c.st.i0 = min(c.st.i0, v)
	c.st.i1 = max(c.st.i1, v)
	if len(c.vals) >= c.pageSize {
		c.endPage()
	}
}

// Int32 adds a Date column's value.
func (c *ColumnWriter) Int32(v int32) {
	c.present()
	c.vals = binary.LittleEndian.AppendUint32(c.vals, uint32(v))
	c.st.i0 = min(c.st.i0, int64(v))
	c.st.i1 = max(c.st.i1, int64(v))
	if len(c.vals) >= c.pageSize {
		c.endPage()
	}
}

// Double adds a Double column's value.
func (c *ColumnWriter) Double(v float64) {
	c.present()
	c.vals = binary.LittleEndian.AppendUint64(c.vals, math.Float64bits(v))
	if v < c.st.f0 {
		c.st.f0 = v
	}
	if v > c.st.f1 {
		c.st.f1 = v
	}
	if len(c.vals) >= c.pageSize {
		c.endPage()
	}
}

// Bool adds a Bool column's value.
func (c *ColumnWriter) Bool(v bool) {
	var b byte
	if v {
		b = 1
	}
	c.present()
	c.vals = append(c.vals, b)
	c.st.i0 = min(c.st.i0, int64(b))
	c.st.i1 = max(c.st.i1, int64(b))
	if len(c.vals) >= c.pageSize {
		c.endPage()
	}
}

// Decimal adds a Decimal column's value: the unscaled number (scale 18)
// as 16 bytes of big-endian two's complement.
func (c *ColumnWriter) Decimal(v [16]byte) {
	c.present()
	o := len(c.vals)
	c.vals = append(c.vals, v[:]...)
	s := c.view(o, 16)
	switch {
	case !c.st.has:
		c.st.has = true
		c.st.s0, c.st.s1 = s, s
	case decCompare(s, c.st.s0) < 0:
		c.st.s0 = s
	case decCompare(s, c.st.s1) > 0:
		c.st.s1 = s
	}
	if len(c.vals) >= c.pageSize {
		c.endPage()
	}
}

// Finish encodes the row group's last page and its dictionary, so that
// the Writer's Flush only writes them: callers finish their columns in
// parallel before a Flush. No value may be added between Finish and Flush.
func (c *ColumnWriter) Finish() {
	if c.finished {
		return
	}
	c.endPage()
	c.settle()
	c.finished = true
	if c.encodings&(1<<encRLEDict) == 0 {
		return
	}
	raw := c.tmp[:0]
	for _, v := range c.dictVals {
		raw = binary.LittleEndian.AppendUint32(raw, uint32(len(v)))
		raw = append(raw, v...)
	}
	c.tmp = raw
	buf, comp := compress(raw, c.fastSnappy)
	defer compressPool.Put(buf)
	h := &c.hdr
	h.b, h.last = h.b[:0], 0
	h.i32(1, pageDict)
	h.i32(2, int32(len(raw)))
	h.i32(3, int32(len(comp)))
	h.begin(7)
	h.i32(1, int32(len(c.dictVals)))
	h.i32(2, encPlain)
	h.end()
	h.stop()
	c.dictPg = append(append(c.dictPg[:0], h.b...), comp...)
	c.unc += int64(len(h.b) + len(raw))
}

// page is a full page on its way into the chunk: its values, taken from
// the column at endPage, and the encoder's scratch. A column has two: the
// one it fills and the one being encoded, whose buffers it takes back at
// the next endPage.
type page struct {
	n, nulls int
	defs     []byte
	vals     []byte
	lens     []int32
	idx      []uint32
	res      int // vals' bytes in front of the values (String)
	st       bounds
	dictPage bool
	width    int // dictionary index bits
	firstRow int64
	raw      int64 // the buffered bytes Size counted for the page

	lev, tmp []byte
	hdr      tenc
	grow     int           // String: the reserve the lengths needed, when more than res
	done     chan struct{} // closed once the page is in the chunk; nil: inline
}

// endPage hands the current page to the encoder and starts a new one. The
// encoding and Snappy run on a goroutine of their own when the Writer has
// workers (Options.Workers), else here. A column has at most one page in
// flight, so pages reach the chunk in order, and the adaptive Snappy rule
// (encodePage) sees the same previous pages whatever the timing.
func (c *ColumnWriter) endPage() {
	n := c.n
	if n == 0 {
		return
	}
	if c.finished {
		panic("parquetfile: value added between Finish and Flush")
	}
	if c.probing {
		c.endProbe()
	}
	c.settle()
	p := c.spare
	if p == nil {
		p = new(page)
	}
	c.spare = nil
	p.raw = int64(len(c.vals) - c.res + 4*len(c.idx) + 4*len(c.lens) + len(c.defs))
	p.n, p.nulls, p.res, p.st, p.dictPage, p.firstRow, p.grow = n, c.nulls, c.res, c.st, c.dictPage, c.rows, 0
	if c.dictPage && len(c.idx) > 0 {
		p.width = max(bits.Len32(uint32(len(c.dictVals)-1)), 1)
	}
	p.defs, c.defs = c.defs, p.defs
	p.vals, c.vals = c.vals, p.vals
	p.lens, c.lens = c.lens, p.lens
	p.idx, c.idx = c.idx, p.idx
	c.rows += int64(n)
	c.nullsAll += int64(c.nulls)
	c.fly, c.flyRaw = p, p.raw

	c.res = max(c.res, c.grow)
	c.defs, c.vals, c.idx, c.lens, c.n = c.defs[:0], slices.Grow(c.vals[:0], c.res)[:c.res], c.idx[:0], c.lens[:0], 0
	c.nulls = 0
	c.st = emptyBounds()
	c.pageNo++

	if c.sem == nil {
		c.encodePage(p)
		return
	}
	p.done = make(chan struct{})
	c.wg.Go(func() {
		c.sem <- struct{}{}
		c.encodePage(p)
		<-c.sem
		close(p.done)
	})
}

// settle waits for the page in flight to reach the chunk and takes its
// buffers back for the next page.
func (c *ColumnWriter) settle() {
	p := c.fly
	if p == nil {
		return
	}
	if p.done != nil {
		<-p.done
		p.done = nil
	}
	c.grow = max(c.grow, p.grow)
	c.fly, c.spare = nil, p
	c.settled, c.flyRaw = int64(c.chunk.n), 0
}

// encodePage encodes and compresses p into the chunk. It owns the chunk's
// state (chunk, pages, unc, encodings, chunkSt, plainPages) while p is in
// flight: the column's caller touches them only once settled.
func (c *ColumnWriter) encodePage(p *page) {
	n := p.n
	// Definition levels: one run when the page has no nulls or only
	// nulls, else bit-packed.
	lev := p.lev[:0]
	switch p.nulls {
	case 0:
		lev = append(binary.AppendUvarint(lev, uint64(n)<<1), 1)
	case n:
		lev = append(binary.AppendUvarint(lev, uint64(n)<<1), 0)
	default:
		lev = binary.AppendUvarint(lev, uint64((n+7)/8)<<1|1)
		lev = packBits(lev, p.defs)
	}
	p.lev = lev

	enc := int32(encPlain)
	raw := p.vals
	switch {
	case p.dictPage && len(p.idx) > 0:
		enc = encRLEDict
		raw = append(p.tmp[:0], byte(p.width))
		raw = binary.AppendUvarint(raw, uint64((len(p.idx)+7)/8)<<1|1)
		raw = packUint32(raw, p.idx, p.width)
		p.tmp = raw
	case c.kind == Bool:
		raw = packBits(p.tmp[:0], p.vals)
		p.tmp = raw
	case c.kind == Int64 || c.kind == Timestamp:
		// DELTA_BINARY_PACKED when smaller: ids and times that grow
		// shrink to a few bits a value, far less for Snappy to go
		// through than their PLAIN bytes.
		if d := appendDeltaInt64s(p.tmp[:0], p.vals); len(d) < len(p.vals) {
			enc, raw = encDeltaBinary, d
			p.tmp = d
		} else {
			p.tmp = d
		}
	case c.kind == String:
		enc = encDeltaLength
		d := appendDeltaLengths(p.tmp[:0], p.lens)
		p.tmp = d
		if len(d) <= p.res {
			raw = p.vals[p.res-len(d):]
			copy(raw, d)
		} else {
			raw = append(d, p.vals[p.res:]...)
			p.tmp = raw
			p.grow = len(d) + len(d)/4 // for the next pages
		}
	}
	// Snappy runs on a row group's pages only while it pays: a page it
	// shrinks by less than an eighth is the last one it compresses in the
	// row group (the next row group tries again), and a page it does not
	// shrink at all is stored as it is (is_compressed false).
	comp, compressed := raw, false
	if !c.plainPages {
		buf, out := compress(raw, c.fastSnappy)
		if !c.snappyChosen {
			// The file's first compressed page of the column picks the
			// encoder: the fast one unless it is larger by more than 1/32.
			c.snappyChosen = true
			buf2, out2 := compress(raw, true)
			if len(out2) <= len(out)+len(out)/32 {
				c.fastSnappy = true
				buf, buf2, out = buf2, buf, out2
			}
			compressPool.Put(buf2)
		}
		defer compressPool.Put(buf)
		if len(out) < len(raw) {
			comp, compressed = out, true
		}
		c.plainPages = len(out) > len(raw)-len(raw)/8
	}

	h := &p.hdr
	h.b, h.last = h.b[:0], 0
	h.i32(1, pageData2)
	h.i32(2, int32(len(lev)+len(raw)))
	h.i32(3, int32(len(lev)+len(comp)))
	h.begin(8)
	h.i32(1, int32(n))
	h.i32(2, int32(p.nulls))
	h.i32(3, int32(n))
	h.i32(4, enc)
	h.i32(5, int32(len(lev)))
	h.i32(6, 0)
	if !compressed {
		h.bool(7, false)
	}
	h.end()
	h.stop()

	pi := pageInfo{off: int64(c.chunk.n), size: int32(len(h.b) + len(lev) + len(comp)), firstRow: p.firstRow, nulls: int64(p.nulls), values: int64(n)}
	st := p.st
	switch c.kind {
	case String, Decimal:
	case Double:
		st.has = st.f0 <= st.f1
		if !st.has && p.nulls < n { // only NaNs: bound the page by NaN
			st.f0, st.f1 = math.NaN(), math.NaN()
			pi.min, pi.max = st.bytes(c.kind)
		}
	default:
		st.has = st.i0 <= st.i1
	}
	if st.has {
		pi.min, pi.max = st.bytes(c.kind)
		// The chunk's bounds keep the page's copies, not views of p.vals.
		st.s0, st.s1 = unsafe.String(unsafe.SliceData(pi.min), len(pi.min)), unsafe.String(unsafe.SliceData(pi.max), len(pi.max))
		c.chunkSt.merge(c.kind, &st)
	} else if pi.min == nil {
		pi.min, pi.max = []byte{}, []byte{}
	}
	p.st = bounds{} // no views of p.vals past the page
	c.pages = append(c.pages, pi)
	c.chunk.write(h.b)
	c.chunk.write(lev)
	c.chunk.write(comp)
	c.unc += int64(len(h.b) + len(lev) + len(raw))
	c.encodings |= 1 << enc
}

// packBits packs bytes of 0 or 1 into bits, LSB first, padding the last
// byte with zeros.
func packBits(dst, v []byte) []byte {
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := binary.LittleEndian.Uint64(v[i:])
		// Gather bit 0 of each byte into the top byte.
		dst = append(dst, byte((x*0x0102040810204080)>>56))
	}
	if i < len(v) {
		var b byte
		for k := 0; i+k < len(v); k++ {
			b |= v[i+k] << k
		}
		dst = append(dst, b)
	}
	return dst
}

// packUint32 bit-packs v, width bits each, LSB first, in groups of 8
// (the last padded with zeros).
func packUint32(dst []byte, v []uint32, width int) []byte {
	o := len(dst)
	size := (len(v) + 7) / 8 * width // bytes
	dst = slices.Grow(dst, size)[:o+size]
	out := dst[o:]
	var acc uint64
	nb, at, w := uint(0), 0, uint(width)
	for _, x := range v {
		acc |= uint64(x) << (nb & 63) // nb < 32
		nb += w
		if nb >= 32 {
			binary.LittleEndian.PutUint32(out[at:], uint32(acc))
			at += 4
			acc >>= 32
			nb -= 32
		}
	}
	for ; at < len(out); at++ { // the last bits, then the padding's zeros
		out[at] = byte(acc)
		acc >>= 8
	}
	return dst
}

// DELTA_BINARY_PACKED as written here: blocks of 128 deltas in 4
// miniblocks of 32, each bit-packed at its own width above the block's
// least delta.
const deltaBlock, deltaMini = 128, 32

func appendDeltaHeader(dst []byte, n int, first int64) []byte {
	dst = binary.AppendUvarint(dst, deltaBlock)
	dst = binary.AppendUvarint(dst, deltaBlock/deltaMini)
	dst = binary.AppendUvarint(dst, uint64(n))
	return binary.AppendVarint(dst, first)
}

// appendDeltaLengths appends v DELTA_BINARY_PACKED. Lengths are
// non-negative int32s: their deltas never wrap.
func appendDeltaLengths(dst []byte, v []int32) []byte {
	var first int64
	if len(v) > 0 {
		first = int64(v[0])
	}
	dst = appendDeltaHeader(dst, len(v), first)
	var d [deltaBlock]uint64
	for i := 1; i < len(v); i += deltaBlock {
		m := min(deltaBlock, len(v)-i)
		prev := v[i-1 : i-1+m]
		for k, x := range v[i : i+m] {
			d[k] = uint64(int64(x) - int64(prev[k]))
		}
		dst = appendDeltaBlock(dst, &d, m)
	}
	return dst
}

// appendDeltaInt64s appends the little-endian int64s of vals
// DELTA_BINARY_PACKED. Deltas wrap around as the format says, so a
// miniblock may take up to 64 bits a value.
func appendDeltaInt64s(dst, vals []byte) []byte {
	n := len(vals) / 8
	var first uint64
	if n > 0 {
		first = binary.LittleEndian.Uint64(vals)
	}
	dst = appendDeltaHeader(dst, n, int64(first))
	var d [deltaBlock]uint64
	prev := first
	for i := 1; i < n; i += deltaBlock {
		m := min(deltaBlock, n-i)
		src := vals[8*i : 8*(i+m)]
		for k := range m {
			x := binary.LittleEndian.Uint64(src[8*k:])
			d[k], prev = x-prev, x
		}
		dst = appendDeltaBlock(dst, &d, m)
	}
	return dst
}

// appendDeltaBlock appends a block of the m deltas in d (wrapping
// differences, compared as int64s); it overwrites d.
func appendDeltaBlock(dst []byte, d *[deltaBlock]uint64, m int) []byte {
	least := int64(d[0])
	for _, x := range d[1:m] {
		least = min(least, int64(x))
	}
	for k := m; k < deltaBlock; k++ {
		d[k] = uint64(least) // the last miniblock's padding packs as zeros
	}
	dst = binary.AppendVarint(dst, least)
	widths := len(dst)
	dst = append(dst, 0, 0, 0, 0) // unused miniblocks keep width 0
	for mb := 0; mb*deltaMini < m; mb++ {
		part := (*[deltaMini]uint64)(d[mb*deltaMini:])
		var or uint64
		for k := range part {
			part[k] -= uint64(least)
			or |= part[k]
		}
		width := bits.Len64(or)
		dst[widths+mb] = byte(width)
		dst = packMini(dst, part, width)
	}
	return dst
}

// packMini bit-packs a miniblock's 32 values, width (0-64) bits each, LSB
// first: 4*width bytes.
func packMini(dst []byte, v *[deltaMini]uint64, width int) []byte {
	if width == 0 {
		return dst
	}
	// Narrow values are first joined in pairs (twice for the narrowest),
	// so that the packing loop below, whose carried state makes it slow,
	// runs over fewer and wider values.
	var buf [deltaMini]uint64
	vals := v[:]
	w := uint(width)
	if w <= 16 {
		for k := range 16 {
			buf[k] = v[2*k] | v[2*k+1]<<(w&63)
		}
		vals, w = buf[:16], 2*w
	}
	if w <= 16 {
		for k := range 8 {
			buf[k] = buf[2*k] | buf[2*k+1]<<(w&63)
		}
		vals, w = buf[:8], 2*w
	}
	o := len(dst)
	dst = slices.Grow(dst, 4*width)[:o+4*width]
	out := dst[o:]
	var acc uint64
	nb, at := uint(0), 0
	for _, x := range vals {
		acc |= x << (nb & 63) // nb < 64: the mask only spares Go's shift check
		nb += w
		if nb >= 64 {
			binary.LittleEndian.PutUint64(out[at:], acc)
			at += 8
			nb -= 64
			acc = 0
			if nb > 0 {
				acc = x >> ((w - nb) & 63) // x's bits past the word
			}
		}
	}
	if nb > 0 { // 32 bits: 32 values end on a 32-bit boundary
		binary.LittleEndian.PutUint32(out[at:], uint32(acc))
	}
	return dst
}
