package eventbridgeconn_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/events/eventstest"
)

// TestFlowToEventBridge: an S3 -> EventBridge flow created and started
// through the AppFlow SDK client puts one event per row on moto's bus.
func TestFlowToEventBridge(t *testing.T) {
	endpoint := eventstest.Moto(t)
	name := eventstest.Name("e2e-")
	object := "aws.partner/appflow/salesforce.com/123456789012/" + name
	q := eventstest.Subscribe(t, endpoint, name, `{"source":["`+object+`"]}`)
	ctx := context.Background()
	dataDir := t.TempDir()
	a, err := app.New(ctx, app.Config{DataDir: dataDir, Region: "us-east-1", AccountID: "123456789012",
		Endpoints: connector.Endpoints{connector.EndpointEventBridge: endpoint}, PlanInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = a.Shutdown(sctx)
		a.Close()
	})
	client := appflow.New(appflow.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), HTTPClient: srv.Client(), RetryMaxAttempts: 1})
	dir := filepath.Join(dataDir, "s3", "raw", "in")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rows.csv"), []byte("id,name\n1,a\n2,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = client.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("to-bus"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("raw"), BucketPrefix: aws.String("in"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeEventbridge,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{EventBridge: &types.EventBridgeDestinationProperties{
				Object: aws.String(object)}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
	})
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	if _, err := client.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("to-bus")}); err != nil {
		t.Fatalf("StartFlow: %v", err)
	}
	evs := q.Wait(t, 2, 30*time.Second)
	got := map[string]string{}
	for _, e := range evs {
		if e.Source != object || e.DetailType != "to-bus" {
			t.Errorf("event source %q detail-type %q, want %q and the flow name (an S3 source has no object)", e.Source, e.DetailType, object)
		}
		var d map[string]string
		if err := json.Unmarshal(e.Detail, &d); err != nil || len(d) != 2 {
			t.Errorf("detail %s: %v, want id and name", e.Detail, err)
		}
		got[d["id"]] = d["name"]
	}
	if len(got) != 2 || got["1"] != "a" || got["2"] != "b" {
		t.Errorf("details: got id to name %v, want 1:a 2:b", got)
	}
	recs, err := client.DescribeFlowExecutionRecords(ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("to-bus")})
	if err != nil || len(recs.FlowExecutions) != 1 {
		t.Fatalf("records: %v, %v", recs, err)
	}
	for r := recs.FlowExecutions[0]; r.ExecutionStatus == types.ExecutionStatusInprogress; r = recs.FlowExecutions[0] {
		time.Sleep(50 * time.Millisecond)
		if recs, err = client.DescribeFlowExecutionRecords(ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("to-bus")}); err != nil {
			t.Fatal(err)
		}
	}
	if r := recs.FlowExecutions[0]; r.ExecutionStatus != types.ExecutionStatusSuccessful || aws.ToInt64(r.ExecutionResult.RecordsProcessed) != 2 {
		t.Errorf("record: %s, %d records; want Successful, 2", r.ExecutionStatus, aws.ToInt64(r.ExecutionResult.RecordsProcessed))
	}
}
