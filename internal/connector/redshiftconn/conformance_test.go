package redshiftconn

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
)

// harness runs the shared destination suite against COPY FROM STDIN into
// the test PostgreSQL.
type harness struct {
	fx     *fixture
	conn   *pgx.Conn
	schema string
}

func (h *harness) DestinationDriver(_ context.Context, t *testing.T) connector.DestinationDriver {
	return h.fx.driver(t, "postgres")
}

func (h *harness) NewRequest(_ context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	name := randName("t_")
	ddl := "CREATE TABLE " + h.schema + "." + name + " ("
	if fields == nil {
		// The suite's typed batch: s, i, f, b, t, n.
		ddl += "s text, i bigint, f double precision, b boolean, t timestamptz, n text"
	} else {
		for i, f := range fields {
			if i > 0 {
				ddl += ", "
			}
			ddl += pgx.Identifier{f.Name}.Sanitize() + " text"
		}
	}
	mustExec(t, h.conn, ddl+")")
	return &connector.WriteRequest{FlowName: "f", ExecutionID: randName("x"), Object: h.schema + "." + name, Fields: fields, WriteOperation: "INSERT"}
}

func (h *harness) Visible(_ context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64 {
	var n int
	if err := h.conn.QueryRow(context.Background(), "SELECT count(*) FROM "+req.Object).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", req.Object, err)
	}
	if n == 0 {
		return map[string]int64{}
	}
	return map[string]int64{req.Object: -1}
}

func (h *harness) ReadBack(_ context.Context, t *testing.T, req *connector.WriteRequest) []connectortest.Row {
	rows, err := h.conn.Query(context.Background(), "SELECT * FROM "+req.Object)
	if err != nil {
		t.Fatalf("read %s: %v", req.Object, err)
	}
	defer rows.Close()
	var out []connectortest.Row
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		r := connectortest.Row{}
		for i, fd := range rows.FieldDescriptions() {
			var s string
			switch v := vals[i].(type) {
			case nil:
				continue
			case string:
				s = v
			case int64:
				s = strconv.FormatInt(v, 10)
			case float64:
				s = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				s = strconv.FormatBool(v)
			case time.Time:
				s = v.UTC().Format("2006-01-02T15:04:05.000Z07:00")
			default:
				t.Fatalf("column %s: unexpected %T", fd.Name, v)
			}
			if s != "" {
				r[fd.Name] = s
			}
		}
		out = append(out, r)
	}
	return out
}

func TestConformance(t *testing.T) {
	conn := adminConn(t)
	connectortest.RunDestination(t, &harness{fx: newFixture(t), conn: conn, schema: newSchema(t, conn)})
}
