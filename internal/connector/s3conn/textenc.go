package s3conn

import (
	"context"
	"slices"
	"sync/atomic"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// The writer is a connector.BatchEncoder for JSON Lines and CSV: the engine
// encodes batches on its transform workers (EncodeBatch), and the writer
// goroutine only routes the bytes to their files (WriteEncoded), so text
// encoding runs on every core. Everything stateful (slots, file rollover,
// the CSV header, the columns the first batch fixes) stays in
// WriteEncoded, in batch order, so the output is Write's byte for byte.

// freeBufs is how many idle chunk buffers a writer keeps: about the
// batches the engine has in flight.
const freeBufs = 8

// textState is what EncodeBatch reads of the writer, and the chunk
// buffers; safe from any goroutine.
type textState struct {
	fields atomic.Pointer[[]string] // the output columns, once fixed (declared, or by the first batch written)
	plan   atomic.Pointer[plan]     // the last plan made ahead
	// Chunk buffers are kept here rather than in a sync.Pool, which drops
	// them at every collection (a few a second under the memory limit):
	// each new one was allocated, zeroed and grown again to a batch's size.
	free chan *[]byte
	size atomic.Int64 // the largest chunk so far: new buffers start there
}

// fix records the output columns once they are fixed; they never change.
func (t *textState) fix(fields []string) { t.fields.Store(&fields) }

// get is an empty chunk buffer.
func (t *textState) get() *[]byte {
	select {
	case b := <-t.free:
		return b
	default:
	}
	b := make([]byte, 0, max(t.size.Load()+t.size.Load()/8, 64<<10))
	return &b
}

// sized notes a chunk's size, for the buffers made after it.
func (t *textState) sized(n int) {
	for {
		was := t.size.Load()
		if int64(n) <= was || t.size.CompareAndSwap(was, int64(n)) {
			return
		}
	}
}

// put takes back a buffer once its bytes are written; one that finds the
// free list full is left to the collector.
func (t *textState) put(b *[]byte) {
	*b = (*b)[:0]
	select {
	case t.free <- b:
	default:
	}
}

// textBatch is a batch's text encoding: a chunk per partition folder, in
// the order Write would send them.
type textBatch struct {
	fields []string // the output columns (the CSV header)
	parts  []textPart
	bufs   *textState
}

type textPart struct {
	part string
	c    chunk
}

// Release gives back the buffers not handed to the background goroutine.
func (t *textBatch) Release() {
	for i := range t.parts {
		if d := t.parts[i].c.data; d != nil {
			t.bufs.put(d)
			t.parts[i].c.data = nil
		}
	}
}

// EncodeBatch encodes b's rows ahead of WriteEncoded; nil for Parquet, an
// empty batch, or CSV whose columns the first batch has not fixed yet.
func (w *writer) EncodeBatch(b *record.Batch) (connector.Encoded, error) {
	if w.cfg.format == "PARQUET" || b.Len() == 0 {
		return nil, nil
	}
	p, err := w.aheadPlan(b)
	if p == nil || err != nil {
		return nil, err
	}
	groups := w.partition(b)
	t := &textBatch{fields: p.fields, parts: make([]textPart, len(groups)), bufs: &w.text}
	for i, g := range groups {
		n := b.Len()
		if g.rows != nil {
			n = len(g.rows)
		}
		t.parts[i] = textPart{part: g.part, c: w.encodeChunk(p, b, g.rows, 0, n)}
	}
	return t, nil
}

// aheadPlan is planFor without touching the writer's state: nil when the
// columns are not known yet.
func (w *writer) aheadPlan(b *record.Batch) (*plan, error) {
	follow := w.cfg.format == "JSON" && len(w.req.Fields) == 0 // JSON without declared fields follows each batch
	fields := b.Fields
	if !follow {
		f := w.text.fields.Load()
		if f == nil {
			return nil, nil
		}
		fields = *f
	}
	if p := w.text.plan.Load(); p != nil && slices.Equal(p.batchFs, b.Fields) {
		return p, nil
	}
	p, err := w.newPlan(fields, b, !follow && w.req.Fields == nil)
	if err != nil {
		return nil, err
	}
	w.text.plan.Store(p)
	return p, nil
}

// WriteEncoded is Write of b with its rows encoded by EncodeBatch.
func (w *writer) WriteEncoded(ctx context.Context, b *record.Batch, e connector.Encoded) error {
	t, ok := e.(*textBatch)
	if !ok {
		e.Release()
		return fault.New(fault.Internal, "s3 writer: WriteEncoded of a %T", e)
	}
	defer t.Release()
	return w.write(ctx, b, func() error {
		if w.header == nil && w.cfg.format == "CSV" {
			w.header = csvHeader(t.fields)
		}
		for i := range t.parts {
			tp := &t.parts[i]
			c := tp.c
			if err := w.send(ctx, job{slot: w.slotFor(b.Split, tp.part), data: c.data, ends: c.ends, rows: c.rows}); err != nil {
				return err
			}
			tp.c.data = nil // the background goroutine's now
		}
		return nil
	})
}
