package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
	"github.com/appflowd/appflowd/internal/wire"
)

const acct = "000000000000"

// clock is a fake clock shared by a test's replicas.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// executor stands in for the runner: it records each call and writes the
// final record with the status outcome returns, or Canceled when its
// context ends first.
type executor struct {
	st    store.Store
	clock *clock

	mu      sync.Mutex
	calls   map[string]int      // by execution id
	splits  map[string][]string // by execution id, of ExecuteSplits calls
	windows map[string][2]time.Time
	outcome func(flow, id string) string
	// block, when set, holds every run until it is closed or ctx ends.
	block chan struct{}
	// started receives each execution id as its run starts.
	started chan string
	// hang, when set, is taken by the next run, which then waits on it
	// ignoring its context: a process frozen or killed mid-run.
	hang chan struct{}
	// recovered lists the runs Recover settled.
	recovered []string
}

func newExecutor(st store.Store, c *clock) *executor {
	return &executor{st: st, clock: c, calls: map[string]int{}, splits: map[string][]string{}, windows: map[string][2]time.Time{},
		outcome: func(string, string) string { return statusSuccessful }, started: make(chan string, 1000)}
}

func (x *executor) Execute(ctx context.Context, k runstate.Key, owner string) wire.ExecutionStatus {
	x.mu.Lock()
	x.calls[k.ID]++
	block, hang := x.block, x.hang
	x.hang = nil
	x.mu.Unlock()
	x.started <- k.ID
	if hang != nil {
		<-hang
		return ""
	}
	status := x.outcome(k.Flow, k.ID)
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			if !errors.Is(context.Cause(ctx), runstate.ErrCanceled) {
				return "" // interrupted: the queue decides
			}
			status = statusCanceled
		}
	}
	ctx = context.WithoutCancel(ctx)
	run, err := x.runs().Apply(ctx, k, runstate.Change{To: wire.ExecutionStatus(status), Owner: owner, Edit: func(r *runstate.Run) error {
		if r.Rec.DataPullStartTime != nil {
			x.mu.Lock()
			x.windows[k.ID] = [2]time.Time{r.Rec.DataPullStartTime.Time, r.Rec.DataPullEndTime.Time}
			x.mu.Unlock()
		}
		if status == statusError {
			r.SetMessage("source unreachable")
		}
		return nil
	}})
	if err != nil {
		return ""
	}
	return run.Status()
}

func (x *executor) runs() *runstate.Machine { return runstate.New(x.st, x.clock.Now) }

// ExecuteSplits records the splits and runs as Execute does.
func (x *executor) ExecuteSplits(ctx context.Context, k runstate.Key, owner string, splits []string) wire.ExecutionStatus {
	x.mu.Lock()
	x.splits[k.ID] = append([]string(nil), splits...)
	x.mu.Unlock()
	return x.Execute(ctx, k, owner)
}

// Recover settles a run of a stopped process as the runner does for a
// destination without a publish in progress.
func (x *executor) Recover(ctx context.Context, k runstate.Key, owner string) (wire.ExecutionStatus, error) {
	x.mu.Lock()
	x.recovered = append(x.recovered, k.ID)
	x.mu.Unlock()
	run, err := x.runs().Apply(ctx, k, runstate.Change{Owner: owner,
		ToFrom: func(cur wire.ExecutionStatus) wire.ExecutionStatus {
			if cur == runstate.CancelStarted {
				return runstate.Canceled
			}
			return runstate.Error
		},
		Edit: func(r *runstate.Run) error { r.SetMessage("recovered"); return nil }})
	if err != nil {
		return "", err
	}
	return run.Status(), nil
}

func (x *executor) CollectStaging(context.Context) error { return nil }

func (x *executor) count(id string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.calls[id]
}

func (x *executor) total() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, c := range x.calls {
		n += c
	}
	return n
}

func openSQLiteStore(t testing.TB) (store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "appflowd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

func openSQLiteQueue(t *testing.T, st store.Store, dir string, x Executor, c *clock) *Queue {
	t.Helper()
	q, err := OpenSQLite(context.Background(), filepath.Join(dir, "river.db"),
		Config{Store: st, Executor: x, Now: c.Now, PlanInterval: -1, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func run(t *testing.T, q *Queue) {
	t.Helper()
	if err := q.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
}

// flowSpec builds a stored flow.
type flowSpec struct {
	name        string
	trigger     wire.TriggerType
	expr        string
	incremental bool
	threshold   int32
	from        *time.Time
}

func createFlow(t testing.TB, st store.Store, fs flowSpec, status wire.FlowStatus) {
	t.Helper()
	doc := wire.DescribeFlowResponse{
		FlowName:   fs.name,
		FlowStatus: status,
		SourceFlowConfig: &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeS3,
			SourceConnectorProperties: &wire.SourceConnectorProperties{S3: &wire.S3SourceProperties{BucketName: "in", BucketPrefix: "data"}}},
		TriggerConfig: &wire.TriggerConfig{TriggerType: fs.trigger},
	}
	if fs.trigger == wire.TriggerTypeScheduled {
		sp := &wire.ScheduledTriggerProperties{ScheduleExpression: fs.expr, DataPullMode: wire.DataPullModeComplete}
		if fs.incremental {
			sp.DataPullMode = wire.DataPullModeIncremental
		}
		if fs.threshold > 0 {
			sp.FlowErrorDeactivationThreshold = &fs.threshold
		}
		if fs.from != nil {
			sp.FirstExecutionFrom = wire.NewTimestamp(*fs.from)
		}
		doc.TriggerConfig.TriggerProperties = &wire.TriggerProperties{Scheduled: sp}
	}
	body, err := json.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	err = st.FlowCreate(context.Background(), &store.Flow{AccountID: acct, Name: fs.name,
		Arn: "arn:aws:appflow:us-east-1:" + acct + ":flow/" + fs.name, Status: string(status), Doc: body})
	if err != nil {
		t.Fatal(err)
	}
}

// executions lists a flow's records, oldest first.
func executions(t *testing.T, st store.Store, flow string) []*wire.ExecutionRecord {
	t.Helper()
	rows, _, err := st.ExecutionList(context.Background(), &store.ExecutionListParams{AccountID: acct, FlowName: flow, Page: store.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*wire.ExecutionRecord
	for i := len(rows) - 1; i >= 0; i-- {
		var rec wire.ExecutionRecord
		if err := json.Unmarshal(rows[i].Doc, &rec); err != nil {
			t.Fatal(err)
		}
		rec.ExecutionStatus = wire.ExecutionStatus(rows[i].Status)
		out = append(out, &rec)
	}
	return out
}

func byID(recs []*wire.ExecutionRecord) map[string]*wire.ExecutionRecord {
	m := map[string]*wire.ExecutionRecord{}
	for _, r := range recs {
		m[r.ExecutionId] = r
	}
	return m
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finished says whether every record of flow is past InProgress.
func finished(t *testing.T, st store.Store, flow string, n int) func() bool {
	return func() bool {
		recs := executions(t, st, flow)
		if len(recs) < n {
			return false
		}
		for _, r := range recs {
			if r.ExecutionStatus == wire.ExecutionStatusInProgress || r.ExecutionStatus == wire.ExecutionStatusCancelStarted {
				return false
			}
		}
		return true
	}
}

func mustTick(t *testing.T, q *Queue) int {
	t.Helper()
	n, err := q.Scheduler().Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func flowGet(t *testing.T, st store.Store, name string) (*store.Flow, *flowState) {
	t.Helper()
	f, err := st.FlowGet(context.Background(), acct, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeState(f.State)
	if err != nil {
		t.Fatal(err)
	}
	return f, s
}

var t0 = time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)

func fmtT(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func TestOnDemandRunAndCancel(t *testing.T) {
	st, dir := openSQLiteStore(t)
	c := &clock{t: t0}
	x := newExecutor(st, c)
	q := openSQLiteQueue(t, st, dir, x, c)
	ctx := context.Background()
	createFlow(t, st, flowSpec{name: "od", trigger: wire.TriggerTypeOnDemand}, wire.FlowStatusActive)

	// Queued but not yet worked: Cancel closes the record itself.
	if err := q.newRecord(ctx, acct, "od", "e-queued", c.Now()); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx, acct, "od", "e-queued"); err != nil {
		t.Fatal(err)
	}
	notRunning, err := q.Cancel(ctx, acct, "od", []string{"e-queued", "e-unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(notRunning) != "[e-unknown]" {
		t.Errorf("Cancel: got notRunning %v, want [e-unknown]", notRunning)
	}
	if got := byID(executions(t, st, "od"))["e-queued"].ExecutionStatus; got != wire.ExecutionStatusCanceled {
		t.Errorf("canceled queued run: got status %s, want Canceled", got)
	}

	run(t, q)
	// A run: the worker calls the executor once.
	if err := q.newRecord(ctx, acct, "od", "e-run", c.Now()); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx, acct, "od", "e-run"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "e-run", finished(t, st, "od", 2))
	if x.count("e-run") != 1 || x.count("e-queued") != 0 {
		t.Errorf("executor calls: got e-run %d e-queued %d, want 1 and 0", x.count("e-run"), x.count("e-queued"))
	}

	// A running run: Cancel ends its context; the runner records Canceled.
	x.mu.Lock()
	x.block = make(chan struct{})
	x.mu.Unlock()
	if err := q.newRecord(ctx, acct, "od", "e-long", c.Now()); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx, acct, "od", "e-long"); err != nil {
		t.Fatal(err)
	}
	for id := range x.started {
		if id == "e-long" {
			break
		}
	}
	notRunning, err = q.Cancel(ctx, acct, "od", []string{"e-long"})
	if err != nil || len(notRunning) != 0 {
		t.Fatalf("Cancel running: got %v, %v", notRunning, err)
	}
	waitFor(t, "e-long canceled", finished(t, st, "od", 3))
	if got := byID(executions(t, st, "od"))["e-long"].ExecutionStatus; got != wire.ExecutionStatusCanceled {
		t.Errorf("canceled running run: got %s, want Canceled", got)
	}
	// Canceled again once finished: nothing to cancel.
	notRunning, _ = q.Cancel(ctx, acct, "od", []string{"e-long"})
	if len(notRunning) != 1 {
		t.Errorf("Cancel of a finished run: got notRunning %v, want [e-long]", notRunning)
	}
}
