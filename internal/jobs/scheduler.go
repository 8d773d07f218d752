package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

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
}

// PlanArgs is the leader's periodic planning job.
type PlanArgs struct{}

// Kind is River's name of the job.
func (PlanArgs) Kind() string { return "appflowd_plan" }

// InsertOpts keeps one planning job queued at a time.
func (PlanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queuePlan, MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled, rivertype.JobStateRunning}}}
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

// Tick enqueues every due run of every Active scheduled flow, at the
// Queue's clock, and returns how many runs it enqueued. A flow that missed
// several fires (every replica was down) runs once, for the latest missed
// fire: its incremental window still starts at the last successful end, so
// nothing is skipped, and nothing piles up.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	now := s.q.cfg.Now().UTC()
	n := 0
	params := store.FlowListByStatusParams{Status: string(wire.FlowStatusActive), Page: store.Page{Limit: 500}}
	for {
		flows, next, err := s.q.cfg.Store.FlowListByStatus(ctx, &params)
		if err != nil {
			return n, fmt.Errorf("plan: %w", err)
		}
		for _, f := range flows {
			doc, err := decodeDoc(f)
			if err != nil {
				s.q.cfg.Logger.Error("plan a flow", "flow", f.Name, "account", f.AccountID, "err", err)
				continue
			}
			var k int
			if _, ok := doc.plan(); ok {
				k, err = s.planFlow(ctx, f.AccountID, f.Name, now)
			} else if _, _, ok := doc.eventFlow(f); ok {
				k, err = s.planEvents(ctx, f.AccountID, f.Name)
			} else {
				continue
			}
			n += k
			if err != nil {
				s.q.cfg.Logger.Error("plan a flow", "flow", f.Name, "account", f.AccountID, "err", err)
			}
		}
		if next == "" {
			return n, nil
		}
		params.Page.After = next
	}
}

// planFlow enqueues the flow's due run, if any, and moves its next fire on.
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
		sig := signature(p)
		changed := false
		if st.Schedule == nil || st.Schedule.Plan != sig {
			// Activated without the service telling us (or the schedule
			// changed): it starts now.
			first, err := p.FirstFire(now)
			if err != nil {
				return false, err
			}
			st.Schedule = &scheduleState{Plan: sig, ActivatedAt: now, NextFire: first}
			changed = true
		}
		fire := st.Schedule.NextFire
		if fire.IsZero() || fire.After(now) {
			return changed, nil
		}
		for range maxCatchUp {
			nx, err := p.NextFire(fire)
			if err != nil {
				return false, err
			}
			if nx.IsZero() || nx.After(now) {
				break
			}
			fire = nx
		}
		if !fire.Equal(st.Schedule.NextFire) {
			s.q.cfg.Logger.Warn("scheduled fires missed while no replica planned; running the latest once",
				"flow", name, "from", st.Schedule.NextFire, "to", fire)
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
		nx, err := p.NextFire(fire)
		if err != nil {
			return false, err
		}
		st.Schedule.LastFire, st.Schedule.NextFire = fire, nx
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
	return s.q.modifyFlow(ctx, account, name, func(f *store.Flow, st *flowState) (bool, error) {
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
		first, err := p.FirstFire(at)
		if err != nil {
			return false, err
		}
		st.Schedule = &scheduleState{Plan: signature(p), ActivatedAt: at.UTC(), NextFire: first}
		return true, nil
	})
}
