package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/schedule"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// flowDoc is the part of a flow document the scheduler reads.
type flowDoc struct {
	TriggerConfig    *wire.TriggerConfig    `json:"triggerConfig"`
	SourceFlowConfig *wire.SourceFlowConfig `json:"sourceFlowConfig"`
}

func (d *flowDoc) trigger() wire.TriggerType {
	if d.TriggerConfig == nil {
		return wire.TriggerTypeOnDemand
	}
	return d.TriggerConfig.TriggerType
}

func (d *flowDoc) scheduled() *wire.ScheduledTriggerProperties {
	if d.TriggerConfig == nil || d.TriggerConfig.TriggerProperties == nil {
		return nil
	}
	return d.TriggerConfig.TriggerProperties.Scheduled
}

// plan is the flow's schedule.Plan; ok is false for a flow without one.
func (d *flowDoc) plan() (schedule.Plan, bool) {
	sp := d.scheduled()
	if d.trigger() != wire.TriggerTypeScheduled || sp == nil {
		return schedule.Plan{}, false
	}
	p := schedule.Plan{Expr: sp.ScheduleExpression}
	if sp.ScheduleStartTime != nil {
		p.StartTime = sp.ScheduleStartTime.Time
	}
	if sp.ScheduleEndTime != nil {
		p.EndTime = sp.ScheduleEndTime.Time
	}
	if sp.ScheduleOffset != nil {
		p.Offset = time.Duration(*sp.ScheduleOffset) * time.Second
	}
	return p, true
}

// incremental says whether scheduled runs pull a window.
func (d *flowDoc) incremental() bool {
	sp := d.scheduled()
	return d.trigger() == wire.TriggerTypeScheduled && sp != nil && sp.DataPullMode == wire.DataPullModeIncremental
}

// signature identifies a plan: when UpdateFlow changes it, the schedule
// starts over from the change.
func signature(p schedule.Plan) string {
	return fmt.Sprintf("%s|%d|%d|%d", p.Expr, p.StartTime.Unix(), p.EndTime.Unix(), int64(p.Offset/time.Second))
}

func decodeDoc(f *store.Flow) (*flowDoc, error) {
	var d flowDoc
	if err := json.Unmarshal(f.Doc, &d); err != nil {
		return nil, fmt.Errorf("decode flow %s: %w", f.Name, err)
	}
	return &d, nil
}

// Scheduler plans the runs of Active scheduled flows. Tick is what the
// leader's periodic job calls; it is safe to run concurrently on several
// replicas (each due run is enqueued once whoever plans it).
type Scheduler struct {
	q *Queue

	mu      sync.Mutex
	wake    time.Time   // when timer plans next
	timer   *time.Timer // plans at the earliest next fire; nil: none armed
	stopped bool
}

// PlanArgs is a planning job: the leader's periodic one, one after an
// activation, or one at a fire time (Slot).
type PlanArgs struct {
	// Slot is the fire time a planning job was queued for (see
	// Scheduler.wakeAt); it keeps the jobs of different slots apart.
	Slot time.Time `json:"slot,omitzero"`
}

// Kind is River's name of the job.
func (PlanArgs) Kind() string { return "appflowd_plan" }

// InsertOpts keeps one planning job per slot queued at a time.
func (PlanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queuePlan, MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled, rivertype.JobStateRunning}}}
}

// wakeAt makes the planner run at `at`, the earliest next fire a tick saw:
// the periodic tick alone would plan a slot up to PlanInterval late. A
// timer enqueues a planning job for the slot, which River starts at once
// (an insert wakes its fetch); each tick re-arms it. Without periodic
// planning (tests tick by hand) nothing is armed.
func (s *Scheduler) wakeAt(at time.Time) {
	if at.IsZero() || s.q.cfg.PlanInterval <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || (s.timer != nil && s.wake.Equal(at)) {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.wake = at
	s.timer = time.AfterFunc(at.Sub(s.q.cfg.Now()), func() {
		s.mu.Lock()
		if s.wake.Equal(at) {
			s.wake = time.Time{} // fired: the next tick arms the next slot, or this one again
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.q.client.Insert(ctx, PlanArgs{Slot: at}, nil); err != nil {
			s.q.cfg.Logger.Warn("plan at a scheduled fire; the next periodic tick will", "at", at, "err", err)
		}
	})
}

// stop disarms the slot timer for good (the queue is stopping).
func (s *Scheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// newExecution is the InProgress record of a scheduled run; the planner
// stores a page of them at once (ExecutionCreateMany).
func (q *Queue) newExecution(account, flow, id string, now time.Time) (*store.Execution, error) {
	row, _, err := runstate.NewRow(runstate.Key{Account: account, Flow: flow, ID: id}, now)
	return row, err
}

type planWorker struct {
	river.WorkerDefaults[PlanArgs]
	s *Scheduler
}

func (w *planWorker) Work(ctx context.Context, _ *river.Job[PlanArgs]) error {
	_, err := w.s.Tick(ctx)
	return err
}

// maxCatchUp bounds the fires a plan steps over after downtime.
const maxCatchUp = 1 << 20

// planPage is how many flows the planner reads, and plans in one batch (one
// store transaction for their records, one River insert for their jobs,
// one store transaction for their schedules).
const planPage = 500

// Tick enqueues every due run of every Active scheduled flow, at the
// Queue's clock, and returns how many runs it enqueued. A flow that missed
// several fires (every replica was down) runs once, for the latest missed
// fire: its incremental window still starts at the last successful end, so
// nothing is skipped, and nothing piles up.
//
// Scheduled flows are planned a page at a time: their records are created
// first, then their jobs, then their schedules move on, each step one write
// for the page; a crash between steps leaves records and jobs that the next
// tick finds again under the same ids. A flow changed meanwhile (a stale
// version) is planned again on its own.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	now := s.q.cfg.Now().UTC()
	n := 0
	var earliest time.Time // the next fire of any scheduled flow
	params := store.FlowListByStatusParams{Status: string(wire.FlowStatusActive), Page: store.Page{Limit: planPage}}
	for {
		flows, next, err := s.q.cfg.Store.FlowListByStatus(ctx, &params)
		if err != nil {
			return n, fmt.Errorf("plan: %w", err)
		}
		var batch []*planned
		for _, f := range flows {
			doc, err := decodeDoc(f)
			if err != nil {
				s.q.cfg.Logger.Error("plan a flow", "flow", f.Name, "account", f.AccountID, "err", err)
				continue
			}
			if p, ok := doc.plan(); ok {
				pl, err := s.plan(f, p, now)
				if err != nil {
					s.q.cfg.Logger.Error("plan a flow", "flow", f.Name, "account", f.AccountID, "err", err)
					continue
				}
				if pl.next.After(now) && (earliest.IsZero() || pl.next.Before(earliest)) {
					earliest = pl.next
				}
				if pl.write {
					batch = append(batch, pl)
				}
				continue
			}
			if _, _, ok := doc.eventFlow(f); ok {
				k, err := s.planEvents(ctx, f.AccountID, f.Name)
				n += k
				if err != nil {
					s.q.cfg.Logger.Error("plan a flow", "flow", f.Name, "account", f.AccountID, "err", err)
				}
			}
		}
		k, err := s.commit(ctx, batch, now)
		n += k
		if err != nil {
			return n, err
		}
		if next == "" {
			break
		}
		params.Page.After = next
	}
	s.wakeAt(earliest)
	return n, nil
}

// planned is one scheduled flow's part of a tick.
type planned struct {
	flow  *store.Flow // its State moved on, to write with the version check
	write bool        // the state changed
	fire  time.Time   // the run to enqueue; zero: none due
	id    string      // its execution id
	next  time.Time   // the flow's next fire after this tick
}

// plan moves a flow's schedule on to now, in memory: the due fire, if any,
// and the state to write.
func (s *Scheduler) plan(f *store.Flow, p schedule.Plan, now time.Time) (*planned, error) {
	st, err := decodeState(f.State)
	if err != nil {
		return nil, fmt.Errorf("decode state of flow %s: %w", f.Name, err)
	}
	fire, changed, err := s.advance(f, p, st, now)
	if err != nil {
		return nil, err
	}
	pl := &planned{flow: f, write: changed, fire: fire, next: st.Schedule.NextFire}
	if !fire.IsZero() {
		pl.id = scheduledID(f, fire)
	}
	if changed {
		if f.State, err = st.encode(); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

// advance moves st's schedule on to now: it returns the fire to run now
// (zero: none is due) and whether st changed.
func (s *Scheduler) advance(f *store.Flow, p schedule.Plan, st *flowState, now time.Time) (time.Time, bool, error) {
	sig := signature(p)
	changed := false
	if st.Schedule == nil || st.Schedule.Plan != sig {
		// Activated without the service telling us (or the schedule
		// changed): it starts now.
		first, err := p.FirstFire(now)
		if err != nil {
			return time.Time{}, false, err
		}
		st.Schedule = &scheduleState{Plan: sig, ActivatedAt: now, NextFire: first}
		changed = true
	}
	fire := st.Schedule.NextFire
	if fire.IsZero() || fire.After(now) {
		return time.Time{}, changed, nil
	}
	for range maxCatchUp {
		nx, err := p.NextFire(fire)
		if err != nil {
			return time.Time{}, false, err
		}
		if nx.IsZero() || nx.After(now) {
			break
		}
		fire = nx
	}
	if !fire.Equal(st.Schedule.NextFire) {
		s.q.cfg.Logger.Warn("scheduled fires missed while no replica planned; running the latest once",
			"flow", f.Name, "from", st.Schedule.NextFire, "to", fire)
	}
	nx, err := p.NextFire(fire)
	if err != nil {
		return time.Time{}, false, err
	}
	st.Schedule.LastFire, st.Schedule.NextFire = fire, nx
	return fire, true, nil
}

// commit writes a page of plans: the due runs' records, their jobs, then
// the flows' schedules. It returns how many jobs it enqueued.
func (s *Scheduler) commit(ctx context.Context, batch []*planned, now time.Time) (int, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	var recs []*store.Execution
	var jobs []river.InsertManyParams
	for _, pl := range batch {
		if pl.fire.IsZero() {
			continue
		}
		e, err := s.q.newExecution(pl.flow.AccountID, pl.flow.Name, pl.id, now)
		if err != nil {
			return 0, err
		}
		recs = append(recs, e)
		jobs = append(jobs, river.InsertManyParams{Args: RunFlowArgs{AccountID: pl.flow.AccountID, FlowName: pl.flow.Name,
			ExecutionID: pl.id, Trigger: TriggerScheduled, FireTime: pl.fire}})
	}
	if err := s.q.cfg.Store.ExecutionCreateMany(ctx, recs); err != nil {
		return 0, fmt.Errorf("plan: record %d scheduled runs: %w", len(recs), err)
	}
	enqueued := 0
	if len(jobs) > 0 {
		res, err := s.q.client.InsertMany(ctx, jobs)
		if err != nil {
			return 0, fmt.Errorf("plan: enqueue %d scheduled runs: %w", len(jobs), err)
		}
		for _, r := range res {
			if !r.UniqueSkippedAsDuplicate {
				enqueued++ // a second planner of the same fire finds this job
			}
		}
	}
	flows := make([]*store.Flow, len(batch))
	for i, pl := range batch {
		flows[i] = pl.flow
	}
	written, err := s.q.cfg.Store.FlowStateUpdateMany(ctx, flows)
	if err != nil {
		return enqueued, fmt.Errorf("plan: move %d schedules on: %w", len(flows), err)
	}
	for i, ok := range written {
		if ok {
			continue
		}
		// Changed since it was listed (UpdateFlow, a run's bookkeeping,
		// another planner), or deleted: plan it again from what is stored.
		f := batch[i].flow
		k, err := s.planFlow(ctx, f.AccountID, f.Name, now)
		enqueued += k
		if err != nil && !store.IsNotFound(err) {
			s.q.cfg.Logger.Error("plan a flow", "flow", f.Name, "account", f.AccountID, "err", err)
		}
	}
	return enqueued, nil
}

// planFlow plans one flow from its stored state: it enqueues the flow's
// due run, if any, and moves its next fire on.
func (s *Scheduler) planFlow(ctx context.Context, account, name string, now time.Time) (int, error) {
	enqueued := 0
	err := s.q.modifyFlow(ctx, account, name, func(f *store.Flow, st *flowState) (bool, error) {
		if f.Status != string(wire.FlowStatusActive) {
			return false, nil
		}
		doc, err := decodeDoc(f)
		if err != nil {
			return false, err
		}
		p, ok := doc.plan()
		if !ok {
			return false, nil
		}
		fire, changed, err := s.advance(f, p, st, now)
		if err != nil || fire.IsZero() {
			return changed, err
		}
		id := scheduledID(f, fire)
		if err := s.q.newRecord(ctx, account, name, id, now); err != nil {
			return false, fmt.Errorf("record scheduled run at %s: %w", fire.Format(time.RFC3339), err)
		}
		res, err := s.q.client.Insert(ctx, RunFlowArgs{AccountID: account, FlowName: name, ExecutionID: id,
			Trigger: TriggerScheduled, FireTime: fire}, nil)
		if err != nil {
			return false, fmt.Errorf("enqueue scheduled run at %s: %w", fire.Format(time.RFC3339), err)
		}
		if !res.UniqueSkippedAsDuplicate {
			enqueued++ // a retry after a conflict can only find its own job
		}
		return true, nil
	})
	return enqueued, err
}

// scheduledID is the execution id of a flow's run at fire: the same on every
// replica, so planning it twice finds one record and one job. The flow's
// creation time keeps a re-created flow of the same name apart.
func scheduledID(f *store.Flow, fire time.Time) string {
	key := fmt.Sprintf("appflowd:scheduled:%s/%s/%d/%d", f.AccountID, f.Name, f.CreatedAt.UnixMicro(), fire.UTC().UnixMilli())
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(key)).String()
}

// FlowActivated tells the scheduler that StartFlow activated a scheduled
// or event flow at `at`: a schedule's first fire counts from then, and its
// failure count starts over; an event flow's source is polled for its
// baseline (what is there now does not trigger a run). Without the call,
// the planner notices the activation at its next tick.
func (s *Scheduler) FlowActivated(ctx context.Context, account, name string, at time.Time) error {
	_, err := s.flowActivated(ctx, account, name, at)
	return err
}

// flowActivated is FlowActivated returning the flow's first fire (zero for
// a flow without a schedule).
func (s *Scheduler) flowActivated(ctx context.Context, account, name string, at time.Time) (first time.Time, err error) {
	return first, s.q.modifyFlow(ctx, account, name, func(f *store.Flow, st *flowState) (bool, error) {
		first = time.Time{} // a retried change starts over
		doc, err := decodeDoc(f)
		if err != nil {
			return false, err
		}
		st.Failures = 0
		q := s.q
		q.activateEvents(ctx, f, doc, st)
		p, ok := doc.plan()
		if !ok {
			return true, nil
		}
		if first, err = p.FirstFire(at); err != nil {
			return false, err
		}
		st.Schedule = &scheduleState{Plan: signature(p), ActivatedAt: at.UTC(), NextFire: first}
		return true, nil
	})
}

// wakeBy makes the planner wake at at, unless it already wakes earlier:
// many activations before one slot share one tick.
func (s *Scheduler) wakeBy(at time.Time) {
	s.mu.Lock()
	armed := s.timer != nil && !s.wake.IsZero() && !s.wake.After(at)
	s.mu.Unlock()
	if !armed {
		s.wakeAt(at)
	}
}
