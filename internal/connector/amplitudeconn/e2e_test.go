package amplitudeconn_test

// End-to-end: the whole server (internal/app behind httptest) driven by
// the real AWS SDK AppFlow client, exporting from the documented-API
// stand-in (amptest) into a local bucket (DataDir/s3/lake), on demand and
// on a daily schedule.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
	"github.com/appflowd/appflowd/internal/connector/amplitudeconn"
	"github.com/appflowd/appflowd/internal/connector/amplitudeconn/amptest"
)

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func ev(uuid string, at time.Time) amptest.Event {
	return amptest.Event{"uuid": uuid, "event_type": "login", "user_id": "u-" + uuid, "server_upload_time": amptest.Time(at),
		"event_properties": map[string]any{"plan": "pro"}}
}

func start(t *testing.T, amp *amptest.Server, cfg app.Config) *apptest.Server {
	cfg.Endpoints = connector.Endpoints{connector.EndpointAmplitude: amp.URL()}
	srv := apptest.Start(t, cfg, "lake")
	_, err := srv.Client.CreateConnectorProfile(context.Background(), profile("amp", amptest.SecretKey))
	if err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	return srv
}

func profile(name, secret string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeAmplitude, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Amplitude: &types.AmplitudeConnectorProfileProperties{}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Amplitude: &types.AmplitudeConnectorProfileCredentials{
				ApiKey: aws.String(amptest.APIKey), SecretKey: aws.String(secret)}},
		}}
}

func flow(name string, trigger *types.TriggerConfig, tasks []types.Task) *appflow.CreateFlowInput {
	in := apptest.LakeFlow(name, trigger, &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeAmplitude, ConnectorProfileName: aws.String("amp"),
		SourceConnectorProperties: &types.SourceConnectorProperties{Amplitude: &types.AmplitudeSourceProperties{Object: aws.String(amplitudeconn.Events)}}}, append([]types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, TaskProperties: map[string]string{}}}, tasks...))
	return in
}

// uuids reads the JSON Lines a run wrote under prefix/events/<id>/.
func uuids(t *testing.T, dir, prefix, id string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, "s3", "lake", prefix, prefix, id) // bucketPrefix/flowName/executionId
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
			if rec["event_properties"] == nil || rec["server_upload_time"] == nil {
				t.Errorf("record %v lacks fields Map_all should carry", rec)
			}
			out = append(out, fmt.Sprint(rec["uuid"]))
		}
		return err
	})
	if err != nil {
		var all []string
		_ = filepath.WalkDir(filepath.Join(dir, "s3", "lake"), func(p string, d fs.DirEntry, err error) error { all = append(all, p); return nil })
		t.Fatalf("output of %s: %v (bucket holds %q)", id, err, all)
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

func TestE2EOnDemand(t *testing.T) {
	ctx := context.Background()
	amp := amptest.New(t)
	amp.FileLines(2) // several files per hour
	for i := range 7 {
		amp.Add(ev(fmt.Sprintf("e%d", i), base.Add(time.Duration(i)*25*time.Minute)))
	}
	srv := start(t, amp, app.Config{})
	c := srv.Client

	var ae *types.ConnectorAuthenticationException
	if _, err := c.CreateConnectorProfile(ctx, profile("bad", "wrong")); !errors.As(err, &ae) || !strings.Contains(err.Error(), "Invalid API key") {
		t.Errorf("bad keys: %v, want ConnectorAuthenticationException with Amplitude's answer", err)
	}
	ents, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("amp")})
	if err != nil || len(ents.ConnectorEntityMap["Objects"]) != 1 {
		t.Fatalf("entities %+v, %v", ents, err)
	}
	desc, err := c.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorProfileName: aws.String("amp"), ConnectorEntityName: aws.String(amplitudeconn.Events)})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range desc.ConnectorEntityFields {
		if aws.ToString(f.Identifier) == amplitudeconn.UploadTime && (f.SupportedFieldTypeDetails == nil || !slices.Contains(f.SupportedFieldTypeDetails.V1.FilterOperators, types.Operator("BETWEEN"))) {
			t.Errorf("server_upload_time: %+v", f)
		}
	}

	between := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{amplitudeconn.UploadTime},
		ConnectorOperator: &types.ConnectorOperator{Amplitude: types.AmplitudeConnectorOperatorBetween},
		TaskProperties: map[string]string{"DATA_TYPE": "datetime",
			"LOWER_BOUND": fmt.Sprint(base.Add(30 * time.Minute).UnixMilli()), "UPPER_BOUND": fmt.Sprint(base.Add(125 * time.Minute).UnixMilli())}}
	if _, err := c.CreateFlow(ctx, flow("events", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, []types.Task{between})); err != nil {
		t.Fatalf("CreateFlow (Map_all without an operator, a BETWEEN): %v", err)
	}
	amp.Throttle(1, "1")
	r := srv.RunFlow(t, "events", 60*time.Second)
	mustSucceed(t, r)
	if got := uuids(t, srv.DataDir, "events", aws.ToString(r.ExecutionId)); strings.Join(got, ",") != "e2,e3,e4,e5" {
		t.Errorf("read %v, want the events uploaded 00:30..02:05 exactly once", got)
	}
	if got := amp.Requests(); !slices.Contains(got, "20240101T00-20240101T02") || len(got) < 2 {
		t.Errorf("requests %q, want a throttled export retried", got)
	}
	if n := aws.ToInt64(r.ExecutionResult.RecordsProcessed); n != 4 {
		t.Errorf("recordsProcessed %d", n)
	}

	// Operators the model does not list for Amplitude are refused.
	eq := types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"user_id"},
		ConnectorOperator: &types.ConnectorOperator{Amplitude: "EQUAL_TO"}, TaskProperties: map[string]string{"VALUE": "u-e1"}}
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, flow("eq", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, []types.Task{eq})); !errors.As(err, &ve) {
		t.Errorf("EQUAL_TO on Amplitude: %v, want ValidationException", err)
	}
}

func TestE2EScheduled(t *testing.T) {
	ctx := context.Background()
	amp := amptest.New(t)
	amp.Add(ev("a", base.Add(time.Hour)), ev("b", base.Add(25*time.Hour+59*time.Minute)), ev("c", base.Add(26*time.Hour)), ev("d", base.Add(49*time.Hour)))
	clk := &clock{t: base.Add(26 * time.Hour)}
	srv := start(t, amp, app.Config{Now: clk.Now, PlanInterval: -1})
	c := srv.Client
	sched := func(expr string) *types.TriggerConfig {
		return &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
			Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String(expr), DataPullMode: types.DataPullModeIncremental,
				FirstExecutionFrom: aws.Time(base), ScheduleOffset: aws.Int64(0)}}}
	}
	in := flow("daily", sched("rate(1hours)"), nil)
	in.SourceFlowConfig.IncrementalPullConfig = &types.IncrementalPullConfig{DatetimeTypeFieldName: aws.String(amplitudeconn.UploadTime)}
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, in); !errors.As(err, &ve) {
		t.Errorf("an hourly Amplitude schedule: %v, want ValidationException (AppFlow's floor is a day)", err)
	}
	in.TriggerConfig = sched("rate(1days)")
	if _, err := c.CreateFlow(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("daily")}); err != nil {
		t.Fatal(err)
	}
	srv.Tick(t)
	runs := apptest.Finished(t, c, "daily", 1)
	mustSucceed(t, runs[0])
	if got := uuids(t, srv.DataDir, "daily", aws.ToString(runs[0].ExecutionId)); strings.Join(got, ",") != "a,b" {
		t.Errorf("first window read %v", got)
	}
	clk.Set(base.Add(50 * time.Hour))
	srv.Tick(t)
	runs = apptest.Finished(t, c, "daily", 2)
	mustSucceed(t, runs[1])
	if got := uuids(t, srv.DataDir, "daily", aws.ToString(runs[1].ExecutionId)); strings.Join(got, ",") != "c,d" {
		t.Errorf("second window read %v, want c (on the boundary) and d", got)
	}
	var exports []string
	for _, r := range amp.Requests() {
		if r != "" && !strings.HasPrefix(r, base.Add(23*time.Hour).Format("20060102T15")) { // the profile check's hour
			exports = append(exports, r)
		}
	}
	if want := []string{"20240101T00-20240102T01", "20240102T02-20240103T01"}; !slices.Equal(exports, want) {
		t.Errorf("exports %q, want %q", exports, want)
	}
}
