package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// neverQueued is the message of a run whose record exists but whose job
// does not: its process stopped between the two writes.
const neverQueued = "appflowd stopped before this run was queued - nothing was written - start the flow again"

// background sweeps lapsed leases and collects staging until ctx ends.
func (q *Queue) background(ctx context.Context) {
	var sweep <-chan time.Time
	if q.cfg.SweepEvery > 0 {
		t := time.NewTicker(q.cfg.SweepEvery)
		defer t.Stop()
		sweep = t.C
	}
	collect := time.NewTicker(q.cfg.CollectEvery)
	defer collect.Stop()
	q.collect(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep:
			if _, err := q.sweep(ctx, false); err != nil && ctx.Err() == nil {
				q.cfg.Logger.Warn("sweep runs of stopped processes", "err", err)
			}
		case <-collect.C:
			q.collect(ctx)
		}
	}
}

func (q *Queue) collect(ctx context.Context) {
	if err := q.cfg.Executor.CollectStaging(ctx); err != nil && ctx.Err() == nil {
		q.cfg.Logger.Warn("collect staging of finished runs", "err", err)
	}
}

// Sweep settles the runs of stopped processes now (what the background
// loop does every SweepEvery); it returns how many it settled.
func (q *Queue) Sweep(ctx context.Context) (int, error) { return q.sweep(ctx, false) }

// sweep settles unfinished runs no live process is working: a claimed run
// whose lease lapsed (or, with all, any claimed run not working here: the
// process owns the store and the claims are from before its start) is taken
// over and recovered; an unclaimed one without a job, older than a lease,
// never reached the queue and is closed. Every step is a compare-and-set,
// so replicas sweeping at once settle each run once.
func (q *Queue) sweep(ctx context.Context, all bool) (int, error) {
	rows, err := q.cfg.Store.ExecutionListUnfinished(ctx)
	if err != nil {
		return 0, err
	}
	now := q.cfg.Now()
	settled := 0
	var errs []error
	for _, row := range rows {
		k := runstate.Key{Account: row.AccountID, Flow: row.FlowName, ID: row.ExecutionID}
		q.mu.Lock()
		_, here := q.running[k]
		q.mu.Unlock()
		if here {
			continue
		}
		var done bool
		var err error
		switch {
		case row.Owner != "" && (all || now.After(row.LeaseUntil)):
			done, err = q.takeOver(ctx, k, row)
		case row.Owner == "" && now.Sub(row.UpdatedAt) > q.cfg.Lease:
			done, err = q.closeUnqueued(ctx, k)
		}
		if err != nil {
			errs = append(errs, err)
		}
		if done {
			settled++
		}
	}
	return settled, errors.Join(errs...)
}

// takeOver claims a run of a stopped process, if its claim is still the one
// read, and recovers it.
func (q *Queue) takeOver(ctx context.Context, k runstate.Key, seen *store.Execution) (bool, error) {
	_, err := q.runs.Apply(ctx, k, runstate.Change{Owner: seen.Owner, Edit: func(r *runstate.Run) error {
		if !r.Row.LeaseUntil.Equal(seen.LeaseUntil) {
			return errClaimed // renewed meanwhile: its process lives
		}
		r.Row.Owner, r.Row.LeaseUntil = q.owner, q.cfg.Now().Add(q.cfg.Lease)
		return nil
	}})
	switch {
	case errors.Is(err, errClaimed), runstate.IsRefused(err), store.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("take over run %s of flow %s: %w", k.ID, k.Flow, err)
	}
	q.cfg.Logger.Warn("settling a run whose process stopped", "flow", k.Flow, "execution", k.ID,
		"owner", seen.Owner, "lease_until", seen.LeaseUntil)
	status, err := q.cfg.Executor.Recover(ctx, k, q.owner)
	if err != nil {
		return false, err
	}
	// The run is settled; River's job of it, if still listed as running,
	// finds the record final whenever it is rescued.
	return status != "", nil
}

// closeUnqueued ends an unclaimed run that has no job: nothing will ever
// run it.
func (q *Queue) closeUnqueued(ctx context.Context, k runstate.Key) (bool, error) {
	row, err := q.job(ctx, k.ID)
	if err != nil || row != nil {
		return false, err
	}
	_, err = q.runs.Apply(ctx, k, runstate.Change{ToFrom: endOf, Edit: func(r *runstate.Run) error {
		if r.Row.Owner != "" {
			return errClaimed
		}
		if r.Status() == runstate.CancelStarted {
			r.SetMessage("Execution canceled by request.")
		} else {
			r.SetMessage(neverQueued)
		}
		return nil
	}})
	switch {
	case errors.Is(err, errClaimed), runstate.IsRefused(err), store.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// endOf is where a run that never ran ends: Canceled if its cancel had
// started, Error otherwise.
func endOf(cur wire.ExecutionStatus) wire.ExecutionStatus {
	if cur == runstate.CancelStarted {
		return runstate.Canceled
	}
	return runstate.Error
}
