package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/appflowd/appflowd/internal/fault"
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
	statusInProgress    = string(wire.ExecutionStatusInProgress)
	statusSuccessful    = string(wire.ExecutionStatusSuccessful)
	statusError         = string(wire.ExecutionStatusError)
	statusCancelStarted = string(wire.ExecutionStatusCancelStarted)
	statusCanceled      = string(wire.ExecutionStatusCanceled)
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

// work runs one execution. Its record decides whether there is anything to
// do: a missing record (the flow was deleted) or a finished one (a duplicate
// job, a run canceled before it started) ends the job.
func (q *Queue) work(ctx context.Context, a RunFlowArgs) error {
	log := q.cfg.Logger.With("flow", a.FlowName, "execution", a.ExecutionID, "account", a.AccountID, "trigger", a.Trigger)
	e, err := q.cfg.Store.ExecutionGet(ctx, a.AccountID, a.FlowName, a.ExecutionID)
	if store.IsNotFound(err) {
		log.Info("run skipped: its execution record is gone (flow deleted)")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read execution %s: %w", a.ExecutionID, err)
	}
	if e.Status != statusInProgress {
		log.Info("run skipped: execution already finished", "status", e.Status)
		return nil
	}
	if a.Trigger == TriggerScheduled || a.Trigger == TriggerEvent {
		ok, err := q.prepareTriggered(ctx, a)
		if err != nil || !ok {
			return err
		}
	}
	splitter, _ := q.cfg.Executor.(SplitExecutor)
	if a.Trigger == TriggerEvent && splitter == nil {
		return q.setStatus(ctx, a.AccountID, a.FlowName, a.ExecutionID, statusError,
			"This appflowd cannot run event-triggered flows (its executor cannot read named objects)")
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	key := runKey(a.AccountID, a.FlowName, a.ExecutionID)
	q.mu.Lock()
	q.running[key] = cancel
	q.mu.Unlock()
	if a.Trigger == TriggerEvent {
		log.Info("run started", "splits", splitsSummary(a.Splits))
		splitter.ExecuteSplits(runCtx, a.AccountID, a.FlowName, a.ExecutionID, a.Splits)
	} else {
		log.Info("run started")
		q.cfg.Executor.Execute(runCtx, a.AccountID, a.FlowName, a.ExecutionID)
	}
	q.mu.Lock()
	delete(q.running, key)
	q.mu.Unlock()
	byUser := errors.Is(context.Cause(runCtx), errCanceledByUser) || errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely)
	cancel(nil)

	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		msg := fmt.Sprintf("The run took longer than %s and was stopped", q.cfg.RescueAfter)
		if err := q.setStatus(context.WithoutCancel(ctx), a.AccountID, a.FlowName, a.ExecutionID, statusError, msg); err != nil {
			log.Error("record a timed-out run", "err", err)
		}
		byUser = true // recorded; not handed back
	}
	if ctx.Err() != nil && !byUser {
		// The process is stopping: hand the run back rather than record it
		// canceled, so it runs again elsewhere.
		if err := q.setStatus(context.WithoutCancel(ctx), a.AccountID, a.FlowName, a.ExecutionID, statusInProgress, ""); err != nil {
			log.Error("reopen an interrupted run", "err", err)
		}
		log.Warn("run interrupted by shutdown; handed back to the queue")
		return fmt.Errorf("appflowd stopped during run %s; it will run again", a.ExecutionID)
	}
	if a.Trigger == TriggerScheduled {
		if err := q.afterScheduled(context.WithoutCancel(ctx), a); err != nil {
			return err
		}
	}
	log.Info("run finished")
	return nil
}

// record reads an execution's record.
func (q *Queue) record(ctx context.Context, account, flow, id string) (*store.Execution, *wire.ExecutionRecord, error) {
	e, err := q.cfg.Store.ExecutionGet(ctx, account, flow, id)
	if err != nil {
		return nil, nil, err
	}
	var rec wire.ExecutionRecord
	if err := json.Unmarshal(e.Doc, &rec); err != nil {
		return nil, nil, fault.Wrap(fault.Internal, err, "execution %s record", id)
	}
	rec.ExecutionStatus = wire.ExecutionStatus(e.Status)
	return e, &rec, nil
}

// updateRecord lets change edit an execution's record and writes it back.
func (q *Queue) updateRecord(ctx context.Context, account, flow, id string, change func(*wire.ExecutionRecord)) error {
	e, rec, err := q.record(ctx, account, flow, id)
	if err != nil {
		return err
	}
	change(rec)
	now := q.cfg.Now().UTC().Truncate(time.Millisecond)
	rec.LastUpdatedAt = wire.NewTimestamp(now)
	doc, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	e.Status, e.Doc, e.UpdatedAt = string(rec.ExecutionStatus), doc, now
	return q.cfg.Store.ExecutionUpdate(ctx, e)
}

// setStatus sets an execution's status; a non-empty message becomes its
// executionMessage, an InProgress status clears the message.
func (q *Queue) setStatus(ctx context.Context, account, flow, id, status, message string) error {
	return q.updateRecord(ctx, account, flow, id, func(rec *wire.ExecutionRecord) {
		rec.ExecutionStatus = wire.ExecutionStatus(status)
		if rec.ExecutionResult == nil {
			rec.ExecutionResult = &wire.ExecutionResult{}
		}
		switch {
		case message != "":
			zero := int64(0)
			rec.ExecutionResult.ErrorInfo = &wire.ErrorInfo{PutFailuresCount: &zero, ExecutionMessage: message}
		case status == statusInProgress:
			rec.ExecutionResult.ErrorInfo = nil
		}
	})
}

// newRecord creates the InProgress record of a run the queue starts itself
// (scheduled and event runs), in the shape the service gives on-demand
// runs. An existing record with the same id is fine: the id is derived from
// what triggered the run, so a retried plan finds its own record.
func (q *Queue) newRecord(ctx context.Context, account, flow, id string, now time.Time) error {
	now = now.UTC().Truncate(time.Millisecond)
	zero := int64(0)
	rec := wire.ExecutionRecord{
		ExecutionId:     id,
		ExecutionStatus: wire.ExecutionStatusInProgress,
		ExecutionResult: &wire.ExecutionResult{BytesProcessed: &zero, BytesWritten: &zero, RecordsProcessed: &zero},
		StartedAt:       wire.NewTimestamp(now),
		LastUpdatedAt:   wire.NewTimestamp(now),
	}
	doc, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	err = q.cfg.Store.ExecutionCreate(ctx, &store.Execution{
		AccountID: account, FlowName: flow, ExecutionID: id, Status: statusInProgress,
		Doc: doc, StartedAt: now, UpdatedAt: now,
	})
	if store.IsConflict(err) {
		return nil
	}
	return err
}
