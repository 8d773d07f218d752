package e2e_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/examples/customconnector/exampleconn"
	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
)

// gatedSource is a source that blocks until the test says so: the example
// custom connector on the Lambda Invoke path, whose QueryData calls wait
// until the test releases them or appflowd gives up on the call.
type gatedSource struct {
	conn    *exampleconn.Server
	reading chan struct{} // one value per QueryData call that arrived
	release chan struct{} // closed by the test
}

func (g *gatedSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if bytes.Contains(body, []byte(`"QueryDataRequest"`)) {
		g.reading <- struct{}{}
		select {
		case <-g.release:
		case <-r.Context().Done():
			return
		}
	}
	g.conn.ServeHTTP(w, r)
}

// gatedEnv is an env whose flow "gated" reads the gated source and writes
// the destination bucket.
func gatedEnv(t *testing.T, backend string) (*env, *gatedSource) {
	t.Helper()
	g := &gatedSource{conn: exampleconn.New(), reading: make(chan struct{}, 16), release: make(chan struct{})}
	lambda := httptest.NewServer(g)
	t.Cleanup(lambda.Close)
	t.Cleanup(func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
	})
	e := newEnv(t, backend, func(c *app.Config) {
		c.Endpoints[connector.EndpointLambda] = lambda.URL + "/2015-03-31/functions/function/invocations"
	})
	ctx := e.ctx
	if _, err := e.client.RegisterConnector(ctx, &appflow.RegisterConnectorInput{
		ConnectorLabel: aws.String("gated"), ConnectorProvisioningType: types.ConnectorProvisioningTypeLambda,
		ConnectorProvisioningConfig: &types.ConnectorProvisioningConfig{Lambda: &types.LambdaConnectorProvisioningConfig{
			LambdaArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:gated")}},
	}); err != nil {
		t.Fatalf("RegisterConnector: %v", err)
	}
	if _, err := e.client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("gated"), ConnectorType: types.ConnectorTypeCustomconnector,
		ConnectorLabel: aws.String("gated"), ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{CustomConnector: &types.CustomConnectorProfileProperties{
				ProfileProperties: map[string]string{"region": "eu"}}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{CustomConnector: &types.CustomConnectorProfileCredentials{
				AuthenticationType: types.AuthenticationTypeBasic,
				Basic:              &types.BasicAuthCredentials{Username: aws.String("demo"), Password: aws.String("demo-password")}}},
		},
	}); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	noop := &types.ConnectorOperator{CustomConnector: types.OperatorNoOp}
	if _, err := e.client.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("gated"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeCustomconnector, ConnectorProfileName: aws.String("gated"),
			SourceConnectorProperties: &types.SourceConnectorProperties{CustomConnector: &types.CustomConnectorSourceProperties{EntityName: aws.String("accounts")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String(e.dst), BucketPrefix: aws.String("out"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeJson}}}}},
		Tasks: []types.Task{
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"id", "name"}, ConnectorOperator: &types.ConnectorOperator{CustomConnector: types.OperatorProjection}},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("id"), ConnectorOperator: noop},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"name"}, DestinationField: aws.String("name"), ConnectorOperator: noop},
		},
	}); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	return e, g
}

// nothingLeft checks that a run left no output and no staging.
func nothingLeft(t *testing.T, e *env) {
	t.Helper()
	if got := e.be.List(t, e.dst); len(got) != 0 {
		t.Errorf("the run left objects in the destination bucket: %v", keys(got))
	}
	staged := 0
	filepath.WalkDir(filepath.Join(e.dataDir, "s3-staging"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			staged++
		}
		return nil
	})
	if staged != 0 {
		t.Errorf("the run left %d staged files under %s", staged, filepath.Join(e.dataDir, "s3-staging"))
	}
}

// TestCancel cancels a run whose source is mid-read: the
// record goes CancelStarted, then Canceled, though the source never
// answers; nothing reaches the destination; a second cancel is refused.
func TestCancel(t *testing.T) {
	forEachBackendWith(t, gatedEnv, func(t *testing.T, e *env, g *gatedSource) {
		id := e.start("gated")
		<-g.reading // the run is reading its source now
		out, err := e.client.CancelFlowExecutions(e.ctx, &appflow.CancelFlowExecutionsInput{FlowName: aws.String("gated"), ExecutionIds: []string{id}})
		if err != nil {
			t.Fatalf("CancelFlowExecutions: %v", err)
		}
		if len(out.InvalidExecutions) != 0 {
			t.Fatalf("invalidExecutions %v for a run that is reading", out.InvalidExecutions)
		}
		if r := e.record("gated", id); r.ExecutionStatus != types.ExecutionStatusCancelstarted && r.ExecutionStatus != types.ExecutionStatusCanceled {
			t.Errorf("status right after CancelFlowExecutions: %s, want CancelStarted (or already Canceled)", r.ExecutionStatus)
		}
		r := e.wait("gated", id)
		if r.ExecutionStatus != types.ExecutionStatusCanceled || execMessage(r) != "Execution canceled by request." {
			t.Fatalf("after cancel: %s %q, want Canceled by request", r.ExecutionStatus, execMessage(r))
		}
		close(g.release)
		nothingLeft(t, e)
		out, err = e.client.CancelFlowExecutions(e.ctx, &appflow.CancelFlowExecutionsInput{FlowName: aws.String("gated"), ExecutionIds: []string{id}})
		if err != nil {
			t.Fatalf("CancelFlowExecutions again: %v", err)
		}
		if len(out.InvalidExecutions) != 1 || out.InvalidExecutions[0] != id {
			t.Errorf("second cancel: invalidExecutions %v, want [%s]", out.InvalidExecutions, id)
		}
	})
}

// TestReleasedRunSucceeds is the control of the gate: released, the same
// run ends Successful with the connector's rows in the destination.
func TestReleasedRunSucceeds(t *testing.T) {
	forEachBackendWith(t, gatedEnv, func(t *testing.T, e *env, g *gatedSource) {
		id := e.start("gated")
		<-g.reading
		close(g.release)
		r := e.wait("gated", id)
		if r.ExecutionStatus != types.ExecutionStatusSuccessful || aws.ToInt64(r.ExecutionResult.RecordsProcessed) != 5 {
			t.Fatalf("released run: %s, %d records (%q); want Successful, 5", r.ExecutionStatus,
				aws.ToInt64(r.ExecutionResult.RecordsProcessed), execMessage(r))
		}
		if got := e.be.List(t, e.dst); len(got) == 0 {
			t.Error("a Successful run left nothing in the destination")
		}
	})
}

// TestDeleteFlowDuringRun force-deletes a flow whose run is reading: the
// run is canceled, writes nothing, and /metrics counts it as Canceled.
func TestDeleteFlowDuringRun(t *testing.T) {
	forEachBackendWith(t, gatedEnv, func(t *testing.T, e *env, g *gatedSource) {
		e.start("gated")
		<-g.reading
		if _, err := e.client.DeleteFlow(e.ctx, &appflow.DeleteFlowInput{FlowName: aws.String("gated"), ForceDelete: true}); err != nil {
			t.Fatalf("DeleteFlow: %v", err)
		}
		want := `appflowd_flow_runs_total{destination="S3",source="CustomConnector",status="Canceled"} 1`
		deadline := time.Now().Add(60 * time.Second)
		for {
			m := scrape(t, e)
			if strings.Contains(m, want) {
				if strings.Contains(m, `status=""`) {
					t.Errorf("/metrics counts a run without a status:\n%s", m)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics never counted the deleted flow's run as Canceled; it says:\n%s", grepLines(m, "appflowd_flow_runs_total"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(g.release)
		nothingLeft(t, e)
	})
}

// forEachBackendWith is forEachBackend for envs that setup makes.
func forEachBackendWith[G any](t *testing.T, setup func(*testing.T, string) (*env, G), f func(*testing.T, *env, G)) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e, g := setup(t, b)
			f(t, e, g)
		})
	}
}

func scrape(t *testing.T, e *env) string {
	t.Helper()
	rec := httptest.NewRecorder()
	e.app.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
