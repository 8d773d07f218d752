package console

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/appflowd/appflowd/internal/wire"
)

// flowNameRE is the model's pattern of a flow name.
var flowNameRE = regexp.MustCompile(`^[a-zA-Z0-9][\w!@#.-]{0,255}$`)

// maxListed bounds what one page lists; the API pages, the console reads on.
const maxListed = 1000

type flowsView struct {
	Flows      []flowRow
	Total      int // before filtering
	Status     string
	Connector  string
	Name       string
	Statuses   []string
	Connectors []string
	Notice     string
}

func (flowsView) title() string { return "Flows" }

type flowRow struct {
	Name, Description   string
	Status              wire.FlowStatus
	Trigger             string
	Source, Destination string
	LastStatus          wire.ExecutionStatus
	LastTime            *wire.Timestamp
	LastMessage         string
}

func (c *Console) flowsPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	flows, err := listFlows(v.ctx, c.d.Service)
	if err != nil {
		c.fail(w, r, v, "Flows", err)
		return
	}
	q := r.URL.Query()
	view := flowsView{Total: len(flows), Status: q.Get("status"), Connector: q.Get("connector"), Name: strings.TrimSpace(q.Get("name"))}
	for _, s := range wire.FlowStatus("").Values() {
		if s != wire.FlowStatusDeleted {
			view.Statuses = append(view.Statuses, string(s))
		}
	}
	if d := q.Get("deleted"); flowNameRE.MatchString(d) && !slices.ContainsFunc(flows, func(f wire.FlowDefinition) bool { return f.FlowName == d }) {
		view.Notice = "Flow " + d + " was deleted."
	}
	for _, f := range flows {
		src, dst := connectorName(f.SourceConnectorType, f.SourceConnectorLabel), connectorName(f.DestinationConnectorType, f.DestinationConnectorLabel)
		for _, n := range []string{src, dst} {
			if !slices.Contains(view.Connectors, n) {
				view.Connectors = append(view.Connectors, n)
			}
		}
		if view.Status != "" && string(f.FlowStatus) != view.Status ||
			view.Connector != "" && src != view.Connector && dst != view.Connector ||
			view.Name != "" && !strings.Contains(strings.ToLower(f.FlowName), strings.ToLower(view.Name)) {
			continue
		}
		row := flowRow{Name: f.FlowName, Description: f.Description, Status: f.FlowStatus, Source: src, Destination: dst,
			Trigger: triggerLabel(f.TriggerType, "")}
		if f.TriggerType == wire.TriggerTypeScheduled {
			// The list does not carry the schedule; the flow does.
			if d, err := c.d.Service.DescribeFlow(v.ctx, &wire.DescribeFlowRequest{FlowName: f.FlowName}); err == nil {
				row.Trigger = triggerLabel(f.TriggerType, scheduleExpression(d.TriggerConfig))
			}
		}
		if l := f.LastRunExecutionDetails; l != nil {
			row.LastStatus, row.LastTime, row.LastMessage = l.MostRecentExecutionStatus, l.MostRecentExecutionTime, l.MostRecentExecutionMessage
		}
		view.Flows = append(view.Flows, row)
	}
	slices.Sort(view.Connectors)
	c.render(w, r, v, http.StatusOK, "flows", view)
}

func listFlows(ctx context.Context, svc wire.Service) ([]wire.FlowDefinition, error) {
	var out []wire.FlowDefinition
	in := &wire.ListFlowsRequest{}
	for len(out) < maxListed {
		page, err := svc.ListFlows(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Flows...)
		if page.NextToken == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	slices.SortFunc(out, func(a, b wire.FlowDefinition) int { return strings.Compare(a.FlowName, b.FlowName) })
	return out, nil
}

// connectorName is how a flow's end is named: its type, or a custom
// connector's label.
func connectorName(t wire.ConnectorType, label string) string {
	if t == wire.ConnectorTypeCustomConnector && label != "" {
		return label
	}
	return string(t)
}

func triggerLabel(t wire.TriggerType, expr string) string {
	switch t {
	case wire.TriggerTypeScheduled:
		if expr != "" {
			return "Schedule " + expr
		}
		return "Schedule"
	case wire.TriggerTypeEvent:
		return "Event"
	}
	return "On demand"
}

func scheduleExpression(tc *wire.TriggerConfig) string {
	if tc == nil || tc.TriggerProperties == nil || tc.TriggerProperties.Scheduled == nil {
		return ""
	}
	return tc.TriggerProperties.Scheduled.ScheduleExpression
}
