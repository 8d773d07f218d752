package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/appflowd/appflowd/internal/wire"
)

// TestSchedulerFires plans on a fake clock without working the jobs: each
// due fire is enqueued once, with its InProgress record.
func TestSchedulerFires(t *testing.T) {
	st, dir := openSQLiteStore(t)
	c := &clock{t: t0.Add(10 * time.Second)}
	q := openSQLiteQueue(t, st, dir, newExecutor(st, c), c)
	ctx := context.Background()
	createFlow(t, st, flowSpec{name: "rate", trigger: wire.TriggerTypeScheduled, expr: "rate(5minutes)"}, wire.FlowStatusActive)
	createFlow(t, st, flowSpec{name: "cron", trigger: wire.TriggerTypeScheduled, expr: "cron(0/15 * * * ? *)"}, wire.FlowStatusActive)
	createFlow(t, st, flowSpec{name: "draft", trigger: wire.TriggerTypeScheduled, expr: "rate(1minutes)"}, wire.FlowStatusDraft)
	createFlow(t, st, flowSpec{name: "od", trigger: wire.TriggerTypeOnDemand}, wire.FlowStatusActive)
	// StartFlow activated "rate" at t0: a rate fires at activation.
	if err := q.Scheduler().FlowActivated(ctx, acct, "rate", t0); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		at   time.Duration // after t0
		want int
	}{
		{10 * time.Second, 1},                // rate at t0; cron (first seen now) waits for 12:15
		{20 * time.Second, 0},                // nothing new
		{5 * time.Minute, 1},                 // rate at t0+5m
		{15 * time.Minute, 2},                // rate at t0+15m (t0+10m skipped: missed), cron at 12:15
		{15*time.Minute + time.Second, 0},    // planned already
		{29*time.Minute + 59*time.Second, 1}, // rate at t0+25m
		{30 * time.Minute, 2},                // rate at t0+30m, cron at 12:30
	}
	for _, s := range steps {
		c.Set(t0.Add(s.at))
		if got := mustTick(t, q); got != s.want {
			t.Errorf("tick at t0+%s: got %d runs enqueued, want %d", s.at, got, s.want)
		}
	}
	var got []string
	for _, r := range executions(t, st, "rate") {
		got = append(got, fmtT(r.StartedAt.Time))
	}
	want := []string{fmtT(t0.Add(10 * time.Second)), fmtT(t0.Add(5 * time.Minute)), fmtT(t0.Add(15 * time.Minute)),
		fmtT(t0.Add(29*time.Minute + 59*time.Second)), fmtT(t0.Add(30 * time.Minute))}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rate runs started at\n got %v\nwant %v", got, want)
	}
	if n := len(executions(t, st, "cron")); n != 2 {
		t.Errorf("cron runs: got %d, want 2", n)
	}
	for _, f := range []string{"draft", "od"} {
		if n := len(executions(t, st, f)); n != 0 {
			t.Errorf("%s runs: got %d, want 0", f, n)
		}
	}
	// One job per run.
	res, err := q.client.JobList(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 7 {
		t.Errorf("jobs: got %d, want 7", len(res.Jobs))
	}
	_, s := flowGet(t, st, "rate")
	if fmtT(s.Schedule.NextFire) != fmtT(t0.Add(35*time.Minute)) {
		t.Errorf("rate next fire: got %s, want t0+35m", fmtT(s.Schedule.NextFire))
	}

	// A second planner racing the first (two leaders for a moment) adds nothing.
	c.Set(t0.Add(35 * time.Minute))
	done := make(chan int)
	for range 2 {
		go func() { n, _ := q.Scheduler().Tick(ctx); done <- n }()
	}
	if n := <-done + <-done; n != 1 {
		t.Errorf("two racing ticks: got %d runs enqueued, want 1 (rate at t0+35m, once)", n)
	}
	if n := len(executions(t, st, "rate")); n != 6 {
		t.Errorf("rate runs after racing ticks: got %d records, want 6", n)
	}
}

func TestSchedulerEndTime(t *testing.T) {
	st, dir := openSQLiteStore(t)
	c := &clock{t: t0}
	q := openSQLiteQueue(t, st, dir, newExecutor(st, c), c)
	createFlow(t, st, flowSpec{name: "f", trigger: wire.TriggerTypeScheduled, expr: "rate(1minutes)"}, wire.FlowStatusActive)
	// Give the flow an end time two minutes after t0.
	f, _ := flowGet(t, st, "f")
	f.Doc = []byte(strings.Replace(string(f.Doc), `"scheduleExpression"`, `"scheduleEndTime":`+time2json(t0.Add(2*time.Minute))+`,"scheduleExpression"`, 1))
	if err := st.FlowUpdate(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := range 5 {
		c.Set(t0.Add(time.Duration(i) * time.Minute))
		total += mustTick(t, q)
	}
	if total != 2 {
		t.Errorf("runs before scheduleEndTime t0+2m: got %d, want 2 (t0, t0+1m)", total)
	}
}

func time2json(t time.Time) string {
	b, _ := wire.NewTimestamp(t).MarshalJSON()
	return string(b)
}

// TestIncrementalAndDeactivation works the scheduled runs: windows chain
// from the last successful end, a failure does not move the watermark, and
// the threshold of consecutive failures suspends the flow.
func TestIncrementalAndDeactivation(t *testing.T) {
	st, dir := openSQLiteStore(t)
	c := &clock{t: t0}
	x := newExecutor(st, c)
	q := openSQLiteQueue(t, st, dir, x, c)
	run(t, q)
	ctx := context.Background()
	from := t0.Add(-time.Hour)
	createFlow(t, st, flowSpec{name: "inc", trigger: wire.TriggerTypeScheduled, expr: "rate(1minutes)",
		incremental: true, threshold: 2, from: &from}, wire.FlowStatusActive)
	if err := q.Scheduler().FlowActivated(ctx, acct, "inc", t0); err != nil {
		t.Fatal(err)
	}
	// Runs 0 and 1 succeed, 2 fails, 3 succeeds, 4 and 5 fail: suspended.
	fails := map[int]bool{2: true, 4: true, 5: true}
	var order []string
	x.outcome = func(_ string, id string) string {
		x.mu.Lock()
		defer x.mu.Unlock()
		order = append(order, id)
		if fails[len(order)-1] {
			return statusError
		}
		return statusSuccessful
	}
	for i := range 7 {
		c.Set(t0.Add(time.Duration(i) * time.Minute))
		mustTick(t, q)
		waitFor(t, "run finished", finished(t, st, "inc", min(i+1, 6)))
		// The job books the run (watermark, failures) after its record is final.
		waitFor(t, "job done", func() bool {
			res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(RunFlowArgs{}.Kind()).States(activeStates...))
			return err == nil && len(res.Jobs) == 0
		})
	}
	recs := executions(t, st, "inc")
	if len(recs) != 6 {
		t.Fatalf("runs: got %d, want 6 (none after the deactivation)", len(recs))
	}
	m := func(n int) string { return fmtT(t0.Add(time.Duration(n) * time.Minute)) }
	want := [][2]string{
		{fmtT(from), m(0)}, // first window from firstExecutionFrom
		{m(0), m(1)},
		{m(1), m(2)}, // fails
		{m(1), m(3)}, // starts at the last successful end
		{m(3), m(4)}, // fails
		{m(3), m(5)}, // fails: threshold 2
	}
	for i, r := range recs {
		got := [2]string{fmtT(r.DataPullStartTime.Time), fmtT(r.DataPullEndTime.Time)}
		if got != want[i] {
			t.Errorf("run %d window: got %v, want %v", i, got, want[i])
		}
	}
	f, s := flowGet(t, st, "inc")
	if f.Status != string(wire.FlowStatusSuspended) {
		t.Errorf("flow status after 2 failures: got %s, want Suspended", f.Status)
	}
	if !strings.Contains(string(f.Doc), `"flowStatusMessage":"The flow was deactivated after 2 consecutive failed scheduled runs`) ||
		!strings.Contains(string(f.Doc), `"flowStatus":"Suspended"`) {
		t.Errorf("flow doc after deactivation: %s", f.Doc)
	}
	if fmtT(*s.WatermarkEnd) != m(3) {
		t.Errorf("watermark: got %s, want %s", fmtT(*s.WatermarkEnd), m(3))
	}
}
