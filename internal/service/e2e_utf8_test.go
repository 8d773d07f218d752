package service_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
)

// TestE2EInvalidUTF8FailsTheRun: a source object that is not UTF-8 fails
// the run with a message naming the object and the line, instead of a
// Successful run whose output silently holds U+FFFD.
func TestE2EInvalidUTF8FailsTheRun(t *testing.T) {
	srv := apptest.Start(t, app.Config{PlanInterval: -1}, "src-bucket", "dst-bucket")
	ctx := context.Background()
	obj := filepath.Join(srv.DataDir, "s3", "src-bucket", "flow", "latin1.csv")
	if err := os.MkdirAll(filepath.Dir(obj), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(obj, []byte("id,amount\n1,20\n2,caf\xe9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := flowE2ES3("latin1", types.TriggerTypeOndemand)
	in.Tasks = []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}}
	if _, err := srv.Client.CreateFlow(ctx, in); err != nil {
		t.Fatal(err)
	}
	st, err := srv.Client.StartFlow(ctx, &appflow.StartFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	rec := waitExecution(t, srv.Client, "latin1", aws.ToString(st.ExecutionId))
	msg := ""
	if rec.ExecutionResult != nil && rec.ExecutionResult.ErrorInfo != nil {
		msg = aws.ToString(rec.ExecutionResult.ErrorInfo.ExecutionMessage)
	}
	if rec.ExecutionStatus != types.ExecutionStatusError || !strings.Contains(msg, "flow/latin1.csv line 3") || !strings.Contains(msg, "not UTF-8") {
		t.Errorf("run: %s %q, want Error naming flow/latin1.csv line 3 and UTF-8", rec.ExecutionStatus, msg)
	}
}
