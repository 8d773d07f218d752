package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/events"
	"github.com/appflowd/appflowd/internal/events/eventstest"
)

func TestMain(m *testing.M) {
	eventstest.SetAWSEnv()
	os.Exit(m.Run())
}

// TestRunReports runs flows through the AppFlow SDK client against app.New
// with --eventbridge-endpoint on moto, and reads each run's "AppFlow End
// Flow Run Report" from the default bus: every detail field, exactly.
func TestRunReports(t *testing.T) {
	endpoint := eventstest.OwnMoto(t)
	reports := eventstest.Subscribe(t, endpoint, "default",
		`{"source":["aws.appflow"],"detail-type":["AppFlow End Flow Run Report"]}`)
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
		if err := a.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		a.Close()
	})
	client := appflow.New(appflow.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:  srv.Client(), RetryMaxAttempts: 1,
	})
	for _, dir := range []string{"raw/in", "lake"} {
		if err := os.MkdirAll(filepath.Join(dataDir, "s3", filepath.FromSlash(dir)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	csv := "id,name\n1,a\n2,b\n3,c\n"
	if err := os.WriteFile(filepath.Join(dataDir, "s3", "raw", "in", "rows.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	create := func(name, bucket string) {
		t.Helper()
		_, err := client.CreateFlow(ctx, &appflow.CreateFlowInput{
			FlowName:      aws.String(name),
			TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
			SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
				SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
					BucketName: aws.String(bucket), BucketPrefix: aws.String("in"),
					S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
			DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
				DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
					BucketName: aws.String("lake"), BucketPrefix: aws.String("out"),
					S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeCsv}}}}},
			Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
				ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
		})
		if err != nil {
			t.Fatalf("CreateFlow %s: %v", name, err)
		}
	}
	// runOnce starts the flow and returns its finished record.
	runOnce := func(name string) types.ExecutionRecord {
		t.Helper()
		out, err := client.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String(name)})
		if err != nil {
			t.Fatalf("StartFlow %s: %v", name, err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			recs, err := client.DescribeFlowExecutionRecords(ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs.FlowExecutions {
				if aws.ToString(r.ExecutionId) == aws.ToString(out.ExecutionId) &&
					r.ExecutionStatus != types.ExecutionStatusInprogress {
					return r
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s did not finish", name)
		return types.ExecutionRecord{}
	}
	report := func(name string) (eventstest.Event, map[string]string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, e := range reports.Events(t) {
				var d map[string]string
				if err := json.Unmarshal(e.Detail, &d); err != nil {
					t.Fatalf("detail is not all strings: %s: %v", e.Detail, err)
				}
				if d["flow-name"] == name {
					return e, d
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no End Flow Run Report for %s", name)
		return eventstest.Event{}, nil
	}
	check := func(name string, want map[string]string) {
		t.Helper()
		fl, err := client.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		e, got := report(name)
		if e.Source != "aws.appflow" || len(e.Resources) != 1 || e.Resources[0] != events.FlowID(aws.ToString(fl.FlowArn)) {
			t.Errorf("%s report: source %q resources %v, want aws.appflow and [%s]", name, e.Source, e.Resources, events.FlowID(aws.ToString(fl.FlowArn)))
		}
		want["flow-name"], want["flow-arn"], want["created-by"] = name, aws.ToString(fl.FlowArn), aws.ToString(fl.CreatedBy)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s report %s: got %q, want %q", name, k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s report has %s = %q, not expected", name, k, got[k])
			}
		}
	}
	itoa := func(p *int64) string { return strconv.FormatInt(aws.ToInt64(p), 10) }
	common := func(r types.ExecutionRecord, bucket string) map[string]string {
		return map[string]string{
			"source": "S3", "destination": "S3", "source-object": "s3://" + bucket + "/in", "destination-object": "s3://lake/out",
			"trigger-type": "ONDEMAND", "execution-id": aws.ToString(r.ExecutionId),
			"num-of-records-processed":   itoa(r.ExecutionResult.RecordsProcessed),
			"num-of-records-filtered":    "0",
			"num-of-documents-processed": "0",
			"data-processed":             itoa(r.ExecutionResult.BytesProcessed),
			"start-time":                 events.Time(aws.ToTime(r.StartedAt)),
			"end-time":                   events.Time(aws.ToTime(r.LastUpdatedAt)),
		}
	}

	t.Run("Successful", func(t *testing.T) {
		create("report-ok", "raw")
		r := runOnce("report-ok")
		if r.ExecutionStatus != types.ExecutionStatusSuccessful {
			t.Fatalf("run: got %s, want Successful", r.ExecutionStatus)
		}
		want := common(r, "raw")
		want["num-of-record-failures"], want["status"] = "0", "Execution Successful"
		if want["num-of-records-processed"] != "3" || want["data-processed"] != fmt.Sprint(len(csv)) {
			t.Errorf("record: %s records, %s bytes; want 3 and %d", want["num-of-records-processed"], want["data-processed"], len(csv))
		}
		check("report-ok", want)
	})
	t.Run("Failed", func(t *testing.T) {
		create("report-fail", "missing")
		r := runOnce("report-fail")
		if r.ExecutionStatus != types.ExecutionStatusError || r.ExecutionResult.ErrorInfo == nil {
			t.Fatalf("run: got %s, want Error with errorInfo", r.ExecutionStatus)
		}
		want := common(r, "missing")
		want["num-of-record-failures"] = itoa(r.ExecutionResult.ErrorInfo.PutFailuresCount)
		want["status"], want["error"] = "Execution Failed", aws.ToString(r.ExecutionResult.ErrorInfo.ExecutionMessage)
		check("report-fail", want)
	})
}

// TestNoEndpointNoEmitter: without an endpoint nothing is built, and the
// nil Emitter's methods do nothing.
func TestNoEndpointNoEmitter(t *testing.T) {
	e, err := events.New(context.Background(), events.Config{})
	if err != nil || e != nil {
		t.Fatalf("New without endpoint: got %v, %v; want nil, nil", e, err)
	}
	e.RunReport(context.Background(), &events.Flow{}, nil, 0)
	e.FlowDeactivated(context.Background(), &events.Flow{}, "why", time.Now())
}
