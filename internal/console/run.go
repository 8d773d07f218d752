package console

import (
	"encoding/json"
	"net/http"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// maxRejected is how many rejected records a run page shows.
const maxRejected = 20

type runView struct {
	MaxRejected int
	Flow        string
	Run         runRow
	Result      *wire.ExecutionResult
	Rejected    []rejectedView // per destination with an error location
	Live        bool
	NotFound    bool
	OnDemand    bool
	FlowState   wire.FlowStatus
}

func (v runView) title() string { return "Run " + v.Run.ID + " of " + v.Flow }

type rejectedView struct {
	Connector string
	Location  string // s3://bucket/prefix/flow/execution/
	Records   []rejectedRow
	Error     string
}

type rejectedRow struct {
	File, Split string
	Line        int64
	Reason      string
	Record      []kv
}

func (c *Console) runPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	name, id := r.PathValue("name"), r.PathValue("id")
	f, err := c.d.Service.DescribeFlow(v.ctx, &wire.DescribeFlowRequest{FlowName: name})
	if err != nil {
		c.fail(w, r, v, "Flow "+name, err)
		return
	}
	runs, err := listRuns(v.ctx, c.d.Service, name, 10*maxListed)
	if err != nil {
		c.fail(w, r, v, "Flow "+name, err)
		return
	}
	var rec *wire.ExecutionRecord
	for i := range runs {
		if runs[i].ExecutionId == id {
			rec = &runs[i]
		}
	}
	if rec == nil {
		c.fail(w, r, v, "Run "+id, fault.New(fault.NotFound, "Flow %s has no run %s.", name, id))
		return
	}
	view := runView{MaxRejected: maxRejected, Flow: name, Run: newRunRow(*rec, c.d.Now()), Result: rec.ExecutionResult, FlowState: f.FlowStatus,
		OnDemand: f.TriggerConfig == nil || f.TriggerConfig.TriggerType == wire.TriggerTypeOnDemand}
	view.Live = view.Run.InProgress
	if !view.Live {
		for _, d := range f.DestinationFlowConfigList {
			if rv, ok := c.rejected(r, v, name, id, d); ok {
				view.Rejected = append(view.Rejected, rv)
			}
		}
	}
	c.render(w, r, v, http.StatusOK, "run", view)
}

// rejected reads the first records destination d rejected in the run, when
// d has an error location.
func (c *Console) rejected(r *http.Request, v *viewer, flow, id string, d wire.DestinationFlowConfig) (rejectedView, bool) {
	raw, err := wire.UnionMember(d.DestinationConnectorProperties, d.ConnectorType)
	if err != nil || raw == nil {
		return rejectedView{}, false
	}
	var props struct {
		ErrorHandlingConfig *wire.ErrorHandlingConfig `json:"errorHandlingConfig"`
	}
	if json.Unmarshal(raw, &props) != nil || props.ErrorHandlingConfig == nil || props.ErrorHandlingConfig.BucketName == "" {
		return rejectedView{}, false
	}
	eh := &connector.ErrorHandling{BucketName: props.ErrorHandlingConfig.BucketName, BucketPrefix: props.ErrorHandlingConfig.BucketPrefix}
	rv := rejectedView{Connector: string(d.ConnectorType),
		Location: "s3://" + eh.BucketName + "/" + rejects.JoinKey(eh.BucketPrefix, flow, id) + "/"}
	deps := c.d.Connector
	deps.AccountID = wire.CallerFrom(v.ctx).AccountID // the viewer's own buckets
	recs, err := rejects.Read(v.ctx, deps, eh, flow, id, maxRejected)
	if err != nil {
		rv.Error = fault.Message(err) // where the bucket failed is the person's to know
	}
	for _, x := range recs {
		rv.Records = append(rv.Records, rejectedRow{File: x.File, Split: x.Split, Line: x.Line, Reason: x.Reason, Record: sortedKV(x.Record)})
	}
	return rv, true
}
