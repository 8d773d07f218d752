package schedule

import (
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

// MaxOffset is the largest scheduleOffset: 36000 s, "less than 10 hours" in
// the user guide, inclusive in the model's range (data-plane spec §6.1).
const MaxOffset = 36000 * time.Second

// DefaultLookback is how far back a first incremental run reads when the
// flow has no firstExecutionFrom (data-plane spec §6.3).
const DefaultLookback = 30 * 24 * time.Hour

// Plan is a flow's scheduled trigger: the expression and the bounds from
// ScheduledTriggerProperties.
type Plan struct {
	Expr      string
	StartTime time.Time     // scheduleStartTime; zero means none
	EndTime   time.Time     // scheduleEndTime; zero means none
	Offset    time.Duration // scheduleOffset, 0..MaxOffset
}

// Validate checks the expression, the offset range and the bounds' order.
func (p Plan) Validate() error {
	if _, err := Parse(p.Expr); err != nil {
		return err
	}
	if p.Offset < 0 || p.Offset > MaxOffset {
		return fault.New(fault.Invalid, "scheduleOffset must be between 0 and 36000 seconds, got %d",
			int64(p.Offset/time.Second))
	}
	if p.Offset%time.Second != 0 {
		return fault.New(fault.Invalid, "scheduleOffset must be whole seconds, got %s", p.Offset)
	}
	if !p.StartTime.IsZero() && !p.EndTime.IsZero() && !p.EndTime.After(p.StartTime) {
		return fault.New(fault.Invalid, "scheduleEndTime %s must be after scheduleStartTime %s",
			p.EndTime.UTC().Format(time.RFC3339), p.StartTime.UTC().Format(time.RFC3339))
	}
	return nil
}

// FirstFire is the first run of a flow activated (StartFlow) at activatedAt.
// A rate() fires at activation, or at scheduleStartTime if that is later, and
// then every period from there; a cron() fires at its first matching minute
// at or after that instant (data-plane spec §6.1, RFC483). The zero time,
// with a nil error, means the schedule has no run left before EndTime.
func (p Plan) FirstFire(activatedAt time.Time) (time.Time, error) {
	if err := p.Validate(); err != nil {
		return time.Time{}, err
	}
	s, _ := Parse(p.Expr)
	from := activatedAt.UTC()
	if p.StartTime.After(from) {
		from = p.StartTime.UTC()
	}
	t := from
	if s.Period() == 0 {
		t = s.Next(from.Add(-time.Nanosecond)) // at or after from
	}
	return p.bound(t), nil
}

// NextFire is the run after the one at prev. For a rate it is prev+period, so
// prev must be a fire time the plan produced: rates stay anchored at their
// first fire. The zero time means the schedule has ended.
func (p Plan) NextFire(prev time.Time) (time.Time, error) {
	if err := p.Validate(); err != nil {
		return time.Time{}, err
	}
	s, _ := Parse(p.Expr)
	if s.Period() != 0 {
		return p.bound(prev.UTC().Add(s.Period())), nil
	}
	from := prev
	if start := p.StartTime.Add(-time.Nanosecond); start.After(from) {
		from = start // a cron never fires before scheduleStartTime
	}
	return p.bound(s.Next(from)), nil
}

// bound drops fires at or after EndTime: like EventBridge Scheduler's
// EndDate, the end is exclusive (AppFlow does not say; our choice).
func (p Plan) bound(t time.Time) time.Time {
	if t.IsZero() || (!p.EndTime.IsZero() && !t.Before(p.EndTime)) {
		return time.Time{}
	}
	return t
}

// Window is the incremental pull window [start, end] of a scheduled run that
// fires at fireTime. Data-plane spec §6.3 (from the user guide's "flow
// triggers" page), for runs at T0, T1, ... with offset t:
//
//	first run T0: [T0 − 30 days, T0 − t], or [firstExecutionFrom, T0 − t] if set;
//	run Tn:       [T(n−1) − t, Tn − t];
//	a failed run must not advance the watermark: the next run starts from
//	the end of the last successful window.
//
// So prevEnd is the end of the last successful window, as this function
// returned it (already shifted by the offset), or nil before the first
// success; the start of a first window is not shifted by the offset. When
// start would pass end (a firstExecutionFrom in the future, or an offset
// raised between runs) the window is empty at start, so the watermark never
// moves backwards and nothing is read twice.
func Window(prevEnd *time.Time, firstExecutionFrom *time.Time, fireTime time.Time, offset time.Duration) (start, end time.Time) {
	end = fireTime.UTC().Add(-offset)
	switch {
	case prevEnd != nil:
		start = prevEnd.UTC()
	case firstExecutionFrom != nil:
		start = firstExecutionFrom.UTC()
	default:
		start = fireTime.UTC().Add(-DefaultLookback)
	}
	if end.Before(start) {
		end = start
	}
	return start, end
}
