package infornexusconn_test

// End-to-end: the whole server (internal/app behind httptest) driven by
// the real AWS SDK AppFlow client, reading the documented-API stand-in
// (inxtest, which checks every HMAC signature) into a local bucket, on
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
	"github.com/appflowd/appflowd/internal/connector/infornexusconn"
	"github.com/appflowd/appflowd/internal/connector/infornexusconn/inxtest"
)

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func profile(name, url, secret string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeInfornexus, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{InforNexus: &types.InforNexusConnectorProfileProperties{InstanceUrl: aws.String(url)}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{InforNexus: &types.InforNexusConnectorProfileCredentials{
				AccessKeyId: aws.String(inxtest.AccessKey), UserId: aws.String(inxtest.User), SecretAccessKey: aws.String(secret), Datakey: aws.String(inxtest.DataKey)}},
		}}
}

func op(o types.InforNexusConnectorOperator) *types.ConnectorOperator {
	return &types.ConnectorOperator{InforNexus: o}
}

func flow(name string, trigger *types.TriggerConfig, extra ...types.Task) *appflow.CreateFlowInput {
	tasks := apptest.Projected([]string{infornexusconn.MetaUID, "poNumber", infornexusconn.MetaModified}, op(types.InforNexusConnectorOperatorProjection), op(types.InforNexusConnectorOperatorNoOp))
	return apptest.LakeFlow(name, trigger, &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeInfornexus, ConnectorProfileName: aws.String("inx"),
		SourceConnectorProperties: &types.SourceConnectorProperties{InforNexus: &types.InforNexusSourceProperties{Object: aws.String("OrderDetail")}}}, append(tasks, extra...))
}

// ids reads the ids a run wrote, sorted.
func ids(t *testing.T, dir, flow, id string) []int {
	t.Helper()
	var out []int
	for _, line := range apptest.LakeLines(t, dir, flow, id) {
		var rec struct {
			ID   int    `json:"__metadata_uid,string"`
			Name string `json:"poNumber"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if rec.Name != fmt.Sprintf("P%d", rec.ID) {
			t.Errorf("record %s", line)
		}
		out = append(out, rec.ID)
	}
	sort.Ints(out)
	return out
}

func seed(s *inxtest.Server, from, to int, at func(i int) time.Time) {
	for i := from; i < to; i++ {
		s.Add("OrderDetail", inxtest.Record{"uid": fmt.Sprintf("%05d", i), "poNumber": fmt.Sprintf("P%d", i),
			"modifyTimestamp": at(i).UTC().Format("2006-01-02 15:04:05.000")})
	}
}

func mustSucceed(t *testing.T, r types.ExecutionRecord) {
	t.Helper()
	if r.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run %s: %s (%s)", aws.ToString(r.ExecutionId), r.ExecutionStatus, apptest.Message(r))
	}
}

func start(t *testing.T, s *inxtest.Server, cfg app.Config) *apptest.Server {
	srv := apptest.Start(t, cfg, "lake")
	var ae *types.ConnectorAuthenticationException
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("bad", s.URL(), "wrong")); !errors.As(err, &ae) || !strings.Contains(err.Error(), "Invalid HMAC signature") {
		t.Errorf("bad secret: %v, want ConnectorAuthenticationException with Infor Nexus's reason", err)
	}
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("inx", s.URL(), inxtest.Secret)); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	return srv
}

func TestE2EOnDemand(t *testing.T) {
	ctx := context.Background()
	s := inxtest.New(t, nil)
	seed(s, 1, 251, func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }) // three pages of 100
	srv := start(t, s, app.Config{})
	c := srv.Client

	ents, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("inx")})
	if err != nil || len(ents.ConnectorEntityMap["Objects"]) < 5 {
		t.Fatalf("entities %v, %v", ents, err)
	}
	desc, err := c.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorProfileName: aws.String("inx"), ConnectorEntityName: aws.String("OrderDetail")})
	if err != nil || len(desc.ConnectorEntityFields) < 10 {
		t.Fatalf("describe %v, %v", desc, err)
	}

	if _, err := c.CreateFlow(ctx, flow("all", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand})); err != nil {
		t.Fatal(err)
	}
	s.Throttle(1) // a 429 with Retry-After: 1
	r := srv.RunFlow(t, "all", 60*time.Second)
	mustSucceed(t, r)
	got := ids(t, srv.DataDir, "all", aws.ToString(r.ExecutionId))
	if len(got) != 250 || got[0] != 1 || got[249] != 250 {
		t.Errorf("read %d records (%v...), want 1..250 once each", len(got), got[:min(3, len(got))])
	}
	pages := 0
	for _, q := range s.Requests() {
		if strings.Contains(q, "limit=100&") && strings.HasSuffix(q, "oql=1%3D1") {
			pages++
		}
	}
	// Three pages and the throttled call; the profile checks are limit=1.
	if pages != 4 {
		t.Errorf("%d queries, want 4: %q", pages, s.Requests())
	}

	bt := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{infornexusconn.MetaModified}, ConnectorOperator: op(types.InforNexusConnectorOperatorBetween),
		TaskProperties: map[string]string{"DATA_TYPE": "datetime", "LOWER_BOUND": fmt.Sprint(base.Add(10 * time.Minute).UnixMilli()),
			"UPPER_BOUND": fmt.Sprint(base.Add(20 * time.Minute).UnixMilli())}}
	if _, err := c.CreateFlow(ctx, flow("range", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, bt)); err != nil {
		t.Fatal(err)
	}
	r = srv.RunFlow(t, "range", 60*time.Second)
	mustSucceed(t, r)
	if got := ids(t, srv.DataDir, "range", aws.ToString(r.ExecutionId)); fmt.Sprint(got) != "[10 11 12 13 14 15 16 17 18 19 20]" {
		t.Errorf("BETWEEN read %v", got)
	}
	if q := s.Requests(); !strings.Contains(q[len(q)-1], "modifyTimestamp+%3E%3D+%272024-01-01+00%3A10%3A00%27") {
		t.Errorf("BETWEEN not in the OQL: %q", q[len(q)-1])
	}

	// The model lists no CONTAINS for Infor Nexus.
	ct := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"poNumber"}, ConnectorOperator: &types.ConnectorOperator{InforNexus: "CONTAINS"},
		TaskProperties: map[string]string{"DATA_TYPE": "string", "VALUE": "P1"}}
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, flow("contains", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, ct)); !errors.As(err, &ve) {
		t.Errorf("CONTAINS on Infor Nexus: %v, want ValidationException", err)
	}
}

func TestE2EScheduled(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: base.Add(time.Hour)}
	s := inxtest.New(t, clk.Now)                                                                  // signatures are dated by the server's clock
	seed(s, 1, 5, func(i int) time.Time { return base.Add(time.Duration(i) * 20 * time.Minute) }) // 00:20 .. 01:20
	srv := start(t, s, app.Config{Now: clk.Now, PlanInterval: -1})
	c := srv.Client
	in := flow("sched", &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
		Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String("rate(1hours)"), DataPullMode: types.DataPullModeIncremental,
			FirstExecutionFrom: aws.Time(base), ScheduleOffset: aws.Int64(0)}}})
	in.SourceFlowConfig.IncrementalPullConfig = &types.IncrementalPullConfig{DatetimeTypeFieldName: aws.String(infornexusconn.MetaModified)}
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
		if strings.Contains(q, "modifyTimestamp+%3E%3D") {
			windows = append(windows, q)
		}
	}
	if len(windows) != 2 {
		t.Errorf("windowed requests %q", windows)
	}
}
