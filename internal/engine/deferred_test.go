package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/transform"
)

// heldDest is a connector.DeferredWriter that holds the batches it is
// given: its own goroutine lets go of the oldest once more than hold are
// held (and of all of them in Commit and Abort), and only then checks each
// value, calls the batch's done, and counts it. Everything it counts is
// what the engine must guarantee of a held batch.
type heldDest struct {
	hold      int
	want      func(b *record.Batch, i int) string // the value row i of b holds
	onWrite   func(k int)                         // at the start of the k-th WriteDeferred (from 1)
	failAt    int                                 // the WriteDeferred (from 1) that fails; 0: none
	commitErr error
	lose      int // of the batches held at the end, how many never get their done (a broken writer)

	in                   chan *heldBatch
	bgDone               chan struct{}
	stop                 sync.Once
	writes               atomic.Int64
	dones                atomic.Int64
	bad                  atomic.Int64 // values that were not their row's when let go
	early                atomic.Int64 // output batches released before their done
	released             atomic.Int64
	rows                 atomic.Int64
	heldAtEnd, doneAtEnd int64 // when Commit or Abort returned
	committed, aborted   bool
}

type heldBatch struct {
	b    *record.Batch
	done func()
	let  atomic.Bool
}

var errHeldWrite = errors.New("the background write of an earlier batch failed")

func (d *heldDest) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	d.in = make(chan *heldBatch, d.hold)
	d.bgDone = make(chan struct{})
	go d.run()
	return d, nil
}

func (d *heldDest) Write(ctx context.Context, b *record.Batch) error {
	return errors.New("Write called on a DeferredWriter")
}

func (d *heldDest) WriteDeferred(ctx context.Context, b *record.Batch, done func()) error {
	k := d.writes.Add(1)
	if d.onWrite != nil {
		d.onWrite(int(k))
	}
	if int(k) == d.failAt {
		done() // before returning: the engine must not touch the batch after
		d.dones.Add(1)
		return errHeldWrite
	}
	hb := &heldBatch{b: b, done: done}
	if rel := b.Release; rel != nil {
		b.Release = func() {
			if !hb.let.Load() {
				d.early.Add(1)
			}
			d.released.Add(1)
			rel()
		}
	}
	select {
	case d.in <- hb:
		return nil
	case <-ctx.Done():
		d.let(hb)
		return ctx.Err()
	}
}

func (d *heldDest) run() {
	defer close(d.bgDone)
	var fifo []*heldBatch
	for hb := range d.in {
		fifo = append(fifo, hb)
		if len(fifo) > d.hold {
			d.let(fifo[0])
			fifo = fifo[1:]
		}
	}
	for _, hb := range fifo[:max(len(fifo)-d.lose, 0)] {
		d.let(hb)
	}
}

// let checks what the batch holds now, then gives it back.
func (d *heldDest) let(hb *heldBatch) {
	b := hb.b
	for i := range b.Len() {
		if b.Row(i)[0].Text() != d.want(b, i) {
			d.bad.Add(1)
		}
	}
	d.rows.Add(int64(b.Len()))
	hb.let.Store(true)
	d.dones.Add(1)
	hb.done()
}

func (d *heldDest) end() {
	d.stop.Do(func() { close(d.in) })
	<-d.bgDone
	d.doneAtEnd, d.heldAtEnd = d.dones.Load(), d.writes.Load()-d.dones.Load()
}

func (d *heldDest) Commit(ctx context.Context) (*connector.WriteResult, error) {
	d.end()
	d.committed = true
	if d.commitErr != nil {
		return nil, d.commitErr
	}
	return &connector.WriteResult{RecordsWritten: d.rows.Load()}, nil
}

func (d *heldDest) Abort(ctx context.Context) error {
	d.end()
	d.aborted = true
	return nil
}

// maskedIDs is refillSource (ids padded with pad zeros, every seventh with
// an x) through a mask of the first two characters, written as "masked":
// its strings are in the source's buffers (scribbled over on Release) and
// in the tasks' arena (reused once the output batch is released).
func maskedIDs(t *testing.T, pad int) (*transform.Program, func(b *record.Batch, i int) string) {
	p := maskIDs(t)
	return p, func(b *record.Batch, i int) string {
		// Ids are numbered from 1 in emit order: row i of the batch
		// starting at line L holds id L+i-1.
		n := b.FirstLine + int64(i) - 1
		id := strings.Repeat("0", pad) + fmt.Sprint(n)
		if n%7 == 0 {
			id += "x"
		}
		k := min(2, len(id))
		return strings.Repeat("*", k) + id[k:]
	}
}

// A DeferredWriter's batches stay as they were written until it calls
// their done, however long it holds them (its cells not cleared, the
// source's buffers and the tasks' arena not handed back), each done is
// called once, every output batch is released once and only after its
// done, and Commit returns with none held. hold 0 lets go of each batch on
// the writer's goroutine while WriteDeferred may still be returning (with
// -race: the engine touches no batch it handed over).
func TestDeferredWriterHoldsBatches(t *testing.T) {
	for _, hold := range []int{0, 8} {
		for _, conc := range []int{1, 2} {
			name := fmt.Sprintf("hold %d, concurrency %d", hold, conc)
			p, want := maskedIDs(t, 500)
			src := &refillSource{batches: 400, pad: 500}
			dst := &heldDest{hold: hold, want: want}
			res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, Concurrency: conc, QueueDepth: 8,
				RecycleBatches: true, ReleaseInput: true,
				Write: &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{}}})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if n := dst.bad.Load(); n > 0 {
				t.Errorf("%s: %d values were not their row's by the time the writer let go of them", name, n)
			}
			if w, d := dst.writes.Load(), dst.dones.Load(); w != 400 || d != w || dst.heldAtEnd != 0 || !dst.committed {
				t.Errorf("%s: %d writes, %d dones, %d held when Commit returned (committed %v)", name, w, d, dst.heldAtEnd, dst.committed)
			}
			if got := src.released.Load(); got != 400 || src.twice.Load() != 0 {
				t.Errorf("%s: %d source batches released (%d twice), want 400", name, got, src.twice.Load())
			}
			if r, e := dst.released.Load(), dst.early.Load(); r != 400 || e != 0 {
				t.Errorf("%s: %d output batches released, %d before their done; want 400, 0", name, r, e)
			}
			if res.RecordsProcessed != 12000 || dst.rows.Load() != 12000 {
				t.Errorf("%s: %d records processed, %d let go of; want 12000", name, res.RecordsProcessed, dst.rows.Load())
			}
		}
	}
}

// A run that ends while the writer holds batches (canceled, a failed
// WriteDeferred, a failed Commit) gets every done before Execute returns;
// no held batch is recycled or released before its done, and the error is
// the run's.
func TestDeferredWriterEndsWithBatchesHeld(t *testing.T) {
	type end struct {
		name   string
		setup  func(d *heldDest, cancel context.CancelFunc)
		check  func(t *testing.T, err error)
		commit bool // Commit is called (and fails)
	}
	ends := []end{
		{name: "canceled", setup: func(d *heldDest, cancel context.CancelFunc) {
			d.onWrite = func(k int) {
				if k == 20 {
					cancel()
				}
			}
		}, check: func(t *testing.T, err error) {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err %v, want context.Canceled", err)
			}
		}},
		{name: "write fails", setup: func(d *heldDest, cancel context.CancelFunc) { d.failAt = 20 },
			check: func(t *testing.T, err error) {
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, errHeldWrite) || !strings.Contains(e.Msg, "Writing to the destination failed") {
					t.Errorf("err %v, want the write's", err)
				}
			}},
		{name: "commit fails", setup: func(d *heldDest, cancel context.CancelFunc) { d.commitErr = errHeldWrite }, commit: true,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errHeldWrite) || !strings.Contains(err.Error(), "Committing") {
					t.Errorf("err %v, want the commit's", err)
				}
			}},
	}
	for _, e := range ends {
		t.Run(e.name, func(t *testing.T) {
			p, want := maskedIDs(t, 500)
			src := &refillSource{batches: 200, pad: 500}
			dst := &heldDest{hold: 8, want: want}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e.setup(dst, cancel)
			_, err := Execute(ctx, &Run{Source: src, Dest: dst, Program: p, Concurrency: 1, QueueDepth: 8,
				RecycleBatches: true, ReleaseInput: true,
				Write: &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{}}})
			e.check(t, err)
			if !dst.aborted || dst.committed != e.commit {
				t.Errorf("aborted %v, committed %v", dst.aborted, dst.committed)
			}
			w, d := dst.writes.Load(), dst.dones.Load()
			if w < 20 || d != w || dst.heldAtEnd != 0 {
				t.Errorf("%d writes, %d dones, %d held when the writer ended", w, d, dst.heldAtEnd)
			}
			if n := dst.bad.Load(); n > 0 {
				t.Errorf("%d values were not their row's by the time the writer let go of them", n)
			}
			if dst.early.Load() != 0 || src.twice.Load() != 0 {
				t.Errorf("%d output batches released before their done, %d source batches released twice", dst.early.Load(), src.twice.Load())
			}
		})
	}
}

// A second call of a batch's done panics rather than recycle a batch that
// may be another's by then.
func TestDeferredDoneTwicePanics(t *testing.T) {
	x := &execution{r: &Run{}}
	done := x.doneFor(&pending{out: &record.Batch{}})
	done()
	defer func() {
		if recover() == nil {
			t.Error("a second done did not panic")
		}
	}()
	done()
}

// A writer that breaks the contract, returning from Commit or Abort with
// batches whose done it never calls, fails the run with an error that says
// so, rather than leave Execute waiting for ever.
func TestDeferredWriterReturnsHoldingBatches(t *testing.T) {
	for _, at := range []string{"Commit", "Abort"} {
		t.Run(at, func(t *testing.T) {
			p, want := maskedIDs(t, 500)
			src := &refillSource{batches: 50, pad: 500}
			dst := &heldDest{hold: 8, want: want, lose: 3}
			if at == "Abort" {
				dst.failAt = 40
			}
			errc := make(chan error, 1)
			go func() {
				_, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, Concurrency: 1, QueueDepth: 8,
					RecycleBatches: true, ReleaseInput: true,
					Write: &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{}}})
				errc <- err
			}()
			var err error
			select {
			case err = <-errc:
			case <-time.After(time.Minute):
				t.Fatal("Execute still waits, a minute after the writer returned, for dones that never come")
			}
			if err == nil || !strings.Contains(err.Error(), "still held 3 batches after "+at) {
				t.Fatalf("err %v, want the 3 batches still held after %s", err, at)
			}
			if n := dst.bad.Load(); n > 0 {
				t.Errorf("%d values were not their row's by the time the writer let go of them", n)
			}
		})
	}
}
