package jobs

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	flowevents "github.com/appflowd/appflowd/internal/events"
	"github.com/appflowd/appflowd/internal/events/eventstest"
	"github.com/appflowd/appflowd/internal/wire"
)

// TestDeactivationEvent: when consecutive failures suspend a scheduled
// flow, "AppFlow Scheduled Flow Deactivated" reaches the default bus of
// moto's EventBridge, with the reason and time (data-plane 6.4, 7.3).
func TestDeactivationEvent(t *testing.T) {
	endpoint := eventstest.OwnMoto(t)
	q0 := eventstest.Subscribe(t, endpoint, "default",
		`{"source":["aws.appflow"],"detail-type":["AppFlow Scheduled Flow Deactivated"]}`)
	ctx := context.Background()
	em, err := flowevents.New(ctx, flowevents.Config{Endpoint: endpoint, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	if err != nil {
		t.Fatal(err)
	}
	st, dir := openSQLiteStore(t)
	c := &clock{t: t0}
	x := newExecutor(st, c)
	x.outcome = func(string, string) string { return statusError }
	q, err := OpenSQLite(ctx, filepath.Join(dir, "river.db"),
		Config{Store: st, Executor: x, Now: c.Now, PlanInterval: -1, Workers: 2, Events: em})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	run(t, q)
	name := eventstest.Name("sched-")
	createFlow(t, st, flowSpec{name: name, trigger: wire.TriggerTypeScheduled, expr: "rate(1minutes)", threshold: 1}, wire.FlowStatusActive)
	if err := q.Scheduler().FlowActivated(ctx, acct, name, t0); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(time.Minute))
	mustTick(t, q)
	waitFor(t, "run finished", finished(t, st, name, 1))
	evs := q0.Wait(t, 1, 20*time.Second)
	var got map[string]string
	for _, e := range evs {
		var d map[string]string
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatalf("detail %s: %v", e.Detail, err)
		}
		if d["flow-name"] == name {
			got = d
		}
	}
	if got == nil {
		t.Fatalf("no deactivation event for %s among %+v", name, evs)
	}
	want := map[string]string{
		// This package's test flows have no flowArn, createdBy or destination.
		"flow-name": name, "flow-arn": "", "created-by": "", "trigger-type": "SCHEDULED",
		"source": "S3", "source-object": "s3://in/data",
		"deactivation-reason": "The flow was deactivated after 1 consecutive failed scheduled runs. Last error - source unreachable",
		"deactivation-time":   flowevents.Time(t0.Add(time.Minute)),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("detail %s: got %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("detail has %d fields, want %d: %v", len(got), len(want), got)
	}
	f, _ := flowGet(t, st, name)
	if f.Status != string(wire.FlowStatusSuspended) || !strings.Contains(string(f.Doc), "Suspended") {
		t.Errorf("flow status: got %s, want Suspended", f.Status)
	}
}
