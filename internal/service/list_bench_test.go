package service

import (
	"context"
	"fmt"
	"testing"

	"github.com/appflowd/appflowd/internal/wire"
)

// BenchmarkListFlows lists a page of 20 tagged flows with runs, in process
// on SQLite: the cost of ListFlows without HTTP.
func BenchmarkListFlows(b *testing.B) {
	env := newFlowEnv(&testing.T{}, false)
	ctx := context.Background()
	for i := range 20 {
		in := flowS3(fmt.Sprintf("f%02d", i), wire.TriggerTypeOnDemand)
		in.Tags = map[string]string{"team": "data"}
		if _, err := env.svc.CreateFlow(ctx, in); err != nil {
			b.Fatal(err)
		}
		for range 3 {
			if _, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: in.FlowName}); err != nil {
				b.Fatal(err)
			}
		}
	}
	max := int32(100)
	for b.Loop() {
		out, err := env.svc.ListFlows(ctx, &wire.ListFlowsRequest{MaxResults: &max})
		if err != nil || len(out.Flows) != 20 || out.Flows[0].LastRunExecutionDetails == nil || out.Flows[0].Tags["team"] != "data" {
			b.Fatalf("ListFlows: %v, %d flows", err, len(out.Flows))
		}
	}
}
