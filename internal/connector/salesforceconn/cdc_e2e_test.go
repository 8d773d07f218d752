package salesforceconn_test

// Event-triggered Salesforce flows end to end: the AppFlow SDK against the
// whole server, change data capture from the test org's Streaming API.

import (
	"context"
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
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
)

// eventFlow is sfSourceFlow triggered by Salesforce change events.
func eventFlow(name string) *appflow.CreateFlowInput {
	in := sfSourceFlow(name, "sf", "AUTOMATIC", accountTasks(), "lake")
	in.TriggerConfig = &types.TriggerConfig{TriggerType: types.TriggerTypeEvent}
	return in
}

func (e *e2e) executions(flow string) []types.ExecutionRecord {
	e.t.Helper()
	out, err := e.client.DescribeFlowExecutionRecords(e.ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.FlowExecutions
}

// waitRuns waits until flow has n runs, all finished.
func (e *e2e) waitRuns(flow string, n int) []types.ExecutionRecord {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs := e.executions(flow)
		if len(rs) > n {
			e.t.Fatalf("%s: %d runs, want %d", flow, len(rs), n)
		}
		done := len(rs) == n
		for _, r := range rs {
			done = done && r.ExecutionStatus != types.ExecutionStatusInprogress
		}
		if done {
			return rs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %d runs after 30 s, want %d finished", flow, len(rs), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestE2EEventFlowSalesforceToS3: an Event flow Salesforce -> S3 with the
// planner ticking every 100 ms; StartFlow runs nothing for the records
// already in the org; one inserted record runs the flow once, and its
// output holds that record only.
func TestE2EEventFlowSalesforceToS3(t *testing.T) {
	e := newE2E(t, func(c *app.Config) { c.PlanInterval = 100 * time.Millisecond })
	seedAccounts(e.org)
	e.mustProfile("sf", tokens())
	if _, err := e.client.CreateFlow(e.ctx, eventFlow("on-change")); err != nil {
		t.Fatal(err)
	}
	st, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String("on-change")})
	if err != nil {
		t.Fatal(err)
	}
	if st.FlowStatus != types.FlowStatusActive || aws.ToString(st.ExecutionId) != "" {
		t.Fatalf("StartFlow: %s, execution %q; want Active and no run", st.FlowStatus, aws.ToString(st.ExecutionId))
	}
	time.Sleep(600 * time.Millisecond)
	if rs := e.executions("on-change"); len(rs) != 0 {
		t.Fatalf("runs for records that existed at activation: %d", len(rs))
	}

	e.org.Insert("Account", map[string]any{"Name": "Wayne Enterprises", "Employees": float64(40), "Revenue": 5.5})
	rs := e.waitRuns("on-change", 1)
	mustSucceed(t, rs[0])
	if n := aws.ToInt64(rs[0].ExecutionResult.RecordsProcessed); n != 1 {
		t.Errorf("recordsProcessed %d, want 1", n)
	}
	out := e.oneOutput("lake", rs[0])
	if !strings.Contains(out, "Wayne Enterprises") || strings.Contains(out, "Stark") || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Errorf("output: %q, want the header and the inserted record", out)
	}
	time.Sleep(500 * time.Millisecond)
	if rs := e.executions("on-change"); len(rs) != 1 {
		t.Errorf("runs after the event's run: %d, want 1", len(rs))
	}
}

// TestE2EEventFlowExactlyOnceAcrossRestart plans by hand (Tick): created
// and updated records make one run with exactly those records; the same
// replay position read again, by the same process or after a restart on
// the same store, runs nothing twice.
func TestE2EEventFlowExactlyOnceAcrossRestart(t *testing.T) {
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_ID", sftest.ClientID)
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_SECRET", sftest.ClientSecret)
	ctx := context.Background()
	e := &e2e{t: t, ctx: ctx, dataDir: t.TempDir(), org: sftest.NewOrg(t)}
	if err := os.MkdirAll(filepath.Join(e.dataDir, "s3", "lake"), 0o755); err != nil {
		t.Fatal(err)
	}
	seedAccounts(e.org)
	start := func() (*app.App, func()) {
		a, err := app.New(ctx, app.Config{DataDir: e.dataDir, Region: "us-east-1", AccountID: "000000000000", PlanInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler)
		e.client = appflow.New(appflow.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), HTTPClient: srv.Client(), RetryMaxAttempts: 1})
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			srv.Close()
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := a.Shutdown(sctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			a.Close()
		}
		t.Cleanup(stop)
		return a, stop
	}
	tick := func(a *app.App, want int) {
		t.Helper()
		n, err := a.Queue.Scheduler().Tick(ctx)
		if err != nil || n != want {
			t.Fatalf("Tick: %d runs enqueued (%v), want %d", n, err, want)
		}
	}

	a, stop := start()
	e.mustProfile("sf", tokens())
	if _, err := e.client.CreateFlow(ctx, eventFlow("cdc")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("cdc")}); err != nil {
		t.Fatal(err)
	}
	tick(a, 0) // the seeded records' CREATE events predate activation

	e.org.Insert("Account", map[string]any{"Name": "Cyberdyne", "Employees": float64(20)},
		map[string]any{"Name": "Tyrell", "Employees": float64(30)})
	e.org.Update("Account", "001"+strings.Repeat("0", 14)+"G", map[string]any{"Name": "Stark Industries"})
	tick(a, 1)
	tick(a, 0)
	rs := e.waitRuns("cdc", 1)
	mustSucceed(t, rs[0])
	if n := aws.ToInt64(rs[0].ExecutionResult.RecordsProcessed); n != 3 {
		t.Errorf("recordsProcessed %d, want 3", n)
	}
	out := e.oneOutput("lake", rs[0])
	for _, want := range []string{"Cyberdyne", "Tyrell", "Stark Industries"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s: %q", want, out)
		}
	}
	if strings.Contains(out, "Hooli") || strings.Count(strings.TrimSpace(out), "\n") != 3 {
		t.Errorf("output: %q, want the three changed records only", out)
	}

	// Restart on the same store: the replay position is the flow's.
	stop()
	a, _ = start()
	tick(a, 0)
	if rs := e.executions("cdc"); len(rs) != 1 {
		t.Fatalf("runs after a restart: %d, want 1", len(rs))
	}
	e.org.Insert("Account", map[string]any{"Name": "Soylent", "Employees": float64(50)})
	tick(a, 1)
	rs = e.waitRuns("cdc", 2)
	for _, r := range rs {
		mustSucceed(t, r)
		if out := e.oneOutput("lake", r); strings.Contains(out, "Soylent") == strings.Contains(out, "Cyberdyne") {
			t.Errorf("run %s output %q: want either the first wave or Soylent alone", aws.ToString(r.ExecutionId), out)
		}
	}
}
