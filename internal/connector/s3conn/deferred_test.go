package s3conn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

// doneCounter makes the dones of one run's batches: each counts once (a
// second call is counted apart) and, with scribble, overwrites its batch's
// cells, as an engine reusing them would, so a writer reading a batch
// after its done writes the scribbles.
type doneCounter struct {
	given, dones, twice atomic.Int64
	scribble            bool
}

func (c *doneCounter) doneFor(b *record.Batch) func() {
	c.given.Add(1)
	var called atomic.Bool
	return func() {
		if called.Swap(true) {
			c.twice.Add(1)
			return
		}
		if c.scribble {
			for i := range b.Cells {
				b.Cells[i] = record.Str("#scribbled")
			}
		}
		c.dones.Add(1)
	}
}

func (c *doneCounter) check(t *testing.T, what string) {
	t.Helper()
	if g, d := c.given.Load(), c.dones.Load(); d != g || c.twice.Load() != 0 {
		t.Errorf("%s: %d dones of %d batches, %d called twice", what, d, g, c.twice.Load())
	}
}

// deferredBatches are the bench's rows (text that converts to the declared
// integer, double and datetime columns, some of which do not), in batches
// of 1000 of splits a and b taking turns, past a row group.
func deferredBatches() []*record.Batch {
	const per, n = 1000, 70
	var out []*record.Batch
	for k := range n {
		for _, split := range []string{"a", "b"} {
			b := benchBatch(split, k*per, per, k == n-1)
			for r := 3; r < per; r += 397 {
				b.Row(r)[0] = record.Str(fmt.Sprintf("bad %d", k*per+r)) // not an integer: a failure
			}
			if k%5 == 0 {
				b.Row(7)[2] = record.NullVal()
			}
			out = append(out, b)
		}
	}
	return out
}

// A Parquet file written through WriteDeferred, batches handed over while
// earlier ones are still being written, is byte for byte the file Write
// makes, whatever the aggregation, rollover or partitioning: every done is
// called once, and a batch's cells scribbled over at its done never reach
// the output.
func TestParquetDeferredSameBytes(t *testing.T) {
	fields := []connector.FieldSpec{{Name: "id", Type: "integer"}, {Name: "name", Type: "string"}, {Name: "email", Type: "string"},
		{Name: "amount", Type: "double"}, {Name: "created_at", Type: "datetime"}, {Name: "country", Type: "string"}}
	type config struct {
		name   string
		format map[string]any
		fields []connector.FieldSpec
		parts  []string
	}
	configs := []config{
		{"single file rolled over", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true,
			"aggregationConfig": map[string]any{"aggregationType": "SingleFile", "targetFileSize": 1}}, fields, nil},
		{"file per split", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true,
			"aggregationConfig": map[string]any{"aggregationType": "None"}}, fields, nil},
		{"partitioned, undeclared", map[string]any{"fileType": "PARQUET",
			"aggregationConfig": map[string]any{"aggregationType": "SingleFile"}}, nil, []string{"country"}},
	}
	e := localEnv(t)
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			run := func(deferred bool) (string, *connector.WriteResult, *doneCounter) {
				bucket := e.makeBucket(t)
				req := writeRequest(bucket, "out", c.format, c.fields)
				req.PartitionKeys = c.parts
				ctx := context.Background()
				w, err := e.drv.OpenWriter(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				dc := &doneCounter{scribble: true}
				for _, b := range deferredBatches() {
					if deferred {
						err = w.(connector.DeferredWriter).WriteDeferred(ctx, b, dc.doneFor(b))
					} else {
						err = w.Write(ctx, b)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				res, err := w.Commit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return bucket, res, dc
			}
			sb, sync, _ := run(false)
			db, async, dc := run(true)
			dc.check(t, "deferred")
			if len(sync.Objects) < 2 || len(async.Objects) != len(sync.Objects) {
				t.Fatalf("objects %v and %v; want the same, more than one", sync.Objects, async.Objects)
			}
			if sync.RecordsWritten != async.RecordsWritten || len(sync.Failures) != len(async.Failures) || (len(sync.Failures) > 0) != (c.fields != nil) {
				t.Errorf("written %d and %d, failures %d and %d", sync.RecordsWritten, async.RecordsWritten, len(sync.Failures), len(async.Failures))
			}
			for i, k := range sync.Objects {
				if async.Objects[i] != k {
					t.Fatalf("object %d is %s, was %s", i, async.Objects[i], k)
				}
				a, b := e.get(t, sb, k), e.get(t, db, k)
				if string(a) != string(b) {
					t.Errorf("%s differs: %d bytes written by Write, %d by WriteDeferred", k, len(a), len(b))
				}
				if strings.Contains(string(b), "#scribbled") {
					t.Errorf("%s holds cells of batches whose done was called", k)
				}
			}
		})
	}
}

// takeNextStaged makes the run's next staged file (number n) impossible to
// create, so the background write that opens it fails.
func takeNextStaged(t *testing.T, e *env, n int) {
	t.Helper()
	var first string
	for _, f := range e.stagingFiles(t) {
		if path.Base(f) == "000001" {
			first = f
		}
	}
	if first == "" {
		t.Fatalf("no staged file 000001 in %v", e.stagingFiles(t))
	}
	taken := filepath.Join(e.deps.DataDir, stagingRoot, filepath.FromSlash(path.Dir(first)), fmt.Sprintf("%06d", n))
	if err := os.WriteFile(taken, nil, 0o666); err != nil {
		t.Fatal(err)
	}
}

// A failure of a batch's background write, after its WriteDeferred
// returned, is the error of a later WriteDeferred, or of Commit, and
// every done is called by then.
func TestParquetDeferredErrorSurfacesLater(t *testing.T) {
	for _, at := range []string{"write", "commit"} {
		t.Run(at, func(t *testing.T) {
			e := localEnv(t)
			ctx := context.Background()
			w, bucket := openParquetFileASplit(t, e)
			dw := w.(connector.DeferredWriter)
			dc := &doneCounter{}
			takeNextStaged(t, e, 2)
			b := benchBatch("b", 0, 3000, true)
			written := make(chan struct{})
			bdone := dc.doneFor(b)
			// The failure is not b's WriteDeferred's: its job is written
			// after it returned.
			if err := dw.WriteDeferred(ctx, b, func() { bdone(); close(written) }); err != nil {
				t.Fatalf("WriteDeferred of b: %v", err)
			}
			var werr error
			if at == "write" {
				<-written
				c := benchBatch("c", 0, 10, true)
				werr = dw.WriteDeferred(ctx, c, dc.doneFor(c))
				if werr == nil || !strings.Contains(werr.Error(), "staging file") {
					t.Fatalf("WriteDeferred after a failed background write returned %v", werr)
				}
			}
			_, cerr := w.Commit(ctx)
			if cerr == nil || !strings.Contains(cerr.Error(), "staging file") {
				t.Errorf("Commit after a failed background write returned %v", cerr)
			}
			dc.check(t, "after Commit")
			if err := w.Abort(ctx); err != nil {
				t.Fatal(err)
			}
			if left := e.stagingFiles(t); len(left) != 0 {
				t.Errorf("staging left: %v", left)
			}
			if objs := e.list(t, bucket, ""); len(objs) != 0 {
				t.Errorf("objects: %v", objs)
			}
		})
	}
}

// writerGoroutines lists the goroutines running the writer's code: its
// background goroutine, column writers, page encoders.
func writerGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "s3conn.(*writer).run") || strings.Contains(g, "parquetfile.") || strings.Contains(g, "s3conn.(*writer).eachColumn") {
			out = append(out, g)
		}
	}
	return out
}

// A run canceled while the writer holds batches: the WriteDeferred after
// the cancel fails, Abort calls every done and leaves no staging, no
// object and none of the writer's goroutines running.
func TestParquetDeferredCancel(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	req := writeRequest(bucket, "cancel", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true,
		"aggregationConfig": map[string]any{"aggregationType": "SingleFile"}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := e.drv.OpenWriter(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	dw := w.(connector.DeferredWriter)
	dc := &doneCounter{scribble: true}
	batches := deferredBatches()
	for _, b := range batches[:40] {
		if err := dw.WriteDeferred(ctx, b, dc.doneFor(b)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	b := batches[40]
	if err := dw.WriteDeferred(ctx, b, dc.doneFor(b)); err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("WriteDeferred after the cancel returned %v", err)
	}
	if err := w.Abort(context.Background()); err != nil {
		t.Fatal(err)
	}
	dc.check(t, "after Abort")
	if left := e.stagingFiles(t); len(left) != 0 {
		t.Errorf("staging left: %v", left)
	}
	if objs := e.list(t, bucket, ""); len(objs) != 0 {
		t.Errorf("objects: %v", objs)
	}
	// A goroutine that has signalled its end may still be returning:
	// give it the processor a bounded number of times.
	left := writerGoroutines()
	for i := 0; i < 1000 && len(left) > 0; i++ {
		runtime.Gosched()
		left = writerGoroutines()
	}
	if len(left) > 0 {
		t.Errorf("%d of the writer's goroutines still run after Abort:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
