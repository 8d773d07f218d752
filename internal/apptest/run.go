package apptest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
)

// RunFlow starts flow name through the SDK and returns its execution
// record once the run has ended, failing t if it has not within timeout.
func (s *Server) RunFlow(t testing.TB, name string, timeout time.Duration) types.ExecutionRecord {
	t.Helper()
	ctx := context.Background()
	out, err := s.Client.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String(name)})
	if err != nil {
		t.Fatalf("StartFlow %s: %v", name, err)
	}
	id := aws.ToString(out.ExecutionId)
	deadline := time.Now().Add(timeout)
	for {
		recs, err := s.Client.DescribeFlowExecutionRecords(ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeFlowExecutionRecords %s: %v", name, err)
		}
		for _, r := range recs.FlowExecutions {
			if aws.ToString(r.ExecutionId) == id && r.ExecutionStatus != types.ExecutionStatusInprogress {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow %s execution %s did not end within %s", name, id, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Message is a record's executionMessage, "" when it has none.
func Message(r types.ExecutionRecord) string {
	if r.ExecutionResult == nil || r.ExecutionResult.ErrorInfo == nil {
		return ""
	}
	return aws.ToString(r.ExecutionResult.ErrorInfo.ExecutionMessage)
}
