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
