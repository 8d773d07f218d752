package trendmicroconn_test

// End-to-end: the whole server (internal/app behind httptest) driven by
// the real AWS SDK AppFlow client, reading the documented-API stand-in
// (tmtest) into a local bucket, on demand and on an hourly schedule.

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
	"github.com/appflowd/appflowd/internal/connector/trendmicroconn/tmtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func op(o types.TrendmicroConnectorOperator) *types.ConnectorOperator {
	return &types.ConnectorOperator{Trendmicro: o}
}

func profile(name, key string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeTrendmicro, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties:  &types.ConnectorProfileProperties{Trendmicro: &types.TrendmicroConnectorProfileProperties{}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Trendmicro: &types.TrendmicroConnectorProfileCredentials{ApiSecretKey: aws.String(key)}},
		}}
}

func flow(name string, trigger *types.TriggerConfig, extra ...types.Task) *appflow.CreateFlowInput {
	tasks := apptest.Projected([]string{"ID", "hostName", "policyID"}, op(types.TrendmicroConnectorOperatorProjection), op(types.TrendmicroConnectorOperatorNoOp))
	return apptest.LakeFlow(name, trigger, &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeTrendmicro, ConnectorProfileName: aws.String("tm"),
		SourceConnectorProperties: &types.SourceConnectorProperties{Trendmicro: &types.TrendmicroSourceProperties{Object: aws.String("computers")}}}, append(tasks, extra...))
}

// ids reads the IDs a run wrote, sorted numerically.
func ids(t *testing.T, dir, flow, id string) []int {
	t.Helper()
	var out []int
	for _, line := range apptest.LakeLines(t, dir, flow, id) {
		var rec struct{ ID int }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, rec.ID)
	}
	sort.Ints(out)
	return out
}

func mustSucceed(t *testing.T, r types.ExecutionRecord) {
	t.Helper()
	if r.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run %s: %s (%s)", aws.ToString(r.ExecutionId), r.ExecutionStatus, apptest.Message(r))
	}
}

// seed stores n computers, every third on policy 3.
func seed(s *tmtest.Server, from, n int) {
	var objs []tmtest.Object
	for i := from; i < from+n; i++ {
		objs = append(objs, tmtest.Object{"ID": i, "hostName": fmt.Sprintf("host-%d", i), "policyID": 1 + 2*(i%3/2), "platform": "Ubuntu"})
	}
	s.Add("computers", objs...)
}

func want(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		if 1+2*(i%3/2) == 3 {
			out = append(out, i)
		}
	}
	return out
}

func start(t *testing.T, s *tmtest.Server, cfg app.Config) *apptest.Server {
	cfg.Endpoints = connector.Endpoints{connector.EndpointTrendMicro: s.URL()}
	srv := apptest.Start(t, cfg, "lake")
	var ae *types.ConnectorAuthenticationException
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("bad", "2:wrong")); !errors.As(err, &ae) || !strings.Contains(err.Error(), "Invalid API key") {
		t.Errorf("bad key: %v, want ConnectorAuthenticationException with the API's message", err)
	}
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("tm", tmtest.SecretKey)); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	return srv
}

func TestE2EOnDemand(t *testing.T) {
	ctx := context.Background()
	s := tmtest.New(t)
	seed(s, 1, 16000) // 5,333 on policy 3: two pages of 5000 (and four unfiltered)
	srv := start(t, s, app.Config{})
	c := srv.Client
	ents, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("tm")})
	if err != nil || len(ents.ConnectorEntityMap["Objects"]) != 10 {
		t.Fatalf("entities %+v, %v", ents, err)
	}
	eq := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"policyID"}, ConnectorOperator: op(types.TrendmicroConnectorOperatorEqualTo),
		TaskProperties: map[string]string{"DATA_TYPE": "integer", "VALUE": "3"}}
	if _, err := c.CreateFlow(ctx, flow("policy3", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, eq)); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	s.Throttle(1, "1")
	r := srv.RunFlow(t, "policy3", 60*time.Second)
	mustSucceed(t, r)
	if got, w := ids(t, srv.DataDir, "policy3", aws.ToString(r.ExecutionId)), want(1, 16001); fmt.Sprint(got) != fmt.Sprint(w) {
		t.Errorf("read %d computers, want %d (policy 3, each once)", len(got), len(w))
	}
	searches := s.Searches()
	if len(searches) != 3 || !strings.Contains(searches[2], `{"idTest":"greater-than","idValue":14999},{"fieldName":"policyID","numericTest":"equal","numericValue":3}`) {
		t.Errorf("searches %q: want the profile check, then two pages with the EQUAL_TO pushed down (the throttled call is not counted)", searches)
	}
	if _, err := c.CreateFlow(ctx, flow("all", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand})); err != nil {
		t.Fatal(err)
	}
	r = srv.RunFlow(t, "all", 60*time.Second)
	mustSucceed(t, r)
	if got := ids(t, srv.DataDir, "all", aws.ToString(r.ExecutionId)); len(got) != 16000 || got[0] != 1 || got[15999] != 16000 {
		t.Errorf("read %d computers, want 16000 over four pages", len(got))
	}
	bad := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"policyID"}, ConnectorOperator: &types.ConnectorOperator{Trendmicro: "GREATER_THAN"},
		TaskProperties: map[string]string{"DATA_TYPE": "integer", "VALUE": "3"}}
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, flow("gt", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, bad)); !errors.As(err, &ve) {
		t.Errorf("GREATER_THAN on Trend Micro: %v, want ValidationException", err)
	}
}

func TestE2EScheduled(t *testing.T) {
	ctx := context.Background()
	s := tmtest.New(t)
	seed(s, 1, 30)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: base}
	srv := start(t, s, app.Config{Now: clk.Now, PlanInterval: -1})
	c := srv.Client
	trigger := func(expr string) *types.TriggerConfig {
		return &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
			Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String(expr), DataPullMode: types.DataPullModeComplete, ScheduleOffset: aws.Int64(0)}}}
	}
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, flow("hourly", trigger("rate(5minutes)"))); !errors.As(err, &ve) {
		t.Errorf("a 5-minute Trend Micro schedule: %v, want ValidationException (AppFlow's floor is an hour)", err)
	}
	if _, err := c.CreateFlow(ctx, flow("hourly", trigger("rate(1hours)"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("hourly")}); err != nil {
		t.Fatal(err)
	}
	tick := func() {
		t.Helper()
		if _, err := srv.App.Queue.Scheduler().Tick(ctx); err != nil {
			t.Fatalf("Tick: %v", err)
		}
	}
	clk.Set(base.Add(time.Hour + time.Minute))
	tick()
	runs := apptest.Finished(t, c, "hourly", 1)
	mustSucceed(t, runs[0])
	if got := ids(t, srv.DataDir, "hourly", aws.ToString(runs[0].ExecutionId)); len(got) != 30 {
		t.Errorf("first run read %d computers, want 30", len(got))
	}
	seed(s, 31, 5)
	clk.Set(base.Add(2*time.Hour + time.Minute))
	tick()
	runs = apptest.Finished(t, c, "hourly", 2)
	mustSucceed(t, runs[1])
	if got := ids(t, srv.DataDir, "hourly", aws.ToString(runs[1].ExecutionId)); len(got) != 35 {
		t.Errorf("second run read %d computers, want all 35 (a complete pull)", len(got))
	}
}
