package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/transform"
)

// refillSource emits batches whose strings point into one buffer per
// batch, as a reader's cells point into its read buffers, and scribbles
// over a buffer once its batch is released, as a refill would.
type refillSource struct {
	batches  int
	pad      int             // zeros in front of each id
	emitted  func(batch int) // called once batch (from 0) is in the queue
	released atomic.Int64
	twice    atomic.Int64
}

func (s *refillSource) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	return []connector.Split{{Name: "in/refill.csv"}}, nil
}

func (s *refillSource) ReadSplit(ctx context.Context, req *connector.ReadRequest, sp connector.Split, emit func(*record.Batch) error) error {
	id := 0
	for k := range s.batches {
		var text []byte
		var spans [][2]int
		for range 30 {
			id++
			v := strings.Repeat("0", s.pad) + fmt.Sprint(id)
			if id%7 == 0 {
				v += "x" // not an integer: a record error
			}
			spans = append(spans, [2]int{len(text), len(v)})
			text = append(text, v...)
		}
		b := &record.Batch{Fields: []string{"id"}, Split: sp.Name, FirstLine: int64(id - 28), Final: k == s.batches-1}
		for _, sp := range spans {
			b.Cells = append(b.Cells, record.Str(unsafe.String(&text[sp[0]], sp[1])))
		}
		var done atomic.Bool
		b.Release = func() {
			if done.Swap(true) {
				s.twice.Add(1)
			}
			s.released.Add(1)
			for i := range text {
				text[i] = '#'
			}
		}
		if err := emit(b); err != nil {
			return err
		}
		if s.emitted != nil {
			s.emitted(k)
		}
	}
	return nil
}

// With ReleaseInput, every written batch is released once, only after the
// writer is done with it, and the record failures keep their own copy of
// the text; without it, nothing is released.
func TestReleaseInputAfterWrite(t *testing.T) {
	p, err := transform.Compile([]transform.Task{
		task("Map", "NO_OP", []string{"id"}, "customer_id", "DESTINATION_DATA_TYPE", "integer")},
		transform.Options{SourceConnector: "S3", TypedDestination: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, release := range []bool{true, false} {
		for _, conc := range []int{1, 2} {
			src := &refillSource{batches: 50}
			var scribbled atomic.Int64
			dst := &fakeDest{onWrite: func(b *record.Batch) error {
				for i := range b.Len() {
					if strings.Contains(b.Row(i)[0].Text(), "#") {
						scribbled.Add(1)
					}
				}
				return nil
			}}
			res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, Concurrency: conc,
				RecycleBatches: true, ReleaseInput: release,
				Write: &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{}}})
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("release %v, concurrency %d", release, conc)
			if n := scribbled.Load(); n > 0 {
				t.Errorf("%s: the writer saw %d values of released batches", name, n)
			}
			want := int64(0)
			if release {
				want = 50
			}
			if got := src.released.Load(); got != want || src.twice.Load() != 0 {
				t.Errorf("%s: %d batches released (%d twice), want %d", name, got, src.twice.Load(), want)
			}
			if len(res.Failures) != 1500/7 {
				t.Fatalf("%s: %d failures, want %d", name, len(res.Failures), 1500/7)
			}
			for _, f := range res.Failures {
				if v := f.Record["id"]; !strings.HasSuffix(v, "x") || strings.Contains(v, "#") {
					t.Fatalf("%s: failure at line %d keeps %q", name, f.Line, v)
				}
			}
		}
	}
}

// With ReleaseInput, the output batch the tasks made is released once,
// after its Write returned, so the arena its masked strings are in is
// reused only then: every value the writer sees is the mask of its row's
// (padded) id. Without ReleaseInput nothing is released.
func TestReleaseOutputAfterWrite(t *testing.T) {
	p := maskIDs(t)
	for _, release := range []bool{true, false} {
		for _, conc := range []int{1, 2} {
			name := fmt.Sprintf("release %v, concurrency %d", release, conc)
			// 15 KiB of masked values a batch: the arena's 64 KiB chunks
			// come round again every few batches, while batches written
			// from them may still wait in the queue.
			src := &refillSource{batches: 400, pad: 500}
			// The first Write waits until six more batches are queued
			// behind it, so that their tasks' strings are made while it
			// holds its own (a release before the write would let them
			// overwrite it).
			queued := make(chan struct{})
			src.emitted = func(k int) {
				if k == 6 {
					close(queued)
				}
			}
			var released, early, wrapped, bad atomic.Int64
			dst := &fakeDest{}
			dst.onWrite = func(b *record.Batch) error {
				col := b.Index("masked")
				if dst.writes.Load() == 0 {
					<-queued
				}
				for i := range b.Len() {
					// Ids are numbered from 1 in emit order: row i of the
					// batch starting at line L holds id L+i-1.
					n := b.FirstLine + int64(i) - 1
					id := strings.Repeat("0", src.pad) + fmt.Sprint(n)
					if n%7 == 0 {
						id += "x"
					}
					k := min(2, len(id))
					if v, want := b.Row(i)[col].Text(), strings.Repeat("*", k)+id[k:]; v != want {
						bad.Add(1)
					}
				}
				if b.Release == nil {
					return nil
				}
				wrapped.Add(1)
				before, rel := dst.writes.Load(), b.Release
				b.Release = func() {
					if dst.writes.Load() <= before { // this Write has not returned
						early.Add(1)
					}
					released.Add(1)
					rel()
				}
				return nil
			}
			if _, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, Concurrency: conc, QueueDepth: 8,
				RecycleBatches: true, ReleaseInput: release,
				Write: &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{}}}); err != nil {
				t.Fatal(err)
			}
			if n := bad.Load(); n > 0 {
				t.Errorf("%s: the writer saw %d values that are not their id's mask", name, n)
			}
			if wrapped.Load() == 0 {
				t.Fatalf("%s: no output batch had a Release", name)
			}
			want := int64(0)
			if release {
				want = wrapped.Load()
			}
			if got := released.Load(); got != want || early.Load() != 0 {
				t.Errorf("%s: %d output batches released (%d before their Write returned) of %d, want %d", name, got, early.Load(), wrapped.Load(), want)
			}
		}
	}
}

// maskIDs masks the first two characters of id into "masked".
func maskIDs(t *testing.T) *transform.Program {
	t.Helper()
	p, err := transform.Compile([]transform.Task{
		task("Mask", "MASK_FIRST_N", []string{"id"}, "", "MASK_LENGTH", "2", "MASK_VALUE", "*"),
		task("Map", "NO_OP", []string{"id"}, "masked")},
		transform.Options{SourceConnector: "S3"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
