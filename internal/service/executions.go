package service

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// An execution's document (store.Execution.Doc) is the JSON of exactly the
// wire.ExecutionRecord that DescribeFlowExecutionRecords returns; the runner
// (internal/runner) reads and writes the same shape. The Status column is
// authoritative for executionStatus.

// execNoEngine is the executionMessage of a run started by a process without
// a flow engine: the run is recorded, and fails, rather than faking success.
const execNoEngine = "appflowd was started without a flow engine"

// execStart records a new InProgress run of an on-demand flow and hands it
// to the runner. The execution id is returned even when no runner exists;
// the record then says why the run failed.
func (s *Service) execStart(ctx context.Context, account, flowName string) (string, error) {
	k := runstate.Key{Account: account, Flow: flowName, ID: uuid.NewString()}
	if _, err := s.runs.Create(ctx, k, s.d.Now()); err != nil {
		if store.IsNotFound(err) || store.IsConflict(err) {
			// The flow was deleted between the read and this write.
			return "", flowNotFound(flowName)
		}
		return "", fault.Wrap(fault.Internal, err, "record execution of flow %s", flowName)
	}
	if s.d.Runner == nil {
		if err := s.execEnd(ctx, k, runstate.Error, execNoEngine); err != nil {
			return "", err
		}
		return k.ID, nil
	}
	// The run outlives the request; keep the caller's values, not its deadline.
	if err := s.d.Runner.Start(context.WithoutCancel(ctx), account, flowName, k.ID); err != nil {
		if ferr := s.execEnd(context.WithoutCancel(ctx), k, runstate.Error, "The flow run could not be started"); ferr != nil {
			s.d.Logger.Warn("mark an unstarted execution failed", "flow", flowName, "execution", k.ID, "err", ferr)
		}
		if fault.CodeOf(err) == fault.Unknown {
			return "", fault.Wrap(fault.Internal, err, "start flow %s", flowName)
		}
		return "", err
	}
	return k.ID, nil
}

// execEnd moves a run that no runner holds to a final status with message.
func (s *Service) execEnd(ctx context.Context, k runstate.Key, to wire.ExecutionStatus, message string) error {
	if _, err := s.runs.Finish(ctx, k, nil, to, message); err != nil {
		return fault.Wrap(fault.Internal, err, "update execution %s", k.ID)
	}
	return nil
}

// execRecord decodes a stored execution.
func execRecord(e *store.Execution) (*wire.ExecutionRecord, error) {
	var rec wire.ExecutionRecord
	if err := json.Unmarshal(e.Doc, &rec); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decode execution %s of flow %s", e.ExecutionID, e.FlowName)
	}
	if rec.ExecutionId == "" {
		rec.ExecutionId = e.ExecutionID
	}
	if e.Status != "" {
		rec.ExecutionStatus = wire.ExecutionStatus(e.Status)
	}
	return &rec, nil
}

// lastRun is what a flow shows of its newest run: lastRunExecutionDetails
// and the tables the run registered (metadataCatalogDetails, nil if none),
// as JSON. It is read from the run's document members, not the whole
// record decoded: ListFlows shows it for every flow of a page.
type lastRun struct {
	details, catalog []byte
}

func execLastRun(e *store.Execution) (lastRun, error) {
	bad := func(err error) (lastRun, error) {
		return lastRun{}, fault.Wrap(fault.Internal, err, "decode execution %s of flow %s", e.ExecutionID, e.FlowName)
	}
	var buf [16]member // on the stack: ListFlows reads a run per flow
	doc, err := objectMembers(e.Doc, buf[:0])
	if err != nil {
		return bad(err)
	}
	status := wire.ExecutionStatus(e.Status)
	if raw := lookup(doc, "executionStatus"); status == "" && raw != nil {
		if err := json.Unmarshal(raw, &status); err != nil {
			return bad(err)
		}
	}
	var msg string
	if raw := lookup(doc, "executionResult"); raw != nil && status != wire.ExecutionStatusSuccessful {
		var r struct {
			ErrorInfo *wire.ErrorInfo `json:"errorInfo"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return bad(err)
		}
		if r.ErrorInfo != nil {
			msg = r.ErrorInfo.ExecutionMessage
		}
	}
	var at []byte
	raw := lookup(doc, "lastUpdatedAt")
	if raw == nil {
		raw = lookup(doc, "startedAt")
	}
	if raw != nil && !canonicalTime(raw) {
		// Re-encoded: older documents may hold a time in another form.
		var t wire.Timestamp
		if err := t.UnmarshalJSON(raw); err != nil {
			return bad(err)
		}
		at, _ = t.MarshalJSON() // cannot fail
	} else {
		at = raw
	}
	var out lastRun
	msg = execMessage(status, msg)
	out.details = appendObject(make([]byte, 0, 160), []member{
		{"mostRecentExecutionMessage", nonEmpty(msg)},
		{"mostRecentExecutionStatus", nonEmpty(string(status))},
		{"mostRecentExecutionTime", at},
	})
	if raw := lookup(doc, "metadataCatalogDetails"); raw != nil && string(raw) != "[]" {
		out.catalog = raw
	}
	return out, nil
}

// canonicalTime reports whether raw is a time as wire.Timestamp writes
// it: epoch seconds with three decimals.
func canonicalTime(raw []byte) bool {
	raw = bytes.TrimPrefix(raw, []byte("-"))
	dot := bytes.IndexByte(raw, '.')
	if dot < 1 || len(raw)-dot != 4 {
		return false
	}
	for i, c := range raw {
		if i != dot && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// nonEmpty is s as a JSON string, nil (left out) when empty.
func nonEmpty(s string) []byte {
	if s == "" {
		return nil
	}
	return appendString(nil, s)
}

// execMessage is a flow's mostRecentExecutionMessage: the run's error
// message, or what AppFlow says for its status.
func execMessage(status wire.ExecutionStatus, msg string) string {
	switch status {
	case wire.ExecutionStatusSuccessful:
		msg = flowMsgSuccess
	case wire.ExecutionStatusInProgress:
		if msg == "" {
			msg = "Flow run in progress"
		}
	case wire.ExecutionStatusCancelStarted:
		if msg == "" {
			msg = "Cancellation of the flow run started"
		}
	case wire.ExecutionStatusCanceled:
		if msg == "" {
			msg = "Flow run canceled"
		}
	case wire.ExecutionStatusError:
		if msg == "" {
			msg = "Flow run failed"
		}
	}
	return msg
}

// execRunning lists the ids of the flow's runs in progress, newest first;
// withCancelling adds runs whose cancellation has started.
func (s *Service) execRunning(ctx context.Context, account, flowName string, withCancelling bool) ([]string, error) {
	var ids []string
	after := ""
	for {
		rows, next, err := s.d.Store.ExecutionList(ctx, &store.ExecutionListParams{
			AccountID: account, FlowName: flowName, Page: store.Page{After: after, Limit: 100}})
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "read executions of flow %s", flowName)
		}
		for _, e := range rows {
			st := wire.ExecutionStatus(e.Status)
			if st == wire.ExecutionStatusInProgress || (withCancelling && st == wire.ExecutionStatusCancelStarted) {
				ids = append(ids, e.ExecutionID)
			}
		}
		if next == "" {
			return ids, nil
		}
		after = next
	}
}

// DescribeFlowExecutionRecords lists a flow's runs, newest first.
func (s *Service) DescribeFlowExecutionRecords(ctx context.Context, in *wire.DescribeFlowExecutionRecordsRequest) (*wire.DescribeFlowExecutionRecordsResponse, error) {
	account := s.account(ctx)
	if _, _, err := s.flowGet(ctx, account, in.FlowName); err != nil {
		return nil, err
	}
	limit := flowPageSize
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	rows, next, err := s.d.Store.ExecutionList(ctx, &store.ExecutionListParams{
		AccountID: account, FlowName: in.FlowName, Page: store.Page{After: in.NextToken, Limit: limit}})
	if err != nil {
		if fault.Is(err, fault.Invalid) {
			return nil, fault.New(fault.Invalid, "Invalid nextToken.")
		}
		return nil, fault.Wrap(fault.Internal, err, "list executions of flow %s", in.FlowName)
	}
	out := &wire.DescribeFlowExecutionRecordsResponse{FlowExecutions: []wire.ExecutionRecord{}, NextToken: next}
	for _, e := range rows {
		rec, err := execRecord(e)
		if err != nil {
			return nil, err
		}
		out.FlowExecutions = append(out.FlowExecutions, *rec)
	}
	return out, nil
}

// CancelFlowExecutions asks the runner to stop runs in progress (spec §10):
// the given ids, or every run in progress when none are given. Ids that are
// unknown, of another flow, or not in progress come back as
// invalidExecutions. The runner moves the others to CancelStarted, then
// Canceled.
func (s *Service) CancelFlowExecutions(ctx context.Context, in *wire.CancelFlowExecutionsRequest) (*wire.CancelFlowExecutionsResponse, error) {
	account := s.account(ctx)
	if _, _, err := s.flowGet(ctx, account, in.FlowName); err != nil {
		return nil, err
	}
	var cancel, invalid []string
	if len(in.ExecutionIds) == 0 {
		ids, err := s.execRunning(ctx, account, in.FlowName, false)
		if err != nil {
			return nil, err
		}
		cancel = ids
	} else {
		seen := map[string]bool{}
		for _, id := range in.ExecutionIds {
			if seen[id] {
				continue
			}
			seen[id] = true
			e, err := s.d.Store.ExecutionGet(ctx, account, in.FlowName, id)
			switch {
			case store.IsNotFound(err):
				invalid = append(invalid, id)
			case err != nil:
				return nil, fault.Wrap(fault.Internal, err, "read execution %s of flow %s", id, in.FlowName)
			case wire.ExecutionStatus(e.Status) != wire.ExecutionStatusInProgress:
				invalid = append(invalid, id)
			default:
				cancel = append(cancel, id)
			}
		}
	}
	if len(cancel) > 0 {
		notRunning, err := s.execCancel(ctx, account, in.FlowName, cancel)
		if err != nil {
			return nil, err
		}
		invalid = append(invalid, notRunning...)
	}
	if invalid == nil {
		invalid = []string{} // "invalidExecutions": [], not absent
	}
	return &wire.CancelFlowExecutionsResponse{InvalidExecutions: invalid}, nil
}

// execCancel hands ids to the runner. Without a runner nothing can be
// executing them (a run left InProgress by a process that had an engine), so
// their records are closed as Canceled here.
func (s *Service) execCancel(ctx context.Context, account, flowName string, ids []string) ([]string, error) {
	if s.d.Runner != nil {
		notRunning, err := s.d.Runner.Cancel(ctx, account, flowName, ids)
		if err != nil {
			if fault.CodeOf(err) == fault.Unknown {
				return nil, fault.Wrap(fault.Internal, err, "cancel executions of flow %s", flowName)
			}
			return nil, err
		}
		return notRunning, nil
	}
	var notRunning []string
	for _, id := range ids {
		k := runstate.Key{Account: account, Flow: flowName, ID: id}
		_, err := s.runs.Finish(ctx, k, []wire.ExecutionStatus{runstate.InProgress}, runstate.Canceled,
			"Flow run canceled without a flow engine")
		switch {
		case store.IsNotFound(err), runstate.IsRefused(err):
			notRunning = append(notRunning, id)
		case err != nil:
			return nil, fault.Wrap(fault.Internal, err, "cancel execution %s of flow %s", id, flowName)
		}
	}
	return notRunning, nil
}
