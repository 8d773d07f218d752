package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// maxRuns is how many runs a flow page lists and charts.
const maxRuns = 100

type flowView struct {
	Flow         *wire.DescribeFlowResponse
	Trigger      string
	Schedule     *wire.ScheduledTriggerProperties
	Source       endView
	Destinations []endView
	Tasks        []taskRow
	Incremental  string // the datetime field, "" for a complete pull
	LastWindow   string // the data pull window of the latest finished run
	Runs         []runRow
	Live         bool // a run is in progress: the page refreshes itself
	Chart        chart
	OnDemand     bool
	CanActivate  bool
	CanStop      bool
	Notice       string
	Error        string
}

func (v flowView) title() string { return "Flow " + v.Flow.FlowName }

// endView is a flow's source or destination.
type endView struct {
	Connector string
	Profile   string
	APIVer    string
	Props     []kv
}

type kv struct{ Key, Value string }

type taskRow struct {
	N           int
	Type        wire.TaskType
	Sources     string
	Destination string
	Operator    string
	Props       []kv
}

type runRow struct {
	ID           string
	Status       wire.ExecutionStatus
	Started      *wire.Timestamp
	Updated      *wire.Timestamp
	Duration     time.Duration // -1: not known
	Records      *int64
	BytesRead    *int64
	BytesWritten *int64
	Failures     *int64
	Message      string
	PullStart    *wire.Timestamp
	PullEnd      *wire.Timestamp
	InProgress   bool
}

func (c *Console) flowPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	view, err := c.flowView(v.ctx, r.PathValue("name"))
	if err != nil {
		c.fail(w, r, v, "Flow "+r.PathValue("name"), err)
		return
	}
	q := r.URL.Query()
	// Notices name only runs of this flow, so a link cannot put words here.
	known := func(id string) bool {
		return slices.ContainsFunc(view.Runs, func(r runRow) bool { return r.ID == id })
	}
	switch {
	case q.Get("started") != "" && known(q.Get("started")):
		view.Notice = "Run " + q.Get("started") + " started."
	case q.Get("done") == "activated":
		view.Notice = "Flow activated."
	case q.Get("done") == "deactivated":
		view.Notice = "Flow deactivated."
	case q.Get("done") == "canceled" && known(q.Get("run")):
		view.Notice = "Cancel requested for run " + q.Get("run") + "."
	case q.Get("done") == "saved":
		view.Notice = "Flow saved."
	}
	c.render(w, r, v, http.StatusOK, "flow", view)
}

func (c *Console) flowView(ctx context.Context, name string) (flowView, error) {
	f, err := c.d.Service.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: name})
	if err != nil {
		return flowView{}, err
	}
	runs, err := listRuns(ctx, c.d.Service, name, maxRuns)
	if err != nil {
		return flowView{}, err
	}
	view := flowView{Flow: f}
	trigger := wire.TriggerTypeOnDemand
	if f.TriggerConfig != nil && f.TriggerConfig.TriggerType != "" {
		trigger = f.TriggerConfig.TriggerType
		if p := f.TriggerConfig.TriggerProperties; p != nil {
			view.Schedule = p.Scheduled
		}
	}
	view.Trigger = triggerLabel(trigger, scheduleExpression(f.TriggerConfig))
	view.OnDemand = trigger == wire.TriggerTypeOnDemand
	view.CanStop = !view.OnDemand && f.FlowStatus == wire.FlowStatusActive
	view.CanActivate = !view.OnDemand && !view.CanStop && f.FlowStatus != wire.FlowStatusDeleted && f.FlowStatus != wire.FlowStatusDeprecated
	if s := f.SourceFlowConfig; s != nil {
		view.Source = endView{Connector: c.endName(ctx, s.ConnectorType, s.ConnectorProfileName), Profile: s.ConnectorProfileName, APIVer: s.ApiVersion,
			Props: unionProps(s.SourceConnectorProperties, s.ConnectorType)}
		if s.IncrementalPullConfig != nil {
			view.Incremental = s.IncrementalPullConfig.DatetimeTypeFieldName
		}
	}
	for _, d := range f.DestinationFlowConfigList {
		view.Destinations = append(view.Destinations, endView{Connector: c.endName(ctx, d.ConnectorType, d.ConnectorProfileName), Profile: d.ConnectorProfileName,
			APIVer: d.ApiVersion, Props: unionProps(d.DestinationConnectorProperties, d.ConnectorType)})
	}
	for i, t := range f.Tasks {
		view.Tasks = append(view.Tasks, taskRow{N: i + 1, Type: t.TaskType, Sources: strings.Join(t.SourceFields, ", "),
			Destination: t.DestinationField, Operator: operator(t.ConnectorOperator), Props: sortedKV(t.TaskProperties)})
	}
	for _, e := range runs {
		row := newRunRow(e, c.d.Now())
		view.Live = view.Live || row.InProgress
		view.Runs = append(view.Runs, row)
		if view.LastWindow == "" && !row.InProgress && (row.PullStart != nil || row.PullEnd != nil) {
			view.LastWindow = fmtTime(row.PullStart) + " to " + fmtTime(row.PullEnd)
		}
	}
	view.Chart = recordsChart(view.Runs)
	return view, nil
}

// endName names a flow's source or destination: its type, or for a custom
// connector its label, which its profile holds.
func (c *Console) endName(ctx context.Context, t wire.ConnectorType, profile string) string {
	if t != wire.ConnectorTypeCustomConnector || profile == "" {
		return string(t)
	}
	out, err := c.d.Service.DescribeConnectorProfiles(ctx, &wire.DescribeConnectorProfilesRequest{ConnectorProfileNames: []string{profile}})
	if err != nil || len(out.ConnectorProfileDetails) == 0 || out.ConnectorProfileDetails[0].ConnectorLabel == "" {
		return string(t)
	}
	return out.ConnectorProfileDetails[0].ConnectorLabel + " (custom connector)"
}

// listRuns returns up to limit of a flow's runs, the latest first.
func listRuns(ctx context.Context, svc wire.Service, flow string, limit int) ([]wire.ExecutionRecord, error) {
	var out []wire.ExecutionRecord
	in := &wire.DescribeFlowExecutionRecordsRequest{FlowName: flow}
	for len(out) < limit {
		page, err := svc.DescribeFlowExecutionRecords(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, page.FlowExecutions...)
		if page.NextToken == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	sort.SliceStable(out, func(i, j int) bool { return startedAt(out[i]).After(startedAt(out[j])) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func startedAt(e wire.ExecutionRecord) time.Time {
	if e.StartedAt == nil {
		return time.Time{}
	}
	return e.StartedAt.Time
}

func newRunRow(e wire.ExecutionRecord, now time.Time) runRow {
	row := runRow{ID: e.ExecutionId, Status: e.ExecutionStatus, Started: e.StartedAt, Updated: e.LastUpdatedAt,
		PullStart: e.DataPullStartTime, PullEnd: e.DataPullEndTime, Duration: -1,
		InProgress: e.ExecutionStatus == wire.ExecutionStatusInProgress || e.ExecutionStatus == wire.ExecutionStatusCancelStarted}
	if e.StartedAt != nil {
		end := now
		if !row.InProgress && e.LastUpdatedAt != nil {
			end = e.LastUpdatedAt.Time
		}
		row.Duration = end.Sub(e.StartedAt.Time)
	}
	if res := e.ExecutionResult; res != nil {
		row.Records, row.BytesRead, row.BytesWritten = res.RecordsProcessed, res.BytesProcessed, res.BytesWritten
		if res.ErrorInfo != nil {
			row.Message, row.Failures = res.ErrorInfo.ExecutionMessage, res.ErrorInfo.PutFailuresCount
		}
	}
	return row
}

// unionProps lists the properties of connector type t's member of a
// connector-keyed union, flattened to dotted keys.
func unionProps(union any, t wire.ConnectorType) []kv {
	if union == nil {
		return nil
	}
	raw, err := wire.UnionMember(union, t)
	if err != nil || raw == nil {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	var out []kv
	flatten("", v, &out)
	return out
}

func flatten(prefix string, v any, out *[]kv) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x[k], out)
		}
	case []any:
		parts := make([]string, 0, len(x))
		scalar := true
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				scalar = false
			}
			parts = append(parts, fmt.Sprint(e))
		}
		if scalar {
			*out = append(*out, kv{prefix, strings.Join(parts, ", ")})
			return
		}
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		*out = append(*out, kv{prefix, fmt.Sprint(x)})
	}
}

// operator is a task's connector operator, whichever connector it is keyed by.
func operator(op *wire.ConnectorOperator) string {
	if op == nil {
		return ""
	}
	m, err := wire.UnionMembers(op)
	if err != nil {
		return ""
	}
	var parts []string
	for _, raw := range m {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			parts = append(parts, s)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func sortedKV(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// chart is the records-per-run bar chart, oldest run on the left.
type chart struct {
	Bars   []bar
	Max    int64
	Width  int
	Height int
}

type bar struct {
	X, Y, W, H   int
	TextX, TextY int // where the count is written, above the bar
	Label        string
	Records      int64
	ID           string
}

const chartRuns = 30

func recordsChart(runs []runRow) chart {
	c := chart{Width: 600, Height: 160}
	var shown []runRow
	for _, r := range runs {
		if !r.InProgress {
			shown = append(shown, r)
		}
		if len(shown) == chartRuns {
			break
		}
	}
	slices.Reverse(shown)
	for _, r := range shown {
		if r.Records != nil && *r.Records > c.Max {
			c.Max = *r.Records
		}
	}
	if len(shown) == 0 {
		return c
	}
	const top, bottom = 14, 20 // room for the counts and the axis
	slot := c.Width / chartRuns
	plot := c.Height - top - bottom
	for i, r := range shown {
		var n int64
		if r.Records != nil {
			n = *r.Records
		}
		h := 0
		if c.Max > 0 {
			h = int(int64(plot) * n / c.Max)
		}
		if n > 0 && h < 1 {
			h = 1
		}
		c.Bars = append(c.Bars, bar{X: i*slot + 2, Y: top + plot - h, W: slot - 4, H: h, TextX: i*slot + slot/2, TextY: top + plot - h - 3, Records: n, ID: r.ID,
			Label: fmt.Sprintf("%s, %s: %d records", fmtTime(r.Started), r.Status, n)})
	}
	return c
}

// Actions. Each posts, then redirects to the flow page (post/redirect/get)
// or shows the flow page with the service's message.

func (c *Console) startFlow(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("name")
	out, err := c.d.Service.StartFlow(v.ctx, &wire.StartFlowRequest{FlowName: name, ClientToken: r.PostFormValue("token")})
	if err != nil {
		c.flowError(w, r, v, name, err)
		return
	}
	if out.ExecutionId != "" {
		c.redirectFlow(w, r, name, url.Values{"started": {out.ExecutionId}})
		return
	}
	c.redirectFlow(w, r, name, url.Values{"done": {"activated"}})
}

func (c *Console) stopFlow(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("name")
	if _, err := c.d.Service.StopFlow(v.ctx, &wire.StopFlowRequest{FlowName: name}); err != nil {
		c.flowError(w, r, v, name, err)
		return
	}
	c.redirectFlow(w, r, name, url.Values{"done": {"deactivated"}})
}

func (c *Console) cancelRun(w http.ResponseWriter, r *http.Request, v *viewer) {
	name, id := r.PathValue("name"), r.PostFormValue("execution_id")
	out, err := c.d.Service.CancelFlowExecutions(v.ctx, &wire.CancelFlowExecutionsRequest{FlowName: name, ExecutionIds: []string{id}})
	if err == nil && slices.Contains(out.InvalidExecutions, id) {
		err = fault.New(fault.Conflict, "Run %s cannot be canceled: it is not in progress.", id)
	}
	if err != nil {
		c.flowError(w, r, v, name, err)
		return
	}
	c.redirectFlow(w, r, name, url.Values{"done": {"canceled"}, "run": {id}})
}

type deleteView struct{ Name string }

func (v deleteView) title() string { return "Delete flow " + v.Name }

func (c *Console) deletePage(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("name")
	if _, err := c.d.Service.DescribeFlow(v.ctx, &wire.DescribeFlowRequest{FlowName: name}); err != nil {
		c.fail(w, r, v, "Flow "+name, err)
		return
	}
	c.render(w, r, v, http.StatusOK, "delete", deleteView{Name: name})
}

func (c *Console) deleteFlow(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("name")
	force := r.PostFormValue("force") == "on"
	if _, err := c.d.Service.DeleteFlow(v.ctx, &wire.DeleteFlowRequest{FlowName: name, ForceDelete: &force}); err != nil {
		c.flowError(w, r, v, name, err)
		return
	}
	http.Redirect(w, r, Prefix+"?deleted="+url.QueryEscape(name), http.StatusSeeOther)
}

func (c *Console) redirectFlow(w http.ResponseWriter, r *http.Request, name string, q url.Values) {
	http.Redirect(w, r, Prefix+"flows/"+url.PathEscape(name)+"?"+q.Encode(), http.StatusSeeOther)
}

// flowError shows the flow page with the message of a refused action, with
// the status the API gives that refusal.
func (c *Console) flowError(w http.ResponseWriter, r *http.Request, v *viewer, name string, err error) {
	view, verr := c.flowView(v.ctx, name)
	if verr != nil {
		c.fail(w, r, v, "Flow "+name, err)
		return
	}
	status, msg := c.refusal("Flow "+name, err)
	view.Error = msg
	c.render(w, r, v, status, "flow", view)
}
