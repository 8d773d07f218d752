package app_test

import (
	"context"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
)

// TestEventFlowS3 goes through the AppFlow SDK client against the real
// server on local buckets: an Event flow S3 -> S3 is activated by
// StartFlow; the object already under its prefix does not run it; a file
// dropped into the bucket folder does, once, and only its rows are written.
// The planner ticks every 100 ms (Config.PlanInterval).
func TestEventFlowS3(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	a, err := app.New(ctx, app.Config{DataDir: dataDir, Region: "us-east-1", AccountID: "123456789012",
		PlanInterval: 100 * time.Millisecond})
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
	bucket := func(name string) string { return filepath.Join(dataDir, "s3", name) }
	put := func(key, body string) { // atomically, as an S3 PUT is
		t.Helper()
		p := filepath.Join(bucket("raw"), filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dataDir, "put.tmp") // outside the bucket
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(bucket("lake"), 0o755); err != nil {
		t.Fatal(err)
	}
	put("incoming/old.csv", "id,name\nold-1,before activation\n")

	_, err = client.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("on-arrival"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeEvent},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("raw"), BucketPrefix: aws.String("incoming"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("lake"), BucketPrefix: aws.String("out"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeCsv}}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}, TaskProperties: map[string]string{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := client.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("on-arrival")})
	if err != nil {
		t.Fatal(err)
	}
	if st.FlowStatus != types.FlowStatusActive || aws.ToString(st.ExecutionId) != "" {
		t.Fatalf("StartFlow of an Event flow: status %s, execution %q; want Active and no run", st.FlowStatus, aws.ToString(st.ExecutionId))
	}
	records := func() []types.ExecutionRecord {
		t.Helper()
		out, err := client.DescribeFlowExecutionRecords(ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("on-arrival")})
		if err != nil {
			t.Fatal(err)
		}
		return out.FlowExecutions
	}
	// Several planner ticks: the object present at activation runs nothing.
	time.Sleep(time.Second)
	if r := records(); len(r) != 0 {
		t.Fatalf("runs for an object present at activation: %d", len(r))
	}

	put("incoming/2024/new.csv", "id,name\nnew-1,first\nnew-2,second\n")
	deadline := time.Now().Add(30 * time.Second)
	var rec types.ExecutionRecord
	for {
		r := records()
		if len(r) > 1 {
			t.Fatalf("runs after one new object: got %d, want 1", len(r))
		}
		if len(r) == 1 && r[0].ExecutionStatus != types.ExecutionStatusInprogress {
			rec = r[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished run 30 s after a new object (records: %d)", len(r))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		msg := ""
		if rec.ExecutionResult != nil && rec.ExecutionResult.ErrorInfo != nil {
			msg = aws.ToString(rec.ExecutionResult.ErrorInfo.ExecutionMessage)
		}
		t.Fatalf("event run: status %s (%s), want Successful", rec.ExecutionStatus, msg)
	}
	if n := aws.ToInt64(rec.ExecutionResult.RecordsProcessed); n != 2 {
		t.Errorf("event run: recordsProcessed %d, want 2 (new.csv only)", n)
	}
	if rec.DataPullStartTime != nil {
		t.Errorf("event run has an incremental window: %v", rec.DataPullStartTime)
	}
	var output strings.Builder
	err = filepath.WalkDir(bucket("lake"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.Contains(filepath.ToSlash(p), "/out/on-arrival/") || !strings.Contains(p, aws.ToString(rec.ExecutionId)) {
			t.Errorf("output object outside the run's folder: %s", p)
		}
		b, err := os.ReadFile(p)
		output.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := output.String(); !strings.Contains(got, "new-1") || !strings.Contains(got, "new-2") || strings.Contains(got, "old-1") {
		t.Errorf("output: got %q, want new.csv's rows only", got)
	}

	// No second run for the same object.
	time.Sleep(500 * time.Millisecond)
	if r := records(); len(r) != 1 {
		t.Errorf("runs after the run: got %d, want 1", len(r))
	}
	if _, err := client.StopFlow(ctx, &appflow.StopFlowInput{FlowName: aws.String("on-arrival")}); err != nil {
		t.Fatal(err)
	}
	put("incoming/late.csv", "id,name\nlate-1,after stop\n")
	time.Sleep(500 * time.Millisecond)
	if r := records(); len(r) != 1 {
		t.Errorf("runs after StopFlow: got %d, want 1", len(r))
	}
}
