package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/engine"
	"github.com/appflowd/appflowd/internal/events"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/metrics"
	"github.com/appflowd/appflowd/internal/runstate"
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

// Runner runs executions in this process and writes their outcomes through
// the run-state machine. The job queue (internal/jobs) decides when a run
// starts, claims it, and asks the Runner to execute or to recover it.
type Runner struct {
	d    Deps
	runs *runstate.Machine
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
	return &Runner{d: d, runs: runstate.New(d.Store, d.Now)}
}

// Execute runs one execution and records its outcome; its record must
// exist. owner is the claim the caller holds on the run ("" for none): the
// outcome is written only while the claim is still the caller's. Store
// writes outlive ctx, so a run canceled by request (ctx ended with cause
// runstate.ErrCanceled) is recorded Canceled. A run whose ctx ended for
// another reason (shutdown, a lost claim, a timeout) is interrupted: its
// record is left to the caller and Execute returns "".
func (r *Runner) Execute(ctx context.Context, k runstate.Key, owner string) wire.ExecutionStatus {
	return r.execute(ctx, k, owner, nil)
}

// ExecuteSplits is Execute for a run that reads only the named splits of
// its source (for S3, object keys): an event-triggered run reads the
// objects that triggered it. A named split the source no longer lists is
// skipped. The connector.ReadRequest is unchanged: the source lists its
// splits as usual and the run keeps the named ones, unless the source is a
// connector.NamedSplitter, which builds the splits of the names itself
// (Salesforce: a query for the changed records' Ids).
func (r *Runner) ExecuteSplits(ctx context.Context, k runstate.Key, owner string, splits []string) wire.ExecutionStatus {
	only := make(map[string]bool, len(splits))
	for _, s := range splits {
		only[s] = true
	}
	return r.execute(ctx, k, owner, only)
}

func (r *Runner) execute(ctx context.Context, k runstate.Key, owner string, only map[string]bool) wire.ExecutionStatus {
	start := time.Now()
	var m metrics.Run
	var settle func(ctx context.Context, collect bool) // the destination's, once the record is final
	res, runErr := r.run(ctx, k, only, &m, &settle)
	var status wire.ExecutionStatus
	var msg string
	switch {
	case runErr == nil:
		status = runstate.Successful
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), runstate.ErrCanceled):
		status, msg = runstate.Canceled, "Execution canceled by request."
	case ctx.Err() != nil:
		r.d.Logger.Info("flow run interrupted", "flow", k.Flow, "execution", k.ID, "cause", context.Cause(ctx))
		return ""
	default:
		status, msg = runstate.Error, engine.ExecutionMessage(runErr)
	}
	rec := context.WithoutCancel(ctx)
	catalog := r.registerCatalog(rec, k, status, res) // catalog.go
	run, err := r.finish(rec, k, owner, status, msg, res, catalog)
	switch {
	case store.IsNotFound(err):
		r.d.Logger.Info("flow run finished after its flow was deleted; no record kept", "flow", k.Flow, "execution", k.ID, "status", status)
	case runstate.IsRefused(err):
		r.d.Logger.Warn("flow run outcome not recorded: the run is no longer this process's", "flow", k.Flow, "execution", k.ID, "status", status, "err", err)
		status = ""
	case err != nil:
		r.d.Logger.Error("write execution record", "flow", k.Flow, "execution", k.ID, "err", err)
	default:
		status = run.Status()
		r.report(rec, k.Account, k.Flow, run.Rec, res)
	}
	if settle != nil {
		settle(rec, status != "") // an interrupted run keeps its staging for whoever settles it
	}
	m.Status, m.Duration = string(status), time.Since(start)
	if res != nil {
		m.Records, m.BytesRead, m.BytesWritten = res.RecordsRead, res.BytesProcessed, res.BytesWritten
	}
	if status != "" {
		r.d.Metrics.RunFinished(m)
	}
	r.d.Logger.Info("flow run finished", "flow", k.Flow, "execution", k.ID, "status", status,
		"records", m.Records, "seconds", m.Duration.Seconds())
	return status
}

// run executes the flow; settle is set to what removes the run's publish
// intent and staging from its destination, which the caller does once the
// record is final (the intent must outlive a crash before that).
func (r *Runner) run(ctx context.Context, k runstate.Key, only map[string]bool, m *metrics.Run, settle *func(context.Context, bool)) (*engine.Result, error) {
	account, flowName, id := k.Account, k.Flow, k.ID
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
	if err := r.checkFlowKey(ctx, f.KmsArn, deps); err != nil {
		return nil, err
	}
	env := Env{Registry: r.d.Registry, Deps: deps, Profile: r.profileFunc(account)}
	p, err := Prepare(ctx, env, &f, id)
	if err != nil {
		return nil, err
	}
	if pr, ok := p.destination().PublishRecoverer(); ok {
		*settle = func(ctx context.Context, collect bool) {
			defer p.Close()
			if !collect {
				return
			}
			mine := func(id string) bool { return id != k.ID } // every other run counts as unfinished: kept
			if err := pr.CollectStaging(ctx, mine); err != nil {
				r.d.Logger.Warn("remove a finished run's staging; the periodic collection will", "flow", k.Flow, "execution", k.ID, "err", err)
			}
		}
	} else {
		defer p.Close()
	}
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

// checkFlowKey refuses to run a flow whose own kmsArn was disabled or
// scheduled for deletion since CreateFlow checked it: what the run stages
// would be encrypted under it, and AWS refuses such writes with a less
// telling error (moto does not refuse them at all).
func (r *Runner) checkFlowKey(ctx context.Context, kmsArn string, deps connector.Deps) error {
	key := flowKey(kmsArn, deps)
	if key == "" || r.d.Keyring == nil || !r.d.Keyring.HasKMS() {
		return nil
	}
	if err := r.d.Keyring.CheckKey(ctx, key); err != nil {
		return fault.Wrap(fault.AccessDenied, err, "The flow cannot use its kmsArn")
	}
	return nil
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
		creds, err := r.d.Keyring.OpenContext(ctx, p.Credentials)
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
	sealed, err := r.d.Keyring.Reseal(ctx, p.Credentials, creds) // under the profile's KMS key, if any
	if err != nil {
		return err
	}
	p.Credentials, p.UpdatedAt = sealed, r.d.Now().UTC()
	return r.d.Store.ProfileUpdate(ctx, p)
}

// finish writes a run's final record: status, message and the engine's
// counts, while the run is unfinished and (with an owner) still claimed.
func (r *Runner) finish(ctx context.Context, k runstate.Key, owner string, status wire.ExecutionStatus, msg string, res *engine.Result, catalog []wire.MetadataCatalogDetail) (*runstate.Run, error) {
	return r.runs.Apply(ctx, k, runstate.Change{To: status, Owner: owner, Edit: func(run *runstate.Run) error {
		run.Rec.ExecutionResult = result(res, status, msg)
		run.Rec.MetadataCatalogDetails = catalog
		return nil
	}})
}

// result is the executionResult of a finished run.
func result(res *engine.Result, status wire.ExecutionStatus, msg string) *wire.ExecutionResult {
	out := &wire.ExecutionResult{}
	if res != nil {
		// Records read from the source (data rows, not the CSV header),
		// whatever filters and DropRecord validations dropped (data-plane 7.1).
		out.RecordsProcessed = ptr(res.RecordsRead)
		out.BytesProcessed = ptr(res.BytesProcessed)
		out.BytesWritten = ptr(res.BytesWritten)
		if n := int64(len(res.Failures)); n > 0 {
			out.ErrorInfo = &wire.ErrorInfo{PutFailuresCount: ptr(n), ExecutionMessage: failuresMessage(res.Failures)}
		}
	} else {
		out.RecordsProcessed, out.BytesProcessed, out.BytesWritten = ptr(int64(0)), ptr(int64(0)), ptr(int64(0))
	}
	if status != runstate.Successful && msg != "" {
		out.ErrorInfo = &wire.ErrorInfo{PutFailuresCount: ptr(failureCount(res)), ExecutionMessage: msg}
	}
	return out
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
