// Package engine runs one flow execution: it reads a source's splits
// concurrently, applies the flow's compiled tasks to every batch on a pool
// of transform workers, and streams the results, in order, to one
// destination writer.
//
//	split readers (Concurrency)   transform workers (GOMAXPROCS)   one writer goroutine
//	ReadSplit ─▶ emit: copy ─┬─▶ work ─▶ Program.Apply [─▶ EncodeBatch] ─┐
//	                         └─▶ queue (QueueDepth, in emit order) ─▶ wait for Apply ─▶ Writer.Write | WriteEncoded ─▶ Commit | Abort
//
// emit copies the source's batch into an engine-owned one (a source may
// reuse its batch once emit returns; one that sets Batch.Swap gets a
// recycled cell array in exchange for its own instead) and enters it in
// the ordered queue before handing it to a transform worker, so the
// batches of one split are transformed in parallel yet written in order,
// and even a single large split uses every core. Failures are taken in queue order, so the error a
// run reports is the first one in the input, as if it ran sequentially.
// A writer that is a connector.BatchEncoder has its batches encoded on the
// transform workers too, so the one writer goroutine only hands bytes on.
// One that is a connector.DeferredWriter keeps reading a batch after its
// Write returns: the batch is recycled (and its memory released) when the
// writer calls the batch's done, from whichever goroutine it finished on.
//
// Memory is bounded whatever the input size: a reader blocks in the
// source's emit callback while the queue is full, so at most
// Concurrency + QueueDepth + 1 batches exist at once, plus those a
// DeferredWriter holds (it bounds them).
package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/transform"
)

// MaxMessageLen is the longest executionMessage the API model allows
// (ExecutionMessage max 2048).
const MaxMessageLen = 2048

// Run is one execution's inputs.
type Run struct {
	Source connector.SourceDriver
	// Read is filled in by Execute: Fields and Filters come from Program
	// (pushdown); Window is the caller's (incremental pulls) and is also
	// applied in-engine.
	Read *connector.ReadRequest
	Dest connector.DestinationDriver
	// Write is filled in by Execute: Fields and PartitionKeys come from
	// Program. ErrorHandling decides what a record that a task cannot
	// convert does: with FailOnFirstError false it becomes a Failure, else
	// (and when there is no ErrorHandling, as for S3) it fails the run.
	Write   *connector.WriteRequest
	Program *transform.Program
	// Progress, if set, is called from one goroutine about every
	// ProgressEvery while the run goes, and once when it is done.
	Progress      func(Progress)
	ProgressEvery time.Duration // 0: one second
	// Concurrency is how many splits are read (and transformed) at once;
	// 0 means GOMAXPROCS.
	Concurrency int
	// QueueDepth is how many transformed batches may wait for the writer;
	// 0 means 2 × Concurrency.
	QueueDepth int
	// RecycleBatches lets the engine reuse a batch's memory once
	// Writer.Write has returned (a connector.DeferredWriter's: once it
	// called the batch's done). Set it only for writers that copy what
	// they keep (strings may be kept: they are never rewritten).
	RecycleBatches bool
	// ReleaseInput lets the engine call a source batch's Release once its
	// batch was written, so the source may fill the memory its strings
	// point into again, and the same of the output batch the tasks made
	// (their strings' memory). Set it only with RecycleBatches, for writers
	// that keep none of the cells' strings (connector.Capabilities.CopiesStrings).
	ReleaseInput bool
}

// Progress is a snapshot of a running execution.
type Progress struct {
	RecordsRead    int64
	RecordsWritten int64 // handed to the writer so far
	RecordsDropped int64
	BytesProcessed int64
	SplitsDone     int
	SplitsTotal    int
}

// Result sums up a successful execution.
type Result struct {
	RecordsRead      int64 // rows the source produced
	RecordsProcessed int64 // rows the destination wrote (WriteResult.RecordsWritten)
	RecordsDropped   int64 // rows dropped by Filter tasks, the window, or Validate DropRecord
	RecordsFiltered  int64 // of RecordsDropped, those dropped by a filter or the window
	BytesProcessed   int64 // source bytes parsed
	BytesWritten     int64
	// Failures are the records the destination refused plus, when the
	// destination continues on errors, the records a task could not
	// convert.
	Failures []connector.RecordFailure
	Objects  []string
	// Fields are the output fields as written, for the catalog.
	Fields []connector.FieldSpec
}

// Error is a failed execution. Its message says what failed, where (split,
// line, field, task) and why, fits executionMessage (at most MaxMessageLen
// characters of the model's allowed set), and unwraps to the cause.
type Error struct {
	Msg   string
	Split string // "" when the failure is not in one split
	Line  int64  // 0 when not known
	Field string
	Task  int // index in the task list, -1 when no task failed
	Err   error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func newError(cause error, split string, line int64, field string, task int, format string, args ...any) *Error {
	return &Error{Msg: Message(fmt.Sprintf(format, args...)), Split: split, Line: line, Field: field, Task: task, Err: cause}
}

// Message makes text fit executionMessage: characters outside the model's
// pattern [\s\w/!@#+=.-] go (quotes) or become spaces (colons, commas,
// brackets, non-ASCII), spaces collapse, and text past MaxMessageLen is cut
// with "...".
func Message(s string) string {
	var b strings.Builder
	b.Grow(min(len(s), MaxMessageLen+8))
	space := false
	for _, r := range s {
		switch {
		case r == '"' || r == '\'' || r == '`':
			continue
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v' || !allowed(r):
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		if b.Len() > MaxMessageLen {
			break
		}
	}
	out := b.String()
	if len(out) > MaxMessageLen {
		out = strings.TrimRight(out[:MaxMessageLen-3], " ") + "..."
	}
	return out
}

func allowed(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("_/!@#+=.-", r)
}

// ExecutionMessage is the executionMessage for any error a run ended with.
func ExecutionMessage(err error) string {
	if err == nil {
		return ""
	}
	// A retired service's message stands alone, whatever wrapped it.
	var retired *connector.RetiredError
	if errors.As(err, &retired) {
		return Message(retired.Message)
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	if errors.Is(err, context.Canceled) {
		return "Execution canceled"
	}
	return Message(err.Error())
}

// Execute runs r. On success the writer is committed; on any failure or
// cancellation everything stops, the writer is aborted, and the error is
// returned: ctx.Err() itself when ctx ended, so the caller can tell a
// cancellation, else an *Error.
func Execute(ctx context.Context, r *Run) (*Result, error) {
	if r.Source == nil || r.Dest == nil || r.Program == nil {
		return nil, fault.New(fault.Invalid, "engine: Run needs Source, Dest and Program")
	}
	if r.Read == nil {
		r.Read = &connector.ReadRequest{}
	}
	if r.Write == nil {
		r.Write = &connector.WriteRequest{}
	}
	prog := r.Program.WithWindow(r.Read.Window)
	r.Read.Fields = prog.Projection()
	r.Read.Filters = prog.Filters()
	r.Write.Fields = prog.OutputFields()
	r.Write.PartitionKeys = prog.PartitionKeys()

	splits, err := r.Source.Splits(ctx, r.Read)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, newError(err, "", 0, "", -1, "Listing the source failed - %v", err)
	}
	w, err := r.Dest.OpenWriter(ctx, r.Write)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, newError(err, "", 0, "", -1, "Opening the destination failed - %v", err)
	}
	x := &execution{r: r, prog: prog, splits: splits, w: w}
	x.enc, _ = w.(connector.BatchEncoder)
	x.later, _ = w.(connector.DeferredWriter)
	return x.run(ctx)
}

type execution struct {
	r      *Run
	prog   *transform.Program
	splits []connector.Split
	w      connector.Writer
	enc    connector.BatchEncoder   // w, when it encodes batches on the transform workers
	later  connector.DeferredWriter // w, when it reads batches after Write returns
	// held counts the batches given to later whose done has not come yet.
	held atomic.Int64

	queue chan *pending // in emit order, to the writer
	work  chan *pending // to the transform workers
	// free keeps every recycled task for a later batch: as many as were
	// ever in flight at once (bounded by the queue, the workers and what
	// a DeferredWriter holds), so none is dropped and allocated again.
	freeMu sync.Mutex
	free   []*pending

	read, bytes, filtered, invalid, sent atomic.Int64
	splitsDone                           atomic.Int64

	mu       sync.Mutex
	failures []connector.RecordFailure
	// written are the fields of the first batch written, for Result.Fields
	// when the tasks do not name them (Map_all); the writer goroutine's own.
	written []string

	errOnce  sync.Once
	firstErr error
	cancel   context.CancelFunc
}

func (x *execution) fail(err error) {
	x.errOnce.Do(func() {
		x.firstErr = err
		x.cancel()
	})
}

func (x *execution) run(ctx context.Context) (*Result, error) {
	r := x.r
	workers := r.Concurrency
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(x.splits))
	depth := r.QueueDepth
	if depth <= 0 {
		depth = 2 * max(workers, 1)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	x.cancel = cancel
	transformers := max(runtime.GOMAXPROCS(0), 1)
	x.queue = make(chan *pending, depth)
	x.work = make(chan *pending, depth+workers)

	var tw sync.WaitGroup
	for range transformers {
		tw.Go(func() {
			for t := range x.work {
				x.transform(runCtx, t)
			}
		})
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(x.splits) {
					return
				}
				if err := x.readSplit(runCtx, x.splits[i]); err != nil {
					// Taken in queue order, after the split's earlier batches.
					x.enqueue(runCtx, &pending{err: err, done: closedDone})
					return
				}
				x.splitsDone.Add(1)
			}
		})
	}
	go func() {
		wg.Wait()
		close(x.work)
		close(x.queue)
	}()

	every := r.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	lastProgress := time.Now()
	for t := range x.queue { // drain even after a failure, so no reader stays blocked
		<-t.done // Apply has finished with t (or skipped it after a failure)
		if runCtx.Err() != nil {
			t.drop()
			continue
		}
		if err := x.take(runCtx, t); err != nil {
			x.fail(err)
			t.drop()
			continue
		}
		// Read what is needed of the batch before the write: a deferred
		// write's done may recycle it before Write returns.
		b := t.out
		split, n := b.Split, b.Len()
		if x.written == nil && n > 0 {
			x.written = append([]string{}, b.Fields...)
		}
		held, err := x.write(runCtx, t)
		if err != nil {
			if runCtx.Err() == nil {
				x.fail(newError(err, split, 0, "", -1, "Writing to the destination failed for split %s - %v", split, err))
			}
			continue
		}
		x.sent.Add(int64(n))
		if !held {
			x.recycle(t)
		}
		if r.Progress != nil && time.Since(lastProgress) >= every {
			lastProgress = time.Now()
			r.Progress(x.progress())
		}
	}
	tw.Wait()

	if ctx.Err() != nil {
		x.abort(ctx)
		return nil, ctx.Err()
	}
	if x.firstErr != nil {
		return nil, x.abortWith(ctx, x.firstErr)
	}
	if r.Progress != nil {
		r.Progress(x.progress())
	}
	wr, err := x.w.Commit(ctx)
	if err == nil {
		err = x.stillHeld("Commit")
	}
	if err != nil {
		if ctx.Err() != nil {
			x.abort(ctx)
			return nil, ctx.Err()
		}
		return nil, x.abortWith(ctx, newError(err, "", 0, "", -1, "Committing the destination output failed - %v", err))
	}
	res := &Result{
		RecordsRead:      x.read.Load(),
		RecordsFiltered:  x.filtered.Load(),
		RecordsDropped:   x.filtered.Load() + x.invalid.Load(),
		BytesProcessed:   x.bytes.Load(),
		Failures:         x.failures,
		RecordsProcessed: wr.RecordsWritten,
		BytesWritten:     wr.BytesWritten,
		Objects:          wr.Objects,
		Fields:           r.Write.Fields,
	}
	if len(res.Fields) == 0 {
		for _, f := range x.written {
			res.Fields = append(res.Fields, connector.FieldSpec{Name: f})
		}
	}
	res.Failures = append(res.Failures, wr.Failures...)
	return res, nil
}

func (x *execution) progress() Progress {
	return Progress{
		RecordsRead:    x.read.Load(),
		RecordsWritten: x.sent.Load(),
		RecordsDropped: x.filtered.Load() + x.invalid.Load(),
		BytesProcessed: x.bytes.Load(),
		SplitsDone:     int(x.splitsDone.Load()),
		SplitsTotal:    len(x.splits),
	}
}

// abort discards the writer's output; it runs even when ctx has ended.
func (x *execution) abort(ctx context.Context) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	err := x.w.Abort(actx)
	if err == nil {
		err = x.stillHeld("Abort")
	}
	return err
}

// stillHeld is the error of a DeferredWriter that returned from Commit or
// Abort (at) without calling every done, against its contract: the run
// fails rather than wait for a done that may never come. Those batches are
// never reused: the run is over.
func (x *execution) stillHeld(at string) error {
	if n := x.held.Load(); n > 0 {
		return fmt.Errorf("the destination writer still held %d batches after %s", n, at)
	}
	return nil
}

func (x *execution) abortWith(ctx context.Context, err error) error {
	if aerr := x.abort(ctx); aerr != nil {
		var e *Error
		if errors.As(err, &e) {
			c := *e
			c.Msg = Message(e.Msg + " (discarding the partial output also failed - " + aerr.Error() + ")")
			return &c
		}
	}
	return err
}

// pending is one batch on its way from a source's emit to the writer.
type pending struct {
	in      record.Batch // the engine's copy of the source's batch
	out     *record.Batch
	done    chan struct{} // closed once Apply has run (or was skipped)
	inClear bool          // the transform worker cleared in.Cells already
	release func()        // the source batch's Release; nil: none

	// Set by the transform worker; read by the writer goroutine after done.
	recErrs []transform.RecordError
	err     error
	enc     connector.Encoded // out's encoding, when the writer is a BatchEncoder
	encErr  error
}

// drop releases an encoding that will not be written.
func (t *pending) drop() {
	if t.enc != nil {
		t.enc.Release()
		t.enc = nil
	}
}

// write hands t's batch to the writer: its encoding when the transform
// worker made one, else the batch itself. held says a DeferredWriter took
// it: t is recycled by the done it was given, perhaps already, and the
// caller must not touch t any more (nor its batch).
func (x *execution) write(ctx context.Context, t *pending) (held bool, err error) {
	if t.encErr != nil {
		return false, t.encErr
	}
	if e := t.enc; e != nil {
		t.enc = nil // WriteEncoded takes it
		return false, x.enc.WriteEncoded(ctx, t.out, e)
	}
	if x.later != nil {
		return true, x.later.WriteDeferred(ctx, t.out, x.doneFor(t))
	}
	return false, x.w.Write(ctx, t.out)
}

// doneFor is the done of t's deferred write: it recycles t, from the
// goroutine the writer calls it on. A second call panics: t may be another
// batch's by then.
func (x *execution) doneFor(t *pending) func() {
	x.held.Add(1)
	var called atomic.Bool
	return func() {
		if called.Swap(true) {
			panic("engine: a DeferredWriter called a batch's done twice")
		}
		x.recycle(t)
		x.held.Add(-1)
	}
}

// closedDone marks a task that needs no transform (a source error).
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (x *execution) newTask() *pending {
	x.freeMu.Lock()
	defer x.freeMu.Unlock()
	if n := len(x.free); n > 0 {
		t := x.free[n-1]
		x.free[n-1] = nil
		x.free = x.free[:n-1]
		return t
	}
	return &pending{}
}

// recycle keeps t's memory for a later batch: the input copy always (it is
// the engine's), the output only when the writer does not keep it. It runs
// on the writer goroutine, or on a DeferredWriter's when it calls done: the
// Release callbacks it calls are safe from any goroutine (they drop
// reference counts).
func (x *execution) recycle(t *pending) {
	// Drop the cells' references: a parser's strings are often substrings
	// of one large read buffer, which a stale cell would keep alive. The
	// transform worker usually did it while the cells were in its cache.
	if !t.inClear {
		clear(t.in.Cells)
	}
	if x.r.RecycleBatches {
		clear(t.out.Cells)
		if x.r.ReleaseInput && t.release != nil {
			// Written, failures copied, no cell left: nothing here
			// points into the source's memory any more.
			t.release()
		}
		if x.r.ReleaseInput && t.out.Release != nil {
			// Nor into the memory the tasks wrote the output's
			// strings in, which Apply can now reuse.
			t.out.Release()
			t.out.Release = nil
		}
	} else {
		t.out = nil
	}
	t.release = nil
	t.recErrs, t.err, t.encErr, t.inClear = t.recErrs[:0], nil, nil, false
	x.freeMu.Lock()
	x.free = append(x.free, t)
	x.freeMu.Unlock()
}

func (x *execution) enqueue(ctx context.Context, t *pending) error {
	select {
	case x.queue <- t:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transform runs on a transform worker.
func (x *execution) transform(ctx context.Context, t *pending) {
	defer close(t.done)
	if ctx.Err() != nil {
		return
	}
	if t.out == nil {
		t.out = &record.Batch{}
	}
	in, out := &t.in, t.out
	st, recErrs, err := x.prog.Apply(in, out)
	x.read.Add(int64(st.In))
	x.bytes.Add(in.SourceBytes)
	x.filtered.Add(int64(st.Filtered))
	x.invalid.Add(int64(st.Invalid))
	if out.Split == "" {
		out.Split = in.Split
	}
	if err != nil {
		var re *transform.RecordError
		if errors.As(err, &re) {
			t.err = recordError(re, out.Split)
		} else {
			t.err = newError(err, out.Split, 0, "", -1, "Transforming split %s failed - %v", out.Split, err)
		}
		return
	}
	t.recErrs = append(t.recErrs[:0], recErrs...)
	if len(recErrs) == 0 {
		// Nothing reads the input any more (take needs it only for
		// record errors): clear it here, on every core, while it is hot.
		clear(in.Cells)
		t.inClear = true
	}
	if x.enc != nil && ctx.Err() == nil {
		// The costly part of the write, here on every core; the writer
		// goroutine takes the result in order.
		t.enc, t.encErr = x.enc.EncodeBatch(out)
	}
}

// take handles what the transform found, on the writer goroutine, so
// errors are met in input order.
func (x *execution) take(ctx context.Context, t *pending) error {
	if t.err != nil {
		return t.err
	}
	if len(t.recErrs) > 0 {
		return x.recordErrors(ctx, &t.in, t.out.Split, t.recErrs)
	}
	return nil
}

// readSplit reads one split, handing each batch to the transform workers.
func (x *execution) readSplit(ctx context.Context, s connector.Split) error {
	final := false
	var fields []string // the fields of the last batch, owned by the engine
	emit := func(in *record.Batch) error {
		t := x.newTask()
		// Copy: the source may reuse in once emit returns. Values are
		// copied shallowly (strings are immutable); a changed field list
		// is cloned, as a source may rewrite its slice.
		if !slices.Equal(fields, in.Fields) {
			fields = slices.Clone(in.Fields)
		}
		cells := t.in.Cells[:0]
		if in.Swap {
			// The source takes its next array from in.Cells: trade the
			// cells for this task's old (cleared) array instead of copying.
			cells, in.Cells = in.Cells, cells
		} else {
			cells = append(cells, in.Cells...)
		}
		t.in = record.Batch{Fields: fields, Cells: cells,
			Split: in.Split, FirstLine: in.FirstLine, Final: in.Final, SourceBytes: in.SourceBytes}
		t.release = in.Release
		if t.in.Split == "" {
			t.in.Split = s.Name
		}
		t.done = make(chan struct{})
		final = in.Final
		if err := x.enqueue(ctx, t); err != nil {
			return err
		}
		select {
		case x.work <- t:
			return nil
		case <-ctx.Done():
			close(t.done)
			return ctx.Err()
		}
	}
	err := x.r.Source.ReadSplit(ctx, x.r.Read, s, emit)
	if err == nil && !final {
		// The writer learns of a split's end from Final: send one even if
		// the source emitted nothing (an empty object).
		err = emit(&record.Batch{Split: s.Name, Final: true})
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return newError(err, s.Name, 0, "", -1, "Reading split %s failed - %v", s.Name, err)
}

func recordError(re *transform.RecordError, split string) *Error {
	return newError(re, split, re.Line, re.Field, re.Task,
		"Record at %s line %d failed task %d %s on field %s - %s", split, re.Line, re.Task, re.TaskType, re.Field, re.Reason)
}

// recordErrors handles records a task could not convert: Failures when the
// destination continues on errors (handed to the writer when it is a
// connector.FailureRecorder, so they reach its error output and come back
// in its WriteResult), else the run fails on the first.
func (x *execution) recordErrors(ctx context.Context, in *record.Batch, split string, errs []transform.RecordError) error {
	eh := x.r.Write.ErrorHandling
	if eh == nil || eh.FailOnFirstError {
		return recordError(&errs[0], split)
	}
	if fr, ok := x.w.(connector.FailureRecorder); ok {
		fs := make([]connector.RecordFailure, len(errs))
		for i := range errs {
			fs[i] = taskFailure(in, split, &errs[i])
		}
		if err := fr.RecordFailures(ctx, fs); err != nil {
			return newError(err, split, errs[0].Line, "", -1, "Recording the rejected records of split %s failed - %v", split, err)
		}
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range errs {
		x.failures = append(x.failures, taskFailure(in, split, &errs[i]))
	}
	return nil
}

func taskFailure(in *record.Batch, split string, re *transform.RecordError) connector.RecordFailure {
	rec := make(map[string]string, len(in.Fields))
	for c, name := range in.Fields {
		// A copy: the source may fill the text's memory again once the
		// batch is written (Run.ReleaseInput).
		rec[name] = strings.Clone(in.Row(re.Row)[c].Text())
	}
	return connector.RecordFailure{
		Split: split, Line: re.Line, Record: rec,
		Reason: fmt.Sprintf("tasks[%d] (%s) field %s: %s", re.Task, re.TaskType, re.Field, re.Reason),
	}
}
