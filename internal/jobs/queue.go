// Package jobs runs flows on a durable queue (River): every run is a RunFlow
// job, unique per execution, rescued when the process working it dies; a
// leader-only periodic planner enqueues each due scheduled run exactly once;
// the same planner advances incremental watermarks and deactivates flows
// that keep failing.
//
// The queue lives in PostgreSQL beside the store when appflowd runs on
// PostgreSQL (several replicas share it), and in its own SQLite file in the
// data dir otherwise (see OpenSQLite for why not the store's file).
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	flowevents "github.com/appflowd/appflowd/internal/events"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// Executor runs and settles executions; *runner.Runner satisfies it.
type Executor interface {
	// Execute runs one claimed execution (owner is this queue's claim)
	// and writes its final record; it returns the final status, or ""
	// when the run was interrupted (its context ended for another cause
	// than runstate.ErrCanceled) and the record is left to the queue.
	Execute(ctx context.Context, k runstate.Key, owner string) wire.ExecutionStatus
	// ExecuteSplits is Execute for a run restricted to named source splits,
	// which event-triggered runs need.
	ExecuteSplits(ctx context.Context, k runstate.Key, owner string, splits []string) wire.ExecutionStatus
	// Recover settles a claimed run of a process that died: it finishes
	// or undoes the run's publish and writes the final record.
	Recover(ctx context.Context, k runstate.Key, owner string) (wire.ExecutionStatus, error)
	// CollectStaging removes what finished runs left staged locally.
	CollectStaging(ctx context.Context) error
}

// Queue names.
const (
	queueRuns = "appflowd_runs"
	queuePlan = "appflowd_plan" // the planner never waits behind long runs
)

// Defaults of Config.
const (
	DefaultWorkers      = 16 // small runs mostly wait on I/O: more at once finish sooner
	DefaultPlanInterval = 10 * time.Second
	// DefaultRescueAfter is the longest a run may take (River ends it then,
	// and its record says Error). A crashed process's run is not waiting for
	// it: the run's lease lapses (DefaultLease) and a sweep settles it.
	DefaultRescueAfter = 2 * time.Hour
	// DefaultLease is how long a run's claim lasts without renewal; a
	// running process renews it every third of that.
	DefaultLease = time.Minute
	// DefaultCollectEvery is how often staging left by crashed runs is
	// collected (and once at start).
	DefaultCollectEvery = 10 * time.Minute
)

// Config is what a Queue needs from the process.
type Config struct {
	Store    store.Store
	Executor Executor
	Logger   *slog.Logger
	// Now is the scheduler's clock (fire times, windows, records).
	Now func() time.Time
	// Workers is how many runs one replica works at once.
	Workers int
	// PlanInterval is how often the leader plans scheduled runs; a negative
	// value turns the periodic planner off (tests call Scheduler.Tick).
	PlanInterval time.Duration
	// RescueAfter: see DefaultRescueAfter.
	RescueAfter time.Duration
	// ClientID names this replica in River and in the claims of the runs
	// it works (default: host name, process id and a random suffix).
	ClientID string
	// Lease: see DefaultLease. SweepEvery is how often the sweep looks for
	// runs whose lease lapsed (default: a quarter of Lease; negative: only
	// when a test calls Sweep). CollectEvery: see DefaultCollectEvery.
	Lease        time.Duration
	SweepEvery   time.Duration
	CollectEvery time.Duration
	// OwnsAllRuns says no other process shares the store (SQLite, under
	// the data dir's lock): every claimed run found at start belongs to a
	// process that stopped, and is settled without waiting for its lease.
	OwnsAllRuns bool
	// Schema is the PostgreSQL schema of River's tables ("" = search_path).
	Schema string
	// EventSources finds the changes of event-triggered flows, by source
	// connector type (e.g. "S3": s3conn.NewEventSource). An Event flow whose
	// source has none never runs.
	EventSources map[string]EventSource
	// Events sends "AppFlow Scheduled Flow Deactivated" when consecutive
	// failures suspend a flow; nil: none.
	Events *flowevents.Emitter
}

func (c *Config) defaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.PlanInterval == 0 {
		c.PlanInterval = DefaultPlanInterval
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = DefaultRescueAfter
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.SweepEvery == 0 {
		c.SweepEvery = c.Lease / 4
	}
	if c.CollectEvery == 0 {
		c.CollectEvery = DefaultCollectEvery
	}
	if c.ClientID == "" {
		host, _ := os.Hostname()
		c.ClientID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
}

// riverClient is the part of *river.Client[TTx] the queue uses; it does not
// depend on TTx, so one Queue serves both drivers.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	JobCancel(ctx context.Context, jobID int64) (*rivertype.JobRow, error)
	JobDeleteMany(ctx context.Context, params *river.JobDeleteManyParams) (*river.JobDeleteManyResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// Queue runs flows through River. It implements service.Runner: Start
// enqueues a run whose record the service created, Cancel cancels the job
// and the run wherever it is.
type Queue struct {
	cfg    Config
	client riverClient
	sched  *Scheduler
	runs   *runstate.Machine
	owner  string // this process's name in run claims
	closer func() error

	mu      sync.Mutex
	running map[runstate.Key]context.CancelCauseFunc // runs working here

	stopLoops context.CancelFunc
	loops     sync.WaitGroup
}

// OpenSQLite opens (creating if needed) River's database at path, a file of
// its own in the data dir, and migrates it. Not the store's file: River
// polls and writes every second or so, and SQLite has one writer per file,
// so sharing the file would make API writes queue behind River's; the price
// is that a job and its execution record are never written in one
// transaction, which the queue does not need (runs are keyed by their
// execution id, so a retried insert is harmless).
func OpenSQLite(ctx context.Context, path string, cfg Config) (*Queue, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open job queue %s: %w", path, err)
	}
	// riversqlite: one connection avoids SQLITE_BUSY between River's own
	// goroutines.
	db.SetMaxOpenConns(1)
	q, err := newQueue(ctx, localSQLite{riversqlite.New(db)}, cfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open job queue %s: %w", path, err)
	}
	q.closer = db.Close
	return q, nil
}

// OpenPostgres connects to dsn (the store's database) and migrates River's
// tables there.
func OpenPostgres(ctx context.Context, dsn string, cfg Config) (*Queue, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("open job queue: %w", err)
	}
	q, err := newQueue(ctx, riverpgxv5.New(pool), cfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open job queue: %w", err)
	}
	q.closer = func() error { pool.Close(); return nil }
	return q, nil
}

func newQueue[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], cfg Config) (*Queue, error) {
	cfg.defaults()
	if cfg.Store == nil || cfg.Executor == nil {
		return nil, errors.New("jobs: Config needs a Store and an Executor")
	}
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: cfg.Schema, Logger: quiet(cfg.Logger)})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	q := &Queue{cfg: cfg, running: map[runstate.Key]context.CancelCauseFunc{},
		runs: runstate.New(cfg.Store, cfg.Now), owner: cfg.ClientID}
	q.sched = &Scheduler{q: q}

	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &runFlowWorker{q: q}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &planWorker{s: q.sched}); err != nil {
		return nil, err
	}
	var periodic []*river.PeriodicJob
	if cfg.PlanInterval > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.PlanInterval),
			func() (river.JobArgs, *river.InsertOpts) { return PlanArgs{}, nil },
			&river.PeriodicJobOpts{ID: "appflowd_plan", RunOnStart: true}))
	}
	client, err := river.NewClient(driver, &river.Config{
		ID:     cfg.ClientID,
		Logger: quiet(cfg.Logger),
		Schema: cfg.Schema,
		Queues: map[string]river.QueueConfig{
			queueRuns: {MaxWorkers: cfg.Workers},
			queuePlan: {MaxWorkers: 1},
		},
		Workers:      workers,
		PeriodicJobs: periodic,
		// River rescues only jobs past their timeout, so runs need one.
		JobTimeout:           cfg.RescueAfter,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchCooldown:        fetchCooldown,
		FetchPollInterval:    fetchPollInterval,
	})
	if err != nil {
		return nil, err
	}
	q.client = client
	return q, nil
}

// Scheduler is the queue's planner.
func (q *Queue) Scheduler() *Scheduler { return q.sched }

// Run settles what stopped processes left (all claimed runs when this
// process owns the store), starts working jobs (and, on the elected leader,
// planning), and starts the sweep of lapsed leases and the collection of
// staging.
func (q *Queue) Run(ctx context.Context) error {
	if q.cfg.OwnsAllRuns {
		if _, err := q.sweep(ctx, true); err != nil {
			q.cfg.Logger.Warn("settle runs interrupted by a restart", "err", err)
		}
	}
	if err := q.client.Start(ctx); err != nil {
		return err
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	q.stopLoops = stop
	q.loops.Go(func() { q.background(loopCtx) })
	return nil
}

// Stop stops fetching jobs and waits for the runs in progress to finish.
// When ctx ends first, the runs are interrupted and handed back to the
// queue (their jobs become retryable, their records stay InProgress), so
// another replica, or this one after a restart, runs them again.
func (q *Queue) Stop(ctx context.Context) error {
	q.sched.stop()
	if q.stopLoops != nil {
		q.stopLoops()
		q.loops.Wait()
	}
	err := q.client.Stop(ctx)
	if err == nil {
		return nil
	}
	hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return errors.Join(err, q.client.StopAndCancel(hard))
}

// Close releases the queue's database; call it after Stop.
func (q *Queue) Close() error {
	if q.closer == nil {
		return nil
	}
	return q.closer()
}

// Start enqueues a run whose InProgress record exists (service.Runner).
func (q *Queue) Start(ctx context.Context, accountID, flowName, executionID string) error {
	_, err := q.client.Insert(ctx, RunFlowArgs{AccountID: accountID, FlowName: flowName, ExecutionID: executionID, Trigger: TriggerOnDemand}, nil)
	if err != nil {
		return fmt.Errorf("enqueue run %s of flow %s: %w", executionID, flowName, err)
	}
	return nil
}

// activeStates are the states of a job that has not finished.
var activeStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// job finds the unfinished RunFlow job of an execution, or nil.
func (q *Queue) job(ctx context.Context, executionID string) (*rivertype.JobRow, error) {
	// `args ->> 'execution_id'` reads a JSON member in PostgreSQL and SQLite alike.
	res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(RunFlowArgs{}.Kind()).
		States(activeStates...).
		Where("args ->> 'execution_id' = @execution_id", river.NamedArgs{"execution_id": executionID}).
		First(1))
	if err != nil {
		return nil, err
	}
	if len(res.Jobs) == 0 {
		return nil, nil
	}
	return res.Jobs[0], nil
}

// Cancel cancels runs (service.Runner): each unfinished run moves to
// CancelStarted; a queued one is then closed as Canceled at once; a running
// one, here or on another replica, has its context canceled and its runner
// records Canceled (or Successful, when its output was already being
// published); a run of a stopped process is settled by the sweep. Ids of
// runs already finished are returned.
func (q *Queue) Cancel(ctx context.Context, accountID, flowName string, ids []string) ([]string, error) {
	var notRunning []string
	for _, id := range ids {
		k := runstate.Key{Account: accountID, Flow: flowName, ID: id}
		run, err := q.runs.Apply(ctx, k, runstate.Change{To: runstate.CancelStarted})
		switch {
		case store.IsNotFound(err), runstate.IsRefused(err):
			notRunning = append(notRunning, id)
			continue
		case err != nil:
			return nil, fmt.Errorf("cancel execution %s of flow %s: %w", id, flowName, err)
		}
		q.mu.Lock()
		cancel := q.running[k]
		q.mu.Unlock()
		if cancel != nil {
			cancel(runstate.ErrCanceled)
			continue
		}
		if run.Row.Owner != "" {
			// Running elsewhere: River tells that replica at once (its
			// heartbeat would within a third of a lease).
			if row, err := q.job(ctx, id); err == nil && row != nil {
				if _, err := q.client.JobCancel(ctx, row.ID); err != nil && !errors.Is(err, river.ErrNotFound) {
					q.cfg.Logger.Warn("cancel a run's job", "flow", flowName, "execution", id, "err", err)
				}
			}
			continue
		}
		// Queued: take its job out, then close the record unless a worker
		// claimed the run meanwhile (its runner then sees CancelStarted).
		row, err := q.job(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("find run %s of flow %s: %w", id, flowName, err)
		}
		if row != nil {
			if _, err := q.client.JobCancel(ctx, row.ID); err != nil && !errors.Is(err, river.ErrNotFound) {
				return nil, fmt.Errorf("cancel run %s of flow %s: %w", id, flowName, err)
			}
		}
		if err := q.endQueuedCancel(ctx, k); err != nil {
			return nil, err
		}
	}
	return notRunning, nil
}

// pendingStates are the states of a job not yet (or no longer) being worked.
var pendingStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// FlowDeactivated implements service.FlowDeactivator: StopFlow or
// DeleteFlow removes the flow's queued runs from River (running ones are
// left alone: River never deletes a running job) and closes their records
// as Canceled, unless the flow and its records are gone. An event flow
// forgets its source's cursor, so a reactivation starts from a new
// baseline. A run whose job a worker fetched in the meantime still finds
// the flow inactive and closes its own record.
func (q *Queue) FlowDeactivated(ctx context.Context, accountID, flowName string) error {
	params := river.NewJobDeleteManyParams().Kinds(RunFlowArgs{}.Kind()).States(pendingStates...).
		Where("args ->> 'account_id' = @account_id AND args ->> 'flow_name' = @flow_name",
			river.NamedArgs{"account_id": accountID, "flow_name": flowName}).
		First(100)
	var errs []error
	for {
		res, err := q.client.JobDeleteMany(ctx, params)
		if err != nil {
			return fmt.Errorf("remove queued runs of flow %s: %w", flowName, err)
		}
		for _, row := range res.Jobs {
			var a RunFlowArgs
			if err := json.Unmarshal(row.EncodedArgs, &a); err != nil {
				continue
			}
			q.cfg.Logger.Info("queued run removed: the flow was deactivated", "flow", flowName, "execution", a.ExecutionID)
			if err := q.finish(ctx, accountID, flowName, a.ExecutionID, runstate.Canceled,
				"The flow was deactivated before this run started"); err != nil {
				errs = append(errs, err)
			}
		}
		if len(res.Jobs) < 100 {
			break
		}
	}
	err := q.modifyFlow(ctx, accountID, flowName, func(f *store.Flow, st *flowState) (bool, error) {
		if f.Status == string(wire.FlowStatusActive) || st.Events == nil {
			return false, nil // reactivated meanwhile, or nothing to forget
		}
		st.Events = nil
		return true, nil
	})
	if err != nil && !store.IsNotFound(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// FlowActivated implements service.FlowActivator: see Scheduler.FlowActivated.
func (q *Queue) FlowActivated(ctx context.Context, accountID, flowName string, at time.Time) error {
	first, err := q.sched.flowActivated(ctx, accountID, flowName, at)
	if err != nil {
		return err
	}
	// Without periodic planning (a negative PlanInterval: the caller ticks
	// by hand) nothing plans on its own.
	if q.cfg.PlanInterval <= 0 {
		return nil
	}
	// A scheduled flow: plan at its first fire (at once for a rate(), which
	// fires at activation), sharing the tick of flows due then, rather than
	// a tick over every flow per activation.
	if !first.IsZero() {
		q.sched.wakeBy(first)
		return nil
	}
	// Others (event flows): plan now. PlanArgs{} is unique while one is
	// queued or running, so this adds at most one planning job.
	if _, err := q.client.Insert(ctx, PlanArgs{}, nil); err != nil {
		q.cfg.Logger.Warn("plan after activation; the next tick will", "flow", flowName, "err", err)
	}
	return nil
}

// quiet passes River's own logging on at Warn and above only: its periodic
// info lines ("producer job counts") would drown appflowd's log.
func quiet(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	return slog.New(minLevel{l.Handler(), slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
