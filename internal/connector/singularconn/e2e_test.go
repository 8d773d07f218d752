package singularconn_test

// End-to-end: the whole server (internal/app behind httptest) driven by
// the real AWS SDK AppFlow client, reading reports from the
// documented-API stand-in (sngtest) into a local bucket, on demand and on
// an hourly schedule.

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
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/singularconn"
	"github.com/appflowd/appflowd/internal/connector/singularconn/sngtest"
)

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func profile(name, key string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeSingular, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties:  &types.ConnectorProfileProperties{Singular: &types.SingularConnectorProfileProperties{}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Singular: &types.SingularConnectorProfileCredentials{ApiKey: aws.String(key)}},
		}}
}

func op(o types.SingularConnectorOperator) *types.ConnectorOperator {
	return &types.ConnectorOperator{Singular: o}
}

func flow(name string, trigger *types.TriggerConfig, extra ...types.Task) *appflow.CreateFlowInput {
	tasks := apptest.Projected([]string{"start_date", "app", "source", "adn_cost"}, op(types.SingularConnectorOperatorProjection), op(types.SingularConnectorOperatorNoOp))
	return apptest.LakeFlow(name, trigger, &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeSingular, ConnectorProfileName: aws.String("sng"),
		SourceConnectorProperties: &types.SourceConnectorProperties{Singular: &types.SingularSourceProperties{Object: aws.String(singularconn.Reporting)}}}, append(tasks, extra...))
}

// rows reads the JSON Lines a run wrote, as "date app source cost", sorted.
func rows(t *testing.T, dir, flow, id string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, "s3", "lake", flow, flow, id)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, fmt.Sprint(rec["start_date"], " ", rec["app"], " ", rec["source"], " ", rec["adn_cost"]))
		}
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("output of %s: %v", id, err)
	}
	sort.Strings(out)
	return out
}

func mustSucceed(t *testing.T, r types.ExecutionRecord) {
	t.Helper()
	if r.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run %s: %s (%s)", aws.ToString(r.ExecutionId), r.ExecutionStatus, apptest.Message(r))
	}
}

func seed(s *sngtest.Server) {
	s.Add("2024-01-01", sngtest.Row{"app": "Acme", "source": "adwords", "adn_cost": 1.5}, sngtest.Row{"app": "Acme", "source": "facebook", "adn_cost": 2.0})
	s.Add("2024-01-02", sngtest.Row{"app": "Acme", "source": "adwords", "adn_cost": 3.0})
	s.Add("2024-01-03", sngtest.Row{"app": "Acme", "source": "adwords", "adn_cost": 4.0})
}

func start(t *testing.T, s *sngtest.Server, clk *clock, plan time.Duration) *apptest.Server {
	srv := apptest.Start(t, app.Config{Now: clk.Now, PlanInterval: plan, Endpoints: connector.Endpoints{connector.EndpointSingular: s.URL()}}, "lake")
	var ae *types.ConnectorAuthenticationException
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("bad", "wrong")); !errors.As(err, &ae) || !strings.Contains(err.Error(), "Invalid API Key") {
		t.Errorf("bad key: %v, want ConnectorAuthenticationException with Singular's value", err)
	}
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("sng", sngtest.APIKey)); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	return srv
}

func TestE2EOnDemand(t *testing.T) {
	ctx := context.Background()
	s := sngtest.New(t)
	seed(s)
	s.Polls(0)
	srv := start(t, s, &clock{t: base.Add(10 * 24 * time.Hour)}, 0)
	c := srv.Client
	desc, err := c.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorProfileName: aws.String("sng"), ConnectorEntityName: aws.String(singularconn.Reporting)})
	if err != nil || len(desc.ConnectorEntityFields) < 10 {
		t.Fatalf("describe: %d fields, %v", len(desc.ConnectorEntityFields), err)
	}
	eq := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"source"}, ConnectorOperator: op(types.SingularConnectorOperatorEqualTo),
		TaskProperties: map[string]string{"DATA_TYPE": "string", "VALUE": "adwords"}}
	if _, err := c.CreateFlow(ctx, flow("adwords", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, eq)); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	s.Throttle(1, "1")
	r := srv.RunFlow(t, "adwords", 60*time.Second)
	mustSucceed(t, r)
	want := []string{"2024-01-01 Acme adwords 1.5", "2024-01-02 Acme adwords 3", "2024-01-03 Acme adwords 4"}
	if got := rows(t, srv.DataDir, "adwords", aws.ToString(r.ExecutionId)); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("read %q, want %q", got, want)
	}
	created := s.Created()
	if len(created) != 1 || created[0]["start_date"] != "2023-12-13" || created[0]["end_date"] != "2024-01-11" || !strings.Contains(created[0]["filters"], `"adwords"`) {
		t.Errorf("reports %v, want one over the last 30 days with the filter", created)
	}
	// BETWEEN is not a Singular operator.
	bad := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"adn_cost"}, ConnectorOperator: &types.ConnectorOperator{Singular: "BETWEEN"},
		TaskProperties: map[string]string{"DATA_TYPE": "double", "LOWER_BOUND": "1", "UPPER_BOUND": "2"}}
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, flow("between", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, bad)); !errors.As(err, &ve) {
		t.Errorf("BETWEEN on Singular: %v, want ValidationException", err)
	}
}

func TestE2EScheduled(t *testing.T) {
	ctx := context.Background()
	s := sngtest.New(t)
	seed(s)
	clk := &clock{t: base.Add(26 * time.Hour)}
	srv := start(t, s, clk, -1)
	c := srv.Client
	trigger := func(expr string) *types.TriggerConfig {
		return &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
			Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String(expr), DataPullMode: types.DataPullModeIncremental,
				FirstExecutionFrom: aws.Time(base), ScheduleOffset: aws.Int64(0)}}}
	}
	in := flow("hourly", trigger("rate(30minutes)"))
	in.SourceFlowConfig.IncrementalPullConfig = &types.IncrementalPullConfig{DatetimeTypeFieldName: aws.String("start_date")}
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, in); !errors.As(err, &ve) {
		t.Errorf("a 30-minute Singular schedule: %v, want ValidationException (AppFlow's floor is an hour)", err)
	}
	in.TriggerConfig = trigger("rate(1hours)")
	if _, err := c.CreateFlow(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("hourly")}); err != nil {
		t.Fatal(err)
	}
	srv.Tick(t)
	runs := apptest.Finished(t, c, "hourly", 1)
	mustSucceed(t, runs[0])
	if got := rows(t, srv.DataDir, "hourly", aws.ToString(runs[0].ExecutionId)); len(got) != 3 || !strings.HasPrefix(got[2], "2024-01-02") {
		t.Errorf("first window [Jan 1 00:00, Jan 2 02:00) read %q, want the rows of Jan 1 and 2", got)
	}
	clk.Set(base.Add(50 * time.Hour))
	srv.Tick(t)
	runs = apptest.Finished(t, c, "hourly", 2)
	mustSucceed(t, runs[1])
	if got := rows(t, srv.DataDir, "hourly", aws.ToString(runs[1].ExecutionId)); strings.Join(got, "|") != "2024-01-03 Acme adwords 4" {
		t.Errorf("second window read %q, want Jan 3 alone", got)
	}
	var days []string
	for _, p := range s.Created() {
		days = append(days, p["start_date"]+".."+p["end_date"])
	}
	if strings.Join(days, ",") != "2024-01-01..2024-01-02,2024-01-03..2024-01-03" {
		t.Errorf("reports for %v, want each day once", days)
	}
}
