package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/transform"
)

// ---- fake source ----

type fakeSplit struct {
	name    string
	batches int
	rows    int // per batch
}

// fakeSource emits rows id,amount,ts: id counts from 1 within a split,
// amount = id % 100, ts = id seconds after the epoch. It reuses one batch
// per split, as real parsers do, so the engine must not keep it.
type fakeSource struct {
	splits  []fakeSplit
	emitted atomic.Int64 // emit calls
	active  atomic.Int64
	maxAct  atomic.Int64
	// hooks
	beforeRead func(ctx context.Context, s connector.Split) error
	failAt     map[string]int // split -> batch index whose emit is replaced by this error
	failErr    error
	forever    bool // emit until ctx ends
	swap       bool // sets Batch.Swap: takes back b.Cells after each emit
	gotReq     *connector.ReadRequest
}

func (f *fakeSource) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	f.gotReq = req
	var out []connector.Split
	for i := range f.splits {
		out = append(out, connector.Split{Name: f.splits[i].name, Opaque: &f.splits[i]})
	}
	return out, nil
}

func (f *fakeSource) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	n := f.active.Add(1)
	defer f.active.Add(-1)
	for {
		m := f.maxAct.Load()
		if n <= m || f.maxAct.CompareAndSwap(m, n) {
			break
		}
	}
	if f.beforeRead != nil {
		if err := f.beforeRead(ctx, s); err != nil {
			return err
		}
	}
	sp := s.Opaque.(*fakeSplit)
	b := &record.Batch{Fields: []string{"id", "amount", "ts"}, Split: s.Name}
	id := int64(0)
	for k := 0; f.forever || k < sp.batches; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if at, ok := f.failAt[s.Name]; ok && at == k {
			return fmt.Errorf("%s: %w", s.Name, f.failErr)
		}
		b.Cells = b.Cells[:0]
		b.FirstLine = id + 2 // a header line, then 1-based lines
		for r := 0; r < sp.rows; r++ {
			id++
			b.Cells = append(b.Cells, record.Str(fmt.Sprint(id)), record.Str(fmt.Sprint(id%100)),
				record.Str(time.Unix(id, 0).UTC().Format(time.RFC3339)))
		}
		b.Final = !f.forever && k == sp.batches-1
		b.SourceBytes = int64(10 * sp.rows)
		b.Swap = f.swap
		f.emitted.Add(1)
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

// ---- fake destination ----

type written struct {
	split     string
	firstLine int64
	final     bool
	ids       []string
}

type fakeDest struct {
	mu        sync.Mutex
	req       *connector.WriteRequest
	batches   []written
	rows      int64
	writes    atomic.Int64 // Write calls returned
	committed bool
	aborted   bool
	onWrite   func(b *record.Batch) error
	failures  []connector.RecordFailure
}

func (d *fakeDest) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	d.req = req
	return d, nil
}

func (d *fakeDest) Write(ctx context.Context, b *record.Batch) error {
	defer d.writes.Add(1)
	if d.onWrite != nil {
		if err := d.onWrite(b); err != nil {
			return err
		}
	}
	w := written{split: b.Split, firstLine: b.FirstLine, final: b.Final}
	idCol := b.Index("customer_id")
	for i := 0; i < b.Len() && idCol >= 0; i++ {
		w.ids = append(w.ids, b.Row(i)[idCol].Text())
	}
	d.mu.Lock()
	d.batches = append(d.batches, w)
	d.rows += int64(b.Len())
	d.mu.Unlock()
	return nil
}

func (d *fakeDest) Commit(ctx context.Context) (*connector.WriteResult, error) {
	d.committed = true
	return &connector.WriteResult{RecordsWritten: d.rows, BytesWritten: d.rows * 7, Objects: []string{"out/part-0"}, Failures: d.failures}, nil
}

func (d *fakeDest) Abort(ctx context.Context) error {
	d.aborted = true
	return nil
}

// ---- helpers ----

func task(typ, op string, fields []string, dest string, props ...string) transform.Task {
	t := transform.Task{Type: typ, Operator: op, SourceFields: fields, DestinationField: dest, Properties: map[string]string{}}
	for i := 0; i+1 < len(props); i += 2 {
		t.Properties[props[i]] = props[i+1]
	}
	return t
}

func program(t testing.TB, tasks ...transform.Task) *transform.Program {
	t.Helper()
	if len(tasks) == 0 {
		tasks = []transform.Task{
			task("Filter", "GREATER_THAN", []string{"amount"}, "", "DATA_TYPE", "integer", "VALUE", "49"), // keeps 50 of 100
			task("Validate", "VALIDATE_NON_ZERO", []string{"amount"}, "", "VALIDATION_ACTION", "DropRecord"),
			task("Map", "NO_OP", []string{"id"}, "customer_id", "DESTINATION_DATA_TYPE", "integer"),
			task("Map", "NO_OP", []string{"amount"}, "amount"),
		}
	}
	p, err := transform.Compile(tasks, transform.Options{SourceConnector: "S3"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func splits(n, batches, rows int) []fakeSplit {
	var out []fakeSplit
	for i := 0; i < n; i++ {
		out = append(out, fakeSplit{name: fmt.Sprintf("in/part-%d.csv", i), batches: batches, rows: rows})
	}
	return out
}

var messagePattern = regexp.MustCompile(`^[\s\w/!@#+=.-]*$`)

// ---- tests ----

func TestExecuteCountsAndFillsRequests(t *testing.T) {
	src := &fakeSource{splits: splits(3, 5, 100)}
	dst := &fakeDest{}
	run := &Run{Source: src, Dest: dst, Program: program(t), Concurrency: 2,
		Read: &connector.ReadRequest{FlowName: "f"}, Write: &connector.WriteRequest{FlowName: "f"}}
	res, err := Execute(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	// Each split: ids 1..500, amount = id%100; kept: amount > 49 (250 rows), none zero.
	want := &Result{RecordsRead: 1500, RecordsProcessed: 750, RecordsDropped: 750, RecordsFiltered: 750,
		BytesProcessed: 1500 * 10, BytesWritten: 750 * 7, Objects: []string{"out/part-0"},
		Fields: []connector.FieldSpec{{Name: "customer_id", Type: "integer"}, {Name: "amount"}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
	if !dst.committed || dst.aborted {
		t.Errorf("committed %v aborted %v, want committed only", dst.committed, dst.aborted)
	}
	if got, want := src.gotReq.Fields, []string{"amount", "id"}; !cmp.Equal(got, want) {
		t.Errorf("Read.Fields = %v, want %v", got, want)
	}
	wantFilters := []connector.Filter{{Field: "amount", Operator: "GREATER_THAN", Values: []string{"49"}, DataType: "integer"}}
	if diff := cmp.Diff(wantFilters, src.gotReq.Filters); diff != "" {
		t.Errorf("Read.Filters (-want +got):\n%s", diff)
	}
	wantFields := []connector.FieldSpec{{Name: "customer_id", Type: "integer"}, {Name: "amount"}}
	if diff := cmp.Diff(wantFields, dst.req.Fields); diff != "" {
		t.Errorf("Write.Fields (-want +got):\n%s", diff)
	}
	if len(dst.batches) != 15 {
		t.Errorf("writer got %d batches, want 15 (every batch, even emptied ones)", len(dst.batches))
	}
}

func TestOrderWithinSplit(t *testing.T) {
	src := &fakeSource{splits: splits(4, 20, 10)}
	dst := &fakeDest{}
	// Keep every row so ids are checkable; drop everything from one batch in three.
	p := program(t,
		task("Filter", "NOT_EQUAL_TO", []string{"amount"}, "", "DATA_TYPE", "integer", "VALUES", "20,21,22,23,24,25,26,27,28,29"),
		task("Map", "NO_OP", []string{"id"}, "customer_id"))
	if _, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, Concurrency: 3}); err != nil {
		t.Fatal(err)
	}
	bySplit := map[string][]written{}
	for _, b := range dst.batches {
		bySplit[b.split] = append(bySplit[b.split], b)
	}
	if len(bySplit) != 4 {
		t.Fatalf("splits seen: %d, want 4", len(bySplit))
	}
	for name, bs := range bySplit {
		if len(bs) != 20 {
			t.Errorf("%s: %d batches, want 20 (emptied ones included)", name, len(bs))
		}
		var ids []string
		for i, b := range bs {
			if b.final != (i == len(bs)-1) {
				t.Errorf("%s batch %d: Final = %v", name, i, b.final)
			}
			if i > 0 && b.firstLine <= bs[i-1].firstLine {
				t.Errorf("%s batch %d: FirstLine %d after %d: out of order", name, i, b.firstLine, bs[i-1].firstLine)
			}
			ids = append(ids, b.ids...)
		}
		var want []string
		for id := 1; id <= 200; id++ {
			if id%100 < 20 || id%100 > 29 {
				want = append(want, fmt.Sprint(id))
			}
		}
		if diff := cmp.Diff(want, ids); diff != "" {
			t.Errorf("%s: ids (-want +got):\n%s", name, diff)
		}
	}
}

func TestSplitsAreReadConcurrently(t *testing.T) {
	const workers = 2
	var arrived atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	src := &fakeSource{splits: splits(6, 2, 10)}
	src.beforeRead = func(ctx context.Context, s connector.Split) error {
		// Each split waits until `workers` splits are being read at once.
		if arrived.Add(1) >= workers {
			once.Do(func() { close(release) })
		}
		select {
		case <-release:
			return nil
		case <-time.After(30 * time.Second): // a deadlock guard, not a timing assertion
			return errors.New("never saw two splits read at once")
		}
	}
	dst := &fakeDest{}
	if _, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: program(t), Concurrency: workers}); err != nil {
		t.Fatal(err)
	}
	if got := src.maxAct.Load(); got != workers {
		t.Errorf("max splits read at once = %d, want %d", got, workers)
	}
}

func TestCancelAbortsAndReturnsContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &fakeSource{splits: splits(2, 0, 10), forever: true}
	dst := &fakeDest{}
	dst.onWrite = func(b *record.Batch) error {
		if dst.writes.Load() == 10 {
			cancel()
		}
		return nil
	}
	res, err := Execute(ctx, &Run{Source: src, Dest: dst, Program: program(t), Concurrency: 2})
	if err != context.Canceled {
		t.Fatalf("err = %v (res %v), want context.Canceled", err, res)
	}
	if !dst.aborted || dst.committed {
		t.Errorf("aborted %v committed %v, want aborted only", dst.aborted, dst.committed)
	}
	if got := ExecutionMessage(err); got != "Execution canceled" {
		t.Errorf("ExecutionMessage = %q", got)
	}
}

func TestTransformFailureNamesSplitLineFieldTask(t *testing.T) {
	src := &fakeSource{splits: []fakeSplit{{name: "in/a.csv", batches: 3, rows: 10}, {name: "in/b.csv", batches: 3, rows: 10}}}
	dst := &fakeDest{}
	p := program(t,
		task("Map", "NO_OP", []string{"id"}, "customer_id"),
		task("Arithmetic", "DIVISION", []string{"id", "amount"}, "id,amount"), // amount 0 at id 100
		task("Map", "NO_OP", []string{"id,amount"}, "ratio"))
	src.splits[1].batches = 12
	src.splits[0].batches = 3 // ids 1..30: no zero
	_, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, Concurrency: 2})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *engine.Error", err)
	}
	want := "Record at in/b.csv line 101 failed task 1 Arithmetic on field id amount - division by zero"
	if e.Msg != want {
		t.Errorf("message\n got %q\nwant %q", e.Msg, want)
	}
	if e.Split != "in/b.csv" || e.Line != 101 || e.Task != 1 || e.Field != "id,amount" {
		t.Errorf("error fields = %+v", e)
	}
	var re *transform.RecordError
	if !errors.As(err, &re) {
		t.Errorf("error does not unwrap to the *transform.RecordError")
	}
	if !dst.aborted || dst.committed {
		t.Errorf("aborted %v committed %v, want aborted only", dst.aborted, dst.committed)
	}
}

func TestRecordErrorsAndErrorHandling(t *testing.T) {
	// ts never fits an integer column.
	typed, err := transform.Compile([]transform.Task{
		task("Map", "NO_OP", []string{"id"}, "customer_id"),
		task("Map", "NO_OP", []string{"ts"}, "when", "DESTINATION_DATA_TYPE", "integer"),
	}, transform.Options{TypedDestination: true})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("continue: failures", func(t *testing.T) {
		src := &fakeSource{splits: []fakeSplit{{name: "in/a.csv", batches: 1, rows: 3}}}
		dst := &fakeDest{failures: []connector.RecordFailure{{Split: "in/a.csv", Line: 9, Reason: "rejected by destination"}}}
		res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: typed,
			Write: &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{FailOnFirstError: false}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failures) != 4 || res.RecordsProcessed != 0 || res.RecordsRead != 3 {
			t.Fatalf("failures %d processed %d read %d, want 4 (3 tasks + 1 destination), 0, 3", len(res.Failures), res.RecordsProcessed, res.RecordsRead)
		}
		f0 := res.Failures[0]
		if f0.Split != "in/a.csv" || f0.Line != 2 || f0.Record["id"] != "1" ||
			!strings.Contains(f0.Reason, `tasks[1] (Map) field ts: value "1970-01-01T00:00:01Z" (string) is not an integer`) {
			t.Errorf("failure = %+v", f0)
		}
	})
	for name, eh := range map[string]*connector.ErrorHandling{"no config": nil, "fail on first": {FailOnFirstError: true}} {
		t.Run(name+": run fails", func(t *testing.T) {
			src := &fakeSource{splits: []fakeSplit{{name: "in/a.csv", batches: 1, rows: 3}}}
			dst := &fakeDest{}
			_, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: typed,
				Write: &connector.WriteRequest{ErrorHandling: eh}})
			want := "Record at in/a.csv line 2 failed task 1 Map on field ts - value 1970-01-01T00 00 01Z string is not an integer DESTINATION_DATA_TYPE of when"
			if err == nil || err.Error() != want {
				t.Errorf("err\n got %v\nwant %s", err, want)
			}
			if !dst.aborted {
				t.Error("writer not aborted")
			}
		})
	}
}

func TestSourceAndWriterErrors(t *testing.T) {
	t.Run("source", func(t *testing.T) {
		src := &fakeSource{splits: splits(3, 4, 5), failAt: map[string]int{"in/part-1.csv": 2},
			failErr: errors.New(`line 12: bare " in non-quoted field`)}
		dst := &fakeDest{}
		_, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: program(t)})
		want := "Reading split in/part-1.csv failed - in/part-1.csv line 12 bare in non-quoted field"
		if err == nil || err.Error() != want {
			t.Errorf("err\n got %v\nwant %s", err, want)
		}
		if !dst.aborted || dst.committed {
			t.Errorf("aborted %v committed %v", dst.aborted, dst.committed)
		}
	})
	t.Run("writer", func(t *testing.T) {
		src := &fakeSource{splits: splits(2, 50, 5)}
		dst := &fakeDest{}
		dst.onWrite = func(b *record.Batch) error {
			if dst.writes.Load() == 3 {
				return errors.New("disk full")
			}
			return nil
		}
		_, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: program(t), Concurrency: 2})
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(e.Msg, "Writing to the destination failed for split in/part-") ||
			!strings.HasSuffix(e.Msg, "- disk full") {
			t.Errorf("err = %v", err)
		}
		if !dst.aborted || dst.committed {
			t.Errorf("aborted %v committed %v", dst.aborted, dst.committed)
		}
	})
}

func TestLongMessagesAreSanitizedAndTruncated(t *testing.T) {
	long := strings.Repeat(`bad "value": é, (x) `, 300)
	src := &fakeSource{splits: splits(1, 2, 5), failAt: map[string]int{"in/part-0.csv": 1}, failErr: errors.New(long)}
	_, err := Execute(context.Background(), &Run{Source: src, Dest: &fakeDest{}, Program: program(t)})
	msg := ExecutionMessage(err)
	if len(msg) != MaxMessageLen || !strings.HasSuffix(msg, "...") {
		t.Errorf("len %d, ends %q; want %d ending in ...", len(msg), msg[max(0, len(msg)-10):], MaxMessageLen)
	}
	if !messagePattern.MatchString(msg) {
		t.Errorf("message has characters outside the model's pattern: %q", msg[:100])
	}
	if !strings.HasPrefix(msg, "Reading split in/part-0.csv failed - in/part-0.csv bad value x bad value") {
		t.Errorf("message starts %q", msg[:80])
	}
	for _, tc := range []struct{ in, want string }{
		{"a: b, c", "a b c"},
		{`say "hi"`, "say hi"},
		{"tab\there", "tab here"},
		{"x/y!@#+=.-_z", "x/y!@#+=.-_z"},
		{strings.Repeat("a", MaxMessageLen), strings.Repeat("a", MaxMessageLen)},
		{strings.Repeat("a", MaxMessageLen+1), strings.Repeat("a", MaxMessageLen-3) + "..."},
	} {
		if got := Message(tc.in); got != tc.want {
			t.Errorf("Message(%.20q) = %.30q, want %.30q", tc.in, got, tc.want)
		}
	}
}

// A source producing many batches never has more than Concurrency +
// QueueDepth + 1 of them between its emit and the writer's return.
func TestMemoryIsBounded(t *testing.T) {
	const workers, depth = 2, 3
	const bound = workers + depth + 1
	src := &fakeSource{splits: splits(workers, 1000, 4)}
	var maxInFlight atomic.Int64
	dst := &fakeDest{}
	first := true
	dst.onWrite = func(b *record.Batch) error {
		inFlight := src.emitted.Load() - dst.writes.Load()
		if inFlight > maxInFlight.Load() {
			maxInFlight.Store(inFlight)
		}
		if first {
			// Hold the writer until the producers have filled every slot,
			// then give them more chances to overrun the bound.
			first = false
			deadline := time.Now().Add(30 * time.Second) // a deadlock guard only
			for src.emitted.Load() < bound && time.Now().Before(deadline) {
				runtime.Gosched()
			}
			for range 10000 {
				runtime.Gosched()
			}
			if n := src.emitted.Load() - dst.writes.Load(); n > maxInFlight.Load() {
				maxInFlight.Store(n)
			}
		}
		return nil
	}
	res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: program(t),
		Concurrency: workers, QueueDepth: depth, RecycleBatches: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := maxInFlight.Load(); got > bound || got < bound {
		t.Errorf("max batches in flight = %d, want exactly the bound %d (reached while the writer was held, never exceeded)", got, bound)
	}
	if res.RecordsRead != 2*1000*4 || len(dst.batches) != 2000 {
		t.Errorf("read %d rows, wrote %d batches; want 8000, 2000", res.RecordsRead, len(dst.batches))
	}
}

func TestEmptySplitStillEndsWithFinal(t *testing.T) {
	src := &fakeSource{splits: []fakeSplit{{name: "in/empty.csv", batches: 0}, {name: "in/full.csv", batches: 2, rows: 3}}}
	dst := &fakeDest{}
	if _, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: program(t)}); err != nil {
		t.Fatal(err)
	}
	finals := map[string]int{}
	for _, b := range dst.batches {
		if b.final {
			finals[b.split]++
		}
	}
	if diff := cmp.Diff(map[string]int{"in/empty.csv": 1, "in/full.csv": 1}, finals); diff != "" {
		t.Errorf("Final batches per split (-want +got):\n%s", diff)
	}
}

func TestNoSplitsCommitsEmpty(t *testing.T) {
	dst := &fakeDest{}
	res, err := Execute(context.Background(), &Run{Source: &fakeSource{}, Dest: dst, Program: program(t)})
	if err != nil || !dst.committed || res.RecordsRead != 0 {
		t.Errorf("res %+v err %v committed %v", res, err, dst.committed)
	}
}

func TestProgress(t *testing.T) {
	src := &fakeSource{splits: splits(2, 10, 10)}
	var calls []Progress
	_, err := Execute(context.Background(), &Run{Source: src, Dest: &fakeDest{}, Program: program(t),
		Progress: func(p Progress) { calls = append(calls, p) }, ProgressEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 {
		t.Fatalf("Progress called %d times, want periodic calls and a last one", len(calls))
	}
	last := calls[len(calls)-1]
	want := Progress{RecordsRead: 200, RecordsWritten: 100, RecordsDropped: 100, BytesProcessed: 2000, SplitsDone: 2, SplitsTotal: 2}
	if last != want {
		t.Errorf("last Progress = %+v, want %+v", last, want)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].RecordsRead < calls[i-1].RecordsRead {
			t.Errorf("RecordsRead went back: %d then %d", calls[i-1].RecordsRead, calls[i].RecordsRead)
		}
	}
}

func TestIncrementalWindowIsAppliedAndFetched(t *testing.T) {
	src := &fakeSource{splits: splits(1, 1, 100)}
	dst := &fakeDest{}
	p := program(t, task("Filter", "PROJECTION", []string{"id"}, ""), task("Map", "NO_OP", []string{"id"}, "customer_id"))
	read := &connector.ReadRequest{Window: &connector.Window{Field: "ts", Start: time.Unix(10, 0), End: time.Unix(20, 0)}}
	res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, Read: read})
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(read.Fields, []string{"id", "ts"}) {
		t.Errorf("Read.Fields = %v, want [id ts]", read.Fields)
	}
	if res.RecordsProcessed != 10 || res.RecordsFiltered != 90 {
		t.Errorf("processed %d filtered %d, want 10 (ts 10..19) and 90", res.RecordsProcessed, res.RecordsFiltered)
	}
}

// ---- benchmark ----

// benchSource emits the same prepared batch over and over, so the
// benchmark measures the engine and the transform, not a parser.
type benchSource struct {
	batch   *record.Batch
	splits  int
	batches int
}

func (s *benchSource) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	out := make([]connector.Split, s.splits)
	for i := range out {
		out[i].Name = fmt.Sprintf("in/part-%d.csv", i)
	}
	return out, nil
}

func (s *benchSource) ReadSplit(ctx context.Context, req *connector.ReadRequest, sp connector.Split, emit func(*record.Batch) error) error {
	b := *s.batch
	b.Split = sp.Name
	for k := 0; k < s.batches; k++ {
		b.FirstLine = int64(k*s.batch.Len() + 2)
		b.Final = k == s.batches-1
		if err := emit(&b); err != nil {
			return err
		}
	}
	return nil
}

type countingDest struct{ rows int64 }

func (d *countingDest) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	return d, nil
}
func (d *countingDest) Write(ctx context.Context, b *record.Batch) error {
	d.rows += int64(b.Len())
	return nil
}
func (d *countingDest) Commit(ctx context.Context) (*connector.WriteResult, error) {
	return &connector.WriteResult{RecordsWritten: d.rows}, nil
}
func (d *countingDest) Abort(ctx context.Context) error { return nil }

func benchBatch(n int) *record.Batch {
	countries := []string{"US", "DE", "FR", "GB", "JP", "BR", "IN", "CA"}
	b := &record.Batch{Fields: []string{"id", "name", "email", "amount", "created_at", "country"}}
	x := uint64(7)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		r := x >> 11
		b.Cells = append(b.Cells, record.Str(fmt.Sprint(i+1)), record.Str(fmt.Sprintf("Name %d", r%100000)),
			record.Str(fmt.Sprintf("user%d@example.com", r%1000000)), record.Str(fmt.Sprintf("%d.%02d", (r>>20)%1000, (r>>40)%100)),
			record.Str(time.Unix(1577836800+int64(r%157766400), 0).UTC().Format(time.RFC3339)), record.Str(countries[(r>>8)%8]))
	}
	b.SourceBytes = int64(87 * n)
	return b
}

// BenchmarkExecuteBenchWorkload runs the bench workload over 1M rows in 4
// splits (split readers in parallel) and in one split (batches of one split
// transformed in parallel, written in order).
func BenchmarkExecuteBenchWorkload(b *testing.B) {
	b.Run("splits=4", func(b *testing.B) { benchmarkExecute(b, 4, 25) })
	b.Run("splits=1", func(b *testing.B) { benchmarkExecute(b, 1, 100) })
}

func benchmarkExecute(b *testing.B, splitsN, batches int) {
	m := func(src, dst, typ string) transform.Task {
		return task("Map", "NO_OP", []string{src}, dst, "DESTINATION_DATA_TYPE", typ)
	}
	p, err := transform.Compile([]transform.Task{
		task("Filter", "PROJECTION", []string{"id", "name", "email", "amount", "created_at", "country"}, ""),
		task("Filter", "GREATER_THAN", []string{"amount"}, "", "DATA_TYPE", "double", "VALUE", "100"),
		task("Mask", "MASK_FIRST_N", []string{"email"}, "", "MASK_LENGTH", "5", "MASK_VALUE", "*"),
		task("Arithmetic", "ADDITION", []string{"amount", "amount"}, "amount,amount", "MATH_OPERATION_FIELDS_ORDER", "amount,amount"),
		m("id", "customer_id", "bigint"), m("name", "full_name", "string"), m("email", "email_masked", "string"),
		m("amount,amount", "amount_x2", "double"), m("created_at", "created_at", "string"), m("country", "country_code", "string"),
	}, transform.Options{SourceConnector: "S3", TypedDestination: true})
	if err != nil {
		b.Fatal(err)
	}
	const rows = 10_000
	src := &benchSource{batch: benchBatch(rows), splits: splitsN, batches: batches}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst := &countingDest{}
		res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, RecycleBatches: true})
		if err != nil {
			b.Fatal(err)
		}
		if res.RecordsRead != int64(splitsN*batches*rows) {
			b.Fatalf("read %d", res.RecordsRead)
		}
	}
	b.ReportMetric(float64(splitsN*batches*rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// One big split is transformed by several workers yet written in order,
// although the source reuses its batch after emit returns.
func TestOneSplitParallelTransformKeepsOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	src := &fakeSource{splits: []fakeSplit{{name: "in/big.csv", batches: 300, rows: 7}}}
	dst := &fakeDest{}
	p := program(t,
		task("Filter", "NOT_EQUAL_TO", []string{"amount"}, "", "DATA_TYPE", "integer", "VALUES", "3,4"),
		task("Map", "NO_OP", []string{"id"}, "customer_id"))
	// With Swap the source refills the arrays the engine hands back while
	// earlier batches are still being transformed and written.
	for _, c := range []struct{ recycle, swap bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		recycle := c.recycle
		src.swap = c.swap
		dst.batches, dst.rows = nil, 0
		res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, RecycleBatches: recycle})
		if err != nil {
			t.Fatal(err)
		}
		var ids, want []string
		for i, b := range dst.batches {
			if b.final != (i == len(dst.batches)-1) || b.firstLine != int64(7*i+2) {
				t.Fatalf("recycle %v: batch %d: final %v firstLine %d", recycle, i, b.final, b.firstLine)
			}
			ids = append(ids, b.ids...)
		}
		for id := 1; id <= 2100; id++ {
			if id%100 != 3 && id%100 != 4 {
				want = append(want, fmt.Sprint(id))
			}
		}
		if diff := cmp.Diff(want, ids); diff != "" {
			t.Errorf("recycle %v swap %v: ids (-want +got):\n%s", recycle, c.swap, diff)
		}
		if res.RecordsRead != 2100 || res.BytesProcessed != 300*70 || len(dst.batches) != 300 {
			t.Errorf("recycle %v: read %d bytes %d batches %d", recycle, res.RecordsRead, res.BytesProcessed, len(dst.batches))
		}
	}
}

// Batches are transformed in parallel, but a run reports the error that
// comes first in the input, as a sequential run would: a record error in an
// early batch wins over a later batch's record error and over a source
// error further on.
func TestFirstErrorInInputOrderWins(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	p := program(t,
		task("Map", "NO_OP", []string{"id"}, "customer_id"),
		task("Arithmetic", "DIVISION", []string{"id", "amount"}, "id,amount"), // amount 0 at ids 100, 200, ...
		task("Map", "NO_OP", []string{"id,amount"}, "ratio"))
	for i := range 30 {
		// 10 rows a batch: id 100 is in batch 9 (line 101), id 200 in batch 19;
		// the source fails at batch 25.
		src := &fakeSource{splits: []fakeSplit{{name: "in/a.csv", batches: 40, rows: 10}},
			failAt: map[string]int{"in/a.csv": 25}, failErr: errors.New("line 252: bad quote")}
		_, err := Execute(context.Background(), &Run{Source: src, Dest: &fakeDest{}, Program: p})
		var e *Error
		if !errors.As(err, &e) || e.Line != 101 || e.Split != "in/a.csv" {
			t.Fatalf("run %d: err = %v, want the division by zero at in/a.csv line 101", i, err)
		}
	}
}

// With FailOnFirstError false, record failures come back in input order.
func TestRecordFailuresInInputOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	// ts never fits an integer column: every row is a record failure.
	typed, err := transform.Compile([]transform.Task{
		task("Map", "NO_OP", []string{"id"}, "customer_id"),
		task("Map", "NO_OP", []string{"ts"}, "when", "DESTINATION_DATA_TYPE", "integer"),
	}, transform.Options{TypedDestination: true})
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{splits: []fakeSplit{{name: "in/a.csv", batches: 50, rows: 4}}}
	res, err := Execute(context.Background(), &Run{Source: src, Dest: &fakeDest{}, Program: typed,
		Write: &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{FailOnFirstError: false}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failures) != 200 {
		t.Fatalf("%d failures, want 200", len(res.Failures))
	}
	for i, f := range res.Failures {
		if f.Line != int64(i+2) || f.Record["id"] != fmt.Sprint(i+1) {
			t.Fatalf("failure %d: line %d id %s, want line %d id %d", i, f.Line, f.Record["id"], i+2, i+1)
		}
	}
}
