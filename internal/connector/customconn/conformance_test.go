package customconn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/appflowd/appflowd/examples/customconnector/exampleconn"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/secretlend"
)

const testArn = "arn:aws:lambda:us-east-1:123456789012:function:example"

// testEnv runs the example connector behind the Lambda Invoke path and
// appflowd's secrets endpoint, as a deployment would.
type testEnv struct {
	conn    *exampleconn.Server
	lambda  *httptest.Server
	secrets *secretlend.Server
	seq     atomic.Int64
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{conn: exampleconn.New(), secrets: secretlend.NewServer("us-east-1", nil)}
	secretSrv := httptest.NewServer(e.secrets)
	t.Cleanup(secretSrv.Close)
	e.conn.SecretsEndpoint = secretSrv.URL
	e.lambda = httptest.NewServer(e.conn)
	t.Cleanup(e.lambda.Close)
	return e
}

func (e *testEnv) deps() connector.Deps {
	return connector.Deps{
		AccountID:  "123456789012",
		Region:     "us-east-1",
		Endpoints:  connector.Endpoints{connector.EndpointLambda: e.lambda.URL + "/2015-03-31/functions/function/invocations"},
		HTTPClient: e.lambda.Client(),
		Secrets:    e.secrets,
		CustomConnector: func(_ context.Context, account, label string) (*connector.CustomConnector, error) {
			return &connector.CustomConnector{Label: label, LambdaArn: testArn, APIVersions: []string{"v1"}}, nil
		},
	}
}

func testProfile() connector.Profile {
	return connector.Profile{
		Name:        "example-profile",
		Label:       "example",
		Properties:  json.RawMessage(`{"profileProperties":{"region":"eu"}}`),
		Credentials: json.RawMessage(`{"authenticationType":"BASIC","basic":{"username":"demo","password":"demo-password"}}`),
	}
}

func (e *testEnv) open(t *testing.T) *driver {
	t.Helper()
	d, err := Open(context.Background(), e.deps(), testProfile())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = d.(*driver).Close() })
	return d.(*driver)
}

func (e *testEnv) fresh(prefix string) string { return fmt.Sprintf("%s%d", prefix, e.seq.Add(1)) }

type harness struct{ e *testEnv }

func (h harness) SourceDriver(_ context.Context, t *testing.T) connector.SourceDriver {
	return h.e.open(t)
}

func (h harness) Seed(_ context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	name := h.e.fresh("seed")
	ent := &exampleconn.Entity{Name: name}
	for _, f := range tables[0].Fields {
		ent.Fields = append(ent.Fields, exampleconn.Field{Name: f, DataType: "String"})
	}
	for _, tb := range tables {
		for _, r := range tb.Rows {
			row := map[string]any{}
			for i, f := range tb.Fields {
				row[f] = r[i]
			}
			ent.Rows = append(ent.Rows, row)
		}
	}
	h.e.conn.Put(ent)
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "x", Properties: json.RawMessage(fmt.Sprintf(`{"entityName":%q}`, name))}
}

func (h harness) SeedMalformed(_ context.Context, t *testing.T) (*connector.ReadRequest, string) {
	name := h.e.fresh("broken")
	h.e.conn.Put(&exampleconn.Entity{Name: name, Fields: []exampleconn.Field{{Name: "id", DataType: "String"}}, Broken: true})
	return &connector.ReadRequest{Properties: json.RawMessage(fmt.Sprintf(`{"entityName":%q}`, name))}, name
}

func (h harness) DestinationDriver(_ context.Context, t *testing.T) connector.DestinationDriver {
	return h.e.open(t)
}

func (h harness) NewRequest(_ context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	name := h.e.fresh("dest")
	ent := &exampleconn.Entity{Name: name}
	for _, f := range fields {
		ent.Fields = append(ent.Fields, exampleconn.Field{Name: f.Name, DataType: "String"})
	}
	h.e.conn.Put(ent)
	return &connector.WriteRequest{FlowName: "f", ExecutionID: "x", Fields: fields, WriteOperation: "INSERT",
		Properties: json.RawMessage(fmt.Sprintf(`{"entityName":%q}`, name))}
}

func entityOf(req *connector.WriteRequest) string {
	var p flowProperties
	_ = json.Unmarshal(req.Properties, &p)
	return p.EntityName
}

func (h harness) Visible(_ context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64 {
	name := entityOf(req)
	if len(h.e.conn.Rows(name)) == 0 {
		return map[string]int64{}
	}
	return map[string]int64{name: -1}
}

func (h harness) ReadBack(_ context.Context, t *testing.T, req *connector.WriteRequest) []connectortest.Row {
	var out []connectortest.Row
	for _, r := range h.e.conn.Rows(entityOf(req)) {
		row := connectortest.Row{}
		for k, v := range r {
			if v != nil {
				row[k] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return out
}

func TestConformance(t *testing.T) {
	e := newTestEnv(t)
	t.Run("Source", func(t *testing.T) { connectortest.RunSource(t, harness{e}) })
	t.Run("Destination", func(t *testing.T) { connectortest.RunDestination(t, harness{e}) })
	if n := e.secrets.Len(); n != 0 {
		t.Errorf("%d secrets still lent after every driver closed", n)
	}
}
