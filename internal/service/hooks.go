package service

import (
	"context"
	"time"
)

// FlowActivator is implemented by a Runner that schedules flows (the job
// queue): StartFlow tells it when a scheduled or event flow became Active,
// so a rate() fires first at that instant. Optional: a Runner without it
// notices activations at its next planning tick.
type FlowActivator interface {
	FlowActivated(ctx context.Context, accountID, flowName string, at time.Time) error
}

// flowActivated tells the runner, if it cares, that a flow was activated;
// a failure is logged, not returned: the planner catches up on its own.
func (s *Service) flowActivated(ctx context.Context, account, name string, at time.Time) {
	a, ok := s.d.Runner.(FlowActivator)
	if !ok {
		return
	}
	if err := a.FlowActivated(context.WithoutCancel(ctx), account, name, at); err != nil {
		s.d.Logger.Warn("tell the scheduler a flow was activated", "flow", name, "err", err)
	}
}

// FlowDeactivator is implemented by a Runner that queues runs (the job
// queue): StopFlow and DeleteFlow tell it, so runs queued but not yet
// started are removed (their records closed as Canceled) instead of
// waiting in the queue. Runs already going keep going. Optional.
type FlowDeactivator interface {
	FlowDeactivated(ctx context.Context, accountID, flowName string) error
}

// flowDeactivated tells the runner, if it cares, that a flow was stopped or
// deleted; a failure is logged, not returned: a queued run of an inactive
// flow is still skipped when it starts.
func (s *Service) flowDeactivated(ctx context.Context, account, name string) {
	d, ok := s.d.Runner.(FlowDeactivator)
	if !ok {
		return
	}
	if err := d.FlowDeactivated(context.WithoutCancel(ctx), account, name); err != nil {
		s.d.Logger.Warn("remove queued runs of a deactivated flow", "flow", name, "err", err)
	}
}
