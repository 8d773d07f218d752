package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// Trigger values of RunFlowArgs.
const (
	TriggerOnDemand  = "OnDemand"
	TriggerScheduled = "Scheduled"
	TriggerEvent     = "Event"
)

const (
	statusSuccessful = string(wire.ExecutionStatusSuccessful)
	statusError      = string(wire.ExecutionStatusError)
	statusCanceled   = string(wire.ExecutionStatusCanceled)
)

// RunFlowArgs is one run of a flow: the job of an execution record.
type RunFlowArgs struct {
	AccountID string `json:"account_id"`
	FlowName  string `json:"flow_name"`
	// ExecutionID makes the job unique: one job per execution. A scheduled
	// run's id is derived from its flow and fire time, so the job is also
	// unique per (flow, fire time).
	ExecutionID string `json:"execution_id" river:"unique"`
	Trigger     string `json:"trigger"`
	// FireTime is the scheduled instant of a Scheduled run.
	FireTime time.Time `json:"fire_time,omitzero"`
	// Splits are what an Event run reads: the source splits (S3 object
	// keys) of its wave of events. The execution id derives from the wave.
	Splits []string `json:"splits,omitempty"`
}

// Kind is River's name of the job.
func (RunFlowArgs) Kind() string { return "appflowd_run_flow" }

// InsertOpts: unique per execution while the job exists; a run whose
// worker fails (not the flow: the runner records a flow's failure itself)
// is retried twice.
func (RunFlowArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueRuns, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type runFlowWorker struct {
	river.WorkerDefaults[RunFlowArgs]
	q *Queue
}

func (w *runFlowWorker) Work(ctx context.Context, job *river.Job[RunFlowArgs]) error {
	return w.q.work(ctx, job.Args)
}

// errLeaseLost ends a run's context when its claim was taken over (this
// process was presumed dead) or its record vanished (the flow was deleted).
var errLeaseLost = errors.New("the run's claim was lost")

// work runs one execution. Its record decides whether there is anything to
// do: a missing record (the flow was deleted), a finished one (a duplicate
// job, a run canceled before it started) or one claimed by a live process
// ends the job. The run is claimed (owner and lease) before it starts and
// the claim is renewed while it runs; a process that dies leaves a lease
// that lapses, and the sweep of another process settles the run.
func (q *Queue) work(ctx context.Context, a RunFlowArgs) error {
	log := q.cfg.Logger.With("flow", a.FlowName, "execution", a.ExecutionID, "account", a.AccountID, "trigger", a.Trigger)
	k := runstate.Key{Account: a.AccountID, Flow: a.FlowName, ID: a.ExecutionID}
	run, err := q.runs.Get(ctx, k)
	if store.IsNotFound(err) {
		log.Info("run skipped: its execution record is gone (flow deleted)")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read execution %s: %w", a.ExecutionID, err)
	}
	switch {
	case run.Status() == runstate.CancelStarted && run.Row.Owner == "":
		// Canceled while queued, and River handed the job out anyway.
		return q.endQueuedCancel(ctx, k)
	case !runstate.Unfinished(run.Status()):
		log.Info("run skipped: execution already finished", "status", run.Status())
		return nil
	case run.Row.Owner != "":
		// Claimed already: a duplicate job, or a run of a stopped process
		// that the sweep settles once its lease lapses.
		log.Info("run skipped: the execution is claimed", "owner", run.Row.Owner)
		return nil
	}
	if a.Trigger == TriggerScheduled || a.Trigger == TriggerEvent {
		ok, err := q.prepareTriggered(ctx, a)
		if err != nil || !ok {
			return errors.Join(ignoreGone(err), q.endQueuedCancel(ctx, k))
		}
	}

	// Claim the run. A cancel that won the race leaves it CancelStarted.
	run, err = q.runs.Apply(ctx, k, runstate.Change{From: []wire.ExecutionStatus{runstate.InProgress}, Edit: func(r *runstate.Run) error {
		if r.Row.Owner != "" {
			return errClaimed
		}
		r.Row.Owner, r.Row.LeaseUntil = q.owner, q.cfg.Now().Add(q.cfg.Lease)
		return nil
	}})
	switch {
	case errors.Is(err, errClaimed), store.IsNotFound(err):
		return nil
	case runstate.IsRefused(err):
		return q.endQueuedCancel(ctx, k)
	case err != nil:
		return fmt.Errorf("claim execution %s: %w", a.ExecutionID, err)
	}

	// The run's context ends with a cause the executor understands: River's
	// remote cancel (CancelFlowExecutions on another replica) is a cancel
	// by request; anything else (shutdown, the job's timeout) interrupts.
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stopRelay := context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely) {
			cancel(runstate.ErrCanceled)
		} else {
			cancel(context.Cause(ctx))
		}
	})
	defer stopRelay()
	q.mu.Lock()
	q.running[k] = cancel
	q.mu.Unlock()
	stopBeat := q.heartbeat(runCtx, k, cancel)
	var status wire.ExecutionStatus
	if a.Trigger == TriggerEvent {
		log.Info("run started", "splits", splitsSummary(a.Splits))
		status = q.cfg.Executor.ExecuteSplits(runCtx, k, q.owner, a.Splits)
	} else {
		log.Info("run started")
		status = q.cfg.Executor.Execute(runCtx, k, q.owner)
	}
	stopBeat()
	q.mu.Lock()
	delete(q.running, k)
	q.mu.Unlock()
	cause := context.Cause(runCtx)
	cancel(nil)
	rec := context.WithoutCancel(ctx)

	if status == "" {
		// Interrupted: the executor left the record to us.
		switch {
		case errors.Is(cause, errLeaseLost):
			log.Warn("run abandoned: its claim was taken over or its record is gone")
			return nil
		case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
			msg := fmt.Sprintf("The run took longer than %s and was stopped", q.cfg.RescueAfter)
			if _, err := q.runs.Finish(rec, k, nil, runstate.Error, msg); err != nil && !store.IsNotFound(err) {
				log.Error("record a timed-out run", "err", err)
			}
		default:
			// The process is stopping: hand the run back so it runs again,
			// here after a restart or on another replica.
			_, err := q.runs.Apply(rec, k, runstate.Change{Owner: q.owner, Edit: func(r *runstate.Run) error {
				r.Row.Owner, r.Row.LeaseUntil = "", time.Time{}
				return nil
			}})
			if err != nil && !store.IsNotFound(err) {
				log.Error("hand back an interrupted run", "err", err)
			}
			log.Warn("run interrupted by shutdown; handed back to the queue")
			return fmt.Errorf("appflowd stopped during run %s; it will run again", a.ExecutionID)
		}
	}
	if a.Trigger == TriggerScheduled {
		if err := q.afterScheduled(rec, a); err != nil {
			return err
		}
	}
	log.Info("run finished", "status", status)
	return nil
}

var errClaimed = errors.New("execution claimed by another worker")

// endQueuedCancel ends a run whose cancel started before any process
// claimed it: nothing ran, so it is Canceled.
func (q *Queue) endQueuedCancel(ctx context.Context, k runstate.Key) error {
	_, err := q.runs.Apply(ctx, k, runstate.Change{From: []wire.ExecutionStatus{runstate.CancelStarted}, To: runstate.Canceled,
		Edit: func(r *runstate.Run) error {
			if r.Row.Owner != "" {
				return errClaimed
			}
			r.SetMessage("Execution canceled by request.")
			return nil
		}})
	if err == nil || store.IsNotFound(err) || runstate.IsRefused(err) || errors.Is(err, errClaimed) {
		return nil
	}
	return err
}

// ignoreGone treats a vanished record (its flow was deleted) as done.
func ignoreGone(err error) error {
	if store.IsNotFound(err) {
		return nil
	}
	return err
}

// heartbeat renews the run's lease every third of its length until stop is
// called. A renewal that finds the run CancelStarted cancels it (a cancel
// asked on another replica reaches the run within a third of a lease); one
// that finds the claim gone ends the run with errLeaseLost.
func (q *Queue) heartbeat(ctx context.Context, k runstate.Key, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(q.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			run, err := q.runs.Apply(context.WithoutCancel(ctx), k, runstate.Change{Owner: q.owner, Edit: func(r *runstate.Run) error {
				r.Row.LeaseUntil = q.cfg.Now().Add(q.cfg.Lease)
				return nil
			}})
			switch {
			case err == nil && run.Status() == runstate.CancelStarted:
				cancel(runstate.ErrCanceled)
			case store.IsNotFound(err), runstate.IsRefused(err):
				cancel(errLeaseLost)
				return
			case err != nil:
				q.cfg.Logger.Warn("renew a run's lease", "flow", k.Flow, "execution", k.ID, "err", err)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// newRecord creates the InProgress record of a run the queue starts itself
// (scheduled and event runs), in the shape the service gives on-demand
// runs. An existing record with the same id is fine: the id is derived from
// what triggered the run, so a retried plan finds its own record.
func (q *Queue) newRecord(ctx context.Context, account, flow, id string, now time.Time) error {
	_, err := q.runs.Create(ctx, runstate.Key{Account: account, Flow: flow, ID: id}, now)
	if store.IsConflict(err) {
		return nil
	}
	return err
}

// finish moves a run the queue decides about (canceled while queued, of a
// deactivated flow) to a final status with a message.
func (q *Queue) finish(ctx context.Context, account, flow, id string, to wire.ExecutionStatus, msg string) error {
	_, err := q.runs.Finish(ctx, runstate.Key{Account: account, Flow: flow, ID: id}, nil, to, msg)
	if runstate.IsRefused(err) || store.IsNotFound(err) {
		return nil // finished meanwhile, or its flow deleted
	}
	return err
}
