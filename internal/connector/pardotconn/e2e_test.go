package pardotconn_test

// End-to-end: the whole server (internal/app behind httptest) driven by
// the real AWS SDK AppFlow client, reading the documented-API stand-in
// (pdtest, also Salesforce's token endpoint) into a local bucket, on
// demand and on a schedule.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector"
	_ "github.com/appflowd/appflowd/internal/connector/pardotconn"
	"github.com/appflowd/appflowd/internal/connector/pardotconn/pdtest"
)

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func profile(name, url, access, refresh string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypePardot, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Pardot: &types.PardotConnectorProfileProperties{
				BusinessUnitId: aws.String(pdtest.BusinessUnit), InstanceUrl: aws.String(url)}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Pardot: &types.PardotConnectorProfileCredentials{
				AccessToken: aws.String(access), RefreshToken: aws.String(refresh)}},
		}}
}

func op(o types.PardotConnectorOperator) *types.ConnectorOperator {
	return &types.ConnectorOperator{Pardot: o}
}

func flow(name string, trigger *types.TriggerConfig, extra ...types.Task) *appflow.CreateFlowInput {
	tasks := apptest.Projected([]string{"id", "email", "updatedAt"}, op(types.PardotConnectorOperatorProjection), op(types.PardotConnectorOperatorNoOp))
	return apptest.LakeFlow(name, trigger, &types.SourceFlowConfig{ConnectorType: types.ConnectorTypePardot, ConnectorProfileName: aws.String("pd"),
		SourceConnectorProperties: &types.SourceConnectorProperties{Pardot: &types.PardotSourceProperties{Object: aws.String("prospects")}}}, append(tasks, extra...))
}

// ids reads the ids a run wrote, sorted.
func ids(t *testing.T, dir, flow, id string) []int {
	t.Helper()
	var out []int
	for _, line := range apptest.LakeLines(t, dir, flow, id) {
		var rec struct {
			ID    int    `json:"id"`
			Email string `json:"email"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if rec.Email != fmt.Sprintf("p%d@x", rec.ID) {
			t.Errorf("record %s", line)
		}
		out = append(out, rec.ID)
	}
	sort.Ints(out)
	return out
}

func seed(s *pdtest.Server, from, to int, at func(i int) time.Time) {
	for i := from; i < to; i++ {
		s.Add("prospects", pdtest.Record{"id": i, "email": fmt.Sprintf("p%d@x", i), "updatedAt": at(i).Format(time.RFC3339)})
	}
}

func mustSucceed(t *testing.T, r types.ExecutionRecord) {
	t.Helper()
	if r.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run %s: %s (%s)", aws.ToString(r.ExecutionId), r.ExecutionStatus, apptest.Message(r))
	}
}

func start(t *testing.T, s *pdtest.Server, cfg app.Config) *apptest.Server {
	t.Setenv("APPFLOWD_PARDOT_CLIENT_ID", pdtest.ClientID)
	t.Setenv("APPFLOWD_PARDOT_CLIENT_SECRET", pdtest.ClientSecret)
	cfg.Endpoints = connector.Endpoints{connector.EndpointSalesforceLogin: s.URL()}
	srv := apptest.Start(t, cfg, "lake")
	var ae *types.ConnectorAuthenticationException
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("bad", s.URL(), "stale", "not-R1")); !errors.As(err, &ae) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("bad refresh token: %v, want ConnectorAuthenticationException with Salesforce's reason", err)
	}
	// The profile's access token has expired: the check refreshes it.
	s.Expire()
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("pd", s.URL(), "A0", pdtest.RefreshToken)); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	return srv
}

func TestE2EOnDemand(t *testing.T) {
	ctx := context.Background()
	s := pdtest.New(t)
	seed(s, 1, 2501, func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }) // three pages of 1000
	srv := start(t, s, app.Config{})
	c := srv.Client

	ents, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("pd")})
	if err != nil || len(ents.ConnectorEntityMap["Objects"]) < 10 {
		t.Fatalf("entities %v, %v", ents, err)
	}
	desc, err := c.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorProfileName: aws.String("pd"), ConnectorEntityName: aws.String("prospects")})
	if err != nil || len(desc.ConnectorEntityFields) < 20 {
		t.Fatalf("describe %v, %v", desc, err)
	}

	if _, err := c.CreateFlow(ctx, flow("all", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand})); err != nil {
		t.Fatal(err)
	}
	s.Expire() // the run's token has expired too
	s.Busy(1)  // and a sixth concurrent call is refused once
	r := srv.RunFlow(t, "all", 60*time.Second)
	mustSucceed(t, r)
	got := ids(t, srv.DataDir, "all", aws.ToString(r.ExecutionId))
	if len(got) != 2500 || got[0] != 1 || got[2499] != 2500 {
		t.Errorf("read %d records (%v...), want 1..2500 once each", len(got), got[:min(3, len(got))])
	}
	pages := 0
	for _, q := range s.Requests() {
		if strings.Contains(q, "/prospects?fields=id%2Cemail") {
			pages++
		}
	}
	// Three pages, plus the 401 and the code 66 retried.
	if pages != 5 {
		t.Errorf("%d prospect calls, want 5: %q", pages, s.Requests())
	}

	eq := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"email"}, ConnectorOperator: op(types.PardotConnectorOperatorEqualTo),
		TaskProperties: map[string]string{"DATA_TYPE": "string", "VALUE": "p7@x"}}
	if _, err := c.CreateFlow(ctx, flow("one", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, eq)); err != nil {
		t.Fatal(err)
	}
	r = srv.RunFlow(t, "one", 60*time.Second)
	mustSucceed(t, r)
	if got := ids(t, srv.DataDir, "one", aws.ToString(r.ExecutionId)); len(got) != 1 || got[0] != 7 {
		t.Errorf("EQUAL_TO read %v", got)
	}

	// The model lists no BETWEEN for Pardot.
	bt := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"id"}, ConnectorOperator: &types.ConnectorOperator{Pardot: "BETWEEN"},
		TaskProperties: map[string]string{"DATA_TYPE": "integer", "LOWER_BOUND": "1", "UPPER_BOUND": "2"}}
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, flow("between", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, bt)); !errors.As(err, &ve) {
		t.Errorf("BETWEEN on Pardot: %v, want ValidationException", err)
	}

	// The daily allowance spent: the run fails saying so.
	s.Daily()
	r = srv.RunFlow(t, "all", 60*time.Second)
	if r.ExecutionStatus != types.ExecutionStatusError || !strings.Contains(apptest.Message(r), "122") {
		t.Errorf("run with code 122: %s (%s)", r.ExecutionStatus, apptest.Message(r))
	}
}

func TestE2EScheduled(t *testing.T) {
	ctx := context.Background()
	s := pdtest.New(t)
	seed(s, 1, 5, func(i int) time.Time { return base.Add(time.Duration(i) * 20 * time.Minute) }) // 00:20 .. 01:20
	clk := &clock{t: base.Add(time.Hour)}
	srv := start(t, s, app.Config{Now: clk.Now, PlanInterval: -1})
	c := srv.Client
	in := flow("sched", &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
		Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String("rate(1hours)"), DataPullMode: types.DataPullModeIncremental,
			FirstExecutionFrom: aws.Time(base), ScheduleOffset: aws.Int64(0)}}})
	in.SourceFlowConfig.IncrementalPullConfig = &types.IncrementalPullConfig{DatetimeTypeFieldName: aws.String("updatedAt")}
	if _, err := c.CreateFlow(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("sched")}); err != nil {
		t.Fatal(err)
	}
	srv.Tick(t)
	runs := apptest.Finished(t, c, "sched", 1)
	mustSucceed(t, runs[0])
	if got := ids(t, srv.DataDir, "sched", aws.ToString(runs[0].ExecutionId)); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("first window read %v", got)
	}
	clk.Set(base.Add(2 * time.Hour))
	srv.Tick(t)
	runs = apptest.Finished(t, c, "sched", 2)
	mustSucceed(t, runs[1])
	if got := ids(t, srv.DataDir, "sched", aws.ToString(runs[1].ExecutionId)); fmt.Sprint(got) != "[3 4]" {
		t.Errorf("second window read %v, want 3 (on the boundary) and 4", got)
	}
	var windows []string
	for _, q := range s.Requests() {
		if strings.Contains(q, "AfterOrEqualTo") {
			windows = append(windows, q)
		}
	}
	if len(windows) != 2 {
		t.Errorf("windowed requests %q", windows)
	}
}
