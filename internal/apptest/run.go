package apptest

import (
	"context"
	"sort"
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

// Finished waits until flow has n execution records, none in progress, and
// returns them oldest window first (by dataPullEndTime, then by start: runs
// without a window keep their start order). It fails t after 60 s.
func Finished(t testing.TB, c *appflow.Client, flow string, n int) []types.ExecutionRecord {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, err := c.DescribeFlowExecutionRecords(context.Background(), &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, r := range out.FlowExecutions {
			if r.ExecutionStatus != types.ExecutionStatusInprogress {
				done++
			}
		}
		if done == n && len(out.FlowExecutions) == n {
			recs := out.FlowExecutions
			sort.SliceStable(recs, func(i, j int) bool {
				ei, ej := aws.ToTime(recs[i].DataPullEndTime), aws.ToTime(recs[j].DataPullEndTime)
				if !ei.Equal(ej) {
					return ei.Before(ej)
				}
				return aws.ToTime(recs[i].StartedAt).Before(aws.ToTime(recs[j].StartedAt))
			})
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d runs finished in 60 s (%d records)", flow, done, n, len(out.FlowExecutions))
		}
	}
}

// Tick runs the scheduler's planning once, as the leader's periodic job
// would, and fails t if it errs or plans more than one run.
func (s *Server) Tick(t testing.TB) {
	t.Helper()
	if n, err := s.App.Queue.Scheduler().Tick(context.Background()); n > 1 || err != nil {
		t.Fatalf("Tick: %d runs, %v", n, err)
	}
}
