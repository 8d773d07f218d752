package snowflakeconn

import (
	"context"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/snowflakeconn/sfktest"
)

// harness runs the shared destination suite against the fake SQL API.
type harness struct{ fx *fixture }

func (h *harness) DestinationDriver(_ context.Context, t *testing.T) connector.DestinationDriver {
	return h.fx.driver(t)
}

func (h *harness) NewRequest(_ context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	var cols []sfktest.Column
	if fields == nil {
		// The suite's typed batch: s, i, f, b, t, n.
		col := func(name, typ string) sfktest.Column { return sfktest.Column{Name: name, Type: typ, Nullable: true} }
		cols = []sfktest.Column{col("S", "VARCHAR(16777216)"), col("I", "NUMBER(38,0)"), col("F", "FLOAT"),
			col("B", "BOOLEAN"), col("T", "TIMESTAMP_TZ(9)"), col("N", "VARCHAR(16777216)")}
	} else {
		for _, f := range fields {
			cols = append(cols, sfktest.Column{Name: strings.ToUpper(f.Name), Type: "VARCHAR(16777216)", Nullable: true})
		}
	}
	obj := h.fx.newTable(cols...)
	return &connector.WriteRequest{FlowName: "f", ExecutionID: "x" + obj[len("DB.PUBLIC."):], Object: obj, Fields: fields, WriteOperation: "INSERT"}
}

func (h *harness) Visible(_ context.Context, _ *testing.T, req *connector.WriteRequest) map[string]int64 {
	if len(h.fx.fake.Rows(req.Object)) == 0 {
		return map[string]int64{}
	}
	return map[string]int64{req.Object: -1}
}

func (h *harness) ReadBack(_ context.Context, _ *testing.T, req *connector.WriteRequest) []connectortest.Row {
	var out []connectortest.Row
	for _, r := range lowerKeys(h.fx.fake.Rows(req.Object)) {
		out = append(out, r)
	}
	return out
}

func TestConformance(t *testing.T) {
	connectortest.RunDestination(t, &harness{fx: newFixture(t)})
}
