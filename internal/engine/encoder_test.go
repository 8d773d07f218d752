package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

// encodingDest is a fakeDest that is a connector.BatchEncoder: its
// encoding of a batch is what Write would record, taken in WriteEncoded.
type encodingDest struct {
	fakeDest
	skip     func(b *record.Batch) bool        // encode nothing ahead: the engine calls Write
	onEncode func(b *record.Batch) error       // runs first in EncodeBatch
	onWrite2 func(b *record.Batch, e *fakeEnc) // runs first in WriteEncoded
	encoded  atomic.Int64                      // encodings made
	released atomic.Int64                      // encodings the engine dropped
	taken    atomic.Int64                      // encodings WriteEncoded got
}

type fakeEnc struct {
	d   *encodingDest
	w   written
	ids []string
}

func (e *fakeEnc) Release() { e.d.released.Add(1) }

func (d *encodingDest) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	d.req = req
	return d, nil
}

func (d *encodingDest) EncodeBatch(b *record.Batch) (connector.Encoded, error) {
	if d.onEncode != nil {
		if err := d.onEncode(b); err != nil {
			return nil, err
		}
	}
	if d.skip != nil && d.skip(b) {
		return nil, nil
	}
	// A copy: the engine reuses b's cells once it is written.
	e := &fakeEnc{d: d, w: written{split: b.Split, firstLine: b.FirstLine, final: b.Final}}
	idCol := b.Index("customer_id")
	for i := 0; i < b.Len() && idCol >= 0; i++ {
		e.w.ids = append(e.w.ids, b.Row(i)[idCol].Text())
	}
	d.encoded.Add(1)
	return e, nil
}

func (d *encodingDest) WriteEncoded(ctx context.Context, b *record.Batch, enc connector.Encoded) error {
	defer d.writes.Add(1)
	d.taken.Add(1)
	e := enc.(*fakeEnc)
	if d.onWrite2 != nil {
		d.onWrite2(b, e)
	}
	if e.w.split != b.Split || e.w.firstLine != b.FirstLine || e.w.final != b.Final || len(e.w.ids) != b.Len() {
		return fmt.Errorf("WriteEncoded of %s line %d got the encoding of %s line %d", b.Split, b.FirstLine, e.w.split, e.w.firstLine)
	}
	d.mu.Lock()
	d.batches = append(d.batches, e.w)
	d.rows += int64(b.Len())
	d.mu.Unlock()
	return nil
}

var _ connector.BatchEncoder = (*encodingDest)(nil)

// Every encoding the engine made is either written or released.
func (d *encodingDest) checkNoLeak(t *testing.T) {
	t.Helper()
	if made, gone := d.encoded.Load(), d.taken.Load()+d.released.Load(); made != gone {
		t.Errorf("%d encodings made, %d written and %d released", made, d.taken.Load(), d.released.Load())
	}
}

// Batches of one big split and of several splits are encoded on the
// transform workers, yet written in order; batches the writer does not
// encode ahead go through Write in their place.
func TestEncodedBatchesKeepOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	p := program(t,
		task("Filter", "NOT_EQUAL_TO", []string{"amount"}, "", "DATA_TYPE", "integer", "VALUES", "3,4"),
		task("Map", "NO_OP", []string{"id"}, "customer_id"))
	for _, c := range []struct {
		recycle, swap, skipSome bool
		splits                  []fakeSplit
	}{
		{false, false, false, []fakeSplit{{name: "in/big.csv", batches: 300, rows: 7}}},
		{true, true, false, []fakeSplit{{name: "in/big.csv", batches: 300, rows: 7}}},
		{true, false, true, []fakeSplit{{name: "in/big.csv", batches: 300, rows: 7}}},
		{true, false, true, splits(5, 60, 7)},
	} {
		name := fmt.Sprintf("recycle=%v/swap=%v/skip=%v/splits=%d", c.recycle, c.swap, c.skipSome, len(c.splits))
		t.Run(name, func(t *testing.T) {
			src := &fakeSource{splits: c.splits, swap: c.swap}
			dst := &encodingDest{}
			if c.skipSome {
				dst.skip = func(b *record.Batch) bool { return b.FirstLine%3 == 0 }
			}
			// The first batch's write waits until a later batch has been
			// encoded: encoding does not wait for the writer goroutine.
			later := make(chan struct{})
			var once sync.Once
			dst.onEncode = func(b *record.Batch) error {
				if b.FirstLine > 2 {
					once.Do(func() { close(later) })
				}
				return nil
			}
			dst.onWrite2 = func(b *record.Batch, e *fakeEnc) {
				if b.FirstLine == 2 {
					<-later
				}
			}
			res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, RecycleBatches: c.recycle, Concurrency: 2})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			finals := map[string]int{}
			lastLine := map[string]int64{}
			for _, b := range dst.batches {
				if b.firstLine <= lastLine[b.split] {
					t.Fatalf("%s: batch at line %d written after line %d", b.split, b.firstLine, lastLine[b.split])
				}
				lastLine[b.split] = b.firstLine
				if finals[b.split] > 0 {
					t.Fatalf("%s: batch at line %d written after the final one", b.split, b.firstLine)
				}
				if b.final {
					finals[b.split]++
				}
				got[b.split] = append(got[b.split], b.ids...)
			}
			want := map[string][]string{}
			for _, s := range c.splits {
				for id := 1; id <= s.batches*s.rows; id++ {
					if id%100 != 3 && id%100 != 4 {
						want[s.name] = append(want[s.name], fmt.Sprint(id))
					}
				}
				if finals[s.name] != 1 {
					t.Errorf("%s: %d final batches, want 1", s.name, finals[s.name])
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			batches := 0
			for _, s := range c.splits {
				batches += s.batches
			}
			if len(dst.batches) != batches || res.RecordsRead != int64(batches*7) {
				t.Errorf("%d batches written, %d records read; want %d and %d", len(dst.batches), res.RecordsRead, batches, batches*7)
			}
			if enc := dst.taken.Load(); enc == 0 || (c.skipSome && enc == int64(batches)) || (!c.skipSome && enc != int64(batches)) {
				t.Errorf("%d of %d batches written encoded (skipping some: %v)", enc, batches, c.skipSome)
			}
			dst.checkNoLeak(t)
		})
	}
}

// An encoding failure fails the run at its batch, as a Write failure
// there would: the batches before it are written, none after, and the
// encodings made ahead are released.
func TestEncodeFailureFailsAtItsBatch(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	p := program(t, task("Map", "NO_OP", []string{"id"}, "customer_id"))
	for i := range 10 {
		src := &fakeSource{splits: []fakeSplit{{name: "in/a.csv", batches: 100, rows: 10}}}
		dst := &encodingDest{}
		const badLine = 10*40 + 2 // batch 40
		dst.onEncode = func(b *record.Batch) error {
			if b.FirstLine == badLine {
				return errors.New("row too wide to encode")
			}
			return nil
		}
		_, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, RecycleBatches: true})
		var e *Error
		if !errors.As(err, &e) || e.Split != "in/a.csv" || !strings.Contains(e.Msg, "Writing to the destination failed for split in/a.csv - row too wide to encode") {
			t.Fatalf("run %d: err = %v, want the write failure of in/a.csv", i, err)
		}
		if len(dst.batches) != 40 || dst.batches[39].firstLine != badLine-10 {
			t.Fatalf("run %d: %d batches written, want the 40 before the failure", i, len(dst.batches))
		}
		if !dst.aborted || dst.committed {
			t.Errorf("run %d: aborted %v committed %v, want aborted only", i, dst.aborted, dst.committed)
		}
		dst.checkNoLeak(t)
	}
}

// A run canceled while a batch is being encoded stops, aborts, and
// releases the encodings it will not write.
func TestCancelWhileEncoding(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &fakeSource{splits: splits(2, 0, 10), forever: true}
	dst := &encodingDest{}
	var n atomic.Int64
	dst.onEncode = func(b *record.Batch) error {
		if n.Add(1) == 20 {
			cancel()
			<-ctx.Done() // still encoding when the run ends
		}
		return nil
	}
	res, err := Execute(ctx, &Run{Source: src, Dest: dst, Program: program(t), Concurrency: 2, RecycleBatches: true})
	if err != context.Canceled {
		t.Fatalf("err = %v (res %v), want context.Canceled", err, res)
	}
	if !dst.aborted || dst.committed {
		t.Errorf("aborted %v committed %v, want aborted only", dst.aborted, dst.committed)
	}
	if dst.encoded.Load() < 19 {
		t.Errorf("%d batches encoded, want at least the 19 before the cancel", dst.encoded.Load())
	}
	dst.checkNoLeak(t)
}
