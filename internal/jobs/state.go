package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	flowevents "github.com/appflowd/appflowd/internal/events"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/schedule"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// flowState is the scheduler's part of store.Flow.State. Members it does not
// know (the engine's) are kept as they are.
type flowState struct {
	Schedule *scheduleState `json:"schedule,omitempty"`
	// WatermarkEnd is the end of the last successful incremental window.
	WatermarkEnd *time.Time `json:"watermarkEnd,omitempty"`
	// Failures counts consecutive failed scheduled runs.
	Failures int `json:"consecutiveFailures,omitempty"`
	// Events is an event-triggered flow's (see events.go).
	Events *eventState `json:"events,omitempty"`

	other map[string]json.RawMessage
}

type scheduleState struct {
	Plan        string    `json:"plan"` // signature of the plan these fires follow
	ActivatedAt time.Time `json:"activatedAt"`
	LastFire    time.Time `json:"lastFire,omitzero"`
	NextFire    time.Time `json:"nextFire,omitzero"` // zero: the schedule has ended
}

var stateKeys = []string{"schedule", "watermarkEnd", "consecutiveFailures", "events"}

func decodeState(raw []byte) (*flowState, error) {
	st := &flowState{other: map[string]json.RawMessage{}}
	if len(raw) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(raw, &st.other); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, err
	}
	for _, k := range stateKeys {
		delete(st.other, k)
	}
	return st, nil
}

func (st *flowState) encode() ([]byte, error) {
	own, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if len(st.other) == 0 {
		return own, nil
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(own, &m); err != nil {
		return nil, err
	}
	for k, v := range st.other {
		m[k] = v
	}
	return json.Marshal(m)
}

// flowWriteAttempts bounds the retries when another writer (the API,
// another replica) bumped the flow's version between read and write.
const flowWriteAttempts = 10

// modifyFlow reads a flow and its state, lets change edit them (returning
// whether to write) and writes them back with the version check, retrying
// on a conflict. change may run more than once: its side effects must be
// idempotent.
func (q *Queue) modifyFlow(ctx context.Context, account, name string, change func(*store.Flow, *flowState) (bool, error)) error {
	for attempt := 1; ; attempt++ {
		f, err := q.cfg.Store.FlowGet(ctx, account, name)
		if err != nil {
			return err
		}
		st, err := decodeState(f.State)
		if err != nil {
			return fmt.Errorf("decode state of flow %s: %w", name, err)
		}
		write, err := change(f, st)
		if err != nil || !write {
			return err
		}
		if f.State, err = st.encode(); err != nil {
			return err
		}
		err = q.cfg.Store.FlowUpdate(ctx, f)
		if store.IsConflict(err) && attempt < flowWriteAttempts {
			continue
		}
		return err
	}
}

// prepareTriggered readies a scheduled or event run: a run of a flow
// deactivated since it was planned is closed as Canceled (StopFlow removes
// queued runs; this is for one a worker fetched meanwhile); an incremental
// run gets its window in its record, where the runner reads it. It reports
// whether to run.
func (q *Queue) prepareTriggered(ctx context.Context, a RunFlowArgs) (bool, error) {
	f, err := q.cfg.Store.FlowGet(ctx, a.AccountID, a.FlowName)
	if store.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if f.Status != string(wire.FlowStatusActive) {
		return false, q.finish(ctx, a.AccountID, a.FlowName, a.ExecutionID, runstate.Canceled,
			"The flow was deactivated before this run started")
	}
	if a.Trigger != TriggerScheduled {
		return true, nil
	}
	doc, err := decodeDoc(f)
	if err != nil {
		return false, err
	}
	if !doc.incremental() {
		return true, nil
	}
	st, err := decodeState(f.State)
	if err != nil {
		return false, err
	}
	p, _ := doc.plan()
	var from *time.Time
	if sp := doc.scheduled(); sp.FirstExecutionFrom != nil {
		from = &sp.FirstExecutionFrom.Time
	}
	start, end := schedule.Window(st.WatermarkEnd, from, a.FireTime, p.Offset)
	k := runstate.Key{Account: a.AccountID, Flow: a.FlowName, ID: a.ExecutionID}
	_, err = q.runs.Apply(ctx, k, runstate.Change{From: []wire.ExecutionStatus{runstate.InProgress}, Edit: func(r *runstate.Run) error {
		r.Rec.DataPullStartTime, r.Rec.DataPullEndTime = wire.NewTimestamp(start), wire.NewTimestamp(end)
		return nil
	}})
	if runstate.IsRefused(err) {
		return false, nil // canceled meanwhile: work settles it
	}
	return err == nil, err
}

// afterScheduled books a finished scheduled run: a success advances the
// watermark to its window's end and clears the failure count; a failure
// counts, and flowErrorDeactivationThreshold failures in a row suspend the
// flow. A canceled run does neither.
func (q *Queue) afterScheduled(ctx context.Context, a RunFlowArgs) error {
	run, err := q.runs.Get(ctx, runstate.Key{Account: a.AccountID, Flow: a.FlowName, ID: a.ExecutionID})
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	rec := run.Rec
	status := string(rec.ExecutionStatus)
	if status != statusSuccessful && status != statusError {
		return nil
	}
	var deactivated []byte // the suspended flow's document, once stored
	var reason string
	err = q.modifyFlow(ctx, a.AccountID, a.FlowName, func(f *store.Flow, st *flowState) (bool, error) {
		deactivated = nil // a retried change starts over
		if status == statusSuccessful {
			changed := st.Failures != 0
			if end := rec.DataPullEndTime; end != nil && (st.WatermarkEnd == nil || end.After(*st.WatermarkEnd)) {
				t := end.UTC()
				st.WatermarkEnd, changed = &t, true
			}
			st.Failures = 0
			return changed, nil // a write per run only when it says something new
		}
		st.Failures++
		doc, err := decodeDoc(f)
		if err != nil {
			return false, err
		}
		sp := doc.scheduled()
		if sp == nil || sp.FlowErrorDeactivationThreshold == nil || f.Status != string(wire.FlowStatusActive) ||
			st.Failures < int(*sp.FlowErrorDeactivationThreshold) {
			return true, nil
		}
		msg := fmt.Sprintf("The flow was deactivated after %d consecutive failed scheduled runs", st.Failures)
		if r := rec.ExecutionResult; r != nil && r.ErrorInfo != nil && r.ErrorInfo.ExecutionMessage != "" {
			msg += ". Last error - " + r.ErrorInfo.ExecutionMessage
		}
		if err := suspend(f, msg); err != nil {
			return false, err
		}
		deactivated, reason = f.Doc, msg
		// StartFlow reactivates with a fresh count.
		st.Failures = 0
		q.cfg.Logger.Warn("flow deactivated after consecutive failures", "flow", a.FlowName, "account", a.AccountID,
			"failures", *sp.FlowErrorDeactivationThreshold)
		return true, nil
	})
	if store.IsNotFound(err) {
		return nil
	}
	if err == nil && deactivated != nil && q.cfg.Events != nil {
		// After the write: the event announces a stored state (data-plane 6.4).
		var f flowevents.Flow
		if jerr := json.Unmarshal(deactivated, &f); jerr == nil {
			q.cfg.Events.FlowDeactivated(ctx, &f, reason, q.cfg.Now().UTC())
		}
	}
	return err
}

// suspend sets the flow Suspended with a flowStatusMessage, editing the
// document as JSON so members this package does not know stay.
func suspend(f *store.Flow, msg string) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(f.Doc, &doc); err != nil {
		return fmt.Errorf("decode flow %s: %w", f.Name, err)
	}
	status, _ := json.Marshal(wire.FlowStatusSuspended)
	m, _ := json.Marshal(msg)
	doc["flowStatus"], doc["flowStatusMessage"] = status, m
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	f.Doc, f.Status = body, string(wire.FlowStatusSuspended)
	return nil
}
