package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/s3conn"
	"github.com/appflowd/appflowd/internal/pgtest"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/pgstore"
	"github.com/appflowd/appflowd/internal/wire"
)

// eventEnv is a store, a local bucket "in" (the flows' source: prefix
// "data") and a way to open queues on one job database.
type eventEnv struct {
	st      store.Store
	c       *clock
	x       *executor
	dataDir string
	open    func(t *testing.T, id string) *Queue
}

// forEachBackend runs test on SQLite, and on PostgreSQL when
// APPFLOWD_TEST_POSTGRES is set (a schema of its own).
func forEachBackend(t *testing.T, test func(t *testing.T, e *eventEnv)) {
	t.Run("sqlite", func(t *testing.T) {
		st, dir := openSQLiteStore(t)
		e := &eventEnv{st: st, c: &clock{t: t0}, dataDir: dir}
		e.x = newExecutor(st, e.c)
		e.open = func(t *testing.T, id string) *Queue {
			q, err := OpenSQLite(context.Background(), filepath.Join(dir, "river.db"), e.config(id))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			return q
		}
		test(t, e)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Schema(t, "jobstest")
		st, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		e := &eventEnv{st: st, c: &clock{t: t0}, dataDir: t.TempDir()}
		e.x = newExecutor(st, e.c)
		e.open = func(t *testing.T, id string) *Queue {
			q, err := OpenPostgres(context.Background(), dsn, e.config(id))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			return q
		}
		test(t, e)
	})
}

func (e *eventEnv) config(id string) Config {
	return Config{Store: e.st, Executor: e.x, Now: e.c.Now, PlanInterval: -1, Workers: 2, ClientID: id,
		EventSources: map[string]EventSource{"S3": s3conn.NewEventSource(connector.Deps{DataDir: e.dataDir})}}
}

// put writes an object of bucket "in" atomically (as an S3 PUT is).
func (e *eventEnv) put(t *testing.T, key, body string) {
	t.Helper()
	p := filepath.Join(e.dataDir, "s3", "in", filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(e.dataDir, "put.tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func (e *eventEnv) remove(t *testing.T, key string) {
	t.Helper()
	if err := os.Remove(filepath.Join(e.dataDir, "s3", "in", filepath.FromSlash(key))); err != nil {
		t.Fatal(err)
	}
}

// queuedSplits returns the splits of every event run's job, by execution id.
func queuedSplits(t *testing.T, q *Queue) map[string][]string {
	t.Helper()
	res, err := q.client.JobList(context.Background(), river.NewJobListParams().Kinds(RunFlowArgs{}.Kind()).First(10000))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, j := range res.Jobs {
		var a RunFlowArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			t.Fatal(err)
		}
		if a.Trigger == TriggerEvent {
			s := slices.Clone(a.Splits)
			slices.Sort(s)
			out[a.ExecutionID] = s
		}
	}
	return out
}

func sorted(s ...string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(s, " ")
}

// TestEventFlowWaves: objects present at activation do not trigger; each
// wave of new or changed objects is one run reading exactly those objects;
// a deleted object put back is new again.
func TestEventFlowWaves(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *eventEnv) {
		ctx := context.Background()
		q := e.open(t, "one")
		e.put(t, "data/old.csv", "a\n1\n")
		createFlow(t, e.st, flowSpec{name: "ev", trigger: wire.TriggerTypeEvent}, wire.FlowStatusActive)
		if err := q.Scheduler().FlowActivated(ctx, acct, "ev", t0); err != nil {
			t.Fatal(err)
		}
		tick := func(want int, what string) {
			t.Helper()
			if got := mustTick(t, q); got != want {
				t.Errorf("%s: got %d runs enqueued, want %d", what, got, want)
			}
		}
		tick(0, "objects present at activation")
		tick(0, "nothing new")

		// A wave: two objects; beside them what the source never reads.
		e.put(t, "data/a.csv", "a\n1\n")
		e.put(t, "data/sub/b.csv", "a\n2\n")
		e.put(t, "data/empty.csv", "")
		e.put(t, "data/.appflowd-staging/x.csv", "a\n3\n")
		e.put(t, "other/c.csv", "a\n4\n")
		tick(1, "first wave")
		tick(0, "first wave again")
		waves := queuedSplits(t, q)
		if len(waves) != 1 {
			t.Fatalf("event runs queued: got %v, want one", waves)
		}
		var first string
		for id, s := range waves {
			first = id
			if strings.Join(s, " ") != sorted("data/a.csv", "data/sub/b.csv") {
				t.Errorf("first wave reads %v, want data/a.csv and data/sub/b.csv", s)
			}
		}
		if recs := executions(t, e.st, "ev"); len(recs) != 1 || recs[0].ExecutionId != first ||
			recs[0].ExecutionStatus != wire.ExecutionStatusInProgress || recs[0].DataPullStartTime != nil {
			t.Errorf("records after the first wave: %+v", recs)
		}

		// Worked: the executor reads the wave's objects, once.
		run(t, q)
		waitFor(t, "first wave run", finished(t, e.st, "ev", 1))
		e.x.mu.Lock()
		got := sorted(e.x.splits[first]...)
		e.x.mu.Unlock()
		if got != sorted("data/a.csv", "data/sub/b.csv") || e.x.count(first) != 1 {
			t.Errorf("first run: read %q %d time(s)", got, e.x.count(first))
		}

		// A changed object and a new one are the next wave.
		e.c.Set(t0.Add(time.Minute)) // records list by start time
		e.put(t, "data/a.csv", "a\n1\n5\n")
		e.put(t, "data/d.csv", "a\n6\n")
		tick(1, "second wave")
		waitFor(t, "second wave run", finished(t, e.st, "ev", 2))
		// A deletion is no event; the object put back is.
		e.remove(t, "data/d.csv")
		tick(0, "a deletion")
		e.c.Set(t0.Add(2 * time.Minute))
		e.put(t, "data/d.csv", "a\n6\n")
		tick(1, "an object put back")
		waitFor(t, "third wave run", finished(t, e.st, "ev", 3))

		recs := executions(t, e.st, "ev")
		e.x.mu.Lock()
		defer e.x.mu.Unlock()
		want := []string{sorted("data/a.csv", "data/sub/b.csv"), sorted("data/a.csv", "data/d.csv"), "data/d.csv"}
		for i, r := range recs {
			if got := sorted(e.x.splits[r.ExecutionId]...); got != want[i] || r.ExecutionStatus != wire.ExecutionStatusSuccessful {
				t.Errorf("run %d: read %q, status %s; want %q, Successful", i, got, r.ExecutionStatus, want[i])
			}
		}
	})
}

// TestEventFlowPlannersRace: two replicas plan every tick while objects
// keep arriving; every object is read by exactly one run.
func TestEventFlowPlannersRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *eventEnv) {
		ctx := context.Background()
		q1, q2 := e.open(t, "replica-1"), e.open(t, "replica-2")
		createFlow(t, e.st, flowSpec{name: "ev", trigger: wire.TriggerTypeEvent}, wire.FlowStatusActive)
		if err := q1.Scheduler().FlowActivated(ctx, acct, "ev", t0); err != nil {
			t.Fatal(err)
		}
		const objects = 40
		var total int
		var mu sync.Mutex
		done := make(chan struct{})
		var wg sync.WaitGroup
		for _, q := range []*Queue{q1, q2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					n, err := q.Scheduler().Tick(ctx)
					if err != nil {
						t.Errorf("tick: %v", err)
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}
			}()
		}
		for i := range objects {
			e.put(t, fmt.Sprintf("data/f%02d.csv", i), "a\n1\n")
			time.Sleep(3 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		close(done)
		wg.Wait()
		total += mustTick(t, q1) + mustTick(t, q2)

		waves := queuedSplits(t, q1)
		reads := map[string]int{}
		for _, s := range waves {
			for _, k := range s {
				reads[k]++
			}
		}
		for i := range objects {
			if k := fmt.Sprintf("data/f%02d.csv", i); reads[k] != 1 {
				t.Errorf("%s is read by %d runs, want 1", k, reads[k])
			}
		}
		recs := executions(t, e.st, "ev")
		if len(recs) != len(waves) || total != len(waves) {
			t.Errorf("runs: %d records, %d jobs, %d counted enqueued; want them equal", len(recs), len(waves), total)
		}
		t.Logf("%d objects in %d waves", objects, len(waves))
	})
}

// TestEventFlowPendingWave: a planner that died between taking a wave and
// enqueueing it leaves the wave in the flow's state; the next tick enqueues
// it, once.
func TestEventFlowPendingWave(t *testing.T) {
	st, dir := openSQLiteStore(t)
	e := &eventEnv{st: st, c: &clock{t: t0}, dataDir: dir}
	e.x = newExecutor(st, e.c)
	q, err := OpenSQLite(context.Background(), filepath.Join(dir, "river.db"), e.config("one"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	ctx := context.Background()
	createFlow(t, st, flowSpec{name: "ev", trigger: wire.TriggerTypeEvent}, wire.FlowStatusActive)
	if err := q.Scheduler().FlowActivated(ctx, acct, "ev", t0); err != nil {
		t.Fatal(err)
	}
	// What the dead planner wrote: the cursor moved past a.csv, the wave pending.
	e.put(t, "data/a.csv", "a\n1\n")
	err = q.modifyFlow(ctx, acct, "ev", func(f *store.Flow, s *flowState) (bool, error) {
		doc, _ := decodeDoc(f)
		ef, _, _ := doc.eventFlow(f)
		poll, err := q.eventSource("S3").Poll(ctx, ef, s.Events.Cursor, maxWaveEvents)
		if err != nil || len(poll.Events) != 1 {
			return false, fmt.Errorf("poll: %v %v", poll.Events, err)
		}
		s.Events.Cursor = poll.Cursor
		s.Events.Pending = &eventWave{ID: eventID(f, poll.Events), Splits: []string{"data/a.csv"}}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := mustTick(t, q); n != 1 {
		t.Errorf("tick after a planner died: got %d runs enqueued, want 1", n)
	}
	if n := mustTick(t, q); n != 0 {
		t.Errorf("next tick: got %d runs enqueued, want 0", n)
	}
	if w := queuedSplits(t, q); len(w) != 1 {
		t.Errorf("queued event runs: %v, want one reading data/a.csv", w)
	}
	if _, s := flowGet(t, st, "ev"); s.Events.Pending != nil {
		t.Errorf("pending wave left after it was enqueued: %+v", s.Events.Pending)
	}
}

// setStatus sets a stored flow's status, as StopFlow and StartFlow do.
func setFlowStatus(t *testing.T, st store.Store, name string, status wire.FlowStatus) {
	t.Helper()
	f, _ := flowGet(t, st, name)
	var doc map[string]json.RawMessage
	json.Unmarshal(f.Doc, &doc)
	doc["flowStatus"], _ = json.Marshal(status)
	f.Doc, _ = json.Marshal(doc)
	f.Status = string(status)
	if err := st.FlowUpdate(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

// TestFlowDeactivatedRemovesQueuedRuns: StopFlow and DeleteFlow remove the
// flow's queued runs from River and close their records; other flows' runs
// and runs already going stay.
func TestFlowDeactivatedRemovesQueuedRuns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *eventEnv) {
		ctx := context.Background()
		q := e.open(t, "one")
		createFlow(t, e.st, flowSpec{name: "sch", trigger: wire.TriggerTypeScheduled, expr: "rate(1minutes)"}, wire.FlowStatusActive)
		createFlow(t, e.st, flowSpec{name: "del", trigger: wire.TriggerTypeScheduled, expr: "rate(1minutes)"}, wire.FlowStatusActive)
		createFlow(t, e.st, flowSpec{name: "ev", trigger: wire.TriggerTypeEvent}, wire.FlowStatusActive)
		createFlow(t, e.st, flowSpec{name: "od", trigger: wire.TriggerTypeOnDemand}, wire.FlowStatusActive)
		for _, f := range []string{"sch", "del", "ev"} {
			if err := q.Scheduler().FlowActivated(ctx, acct, f, t0); err != nil {
				t.Fatal(err)
			}
		}
		e.put(t, "data/a.csv", "a\n1\n")
		if n := mustTick(t, q); n != 3 {
			t.Fatalf("tick: got %d runs enqueued, want 3 (sch, del, ev)", n)
		}
		if err := q.newRecord(ctx, acct, "od", "od-1", e.c.Now()); err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx, acct, "od", "od-1"); err != nil {
			t.Fatal(err)
		}
		queued := func(flow string) int {
			res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(RunFlowArgs{}.Kind()).States(pendingStates...).
				Where("args ->> 'flow_name' = @f", river.NamedArgs{"f": flow}))
			if err != nil {
				t.Fatal(err)
			}
			return len(res.Jobs)
		}

		// StopFlow of the scheduled and the event flow.
		for _, f := range []string{"sch", "ev"} {
			setFlowStatus(t, e.st, f, wire.FlowStatusSuspended)
			if err := q.FlowDeactivated(ctx, acct, f); err != nil {
				t.Fatal(err)
			}
			if n := queued(f); n != 0 {
				t.Errorf("%s: %d runs still queued after StopFlow", f, n)
			}
			recs := executions(t, e.st, f)
			if len(recs) != 1 || recs[0].ExecutionStatus != wire.ExecutionStatusCanceled ||
				!strings.Contains(recs[0].ExecutionResult.ErrorInfo.ExecutionMessage, "deactivated") {
				t.Errorf("%s: record after StopFlow: %+v", f, recs[0])
			}
		}
		if _, s := flowGet(t, e.st, "ev"); s.Events != nil {
			t.Errorf("ev: event state kept after StopFlow: %+v", s.Events)
		}
		// DeleteFlow: the records are gone with the flow; the job goes too.
		if err := e.st.FlowDelete(ctx, acct, "del"); err != nil {
			t.Fatal(err)
		}
		if err := q.FlowDeactivated(ctx, acct, "del"); err != nil {
			t.Fatal(err)
		}
		if n := queued("del"); n != 0 {
			t.Errorf("del: %d runs still queued after DeleteFlow", n)
		}
		if n := queued("od"); n != 1 {
			t.Errorf("od: %d runs queued, want its 1 (another flow)", n)
		}

		// Reactivated: what arrived while it was stopped is not new.
		e.put(t, "data/b.csv", "a\n2\n")
		setFlowStatus(t, e.st, "ev", wire.FlowStatusActive)
		if err := q.Scheduler().FlowActivated(ctx, acct, "ev", t0); err != nil {
			t.Fatal(err)
		}
		e.c.Set(t0.Add(30 * time.Second)) // sch is stopped; no fire due anyway
		if n := mustTick(t, q); n != 0 {
			t.Errorf("tick after reactivation: got %d runs enqueued, want 0", n)
		}

		// A run going when its flow is stopped keeps going.
		run(t, q)
		waitFor(t, "od-1 finished", finished(t, e.st, "od", 1))
		e.x.mu.Lock()
		e.x.block = make(chan struct{})
		e.x.mu.Unlock()
		if err := q.newRecord(ctx, acct, "ev", "ev-long", e.c.Now()); err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx, acct, "ev", "ev-long"); err != nil {
			t.Fatal(err)
		}
		for id := range e.x.started {
			if id == "ev-long" {
				break
			}
		}
		setFlowStatus(t, e.st, "ev", wire.FlowStatusSuspended)
		if err := q.FlowDeactivated(ctx, acct, "ev"); err != nil {
			t.Fatal(err)
		}
		close(e.x.block)
		waitFor(t, "ev-long finished", finished(t, e.st, "ev", 2))
		if got := byID(executions(t, e.st, "ev"))["ev-long"].ExecutionStatus; got != wire.ExecutionStatusSuccessful {
			t.Errorf("run going at StopFlow: got %s, want Successful", got)
		}
	})
}
