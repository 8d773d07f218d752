package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// TestSchedulerWakesAtTheFire: a tick arms a timer for the earliest next
// fire, which queues a planning job for that instant instead of leaving
// the fire to the next periodic tick (here an hour away).
func TestSchedulerWakesAtTheFire(t *testing.T) {
	st, dir := openSQLiteStore(t)
	c := &clock{t: t0.Add(59 * time.Second)}
	q, err := OpenSQLite(context.Background(), filepath.Join(dir, "river.db"),
		Config{Store: st, Executor: newExecutor(st, c), Now: c.Now, PlanInterval: time.Hour, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()); q.Close() })
	ctx := context.Background()
	createFlow(t, st, flowSpec{name: "every-minute", trigger: wire.TriggerTypeScheduled, expr: "cron(* * * * ? *)"}, wire.FlowStatusActive)
	if err := q.Scheduler().FlowActivated(ctx, acct, "every-minute", c.Now()); err != nil {
		t.Fatal(err)
	}
	// The queue is not started: the timer's job stays queued for the test
	// to see, and no periodic tick runs.
	if n := mustTick(t, q); n != 0 {
		t.Fatalf("tick a second before the fire: %d runs enqueued, want 0", n)
	}
	fire := t0.Add(time.Minute)
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(PlanArgs{}.Kind()))
		if err != nil {
			t.Fatal(err)
		}
		var slots []time.Time
		for _, j := range res.Jobs {
			var a PlanArgs
			if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
				t.Fatal(err)
			}
			slots = append(slots, a.Slot)
		}
		if len(slots) == 1 && slots[0].Equal(fire) {
			break
		}
		if len(slots) > 0 {
			t.Fatalf("planning jobs for %v, want one for the fire %s", slots, fire)
		}
		if time.Now().After(deadline) {
			t.Fatal("no planning job queued for the fire a minute after it was due")
		}
		time.Sleep(20 * time.Millisecond) // polling for the timer's job, not timing it
	}
	// That job's tick, at the fire, plans the run.
	c.Set(fire)
	if n := mustTick(t, q); n != 1 {
		t.Fatalf("tick at the fire: %d runs enqueued, want 1", n)
	}
}

// bumpingStore changes flows behind the planner's back just before it
// writes a batch of schedules, as an UpdateFlow or another planner would.
type bumpingStore struct {
	store.Store
	mu   sync.Mutex
	bump func()
}

func (s *bumpingStore) FlowStateUpdateMany(ctx context.Context, fs []*store.Flow) ([]bool, error) {
	s.mu.Lock()
	bump := s.bump
	s.bump = nil
	s.mu.Unlock()
	if bump != nil {
		bump()
	}
	return s.Store.FlowStateUpdateMany(ctx, fs)
}

// TestSchedulerBatchStaleFlow: a flow that changed between the planner's
// read and its batch write is planned again on its own, and still runs
// once per fire; the rest of the batch is written as planned.
func TestSchedulerBatchStaleFlow(t *testing.T) {
	raw, dir := openSQLiteStore(t)
	st := &bumpingStore{Store: raw}
	c := &clock{t: t0}
	q := openSQLiteQueue(t, st, dir, newExecutor(st, c), c)
	ctx := context.Background()
	var names []string
	for i := range 5 {
		name := fmt.Sprintf("f%d", i)
		names = append(names, name)
		createFlow(t, st, flowSpec{name: name, trigger: wire.TriggerTypeScheduled, expr: "rate(1minutes)"}, wire.FlowStatusActive)
		if err := q.Scheduler().FlowActivated(ctx, acct, name, t0); err != nil {
			t.Fatal(err)
		}
	}
	st.bump = func() {
		for _, name := range []string{"f1", "f3"} {
			f, _ := flowGet(t, raw, name)
			f.UpdatedAt = f.UpdatedAt.Add(time.Second)
			if err := raw.FlowUpdate(ctx, f); err != nil {
				t.Error(err)
			}
		}
	}
	c.Set(t0.Add(30 * time.Second))
	if n := mustTick(t, q); n != 5 {
		t.Errorf("tick: %d runs enqueued, want 5 (one per flow)", n)
	}
	// Every schedule moved on in that one tick, the changed flows' too.
	for _, name := range names {
		_, s := flowGet(t, raw, name)
		if s.Schedule == nil || !s.Schedule.LastFire.Equal(t0) || !s.Schedule.NextFire.Equal(t0.Add(time.Minute)) {
			t.Errorf("%s: schedule %+v, want last fire t0 and next t0+1m", name, s.Schedule)
		}
	}
	if n := mustTick(t, q); n != 0 {
		t.Errorf("second tick at the same instant: %d runs enqueued, want 0", n)
	}
	for _, name := range names {
		if recs := executions(t, raw, name); len(recs) != 1 {
			t.Errorf("%s: %d records, want 1", name, len(recs))
		}
	}
	res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(RunFlowArgs{}.Kind()).First(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 5 {
		t.Errorf("run jobs: %d, want 5", len(res.Jobs))
	}
}

// Flows activated before one slot share the planning job of that slot: no
// tick over every flow per activation.
func TestActivationsShareTheirSlot(t *testing.T) {
	st, dir := openSQLiteStore(t)
	c := &clock{t: t0.Add(59 * time.Second)}
	q, err := OpenSQLite(context.Background(), filepath.Join(dir, "river.db"),
		Config{Store: st, Executor: newExecutor(st, c), Now: c.Now, PlanInterval: time.Hour, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()); q.Close() })
	ctx := context.Background()
	for i := range 3 {
		name := fmt.Sprintf("every-minute-%d", i)
		createFlow(t, st, flowSpec{name: name, trigger: wire.TriggerTypeScheduled, expr: "cron(* * * * ? *)"}, wire.FlowStatusActive)
		if err := q.FlowActivated(ctx, acct, name, c.Now()); err != nil {
			t.Fatal(err)
		}
	}
	fire := t0.Add(time.Minute)
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(PlanArgs{}.Kind()))
		if err != nil {
			t.Fatal(err)
		}
		var slots []time.Time
		for _, j := range res.Jobs {
			var a PlanArgs
			if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
				t.Fatal(err)
			}
			slots = append(slots, a.Slot)
		}
		if len(slots) == 1 && slots[0].Equal(fire) {
			return
		}
		if len(slots) > 0 {
			t.Fatalf("planning jobs for %v after three activations, want one, for the slot %s", slots, fire)
		}
		if time.Now().After(deadline) {
			t.Fatal("no planning job for the slot within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
