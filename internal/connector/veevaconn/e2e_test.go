package veevaconn_test

// End-to-end: the whole server (internal/app behind httptest) driven by
// the real AWS SDK AppFlow client, reading the documented-API stand-in
// (vvtest) into a local bucket, on
// demand and on a schedule.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	_ "github.com/appflowd/appflowd/internal/connector/veevaconn"
	"github.com/appflowd/appflowd/internal/connector/veevaconn/vvtest"
)

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func profile(name, url, password string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeVeeva, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Veeva: &types.VeevaConnectorProfileProperties{InstanceUrl: aws.String(url)}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Veeva: &types.VeevaConnectorProfileCredentials{
				Username: aws.String(vvtest.Username), Password: aws.String(password)}},
		}}
}

func op(o types.VeevaConnectorOperator) *types.ConnectorOperator {
	return &types.ConnectorOperator{Veeva: o}
}

func flow(name string, trigger *types.TriggerConfig, extra ...types.Task) *appflow.CreateFlowInput {
	tasks := apptest.Projected([]string{"id", "name__v", "modified_date__v"}, op(types.VeevaConnectorOperatorProjection), op(types.VeevaConnectorOperatorNoOp))
	return apptest.LakeFlow(name, trigger, &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeVeeva, ConnectorProfileName: aws.String("vv"),
		SourceConnectorProperties: &types.SourceConnectorProperties{Veeva: &types.VeevaSourceProperties{Object: aws.String("product__v")}}}, append(tasks, extra...))
}

// ids reads the ids a run wrote, sorted.
func ids(t *testing.T, dir, flow, id string) []int {
	t.Helper()
	var out []int
	for _, line := range apptest.LakeLines(t, dir, flow, id) {
		var rec struct {
			ID   int    `json:"id,string"`
			Name string `json:"name__v"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if rec.Name != fmt.Sprintf("product %d", rec.ID) {
			t.Errorf("record %s", line)
		}
		out = append(out, rec.ID)
	}
	sort.Ints(out)
	return out
}

func seed(s *vvtest.Server, from, to int, at func(i int) time.Time) {
	s.Object("product__v", vvtest.Field{Name: "id", Type: "ID", Label: "ID"}, vvtest.Field{Name: "name__v", Type: "String", Label: "Name"},
		vvtest.Field{Name: "modified_date__v", Type: "DateTime", Label: "Last Modified Date"})
	for i := from; i < to; i++ {
		s.Add("product__v", vvtest.Record{"id": fmt.Sprint(i), "name__v": fmt.Sprintf("product %d", i),
			"modified_date__v": at(i).UTC().Format("2006-01-02T15:04:05.000Z")})
	}
}

func mustSucceed(t *testing.T, r types.ExecutionRecord) {
	t.Helper()
	if r.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run %s: %s (%s)", aws.ToString(r.ExecutionId), r.ExecutionStatus, apptest.Message(r))
	}
}

func start(t *testing.T, s *vvtest.Server, cfg app.Config) *apptest.Server {
	srv := apptest.Start(t, cfg, "lake")
	var ae *types.ConnectorAuthenticationException
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("bad", s.URL(), "wrong")); !errors.As(err, &ae) || !strings.Contains(err.Error(), "USERNAME_OR_PASSWORD_INCORRECT") {
		t.Errorf("bad password: %v, want ConnectorAuthenticationException with Vault's reason", err)
	}
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("vv", s.URL(), vvtest.Password)); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	return srv
}

func TestE2EOnDemand(t *testing.T) {
	ctx := context.Background()
	s := vvtest.New(t)
	seed(s, 1, 2501, func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }) // three pages of 1000
	srv := start(t, s, app.Config{})
	c := srv.Client

	ents, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("vv")})
	if err != nil || len(ents.ConnectorEntityMap["Objects"]) != 2 {
		t.Fatalf("entities %v, %v", ents, err)
	}
	desc, err := c.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorProfileName: aws.String("vv"), ConnectorEntityName: aws.String("product__v")})
	if err != nil || len(desc.ConnectorEntityFields) != 3 {
		t.Fatalf("describe %v, %v", desc, err)
	}

	if _, err := c.CreateFlow(ctx, flow("all", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand})); err != nil {
		t.Fatal(err)
	}
	s.Expire() // the session has expired
	s.Limit(1) // and the burst limit is spent once
	r := srv.RunFlow(t, "all", 60*time.Second)
	mustSucceed(t, r)
	got := ids(t, srv.DataDir, "all", aws.ToString(r.ExecutionId))
	if len(got) != 2500 || got[0] != 1 || got[2499] != 2500 {
		t.Errorf("read %d records (%v...), want 1..2500 once each", len(got), got[:min(3, len(got))])
	}
	pages := 0
	for _, q := range s.Requests() {
		if strings.HasPrefix(q, "POST /api/v23.1/query/") {
			pages++
		}
	}
	if pages != 2 {
		t.Errorf("%d next_page calls, want 2: %q", pages, s.Requests())
	}

	eq := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"name__v"}, ConnectorOperator: op(types.VeevaConnectorOperatorContains),
		TaskProperties: map[string]string{"DATA_TYPE": "string", "VALUE": "uct 7"}}
	if _, err := c.CreateFlow(ctx, flow("one", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, eq)); err != nil {
		t.Fatal(err)
	}
	r = srv.RunFlow(t, "one", 60*time.Second)
	mustSucceed(t, r)
	if got := ids(t, srv.DataDir, "one", aws.ToString(r.ExecutionId)); len(got) != 111 || got[0] != 7 {
		t.Errorf("CONTAINS read %d records from %v", len(got), got[:min(1, len(got))])
	}
	if q := s.Requests(); !strings.Contains(strings.Join(q, "\n"), "WHERE name__v LIKE '%uct 7%'") {
		t.Errorf("CONTAINS not pushed down as LIKE: %q", q)
	}

	// UpdateConnectorProfile checks the new password as well.
	s.Expire()
	if _, err := c.UpdateConnectorProfile(ctx, &appflow.UpdateConnectorProfileInput{ConnectorProfileName: aws.String("vv"), ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: profile("vv", s.URL(), "wrong").ConnectorProfileConfig}); err == nil {
		t.Error("UpdateConnectorProfile with a wrong password succeeded")
	}
}

func TestE2EScheduled(t *testing.T) {
	ctx := context.Background()
	s := vvtest.New(t)
	seed(s, 1, 5, func(i int) time.Time { return base.Add(time.Duration(i) * 20 * time.Minute) }) // 00:20 .. 01:20
	clk := &clock{t: base.Add(time.Hour)}
	srv := start(t, s, app.Config{Now: clk.Now, PlanInterval: -1})
	c := srv.Client
	in := flow("sched", &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
		Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String("rate(1hours)"), DataPullMode: types.DataPullModeIncremental,
			FirstExecutionFrom: aws.Time(base), ScheduleOffset: aws.Int64(0)}}})
	in.SourceFlowConfig.IncrementalPullConfig = &types.IncrementalPullConfig{DatetimeTypeFieldName: aws.String("modified_date__v")}
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
		if strings.Contains(q, "modified_date__v >= ") {
			windows = append(windows, q)
		}
	}
	if len(windows) != 2 {
		t.Errorf("windowed requests %q", windows)
	}
}

// TestE2EDocuments: a Map_all flow of documents of one type, every version.
func TestE2EDocuments(t *testing.T) {
	ctx := context.Background()
	s := vvtest.New(t)
	s.Add("documents", vvtest.Record{"id": 5, "name__v": "a.pdf", "type__v": "promotional_piece__c", "major_version_number__v": 1, "minor_version_number__v": 0, "latest": false},
		vvtest.Record{"id": 5, "name__v": "a.pdf", "type__v": "promotional_piece__c", "major_version_number__v": 2, "minor_version_number__v": 0},
		vvtest.Record{"id": 6, "name__v": "b.pdf", "type__v": "other__c", "major_version_number__v": 1, "minor_version_number__v": 0})
	srv := start(t, s, app.Config{})
	in := flow("docs", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand})
	in.Tasks = []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, TaskProperties: map[string]string{}}}
	in.SourceFlowConfig.SourceConnectorProperties.Veeva = &types.VeevaSourceProperties{Object: aws.String("documents"),
		DocumentType: aws.String("promotional_piece__c"), IncludeAllVersions: true}
	if _, err := srv.Client.CreateFlow(ctx, in); err != nil {
		t.Fatal(err)
	}
	r := srv.RunFlow(t, "docs", 60*time.Second)
	mustSucceed(t, r)
	root := filepath.Join(srv.DataDir, "s3", "lake", "docs", "docs", aws.ToString(r.ExecutionId))
	var versions []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			versions = append(versions, fmt.Sprintf("%v/%v.%v", rec["id"], rec["major_version_number__v"], rec["minor_version_number__v"]))
		}
		return nil
	})
	sort.Strings(versions)
	if fmt.Sprint(versions) != "[5/1.0 5/2.0]" {
		t.Errorf("documents written %v, want both versions of 5 only", versions)
	}
	var q string
	for _, x := range s.Requests() {
		if strings.HasPrefix(x, "POST /api/v23.1/query ") {
			q = x
		}
	}
	if !strings.Contains(q, "FROM ALLVERSIONS documents WHERE TONAME(type__v) = 'promotional_piece__c'") {
		t.Errorf("query %s", q)
	}
}
