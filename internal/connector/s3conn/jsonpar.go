package s3conn

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"unsafe"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// A large JSON Lines object is parsed on every core. Every newline ends a
// record (the serial reader treats each line as one record, and a raw
// newline cannot occur inside a JSON string), so the object splits at any
// newline into ranges of whole lines. One goroutine reads the object and
// cuts it into ranges, counting newlines so each range knows its first line
// number; workers parse ranges; the caller's goroutine emits the ranges'
// batches in object order, so line numbers, errors, field order and output
// order are those of the serial reader.

const (
	// jsonRangeBytes is the size of one range: large enough that the
	// per-range cost (a goroutine hand-off, a field remap) is noise, small
	// enough that the parsed ranges waiting to be emitted (their cells are
	// dense with pointers the GC must scan) stay a few MiB.
	jsonRangeBytes = 1 << 20
	// parallelMin is the smallest object worth splitting.
	parallelMin = 2 * jsonRangeBytes
	// parallelProcs is the fewest cores on which splitting pays. Alone,
	// the reader parses about 1.9x faster with 2 workers than with one
	// (BenchmarkReadJSONLinesRanges). But in a whole run on 2 cores the
	// engine transforms and encodes on the other core, and the one parser
	// is about 35% of the run's CPU (bench/flowbench, 5 M rows), so it
	// does not bound the run. Measured again after the serial reader
	// stopped allocating its cells (appflowd run, 1 M rows, 4 alternating
	// runs each, 2026-12-06): 2 parsers used 0.99-1.23 CPU s against
	// 0.74-0.98 for one on JSON Lines, with peak RSS 93-101 MiB against
	// 77-78, and no lower wall time; on CSV 0.85-1.15 against 0.60-0.96,
	// RSS 81-89 MiB against 73-85. With 4 or more cores the one parser
	// bounds the run. The same holds for CSV (csvpar.go: 1.5x alone with
	// 2 parsers, BenchmarkReadCSVWorkers).
	parallelProcs = 4
)

// jsonRange is whole lines of the object, and what a worker made of them.
type jsonRange struct {
	text  string
	line  int64 // the line number of text's first line
	final bool  // the object's last range
	err   error // a read error instead of text

	batches []jsonBatch
	perr    error // a parse error after batches
	done    chan struct{}
}

// jsonBatch keeps a batch's row count, which a batch of width 0 (rows of
// {}) cannot tell, so rows of {} still widen to the fields seen before.
type jsonBatch struct {
	b    *record.Batch
	rows int
}

func newJSONRow(key string, proj []string) *jsonRow {
	jp := &jsonRow{key: key}
	if proj != nil {
		jp.fixed = true
		jp.fields, _ = projection(nil, proj)
	}
	jp.index = make(map[string]int, len(jp.fields))
	for i, f := range jp.fields {
		jp.keys = append(jp.keys, newKeyText(f))
		if _, dup := jp.index[f]; !dup {
			jp.index[f] = i
		}
	}
	return jp
}

// readJSONLinesParallel reads src with workers parsers, in ranges of about
// rangeBytes.
func readJSONLinesParallel(ctx context.Context, src *objectReader, proj []string, workers, rangeBytes int, emit func(*record.Batch) error) error {
	key := src.key
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	order := make(chan *jsonRange, workers) // ranges in object order; bounds memory
	work := make(chan *jsonRange, workers)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(order)
		splitJSONLines(ctx, src, rangeBytes, order, work)
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A worker keeps the fields it has seen across its ranges, so a
			// batch is not widened key by key at every range's start. Its
			// ranges come in object order, so any key it saw before is
			// already in the object's fields when this range is emitted.
			jp := newJSONRow(key, proj)
			for r := range work {
				r.batches, r.perr = parseJSONRange(ctx, jp, r)
				close(r.done)
			}
		}()
	}

	var u fieldUnion
	for r := range order {
		select {
		case <-r.done:
		case <-ctx.Done():
			return fault.Wrap(fault.Canceled, ctx.Err(), "read %s", key)
		}
		if r.err != nil {
			return canceledOr(r.err, key)
		}
		for _, jb := range r.batches {
			if proj == nil {
				u.remap(jb)
				u.carryEmpty(jb)
			}
			if err := emit(jb.b); err != nil {
				return err
			}
		}
		if r.perr != nil {
			return r.perr
		}
		if r.final {
			return nil
		}
	}
	// The splitter stopped before the last range: only a cancel does that.
	return fault.Wrap(fault.Canceled, context.Cause(ctx), "read %s", key)
}

// splitJSONLines reads the object into ranges that end at a newline (the
// last one at the end of the object) and hands each to order, then work.
func splitJSONLines(ctx context.Context, src io.Reader, size int, order, work chan<- *jsonRange) {
	send := func(r *jsonRange) bool {
		select {
		case order <- r:
		case <-ctx.Done():
			return false
		}
		if r.err != nil {
			close(r.done)
			return true
		}
		select {
		case work <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	line := int64(1)
	var carry []byte // the start of a line that the last range did not end
	for {
		if err := ctx.Err(); err != nil {
			return
		}
		buf := make([]byte, max(size, 2*len(carry)))
		n := copy(buf, carry)
		eof := false
		for n < len(buf) {
			m, err := src.Read(buf[n:])
			n += m
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				send(&jsonRange{err: err, done: make(chan struct{})})
				return
			}
		}
		cut := n
		if !eof {
			i := bytes.LastIndexByte(buf[:n], '\n')
			if i < 0 {
				carry = buf[:n] // one line longer than the buffer: read on
				continue
			}
			cut = i + 1
		}
		// buf is never written again (carry is copied out of it), so the
		// range's text can share its bytes instead of copying them.
		r := &jsonRange{text: unsafe.String(unsafe.SliceData(buf), cut), line: line, final: eof, done: make(chan struct{})}
		line += int64(strings.Count(r.text, "\n"))
		carry = buf[cut:n]
		if !send(r) || eof {
			return
		}
	}
}

// parseJSONRange parses one range into batches cut as the serial reader
// cuts them, and at the range's end.
func parseJSONRange(ctx context.Context, jp *jsonRow, r *jsonRange) ([]jsonBatch, error) {
	key := jp.key
	s, pos, line := r.text, 0, r.line
	var out []jsonBatch
	for {
		if err := ctx.Err(); err != nil {
			return out, fault.Wrap(fault.Canceled, err, "read %s", key)
		}
		jp.width = len(jp.fields)
		maxRows := batchRows(max(jp.width, 8))
		jp.cells = make([]record.Value, 0, maxRows*max(jp.width, 1))
		jp.rows, jp.maxRows = 0, maxRows
		first, start := line, pos
		for jp.rows < maxRows && pos-start < maxBatchBytes && len(jp.cells) < 4*65536 && pos < len(s) {
			text, next := s[pos:], len(s)
			if j := strings.IndexByte(s[pos:], '\n'); j >= 0 {
				text, next = s[pos:pos+j], pos+j+1
			}
			if !isBlank(text) {
				if err := jp.parseLine(text, line); err != nil {
					return out, err
				}
				jp.rows++
			} else if jp.rows == 0 {
				first = line + 1
			}
			pos = next
			line++
		}
		done := pos >= len(s)
		out = append(out, jsonBatch{rows: jp.rows, b: &record.Batch{
			Fields:      jp.fields[:jp.width:jp.width],
			Cells:       jp.cells,
			Split:       key,
			FirstLine:   first,
			Final:       done && r.final,
			SourceBytes: int64(pos - start),
		}})
		if done {
			return out, nil
		}
	}
}

// fieldUnion is the object's fields in first-seen order. A worker's batches
// name the keys in the order that worker saw them; remap restates a batch
// in the object's order, as the serial reader does.
type fieldUnion struct {
	record.Union

	// Rows of {} read before any key have no width to be stored in; they
	// are held and put, as rows of Missing, in front of the first batch
	// that has fields (the serial reader does the same within a batch).
	heldRows  int
	heldFirst int64
}

func (u *fieldUnion) carryEmpty(jb jsonBatch) {
	b := jb.b
	if len(b.Fields) == 0 {
		if jb.rows > 0 && u.heldRows == 0 {
			u.heldFirst = b.FirstLine
		}
		u.heldRows += jb.rows
		return
	}
	if u.heldRows > 0 {
		held := make([]record.Value, u.heldRows*len(b.Fields), u.heldRows*len(b.Fields)+len(b.Cells))
		b.Cells = append(held, b.Cells...)
		b.FirstLine = u.heldFirst
		u.heldRows = 0
	}
}

func (u *fieldUnion) remap(jb jsonBatch) {
	b := jb.b
	cols := u.Columns(b.Fields)
	identity := true
	for i, j := range cols {
		identity = identity && i == j
	}
	w := len(u.Fields)
	if identity && len(b.Fields) == w {
		b.Fields = u.Fields[:w:w]
		return
	}
	old := len(b.Fields)
	cells := make([]record.Value, jb.rows*w)
	for r := range jb.rows {
		for i, j := range cols {
			cells[r*w+j] = b.Cells[r*old+i]
		}
	}
	b.Fields, b.Cells = u.Fields[:w:w], cells
}
