package eventbridgeconn

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/events/eventstest"
)

// harness reads back a destination's events from an eventstest.Server
// (moto delivers to a rule's queue far too slowly for the suite's 5,000
// records; TestMotoSmoke covers moto). Each request gets its own bus.
type harness struct {
	srv *eventstest.Server
}

func (h *harness) DestinationDriver(_ context.Context, t *testing.T) connector.DestinationDriver {
	return newDriver(t, h.srv.URL, "")
}

func (h *harness) NewRequest(_ context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	object := "aws.partner/appflow/salesforce.com/123456789012/" + eventstest.Name("conf-")
	props, _ := json.Marshal(map[string]string{"object": object})
	return &connector.WriteRequest{FlowName: "conformance", ExecutionID: eventstest.Name("exec-"), Object: object, Properties: props, Fields: fields}
}

// Visible names the bus once any event reached it; events have no size a
// reader could compare.
func (h *harness) Visible(_ context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64 {
	if len(h.srv.Events(req.Object)) == 0 {
		return nil
	}
	return map[string]int64{req.Object: -1}
}

func (h *harness) ReadBack(_ context.Context, t *testing.T, req *connector.WriteRequest) []connectortest.Row {
	var rows []connectortest.Row
	for _, e := range h.srv.Events(req.Object) {
		if e.Source != req.Object || e.DetailType != "conformance" {
			t.Errorf("event source %q detail-type %q, want %q and the flow name", e.Source, e.DetailType, req.Object)
		}
		rows = append(rows, detailRow(t, e.Detail))
	}
	return rows
}

func TestConformance(t *testing.T) {
	connectortest.RunDestination(t, &harness{srv: eventstest.NewServer(t)})
}
