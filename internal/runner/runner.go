package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/engine"
	"github.com/appflowd/appflowd/internal/events"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/metrics"
	"github.com/appflowd/appflowd/internal/secrets"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// Deps are what the Runner needs from the process.
type Deps struct {
	Store     store.Store
	Registry  *connector.Registry
	Keyring   *secrets.Keyring
	Connector connector.Deps
	Logger    *slog.Logger
	Now       func() time.Time
	Metrics   *metrics.Metrics // nil: none
	Events    *events.Emitter  // nil: no EventBridge run reports
}

// Runner runs executions in this process and keeps their records. It
// implements service.Runner.
type Runner struct {
	d       Deps
	mu      sync.Mutex
	running map[string]context.CancelFunc // by account/flow/execution
	wg      sync.WaitGroup
	base    context.Context
	stop    context.CancelFunc
}

// New returns a Runner.
func New(d Deps) *Runner {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Connector.Now == nil {
		d.Connector.Now = d.Now
	}
	base, stop := context.WithCancel(context.Background())
	return &Runner{d: d, running: map[string]context.CancelFunc{}, base: base, stop: stop}
}

func runKey(account, flow, id string) string { return account + "/" + flow + "/" + id }

// Start runs the execution in the background.
func (r *Runner) Start(ctx context.Context, account, flowName, executionID string) error {
	runCtx, cancel := context.WithCancel(r.base)
	key := runKey(account, flowName, executionID)
	r.mu.Lock()
	r.running[key] = cancel
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.running, key)
			r.mu.Unlock()
			cancel()
		}()
		r.Execute(runCtx, account, flowName, executionID)
	}()
	return nil
}

// Cancel stops running executions; it returns the ids not running here.
func (r *Runner) Cancel(ctx context.Context, account, flowName string, ids []string) ([]string, error) {
	var notRunning []string
	for _, id := range ids {
		r.mu.Lock()
		cancel, ok := r.running[runKey(account, flowName, id)]
		r.mu.Unlock()
		if !ok {
			notRunning = append(notRunning, id)
			continue
		}
		if err := r.setStatus(ctx, account, flowName, id, wire.ExecutionStatusCancelStarted); err != nil {
			return nil, err
		}
		cancel()
	}
	return notRunning, nil
}

// Running lists the execution ids of a flow running in this process.
func (r *Runner) Running(account, flowName string) []string {
	prefix := account + "/" + flowName + "/"
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for k := range r.running {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			ids = append(ids, k[len(prefix):])
		}
	}
	return ids
}

// Shutdown cancels every run and waits for their records to be written,
// or for ctx to end.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.stop()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runner) setStatus(ctx context.Context, account, flowName, id string, st wire.ExecutionStatus) error {
	e, err := r.d.Store.ExecutionGet(ctx, account, flowName, id)
	if err != nil {
		return err
	}
	var rec wire.ExecutionRecord
	if err := json.Unmarshal(e.Doc, &rec); err != nil {
		return fault.Wrap(fault.Internal, err, "execution %s record", id)
	}
	rec.ExecutionStatus = st
	now := r.d.Now().UTC()
	rec.LastUpdatedAt = &wire.Timestamp{Time: now}
	doc, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	e.Status, e.Doc, e.UpdatedAt = string(st), doc, now
	return r.d.Store.ExecutionUpdate(ctx, e)
}

// Execute runs one execution synchronously and records its outcome; the
// execution record must exist. Store writes use a context that outlives
// cancellation, so a canceled run still gets its final record. Start calls
// it in a goroutine; a job queue may call it from its worker instead.
func (r *Runner) Execute(ctx context.Context, account, flowName, id string) {
	r.execute(ctx, account, flowName, id, nil)
}

// ExecuteSplits is Execute for a run that reads only the named splits of
// its source (for S3, object keys): an event-triggered run reads the
// objects that triggered it. A named split the source no longer lists is
// skipped. The connector.ReadRequest is unchanged: the source lists its
// splits as usual and the run keeps the named ones, unless the source is a
// connector.NamedSplitter, which builds the splits of the names itself
// (Salesforce: a query for the changed records' Ids).
func (r *Runner) ExecuteSplits(ctx context.Context, account, flowName, id string, splits []string) {
	only := make(map[string]bool, len(splits))
	for _, s := range splits {
		only[s] = true
	}
	r.execute(ctx, account, flowName, id, only)
}

func (r *Runner) execute(ctx context.Context, account, flowName, id string, only map[string]bool) {
	rec := context.WithoutCancel(ctx)
	start := time.Now()
	var m metrics.Run
	res, runErr := r.run(ctx, account, flowName, id, only, &m)
	status, err := r.finish(rec, account, flowName, id, res, runErr, ctx.Err() != nil)
	if err != nil {
		r.d.Logger.Error("write execution record", "flow", flowName, "execution", id, "err", err)
	}
	m.Status, m.Duration = string(status), time.Since(start)
	if res != nil {
		m.Records, m.BytesRead, m.BytesWritten = res.RecordsRead, res.BytesProcessed, res.BytesWritten
	}
	r.d.Metrics.RunFinished(m)
	r.d.Logger.Info("flow run finished", "flow", flowName, "execution", id, "status", status,
		"records", m.Records, "seconds", m.Duration.Seconds())
}

func (r *Runner) run(ctx context.Context, account, flowName, id string, only map[string]bool, m *metrics.Run) (*engine.Result, error) {
	fl, err := r.d.Store.FlowGet(ctx, account, flowName)
	if err != nil {
		return nil, fmt.Errorf("read flow %s: %w", flowName, err)
	}
	var f Flow
	if err := json.Unmarshal(fl.Doc, &f); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decode flow %s", flowName)
	}
	if f.SourceFlowConfig != nil {
		m.Source = string(f.SourceFlowConfig.ConnectorType)
	}
	if len(f.DestinationFlowConfigList) > 0 {
		m.Destination = string(f.DestinationFlowConfigList[0].ConnectorType)
	}
	deps := r.d.Connector
	deps.AccountID = account // the flow's account, not the process default: custom connectors are per account
	env := Env{Registry: r.d.Registry, Deps: deps, Profile: r.profileFunc(account)}
	p, err := Prepare(ctx, env, &f, id)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if start, end, ok, err := r.executionWindow(ctx, account, flowName, id); err != nil {
		return nil, err
	} else if ok {
		p.ApplyWindow(&f, start, end)
	}
	if only != nil {
		p.Run.Source = namedSplits{SourceDriver: p.Run.Source, only: only}
	}
	return engine.Execute(ctx, p.Run)
}

// namedSplits is a source restricted to some of its splits, by name.
type namedSplits struct {
	connector.SourceDriver
	only map[string]bool
}

func (n namedSplits) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	if ns, ok := n.SourceDriver.(connector.NamedSplitter); ok {
		// The names are the source's own (Salesforce record Ids): it
		// builds the splits that read them.
		return ns.NamedSplits(ctx, req, slices.Sorted(maps.Keys(n.only)))
	}
	all, err := n.SourceDriver.Splits(ctx, req)
	if err != nil {
		return nil, err
	}
	out := all[:0:0]
	for _, s := range all {
		if n.only[s.Name] {
			out = append(out, s)
		}
	}
	return out, nil
}

// Profile returns an account's connector profile as a driver opens it:
// credentials decrypted, renewed tokens stored back. Event sources that
// read a SaaS change feed (Salesforce change data capture) use it.
func (r *Runner) Profile(ctx context.Context, account, name string) (connector.Profile, error) {
	return r.profileFunc(account)(ctx, name)
}

func (r *Runner) profileFunc(account string) ProfileFunc {
	return func(ctx context.Context, name string) (connector.Profile, error) {
		p, err := r.d.Store.ProfileGet(ctx, account, name)
		if err != nil {
			if store.IsNotFound(err) {
				return connector.Profile{}, fault.New(fault.NotFound, "Connector Profile with name %s does not exist.", name)
			}
			return connector.Profile{}, err
		}
		var doc struct {
			ConnectorType              string                           `json:"connectorType"`
			ConnectorLabel             string                           `json:"connectorLabel"`
			ConnectorProfileProperties *wire.ConnectorProfileProperties `json:"connectorProfileProperties"`
			ConnectorProfileConfig     struct {
				ConnectorProfileProperties *wire.ConnectorProfileProperties `json:"connectorProfileProperties"`
			} `json:"connectorProfileConfig"`
		}
		if err := json.Unmarshal(p.Doc, &doc); err != nil {
			return connector.Profile{}, fault.Wrap(fault.Internal, err, "decode profile %s", name)
		}
		props := doc.ConnectorProfileProperties
		if props == nil {
			props = doc.ConnectorProfileConfig.ConnectorProfileProperties
		}
		var raw json.RawMessage
		if props != nil {
			if raw, err = member(props, p.ConnectorType); err != nil {
				return connector.Profile{}, err
			}
		}
		creds, err := r.d.Keyring.Open(p.Credentials)
		if err != nil {
			return connector.Profile{}, fault.Wrap(fault.Internal, err, "profile %s credentials", name)
		}
		// Credentials are stored as the whole credentials union; hand the
		// driver its own member.
		if len(creds) > 0 {
			var m map[string]json.RawMessage
			if json.Unmarshal(creds, &m) == nil {
				if c, ok := m[UnionKey(p.ConnectorType)]; ok {
					creds = c
				}
			}
		}
		save := func(ctx context.Context, c json.RawMessage) error { return r.saveCredentials(ctx, account, name, c) }
		return connector.Profile{Name: name, Properties: raw, Credentials: creds, Label: p.Label, SaveCredentials: save}, nil
	}
}

// saveCredentials stores credentials a driver renewed during a run (a
// refreshed OAuth token), sealed, in the profile.
func (r *Runner) saveCredentials(ctx context.Context, account, name string, creds json.RawMessage) error {
	p, err := r.d.Store.ProfileGet(ctx, account, name)
	if err != nil {
		return err
	}
	sealed, err := r.d.Keyring.Seal(creds)
	if err != nil {
		return err
	}
	p.Credentials, p.UpdatedAt = sealed, r.d.Now().UTC()
	return r.d.Store.ProfileUpdate(ctx, p)
}

// finish writes the final execution record.
func (r *Runner) finish(ctx context.Context, account, flowName, id string, res *engine.Result, runErr error, canceled bool) (wire.ExecutionStatus, error) {
	e, err := r.d.Store.ExecutionGet(ctx, account, flowName, id)
	if err != nil {
		return "", err
	}
	var rec wire.ExecutionRecord
	if err := json.Unmarshal(e.Doc, &rec); err != nil {
		return "", fault.Wrap(fault.Internal, err, "execution %s record", id)
	}
	now := r.d.Now().UTC()
	rec.LastUpdatedAt = &wire.Timestamp{Time: now}
	result := &wire.ExecutionResult{}
	if res != nil {
		// Records read from the source (data rows, not the CSV header),
		// whatever filters and DropRecord validations dropped (data-plane 7.1).
		result.RecordsProcessed = ptr(res.RecordsRead)
		result.BytesProcessed = ptr(res.BytesProcessed)
		result.BytesWritten = ptr(res.BytesWritten)
		if n := int64(len(res.Failures)); n > 0 {
			result.ErrorInfo = &wire.ErrorInfo{PutFailuresCount: ptr(n), ExecutionMessage: failuresMessage(res.Failures)}
		}
	} else {
		result.RecordsProcessed, result.BytesProcessed, result.BytesWritten = ptr(int64(0)), ptr(int64(0)), ptr(int64(0))
	}
	switch {
	case runErr == nil:
		rec.ExecutionStatus = wire.ExecutionStatusSuccessful
	case canceled || errors.Is(runErr, context.Canceled):
		rec.ExecutionStatus = wire.ExecutionStatusCanceled
		result.ErrorInfo = &wire.ErrorInfo{PutFailuresCount: ptr(int64(0)), ExecutionMessage: "Execution canceled by request."}
	default:
		rec.ExecutionStatus = wire.ExecutionStatusError
		result.ErrorInfo = &wire.ErrorInfo{PutFailuresCount: ptr(failureCount(res)), ExecutionMessage: engine.ExecutionMessage(runErr)}
	}
	rec.ExecutionResult = result
	doc, err := json.Marshal(&rec)
	if err != nil {
		return "", err
	}
	e.Status, e.Doc, e.UpdatedAt = string(rec.ExecutionStatus), doc, now
	if err := r.d.Store.ExecutionUpdate(ctx, e); err != nil {
		return rec.ExecutionStatus, err
	}
	r.report(ctx, account, flowName, &rec, res)
	return rec.ExecutionStatus, nil
}

// report sends the run's End Flow Run Report once its record is final
// (data-plane 7.3). Best effort: a failure is logged by the emitter and
// never changes the run.
func (r *Runner) report(ctx context.Context, account, flowName string, rec *wire.ExecutionRecord, res *engine.Result) {
	if r.d.Events == nil {
		return
	}
	fl, err := r.d.Store.FlowGet(ctx, account, flowName)
	if err != nil {
		r.d.Logger.Warn("run report not sent", "flow", flowName, "execution", rec.ExecutionId, "err", err)
		return
	}
	var f events.Flow
	if err := json.Unmarshal(fl.Doc, &f); err != nil {
		r.d.Logger.Warn("run report not sent", "flow", flowName, "execution", rec.ExecutionId, "err", err)
		return
	}
	var filtered int64
	if res != nil {
		filtered = res.RecordsFiltered
	}
	r.d.Events.RunReport(ctx, &f, rec, filtered)
}

func failureCount(res *engine.Result) int64 {
	if res == nil {
		return 0
	}
	return int64(len(res.Failures))
}

func failuresMessage(fs []connector.RecordFailure) string {
	f := fs[0]
	// executionMessage allows only [\s\w/!@#+=.-]: say it in words, not punctuation.
	msg := fmt.Sprintf("%d records were rejected by the destination - the first ", len(fs))
	if len(fs) == 1 {
		msg = "1 record was rejected by the destination - "
	}
	if f.Split != "" {
		msg += fmt.Sprintf("%s line %d - ", f.Split, f.Line)
	}
	return engine.Message(msg + f.Reason)
}

func ptr[T any](v T) *T { return &v }

// FailOrphans marks every InProgress or CancelStarted execution as Error:
// called at start-up by a process that alone owns its store, where such a
// run can only be one a crash cut short. It returns how many it marked.
func (r *Runner) FailOrphans(ctx context.Context) (int, error) {
	execs, err := r.d.Store.ExecutionListUnfinished(ctx)
	if err != nil {
		return 0, err
	}
	for _, e := range execs {
		_, err := r.finish(ctx, e.AccountID, e.FlowName, e.ExecutionID, nil,
			errors.New("appflowd stopped during this run (process restart); start the flow again"), false)
		if err != nil {
			return 0, err
		}
	}
	return len(execs), nil
}
