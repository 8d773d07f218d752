// Package runstate is the one owner of an execution's state. Every change of
// an execution record (its status, its message, its counts, the claim of the
// process running it) goes through Machine.Apply: a compare-and-set on the
// stored version, checked against one state machine.
//
//	InProgress ──▶ Successful | Error | Canceled
//	    │
//	    └──▶ CancelStarted ──▶ Canceled | Error | Successful
//
// Successful, Error and Canceled are final. CancelStarted may still end
// Successful: a cancel that arrives once the output is being published is
// too late to undo it, and the record must say what the destination holds.
package runstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// The statuses, spelled once.
const (
	InProgress    = wire.ExecutionStatusInProgress
	CancelStarted = wire.ExecutionStatusCancelStarted
	Successful    = wire.ExecutionStatusSuccessful
	Error         = wire.ExecutionStatusError
	Canceled      = wire.ExecutionStatusCanceled
)

// ErrCanceled is the cause a run's context ends with when a user cancels it
// (CancelFlowExecutions, StopFlow): the run is then recorded Canceled. Any
// other cause (shutdown, a lost claim) interrupts it without a record.
var ErrCanceled = errors.New("flow execution canceled by request")

// moves are the legal transitions; a status may always stay itself while
// unfinished (an edit of the record or of the claim).
var moves = map[wire.ExecutionStatus][]wire.ExecutionStatus{
	InProgress:    {InProgress, CancelStarted, Successful, Error, Canceled},
	CancelStarted: {CancelStarted, Canceled, Error, Successful},
}

// Legal reports whether an execution may move from one status to another.
func Legal(from, to wire.ExecutionStatus) bool { return slices.Contains(moves[from], to) }

// Unfinished reports whether a status is not final.
func Unfinished(s wire.ExecutionStatus) bool { return s == InProgress || s == CancelStarted }

// Key names one execution.
type Key struct{ Account, Flow, ID string }

func (k Key) String() string { return k.Account + "/" + k.Flow + "/" + k.ID }

// Run is an execution as stored: its row and its decoded record.
type Run struct {
	Row *store.Execution
	Rec *wire.ExecutionRecord
}

// Status is the run's status (the row's column is authoritative).
func (r *Run) Status() wire.ExecutionStatus { return wire.ExecutionStatus(r.Row.Status) }

// Message is the run's executionMessage, or "".
func (r *Run) Message() string {
	if res := r.Rec.ExecutionResult; res != nil && res.ErrorInfo != nil {
		return res.ErrorInfo.ExecutionMessage
	}
	return ""
}

// SetMessage sets the executionMessage; "" removes the error info.
func (r *Run) SetMessage(msg string) {
	if r.Rec.ExecutionResult == nil {
		r.Rec.ExecutionResult = &wire.ExecutionResult{}
	}
	if msg == "" {
		r.Rec.ExecutionResult.ErrorInfo = nil
		return
	}
	zero := int64(0)
	r.Rec.ExecutionResult.ErrorInfo = &wire.ErrorInfo{PutFailuresCount: &zero, ExecutionMessage: msg}
}

// Change is one transition.
type Change struct {
	// From are the statuses the change may leave; empty: any unfinished one.
	From []wire.ExecutionStatus
	// To is the new status; "" keeps the current one.
	To wire.ExecutionStatus
	// ToFrom, when set, chooses the new status from the current one
	// (a cancel that had started ends Canceled rather than Error).
	ToFrom func(cur wire.ExecutionStatus) wire.ExecutionStatus
	// Owner, when set, requires the run to be claimed by this owner: a
	// process changes only runs it still holds.
	Owner string
	// Edit, when set, changes the record and the claim (Row.Owner,
	// Row.LeaseUntil) before the write. It may run more than once (after
	// a concurrent write) and must only edit r. An error aborts the change.
	Edit func(r *Run) error
}

// Refused is the error of a change the run's current state does not allow.
type Refused struct {
	Key     Key
	Status  wire.ExecutionStatus // the run's status when refused
	Owner   string               // the run's owner when refused
	Wanted  wire.ExecutionStatus
	Because string
}

func (e *Refused) Error() string {
	return fmt.Sprintf("execution %s: %s (status %s, owner %q)", e.Key, e.Because, e.Status, e.Owner)
}

// IsRefused reports whether err is (or wraps) a *Refused.
func IsRefused(err error) bool {
	var r *Refused
	return errors.As(err, &r)
}

// Machine applies changes to stored executions.
type Machine struct {
	st  store.Store
	now func() time.Time
}

// New returns a Machine over st; now is its clock (nil: time.Now).
func New(st store.Store, now func() time.Time) *Machine {
	if now == nil {
		now = time.Now
	}
	return &Machine{st: st, now: now}
}

// Now is the machine's clock at the records' precision.
func (m *Machine) Now() time.Time { return m.now().UTC().Truncate(time.Millisecond) }

// writeAttempts bounds the retries of a change that keeps losing races.
const writeAttempts = 20

// NewRow is the stored form of a new InProgress run started at startedAt:
// what Create stores, and what a caller creating many runs at once (the
// planner's ExecutionCreateMany) stores itself.
func NewRow(k Key, startedAt time.Time) (*store.Execution, *wire.ExecutionRecord, error) {
	startedAt = startedAt.UTC().Truncate(time.Millisecond)
	zero := int64(0)
	rec := &wire.ExecutionRecord{
		ExecutionId:     k.ID,
		ExecutionStatus: InProgress,
		ExecutionResult: &wire.ExecutionResult{BytesProcessed: &zero, BytesWritten: &zero, RecordsProcessed: &zero},
		StartedAt:       wire.NewTimestamp(startedAt),
		LastUpdatedAt:   wire.NewTimestamp(startedAt),
	}
	doc, err := json.Marshal(rec)
	if err != nil {
		return nil, nil, err
	}
	return &store.Execution{AccountID: k.Account, FlowName: k.Flow, ExecutionID: k.ID, Status: string(InProgress),
		Doc: doc, StartedAt: startedAt, UpdatedAt: startedAt}, rec, nil
}

// Create stores a new InProgress run started at startedAt. An execution with
// the same id is store.ErrConflict; a missing flow store.ErrNotFound.
func (m *Machine) Create(ctx context.Context, k Key, startedAt time.Time) (*Run, error) {
	row, rec, err := NewRow(k, startedAt)
	if err != nil {
		return nil, err
	}
	if err := m.st.ExecutionCreate(ctx, row); err != nil {
		return nil, err
	}
	return &Run{Row: row, Rec: rec}, nil
}

// Get reads a run; store.ErrNotFound if it is gone.
func (m *Machine) Get(ctx context.Context, k Key) (*Run, error) {
	row, err := m.st.ExecutionGet(ctx, k.Account, k.Flow, k.ID)
	if err != nil {
		return nil, err
	}
	return decode(row)
}

// Decode reads a stored row as a Run.
func Decode(row *store.Execution) (*Run, error) { return decode(row) }

func decode(row *store.Execution) (*Run, error) {
	var rec wire.ExecutionRecord
	if len(row.Doc) > 0 {
		if err := json.Unmarshal(row.Doc, &rec); err != nil {
			return nil, fault.Wrap(fault.Internal, err, "decode execution %s of flow %s", row.ExecutionID, row.FlowName)
		}
	}
	if rec.ExecutionId == "" {
		rec.ExecutionId = row.ExecutionID
	}
	rec.ExecutionStatus = wire.ExecutionStatus(row.Status)
	return &Run{Row: row, Rec: &rec}, nil
}

// Apply reads the run, checks c against its state, edits and writes it with
// the version check, and retries from the read when another writer came
// first. It returns the run as written; a *Refused error when the state
// does not allow c (the run as found is still returned); store.ErrNotFound
// when the run is gone.
func (m *Machine) Apply(ctx context.Context, k Key, c Change) (*Run, error) {
	for attempt := 1; ; attempt++ {
		r, err := m.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		cur := r.Status()
		to := c.To
		if c.ToFrom != nil {
			to = c.ToFrom(cur)
		}
		if to == "" {
			to = cur
		}
		switch {
		case len(c.From) == 0 && !Unfinished(cur), len(c.From) > 0 && !slices.Contains(c.From, cur):
			return r, &Refused{Key: k, Status: cur, Owner: r.Row.Owner, Wanted: to, Because: "not in a state this change leaves"}
		case !Legal(cur, to):
			return r, &Refused{Key: k, Status: cur, Owner: r.Row.Owner, Wanted: to, Because: "illegal transition to " + string(to)}
		case c.Owner != "" && r.Row.Owner != c.Owner:
			return r, &Refused{Key: k, Status: cur, Owner: r.Row.Owner, Wanted: to, Because: "claimed by another process"}
		}
		if c.Edit != nil {
			if err := c.Edit(r); err != nil {
				return r, err
			}
		}
		now := m.Now()
		r.Rec.ExecutionStatus = to
		r.Rec.LastUpdatedAt = wire.NewTimestamp(now)
		if !Unfinished(to) {
			r.Row.Owner, r.Row.LeaseUntil = "", time.Time{} // a final run holds no claim
		}
		doc, err := json.Marshal(r.Rec)
		if err != nil {
			return r, err
		}
		r.Row.Status, r.Row.Doc, r.Row.UpdatedAt = string(to), doc, now
		err = m.st.ExecutionUpdate(ctx, r.Row)
		if store.IsConflict(err) && attempt < writeAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}

// Finish moves an unfinished run to a final status with a message ("" for
// none): the common shape of a refusal, a cancel or a failure decided
// outside the engine.
func (m *Machine) Finish(ctx context.Context, k Key, from []wire.ExecutionStatus, to wire.ExecutionStatus, msg string) (*Run, error) {
	return m.Apply(ctx, k, Change{From: from, To: to, Edit: func(r *Run) error {
		if msg != "" || to == Successful {
			r.SetMessage(msg)
		}
		return nil
	}})
}
