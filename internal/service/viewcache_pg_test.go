package service

import (
	"context"
	"fmt"
	"testing"

	"github.com/appflowd/appflowd/internal/pgtest"
	"github.com/appflowd/appflowd/internal/store/pgstore"
	"github.com/appflowd/appflowd/internal/wire"
)

// TestViewCacheAcrossReplicas: two services on one PostgreSQL database, as
// two replicas, each with its own view cache. Every change written through
// one is in the other's next DescribeFlow and ListFlows, whose bodies are
// those of a service started afresh (no cache) on the same database.
func TestViewCacheAcrossReplicas(t *testing.T) {
	dsn := pgtest.Schema(t, "viewcache")
	ctx := context.Background()
	clock := NewFlowTestClock()
	open := func() *Service {
		st, err := pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return New(Deps{Store: st, Registry: FlowTestRegistry(), Now: clock.Now, DefaultAccountID: flowTestAccount, Region: "us-east-1",
			Runner: &FlowTestRunner{Store: st, Now: clock.Now, Finish: wire.ExecutionStatusSuccessful}})
	}
	writer, reader := open(), open()
	for _, name := range []string{"a", "b"} {
		in := flowS3(name, wire.TriggerTypeOnDemand)
		in.Tags = map[string]string{"team": "data"}
		if _, err := writer.CreateFlow(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	reads := []wire.Input{&wire.ListFlowsRequest{}, &wire.DescribeFlowRequest{FlowName: "a"}, &wire.DescribeFlowRequest{FlowName: "b"}}
	check := func(step string) {
		t.Helper()
		fresh := open()
		for _, in := range reads {
			want, _, wantErr := fresh.RespondJSON(ctx, in)
			for range 2 { // the second read is the cache's when nothing changed
				got, _, err := reader.RespondJSON(ctx, in)
				if string(got) != string(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Fatalf("%s: %T on the other replica:\n got %s, %v\nwant %s, %v", step, in, got, err, want, wantErr)
				}
			}
		}
	}
	check("created")
	arn := "arn:aws:appflow:us-east-1:" + flowTestAccount + ":flow/"
	steps := []struct {
		step string
		do   func() error
	}{
		{"tagged", func() error {
			_, err := writer.TagResource(ctx, &wire.TagResourceRequest{ResourceArn: arn + "a", Tags: map[string]string{"new": "tag"}})
			return err
		}},
		{"a run", func() error {
			clock.Now()
			_, err := writer.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "b"})
			return err
		}},
		{"updated", func() error {
			in := flowS3("a", wire.TriggerTypeOnDemand)
			_, err := writer.UpdateFlow(ctx, &wire.UpdateFlowRequest{FlowName: "a", Description: "changed",
				TriggerConfig: in.TriggerConfig, SourceFlowConfig: in.SourceFlowConfig, DestinationFlowConfigList: in.DestinationFlowConfigList, Tasks: in.Tasks})
			return err
		}},
		{"deleted", func() error {
			_, err := writer.DeleteFlow(ctx, &wire.DeleteFlowRequest{FlowName: "b", ForceDelete: flowPtr(true)})
			return err
		}},
		{"created again", func() error {
			clock.Now()
			in := flowS3("b", wire.TriggerTypeOnDemand)
			in.Description = "second"
			_, err := writer.CreateFlow(ctx, in)
			return err
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.step, err)
		}
		check(s.step)
	}
}
