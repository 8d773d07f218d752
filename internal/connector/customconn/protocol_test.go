package customconn

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/examples/customconnector/exampleconn"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

func TestFilterExpression(t *testing.T) {
	e := &entity{byName: map[string]FieldDefinition{
		"name":    {FieldName: "name", DataType: "String"},
		"amount":  {FieldName: "amount", DataType: "Double"},
		"active":  {FieldName: "active", DataType: "Boolean"},
		"updated": {FieldName: "updated", DataType: "DateTime"},
		"day":     {FieldName: "day", DataType: "Date", FilterOperators: []string{"BETWEEN"}},
		"code":    {FieldName: "code", DataType: "String", FilterOperators: []string{"EQUAL_TO"}},
		"bad key": {FieldName: "bad key", DataType: "String"},
	}}
	tests := []struct {
		name    string
		filters []connector.Filter
		window  *connector.Window
		want    string
	}{
		{"none", nil, nil, ""},
		{"number", []connector.Filter{{Field: "amount", Operator: "GREATER_THAN", Values: []string{"50"}}}, nil, "amount > 50"},
		{"values are ORed", []connector.Filter{{Field: "name", Operator: "EQUAL_TO", Values: []string{"a", "it's"}}}, nil, `(name = 'a' or name = 'it\'s')`},
		{"not equal ANDs", []connector.Filter{{Field: "name", Operator: "NOT_EQUAL_TO", Values: []string{"a", "b"}}}, nil, "(name != 'a' and name != 'b')"},
		{"contains", []connector.Filter{{Field: "name", Operator: "CONTAINS", Values: []string{`x\y`}}}, nil, `name contains 'x\\y'`},
		{"datetime millis", []connector.Filter{{Field: "updated", Operator: "BETWEEN", Values: []string{"1704067200000", "1704153600500"}}}, nil,
			"updated between 2024-01-01T00:00:00Z and 2024-01-02T00:00:00.500Z"},
		{"boolean", []connector.Filter{{Field: "active", Operator: "EQUAL_TO", Values: []string{"TRUE"}}}, nil, "active = true"},
		{"undeclared operator left to the engine", []connector.Filter{{Field: "code", Operator: "CONTAINS", Values: []string{"x"}}}, nil, ""},
		{"not a number left to the engine", []connector.Filter{{Field: "amount", Operator: "LESS_THAN", Values: []string{"abc"}}}, nil, ""},
		{"unknown field", []connector.Filter{{Field: "ghost", Operator: "EQUAL_TO", Values: []string{"x"}}}, nil, ""},
		{"name outside the grammar", []connector.Filter{{Field: "bad key", Operator: "EQUAL_TO", Values: []string{"x"}}}, nil, ""},
		{"filters AND with the window",
			[]connector.Filter{{Field: "amount", Operator: "LESS_THAN_OR_EQUAL_TO", Values: []string{"10.5"}}},
			&connector.Window{Field: "updated", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
			"amount <= 10.5 and updated >= 2024-01-01T00:00:00Z and updated < 2024-01-02T00:00:00Z"},
		{"window with BETWEEN only", nil,
			&connector.Window{Field: "day", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
			"day between 2024-01-01 and 2024-01-02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterExpression(e, tt.filters, tt.window); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestProtocolRequests checks the exact JSON each call sends.
func TestProtocolRequests(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	d := e.open(t)
	if err := d.CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	if _, err := d.ListEntities(ctx, ""); err != nil {
		t.Fatalf("ListEntities: %v", err)
	}
	req := &connector.ReadRequest{FlowName: "f1", ExecutionID: "e1", Fields: []string{"id", "amount"},
		Properties: json.RawMessage(`{"entityName":"accounts","customProperties":{"page":"big"}}`),
		Filters:    []connector.Filter{{Field: "amount", Operator: "GREATER_THAN", Values: []string{"50"}}},
		Window:     &connector.Window{Field: "updatedAt", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)},
	}
	splits, err := d.Splits(ctx, req)
	if err != nil {
		t.Fatalf("Splits: %v", err)
	}
	var rows int
	if err := d.ReadSplit(ctx, req, splits[0], func(b *record.Batch) error { rows += b.Len(); return nil }); err != nil {
		t.Fatalf("ReadSplit: %v", err)
	}
	if rows != 2 { // A1 and A2: amount > 50, updated in January
		t.Errorf("read %d rows, want 2", rows)
	}
	secret := d.creds.SecretArn
	ctxJSON := `{"connectorRuntimeSettings":{"region":"eu"},"credentials":{"secretArn":"` + secret + `","authenticationType":"BasicAuth"},"apiVersion":"v1","connectorProfileLabel":"example"}`
	want := []string{
		`{"type":"ValidateCredentialsRequest","credentials":{"secretArn":"` + secret + `","authenticationType":"BasicAuth"},"connectorRuntimeSettings":{"region":"eu"}}`,
		`{"type":"ValidateConnectorRuntimeSettingsRequest","scope":"CONNECTOR_PROFILE","connectorRuntimeSettings":{"region":"eu"},"authenticationType":"BasicAuth"}`,
		`{"type":"ListEntitiesRequest","connectorContext":` + ctxJSON + `,"maxResult":1000}`,
		`{"type":"DescribeEntityRequest","entityIdentifier":"accounts","connectorContext":` + ctxJSON + `}`,
	}
	got := e.conn.Requests()
	if len(got) != 5 {
		t.Fatalf("the connector received %d requests, want 5", len(got))
	}
	for i, w := range want {
		if string(got[i].Body) != w {
			t.Errorf("request %d:\n got %s\nwant %s", i, got[i].Body, w)
		}
	}
	var q map[string]json.RawMessage
	_ = json.Unmarshal(got[4].Body, &q)
	for k, w := range map[string]string{
		"type": `"QueryDataRequest"`, "entityIdentifier": `"accounts"`, "selectedFieldNames": `["id","amount"]`,
		"filterExpression": `"amount > 50 and updatedAt >= 2024-01-01T00:00:00Z and updatedAt < 2024-02-01T00:00:00Z"`, "maxResults": "1000",
	} {
		if string(q[k]) != w {
			t.Errorf("QueryDataRequest.%s = %s, want %s", k, q[k], w)
		}
	}
	var qc map[string]json.RawMessage
	_ = json.Unmarshal(q["connectorContext"], &qc)
	if string(qc["connectorRuntimeSettings"]) != `{"page":"big","region":"eu"}` || string(qc["flowName"]) != `"f1"` ||
		string(qc["executionId"]) != `"e1"` || !strings.Contains(string(qc["entityDefinition"]), `"entityIdentifier":"accounts"`) {
		t.Errorf("QueryDataRequest.connectorContext = %s", q["connectorContext"])
	}
}

func TestWritePartialFailures(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	d := e.open(t)
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{WriteOperation: "UPSERT", IDFields: []string{"id"},
		Properties: json.RawMessage(`{"entityName":"accounts"}`)})
	if err != nil {
		t.Fatal(err)
	}
	b := &record.Batch{Fields: []string{"id", "name", "amount"}, Split: "in.csv", FirstLine: 2, Final: true}
	b.AppendRow([]record.Value{record.Str("A1"), record.Str("Acme 2"), record.IntVal(5)})
	b.AppendRow([]record.Value{record.Str("A9"), record.Str("Neg"), record.IntVal(-1)})
	b.AppendRow([]record.Value{record.Str("A10"), record.Str("New"), record.FloatVal(1.5)})
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if res.RecordsWritten != 2 || len(res.Failures) != 1 {
		t.Fatalf("written %d, failures %v; want 2 and 1", res.RecordsWritten, res.Failures)
	}
	f := res.Failures[0]
	if f.Split != "in.csv" || f.Line != 3 || f.Reason != "amount must not be negative" || f.Record["id"] != "A9" {
		t.Errorf("failure = %+v", f)
	}
	last := e.conn.Requests()[len(e.conn.Requests())-1]
	var wr map[string]json.RawMessage
	_ = json.Unmarshal(last.Body, &wr)
	if string(wr["operation"]) != `"UPSERT"` || string(wr["idFieldNames"]) != `["id"]` ||
		string(wr["records"]) != `["{\"amount\":5,\"id\":\"A1\",\"name\":\"Acme 2\"}","{\"amount\":-1,\"id\":\"A9\",\"name\":\"Neg\"}","{\"amount\":1.5,\"id\":\"A10\",\"name\":\"New\"}"]` {
		t.Errorf("WriteDataRequest = %s", last.Body)
	}
}

func TestInvokeFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		code    fault.Code
		part    string
	}{
		{"function error keeps the connector's message", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = w.Write([]byte(`{"errorMessage":"Exception while processing the request","errorType":"RuntimeException"}`))
		}, fault.ConnectorServer, "Exception while processing the request"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, fault.ConnectorServer, "did not answer DescribeConnectorConfiguration within 50ms"},
		{"response over 6 MB", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"connectorName":"` + strings.Repeat("x", 6<<20) + `"}`))
		}, fault.ConnectorServer, "6 MB"},
		{"invalid JSON", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{`)) }, fault.ConnectorServer, "invalid JSON"},
		{"invalid credentials", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"isSuccess":false,"errorDetails":{"errorCode":"InvalidCredentials","errorMessage":"token expired"}}`))
		}, fault.AuthFailed, "token expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := newClient(connector.Deps{Endpoints: connector.Endpoints{connector.EndpointLambda: srv.URL}, HTTPClient: srv.Client()}, testArn)
			c.metadata = 5 * time.Second
			if tt.name == "timeout" {
				c.metadata = 50 * time.Millisecond
			}
			_, err := c.describeConfiguration(context.Background(), "x")
			if fault.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.part) {
				t.Errorf("got %v (%v), want %v containing %q", fault.CodeOf(err), err, tt.code, tt.part)
			}
		})
	}
	t.Run("request over 6 MB is not sent", func(t *testing.T) {
		called := false
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
		defer srv.Close()
		c := newClient(connector.Deps{Endpoints: connector.Endpoints{connector.EndpointLambda: srv.URL}, HTTPClient: srv.Client()}, testArn)
		err := c.call(context.Background(), time.Second, "WriteData", writeDataRequest{Records: []string{strings.Repeat("y", 6<<20)}}, &writeDataResponse{})
		if fault.CodeOf(err) != fault.Invalid || !strings.Contains(err.Error(), "6 MB") || called {
			t.Errorf("got %v (called %v), want Invalid mentioning 6 MB without a call", err, called)
		}
	})
	t.Run("caller cancel is not a connector failure", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // the server notices a gone client only after the body
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}))
		defer srv.Close()
		c := newClient(connector.Deps{Endpoints: connector.Endpoints{connector.EndpointLambda: srv.URL}, HTTPClient: srv.Client()}, testArn)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := c.describeConfiguration(ctx, "x")
		if fault.CodeOf(err) != fault.Canceled {
			t.Errorf("got %v (%v), want Canceled", fault.CodeOf(err), err)
		}
	})
}

func TestCheckProfileRefusal(t *testing.T) {
	e := newTestEnv(t)
	p := testProfile()
	p.Credentials = json.RawMessage(`{"authenticationType":"BASIC","basic":{"username":"demo","password":"nope"}}`)
	d, err := Open(context.Background(), e.deps(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.(*driver).Close()
	err = d.(*driver).CheckProfile(context.Background())
	if fault.CodeOf(err) != fault.AuthFailed || !strings.Contains(err.Error(), "username or password is wrong") {
		t.Errorf("got %v (%v), want AuthFailed with the connector's reason", fault.CodeOf(err), err)
	}
}

var _ = exampleconn.New
