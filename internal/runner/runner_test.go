package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/metrics"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/runner"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
	"github.com/appflowd/appflowd/internal/wire"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakes are a source of n rows that can hold its read until released, and
// a destination that keeps what it is given and settles publishes as told.
type fakes struct {
	rows int

	mu        sync.Mutex
	hold      chan struct{} // when set, ReadSplit waits for it or ctx
	reading   chan struct{} // closed when ReadSplit starts
	written   int
	committed bool

	// When set, Commit signals committing, then waits for publish and
	// publishes whatever its context says: a publish past its intent.
	committing, publish chan struct{}

	// RecoverPublish's answer.
	recovered  *connector.WriteResult
	recoverErr error
	collected  []string // ids CollectStaging was asked about and removed
	staged     []string // ids with staging left in the "data dir"
}

func (f *fakes) Splits(context.Context, *connector.ReadRequest) ([]connector.Split, error) {
	return []connector.Split{{Name: "only"}}, nil
}

func (f *fakes) ReadSplit(ctx context.Context, _ *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	f.mu.Lock()
	hold, reading := f.hold, f.reading
	f.mu.Unlock()
	if reading != nil {
		close(reading)
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b := &record.Batch{Fields: []string{"id"}, Split: s.Name, FirstLine: 1, Final: true}
	for i := range f.rows {
		b.AppendRow([]record.Value{record.IntVal(int64(i))})
	}
	return emit(b)
}

func (f *fakes) OpenWriter(context.Context, *connector.WriteRequest) (connector.Writer, error) {
	return &fakeWriter{f: f}, nil
}

func (f *fakes) RecoverPublish(_ context.Context, req *connector.WriteRequest) (*connector.WriteResult, bool, error) {
	if f.recoverErr != nil {
		return nil, false, f.recoverErr
	}
	if f.recovered == nil {
		return nil, false, nil
	}
	return f.recovered, true, nil
}

func (f *fakes) CollectStaging(_ context.Context, unfinished func(string) bool) error {
	var keep []string
	for _, id := range f.staged {
		if unfinished(id) {
			keep = append(keep, id)
		} else {
			f.collected = append(f.collected, id)
		}
	}
	f.staged = keep
	return nil
}

type fakeWriter struct {
	f    *fakes
	rows int
}

func (w *fakeWriter) Write(_ context.Context, b *record.Batch) error { w.rows += b.Len(); return nil }
func (w *fakeWriter) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if w.f.committing != nil {
		close(w.f.committing)
		<-w.f.publish
	}
	w.f.mu.Lock()
	w.f.written, w.f.committed = w.rows, true
	w.f.mu.Unlock()
	return &connector.WriteResult{RecordsWritten: int64(w.rows), BytesWritten: int64(w.rows) * 10}, nil
}
func (w *fakeWriter) Abort(context.Context) error { return nil }

type env struct {
	st   store.Store
	r    *runner.Runner
	runs *runstate.Machine
	f    *fakes
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fakes{rows: 3}
	reg := connector.NewRegistry()
	reg.Register(connector.Spec{
		Capabilities: connector.Capabilities{Type: "S3", CanUseAsSource: true, CanUseAsDestination: true},
		Open:         func(context.Context, connector.Deps, connector.Profile) (connector.Driver, error) { return f, nil },
	})
	doc, _ := json.Marshal(map[string]any{
		"flowName":                  "f",
		"sourceFlowConfig":          map[string]any{"connectorType": "S3", "sourceConnectorProperties": map[string]any{"S3": map[string]any{"bucketName": "in"}}},
		"destinationFlowConfigList": []any{map[string]any{"connectorType": "S3", "destinationConnectorProperties": map[string]any{"S3": map[string]any{"bucketName": "out"}}}},
		"tasks":                     []any{map[string]any{"taskType": "Map_all", "sourceFields": []string{}, "connectorOperator": map[string]any{"S3": "NO_OP"}}},
	})
	if err := st.FlowCreate(ctx, &store.Flow{AccountID: "1", Name: "f", Arn: "arn", Status: "Active", Doc: doc}); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0 }
	return &env{st: st, f: f, runs: runstate.New(st, now),
		r: runner.New(runner.Deps{Store: st, Registry: reg, Now: now, Metrics: metrics.New()})}
}

// claimed creates a run claimed by owner.
func (e *env) claimed(t *testing.T, id, owner string) runstate.Key {
	t.Helper()
	ctx := context.Background()
	k := runstate.Key{Account: "1", Flow: "f", ID: id}
	if _, err := e.runs.Create(ctx, k, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runs.Apply(ctx, k, runstate.Change{Edit: func(r *runstate.Run) error {
		r.Row.Owner, r.Row.LeaseUntil = owner, t0.Add(time.Minute)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	return k
}

func (e *env) get(t *testing.T, k runstate.Key) *runstate.Run {
	t.Helper()
	r, err := e.runs.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestExecuteSuccessful(t *testing.T) {
	e := newEnv(t)
	k := e.claimed(t, "e1", "me")
	e.f.staged = []string{"e1", "another-run"}
	if got := e.r.Execute(context.Background(), k, "me"); got != runstate.Successful {
		t.Fatalf("Execute = %q, want Successful", got)
	}
	// Once the record is final, the run's own intent and staging go; a
	// run still going keeps its own.
	if len(e.f.staged) != 1 || e.f.staged[0] != "another-run" {
		t.Errorf("staging after the run: %v, want only another-run's", e.f.staged)
	}
	r := e.get(t, k)
	res := r.Rec.ExecutionResult
	if r.Status() != runstate.Successful || *res.RecordsProcessed != 3 || *res.BytesWritten != 30 || r.Row.Owner != "" {
		t.Errorf("record: status %s, records %d, bytes %d, owner %q; want Successful, 3, 30, no claim",
			r.Status(), *res.RecordsProcessed, *res.BytesWritten, r.Row.Owner)
	}
}

// A cancel by request while the source is reading ends Canceled, with
// nothing committed.
func TestExecuteCanceledByRequest(t *testing.T) {
	e := newEnv(t)
	e.f.hold, e.f.reading = make(chan struct{}), make(chan struct{})
	k := e.claimed(t, "e1", "me")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan wire.ExecutionStatus)
	go func() { done <- e.r.Execute(ctx, k, "me") }()
	<-e.f.reading
	if _, err := e.runs.Finish(context.Background(), k, nil, runstate.CancelStarted, ""); err != nil {
		t.Fatal(err)
	}
	cancel(runstate.ErrCanceled)
	if got := <-done; got != runstate.Canceled {
		t.Fatalf("Execute = %q, want Canceled", got)
	}
	if r := e.get(t, k); r.Status() != runstate.Canceled || r.Message() != "Execution canceled by request." || e.f.committed {
		t.Errorf("record %s %q, committed %v; want Canceled by request, nothing committed", r.Status(), r.Message(), e.f.committed)
	}
}

// A cancel that arrives once the output is being published is too late:
// the record says Successful, matching the destination.
func TestCancelDuringPublishEndsSuccessful(t *testing.T) {
	e := newEnv(t)
	e.f.committing, e.f.publish = make(chan struct{}), make(chan struct{})
	k := e.claimed(t, "e1", "me")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan wire.ExecutionStatus)
	go func() { done <- e.r.Execute(ctx, k, "me") }()
	<-e.f.committing
	if _, err := e.runs.Finish(context.Background(), k, nil, runstate.CancelStarted, ""); err != nil {
		t.Fatal(err)
	}
	cancel(runstate.ErrCanceled)
	close(e.f.publish)
	if got := <-done; got != runstate.Successful {
		t.Fatalf("Execute = %q, want Successful", got)
	}
	if r := e.get(t, k); r.Status() != runstate.Successful || !e.f.committed {
		t.Errorf("record %s, committed %v; want Successful and published", r.Status(), e.f.committed)
	}
}

// A run interrupted for another cause (a shutdown) is left to the caller:
// no record is written.
func TestExecuteInterrupted(t *testing.T) {
	e := newEnv(t)
	e.f.hold, e.f.reading = make(chan struct{}), make(chan struct{})
	k := e.claimed(t, "e1", "me")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan wire.ExecutionStatus)
	go func() { done <- e.r.Execute(ctx, k, "me") }()
	<-e.f.reading
	cancel(errors.New("shutting down"))
	if got := <-done; got != "" {
		t.Fatalf("Execute = %q, want \"\" (interrupted)", got)
	}
	if r := e.get(t, k); r.Status() != runstate.InProgress || r.Row.Owner != "me" {
		t.Errorf("record %s owner %q; want it untouched: InProgress, claimed by me", r.Status(), r.Row.Owner)
	}
}

// A run whose claim another process took over does not write its outcome
// over the other's.
func TestExecuteAfterTakeover(t *testing.T) {
	e := newEnv(t)
	k := e.claimed(t, "e1", "someone-else")
	if got := e.r.Execute(context.Background(), k, "me"); got != "" {
		t.Fatalf("Execute = %q, want \"\" (not ours to record)", got)
	}
	if r := e.get(t, k); r.Status() != runstate.InProgress || r.Row.Owner != "someone-else" {
		t.Errorf("record %s owner %q; want InProgress, still someone-else's", r.Status(), r.Row.Owner)
	}
}

// A run whose flow was deleted meanwhile ends without an error.
func TestExecuteFlowDeleted(t *testing.T) {
	e := newEnv(t)
	e.f.hold, e.f.reading = make(chan struct{}), make(chan struct{})
	k := e.claimed(t, "e1", "me")
	done := make(chan wire.ExecutionStatus)
	go func() { done <- e.r.Execute(context.Background(), k, "me") }()
	<-e.f.reading
	if err := e.st.FlowDelete(context.Background(), "1", "f"); err != nil {
		t.Fatal(err)
	}
	close(e.f.hold)
	if got := <-done; got != runstate.Successful {
		t.Errorf("Execute = %q, want the run's own outcome, Successful", got)
	}
	if _, err := e.runs.Get(context.Background(), k); !store.IsNotFound(err) {
		t.Errorf("record after the flow's deletion: %v, want none", err)
	}
}

func TestRecover(t *testing.T) {
	for _, c := range []struct {
		name       string
		published  *connector.WriteResult
		cancelling bool
		want       wire.ExecutionStatus
		wantMsg    string
		wantRecs   int64
	}{
		{name: "publish begun: rolled forward", published: &connector.WriteResult{RecordsWritten: 7, BytesWritten: 70}, want: runstate.Successful, wantRecs: 7},
		{name: "publish begun, cancel too late", published: &connector.WriteResult{RecordsWritten: 7, BytesWritten: 70}, cancelling: true, want: runstate.Successful, wantRecs: 7},
		{name: "nothing published", want: runstate.Error, wantMsg: runner.Interrupted},
		{name: "nothing published, cancel started", cancelling: true, want: runstate.Canceled, wantMsg: "Execution canceled by request."},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.f.recovered = c.published
			k := e.claimed(t, "e1", "me")
			if c.cancelling {
				if _, err := e.runs.Finish(context.Background(), k, nil, runstate.CancelStarted, ""); err != nil {
					t.Fatal(err)
				}
			}
			got, err := e.r.Recover(context.Background(), k, "me")
			if err != nil || got != c.want {
				t.Fatalf("Recover = %q, %v; want %s", got, err, c.want)
			}
			r := e.get(t, k)
			if r.Status() != c.want || r.Message() != c.wantMsg || *r.Rec.ExecutionResult.RecordsProcessed != c.wantRecs {
				t.Errorf("record %s %q records %d; want %s %q %d", r.Status(), r.Message(), *r.Rec.ExecutionResult.RecordsProcessed,
					c.want, c.wantMsg, c.wantRecs)
			}
		})
	}
}

// A publish that cannot be settled now leaves the run unfinished and
// claimed, for the next sweep: never an outcome that may not match.
func TestRecoverFailureLeavesRunUnfinished(t *testing.T) {
	e := newEnv(t)
	e.f.recoverErr = errors.New("bucket unreachable")
	k := e.claimed(t, "e1", "me")
	if _, err := e.r.Recover(context.Background(), k, "me"); err == nil {
		t.Fatal("Recover: no error")
	}
	if r := e.get(t, k); r.Status() != runstate.InProgress || r.Row.Owner != "me" {
		t.Errorf("record %s owner %q; want InProgress, claimed", r.Status(), r.Row.Owner)
	}
}

func TestCollectStagingKeepsUnfinishedRuns(t *testing.T) {
	e := newEnv(t)
	e.claimed(t, "running", "me")
	done := e.claimed(t, "done", "me")
	if _, err := e.runs.Finish(context.Background(), done, nil, runstate.Successful, ""); err != nil {
		t.Fatal(err)
	}
	e.f.staged = []string{"running", "done", "gone"}
	if err := e.r.CollectStaging(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(e.f.staged) != 1 || e.f.staged[0] != "running" || len(e.f.collected) != 2 {
		t.Errorf("staging kept %v, collected %v; want only the unfinished run's kept", e.f.staged, e.f.collected)
	}
}
