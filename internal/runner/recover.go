package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/engine"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/metrics"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/wire"
)

// Interrupted is the message of a run whose process stopped before its
// output was published: nothing of it is in the destination.
const Interrupted = "appflowd stopped during this run before its output was published - nothing was written - start the flow again"

// Recover settles a run whose process died (an orphan the caller has
// claimed as owner): a destination that publishes in steps finishes a
// publish that had begun (the run is then Successful, with the counts it
// would have had) or removes what the run staged; the record then says
// Canceled for a run whose cancel had started, Error otherwise. It returns
// the status written.
func (r *Runner) Recover(ctx context.Context, k runstate.Key, owner string) (wire.ExecutionStatus, error) {
	res, published, err := r.recoverPublish(ctx, k)
	if err != nil {
		// Leave the run claimed and unfinished: the next sweep tries again
		// rather than record an outcome that may not match the destination.
		return "", fmt.Errorf("settle the output of run %s of flow %s: %w", k.ID, k.Flow, err)
	}
	outcome := func(cur wire.ExecutionStatus) (wire.ExecutionStatus, string) {
		switch {
		case published:
			return runstate.Successful, ""
		case cur == runstate.CancelStarted:
			return runstate.Canceled, "Execution canceled by request."
		}
		return runstate.Error, Interrupted
	}
	run, err := r.runs.Apply(ctx, k, runstate.Change{Owner: owner,
		ToFrom: func(cur wire.ExecutionStatus) wire.ExecutionStatus { s, _ := outcome(cur); return s },
		Edit: func(run *runstate.Run) error {
			s, msg := outcome(run.Status())
			run.Rec.ExecutionResult = result(res, s, msg)
			return nil
		}})
	if err != nil {
		return "", err
	}
	status := run.Status()
	m := metrics.Run{Status: string(status)}
	if res != nil {
		m.Records, m.BytesWritten = res.RecordsRead, res.BytesWritten
	}
	r.d.Metrics.RunFinished(m)
	r.d.Logger.Warn("run of a stopped process settled", "flow", k.Flow, "execution", k.ID, "status", status, "published", published)
	r.report(ctx, k.Account, k.Flow, run.Rec, res)
	return status, nil
}

// recoverPublish asks the flow's destination to settle the run's publish.
// A destination that publishes in one step (a transaction) has nothing to
// settle: published is false.
func (r *Runner) recoverPublish(ctx context.Context, k runstate.Key) (*engine.Result, bool, error) {
	fl, err := r.d.Store.FlowGet(ctx, k.Account, k.Flow)
	if err != nil {
		return nil, false, err
	}
	var f Flow
	if err := json.Unmarshal(fl.Doc, &f); err != nil {
		return nil, false, fault.Wrap(fault.Internal, err, "decode flow %s", k.Flow)
	}
	deps := r.d.Connector
	deps.AccountID = k.Account
	p, err := Prepare(ctx, Env{Registry: r.d.Registry, Deps: deps, Profile: r.profileFunc(k.Account)}, &f, k.ID)
	if err != nil {
		// A flow that cannot be prepared now never got as far as publishing
		// with this definition; its staging, if any, is collected later.
		r.d.Logger.Warn("recover a run: its flow cannot be opened; nothing to settle", "flow", k.Flow, "execution", k.ID, "err", err)
		return nil, false, nil
	}
	defer p.Close()
	pr, ok := p.destination().PublishRecoverer()
	if !ok {
		return nil, false, nil
	}
	wr, published, err := pr.RecoverPublish(ctx, p.Run.Write)
	if err != nil || !published {
		return nil, false, err
	}
	// What was read is not kept past a crash; what was published is.
	return &engine.Result{RecordsRead: wr.RecordsWritten, RecordsProcessed: wr.RecordsWritten,
		BytesWritten: wr.BytesWritten, Failures: wr.Failures, Objects: wr.Objects}, true, nil
}

// destination is the prepared run's destination connection (Prepare opens
// the source first, then the destination).
func (p *Prepared) destination() *connector.Conn { return p.conns[len(p.conns)-1] }

// CollectStaging removes what finished runs left staged in the data dir:
// each destination type that stages there collects its own. Runs still
// unfinished in the store keep theirs.
func (r *Runner) CollectStaging(ctx context.Context) error {
	var (
		once       sync.Once
		unfinished map[string]bool
		listErr    error
	)
	isUnfinished := func(id string) bool {
		once.Do(func() {
			rows, err := r.d.Store.ExecutionListUnfinished(ctx)
			if err != nil {
				listErr = err
				return
			}
			unfinished = make(map[string]bool, len(rows))
			for _, e := range rows {
				unfinished[e.ExecutionID] = true
			}
		})
		return listErr != nil || unfinished[id] // when unsure, keep
	}
	var errs []error
	for _, typ := range r.d.Registry.Types() {
		spec, _ := r.d.Registry.Lookup(typ)
		if spec.Open == nil || spec.NeedsProfile || !spec.CanUseAsDestination {
			continue // stages nothing in the data dir without a profile
		}
		c, err := r.d.Registry.Open(ctx, typ, r.d.Connector, connector.Profile{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if pr, ok := c.PublishRecoverer(); ok {
			if err := pr.CollectStaging(ctx, isUnfinished); err != nil {
				errs = append(errs, fmt.Errorf("collect %s staging: %w", typ, err))
			}
		}
		_ = c.Close()
	}
	return errors.Join(append(errs, listErr)...)
}
