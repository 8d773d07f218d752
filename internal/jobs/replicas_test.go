package jobs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/pgtest"
	"github.com/appflowd/appflowd/internal/store/pgstore"
	"github.com/appflowd/appflowd/internal/wire"
)

// TestReplicas runs three replicas on one PostgreSQL database with a fake
// clock: a schedule firing every minute runs each slot exactly once, though
// every replica plans every tick; a replica that dies mid-run has its run
// rescued by another.
func TestReplicas(t *testing.T) {
	dsn := pgtest.Schema(t, "jobstest")
	ctx := context.Background()
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: t0}
	x := newExecutor(st, c)
	var qs []*Queue
	for i := range 3 {
		q, err := OpenPostgres(ctx, dsn, Config{Store: st, Executor: x, Now: c.Now, PlanInterval: -1,
			Workers: 2, RescueAfter: time.Second, ClientID: fmt.Sprintf("replica-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		run(t, q)
		qs = append(qs, q)
	}
	createFlow(t, st, flowSpec{name: "every-minute", trigger: wire.TriggerTypeScheduled, expr: "rate(1minutes)"}, wire.FlowStatusActive)
	if err := qs[0].Scheduler().FlowActivated(ctx, acct, "every-minute", t0); err != nil {
		t.Fatal(err)
	}
	tickAll := func() int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for _, q := range qs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := q.Scheduler().Tick(ctx)
				if err != nil {
					t.Errorf("tick: %v", err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		return total
	}
	const slots = 5
	for i := range slots {
		c.Set(t0.Add(time.Duration(i)*time.Minute + time.Duration(i)*time.Second))
		if n := tickAll(); n != 1 {
			t.Errorf("slot %d: got %d runs enqueued by three planners, want 1", i, n)
		}
		waitFor(t, fmt.Sprintf("slot %d", i), finished(t, st, "every-minute", i+1))
	}
	recs := executions(t, st, "every-minute")
	if len(recs) != slots {
		t.Fatalf("records: got %d, want %d", len(recs), slots)
	}
	for _, r := range recs {
		if n := x.count(r.ExecutionId); n != 1 || r.ExecutionStatus != wire.ExecutionStatusSuccessful {
			t.Errorf("run %s: executed %d times, status %s; want once, Successful", r.ExecutionId, n, r.ExecutionStatus)
		}
	}

	for _, q := range qs {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		q.Stop(stopCtx)
		cancel()
	}
	// A replica is killed (SIGKILL) mid-run, its lease lapses, and a
	// survivor's sweep settles the run: Error saying nothing was written,
	// or Canceled when a cancel was asked meanwhile. Neither runs it twice.
	for i, cancelIt := range []bool{false, true} {
		slot := slots + i
		id := killReplicaMidRun(t, dsn, func() {
			c.Set(t0.Add(time.Duration(slot) * time.Minute))
			if n := tickAll(); n != 1 {
				t.Fatalf("kill slot %d: got %d runs enqueued, want 1", slot, n)
			}
		})
		survivor, err := OpenPostgres(ctx, dsn, Config{Store: st, Executor: x, Now: c.Now, PlanInterval: -1,
			Workers: 2, RescueAfter: time.Second, ClientID: fmt.Sprintf("survivor-%d", i), SweepEvery: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		want := wire.ExecutionStatusError
		if cancelIt {
			// Asked before the survivor runs: its first sweep, 50 ms after
			// it starts, would otherwise race the cancel on a loaded machine.
			notRunning, err := survivor.Cancel(ctx, acct, "every-minute", []string{id})
			if err != nil || len(notRunning) != 0 {
				t.Fatalf("cancel the orphan: not running %v, err %v", notRunning, err)
			}
			want = wire.ExecutionStatusCanceled
		}
		run(t, survivor)
		waitFor(t, "the orphan "+id+" settled", func() bool {
			r := byID(executions(t, st, "every-minute"))[id]
			return r.ExecutionStatus != wire.ExecutionStatusInProgress && r.ExecutionStatus != wire.ExecutionStatusCancelStarted
		})
		if got := byID(executions(t, st, "every-minute"))[id].ExecutionStatus; got != want {
			t.Errorf("orphan (cancel %v): got %s, want %s", cancelIt, got, want)
		}
		if n := x.count(id); n != 0 {
			t.Errorf("orphan %s executed %d more times; want it settled, not run again", id, n)
		}
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		survivor.Stop(stopCtx)
		cancel()
	}
}

// killReplicaMidRun starts a replica in another process, lets plan enqueue
// a run, waits for that replica to start it and kills it with SIGKILL. It
// returns the run's execution id.
func killReplicaMidRun(t *testing.T, dsn string, plan func()) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperReplica$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dsn)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	plan()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "STARTED "); ok {
			cmd.Process.Signal(syscall.SIGKILL)
			return id
		}
	}
	t.Fatal("helper replica never started the run")
	return ""
}

const helperEnv = "APPFLOWD_JOBS_HELPER_DSN"

// TestHelperReplica is the replica TestReplicas kills: it works one run
// and hangs in it.
func TestHelperReplica(t *testing.T) {
	dsn := os.Getenv(helperEnv)
	if dsn == "" {
		t.Skip("the process TestReplicas starts and kills")
	}
	ctx := context.Background()
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Its clock stands still at t0: the lease it takes lapses a minute
	// later, long before the survivors' clock.
	c := &clock{t: t0}
	x := newExecutor(st, c)
	x.hang = make(chan struct{})
	q, err := OpenPostgres(ctx, dsn, Config{Store: st, Executor: x, Now: c.Now, PlanInterval: -1, Workers: 1,
		RescueAfter: time.Second, ClientID: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Run(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("STARTED " + <-x.started)
	select {}
}
