package service_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/google/go-cmp/cmp"

	"github.com/appflowd/appflowd/internal/restjson"
	"github.com/appflowd/appflowd/internal/service"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
	"github.com/appflowd/appflowd/internal/wire"
)

const flowE2EAccount = "210987654321"

// flowE2E is a real HTTP server (restjson on the service on SQLite) and the
// real AWS SDK client pointed at it.
type flowE2E struct {
	t      *testing.T
	ctx    context.Context
	path   string
	clock  *service.FlowTestClock
	store  store.Store
	runner *service.FlowTestRunner
	srv    *httptest.Server
	client *appflow.Client
}

// newFlowE2E starts a server on a new SQLite file.
func newFlowE2E(t *testing.T) *flowE2E {
	t.Helper()
	e := &flowE2E{t: t, ctx: context.Background(), path: filepath.Join(t.TempDir(), "appflowd.db"), clock: service.NewFlowTestClock()}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start opens the store and serves; after stop it is a process restart.
func (e *flowE2E) start() {
	st, err := sqlitestore.Open(e.ctx, e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	e.store = st
	e.runner = &service.FlowTestRunner{Store: st, Now: e.clock.Now, Finish: wire.ExecutionStatusSuccessful}
	svc := service.New(service.Deps{Store: st, Registry: service.FlowTestRegistry(), Runner: e.runner, Now: e.clock.Now,
		DefaultAccountID: flowE2EAccount, Region: "us-east-1"})
	e.srv = httptest.NewServer(restjson.NewHandler(svc, restjson.Options{
		DefaultAccountID: flowE2EAccount, DefaultRegion: "us-east-1", Logger: slog.New(slog.DiscardHandler)}))
	e.client = appflow.New(appflow.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL), Credentials: aws.AnonymousCredentials{},
		HTTPClient: e.srv.Client(), RetryMaxAttempts: 1,
	})
}

func (e *flowE2E) stop() {
	if e.srv != nil {
		e.srv.Close()
		e.store.Close()
		e.srv = nil
	}
}

func (e *flowE2E) restart() {
	e.stop()
	e.start()
}

// profile stores a connector profile directly: creating a Salesforce one
// through the API would need a Salesforce to check it against.
func (e *flowE2E) profile(name, typ string) {
	e.t.Helper()
	err := e.store.ProfileCreate(e.ctx, &store.Profile{AccountID: flowE2EAccount, Name: name,
		Arn: "arn:aws:appflow:us-east-1:" + flowE2EAccount + ":connectorprofile/" + name, ConnectorType: typ, Doc: []byte(`{}`)})
	if err != nil {
		e.t.Fatal(err)
	}
}

// flowE2EDiff compares SDK shapes, whose unexported no-serde markers are
// empty structs, and times with time.Time.Equal.
func flowE2EDiff(want, got any) string {
	return cmp.Diff(want, got, cmp.Exporter(func(reflect.Type) bool { return true }))
}

func flowE2ES3(name string, trigger types.TriggerType) *appflow.CreateFlowInput {
	in := &appflow.CreateFlowInput{
		FlowName:      aws.String(name),
		Description:   aws.String("copy orders"),
		TriggerConfig: &types.TriggerConfig{TriggerType: trigger},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("src-bucket"), BucketPrefix: aws.String("flow"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("dst-bucket"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{
					FileType:                 types.FileTypeJson,
					PreserveSourceDataTyping: aws.Bool(false),
					PrefixConfig:             &types.PrefixConfig{PrefixType: types.PrefixTypePath, PrefixFormat: types.PrefixFormatDay},
					AggregationConfig:        &types.AggregationConfig{AggregationType: types.AggregationTypeNone},
				}}}}},
		Tasks: []types.Task{
			{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("id"),
				ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp},
				TaskProperties:    map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}},
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"amount"},
				ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorGreaterThan},
				TaskProperties:    map[string]string{"DATA_TYPE": "integer", "VALUE": "10"}},
		},
		Tags: map[string]string{"env": "test"},
	}
	if trigger == types.TriggerTypeScheduled {
		in.TriggerConfig.TriggerProperties = &types.TriggerProperties{Scheduled: &types.ScheduledTriggerProperties{
			ScheduleExpression: aws.String("rate(5minutes)"),
			DataPullMode:       types.DataPullModeIncremental,
			ScheduleStartTime:  aws.Time(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
			ScheduleOffset:     aws.Int64(0),
			Timezone:           aws.String("America/New_York"),
		}}
	}
	return in
}

func flowE2ESalesforce(name string, trigger types.TriggerType) *appflow.CreateFlowInput {
	in := flowE2ES3(name, trigger)
	in.SourceFlowConfig = &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeSalesforce, ConnectorProfileName: aws.String("sf"),
		SourceConnectorProperties: &types.SourceConnectorProperties{Salesforce: &types.SalesforceSourceProperties{
			Object: aws.String("Account"), EnableDynamicFieldUpdate: false, IncludeDeletedRecords: true}}}
	in.Tasks = []types.Task{
		{TaskType: types.TaskTypeFilter, SourceFields: []string{"Id", "Name"},
			ConnectorOperator: &types.ConnectorOperator{Salesforce: types.SalesforceConnectorOperatorProjection}},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"Id"}, DestinationField: aws.String("Id"),
			ConnectorOperator: &types.ConnectorOperator{Salesforce: types.SalesforceConnectorOperatorNoOp}},
	}
	return in
}

// flowE2EWant asserts err is the SDK exception T and its message holds msg.
func flowE2EWant[T error](t *testing.T, err error, msg string) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("got error %v (%T), want %T", err, err, target)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("got message %q, want it to contain %q", err.Error(), msg)
	}
}

func TestE2EFlowOnDemandLifecycle(t *testing.T) {
	e := newFlowE2E(t)
	in := flowE2ES3("orders-copy", types.TriggerTypeOndemand)
	created, err := e.client.CreateFlow(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	wantArn := "arn:aws:appflow:us-east-1:" + flowE2EAccount + ":flow/orders-copy"
	if aws.ToString(created.FlowArn) != wantArn || created.FlowStatus != types.FlowStatusActive {
		t.Fatalf("CreateFlow got %s %s, want %s Active", aws.ToString(created.FlowArn), created.FlowStatus, wantArn)
	}

	d, err := e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		want, got any
	}{
		{"sourceFlowConfig", in.SourceFlowConfig, d.SourceFlowConfig},
		{"destinationFlowConfigList", in.DestinationFlowConfigList, d.DestinationFlowConfigList},
		{"tasks", in.Tasks, d.Tasks},
		{"triggerConfig", in.TriggerConfig, d.TriggerConfig},
		{"tags", in.Tags, d.Tags},
		{"description", in.Description, d.Description},
	} {
		if diff := flowE2EDiff(c.want, c.got); diff != "" {
			t.Errorf("DescribeFlow %s (-sent +described):\n%s", c.name, diff)
		}
	}
	principal := "arn:aws:iam::" + flowE2EAccount + ":root"
	if aws.ToString(d.FlowArn) != wantArn || d.FlowStatus != types.FlowStatusActive || aws.ToInt64(d.SchemaVersion) != 1 ||
		aws.ToString(d.CreatedBy) != principal || aws.ToString(d.LastUpdatedBy) != principal ||
		!strings.HasPrefix(aws.ToString(d.KmsArn), "arn:aws:kms:us-east-1:"+flowE2EAccount+":key/") ||
		d.CreatedAt == nil || d.LastRunExecutionDetails != nil {
		t.Errorf("DescribeFlow got arn %s status %s schema %d by %s/%s kms %s createdAt %v lastRun %+v",
			aws.ToString(d.FlowArn), d.FlowStatus, aws.ToInt64(d.SchemaVersion), aws.ToString(d.CreatedBy),
			aws.ToString(d.LastUpdatedBy), aws.ToString(d.KmsArn), d.CreatedAt, d.LastRunExecutionDetails)
	}

	list, err := e.client.ListFlows(e.ctx, &appflow.ListFlowsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Flows) != 1 || aws.ToString(list.Flows[0].FlowArn) != wantArn || list.Flows[0].TriggerType != types.TriggerTypeOndemand ||
		list.Flows[0].Tags["env"] != "test" || list.NextToken != nil {
		t.Errorf("ListFlows got %+v next %v, want the one flow with its tags and no nextToken", list.Flows, list.NextToken)
	}

	start, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	if start.ExecutionId == nil || start.FlowStatus != types.FlowStatusActive || aws.ToString(start.FlowArn) != wantArn {
		t.Fatalf("StartFlow got %+v, want an executionId", start)
	}
	recs, err := e.client.DescribeFlowExecutionRecords(e.ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs.FlowExecutions) != 1 {
		t.Fatalf("got %d execution records, want 1", len(recs.FlowExecutions))
	}
	r := recs.FlowExecutions[0]
	if aws.ToString(r.ExecutionId) != aws.ToString(start.ExecutionId) || r.ExecutionStatus != types.ExecutionStatusSuccessful ||
		r.ExecutionResult == nil || aws.ToInt64(r.ExecutionResult.RecordsProcessed) != 3 || r.StartedAt == nil || r.LastUpdatedAt == nil {
		t.Errorf("got record %+v, want the run Successful with its counters and times", r)
	}
	d, err = e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	if lr := d.LastRunExecutionDetails; lr == nil || lr.MostRecentExecutionStatus != types.ExecutionStatusSuccessful ||
		aws.ToString(lr.MostRecentExecutionMessage) != "Successfully ran the flow" || lr.MostRecentExecutionTime == nil {
		t.Errorf("got lastRunExecutionDetails %+v, want the successful run", d.LastRunExecutionDetails)
	}

	_, err = e.client.StopFlow(e.ctx, &appflow.StopFlowInput{FlowName: in.FlowName})
	flowE2EWant[*types.UnsupportedOperationException](t, err, "on-demand")

	upd, err := e.client.UpdateFlow(e.ctx, &appflow.UpdateFlowInput{FlowName: in.FlowName, Description: aws.String("renamed id"),
		TriggerConfig: d.TriggerConfig, SourceFlowConfig: d.SourceFlowConfig, DestinationFlowConfigList: d.DestinationFlowConfigList,
		Tasks: append([]types.Task{{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("order_id"),
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}}, d.Tasks[1:]...)})
	if err != nil {
		t.Fatal(err)
	}
	if upd.FlowStatus != types.FlowStatusActive {
		t.Errorf("UpdateFlow got %s, want Active", upd.FlowStatus)
	}
	d2, err := e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(d2.SchemaVersion) != 2 || aws.ToString(d2.Description) != "renamed id" || d2.Tags["env"] != "test" ||
		aws.ToString(d2.KmsArn) != aws.ToString(d.KmsArn) || !d2.CreatedAt.Equal(*d.CreatedAt) || !d2.LastUpdatedAt.After(*d.LastUpdatedAt) {
		t.Errorf("after UpdateFlow got schema %d description %q tags %v kms %s createdAt %v lastUpdatedAt %v",
			aws.ToInt64(d2.SchemaVersion), aws.ToString(d2.Description), d2.Tags, aws.ToString(d2.KmsArn), d2.CreatedAt, d2.LastUpdatedAt)
	}

	if _, err := e.client.DeleteFlow(e.ctx, &appflow.DeleteFlowInput{FlowName: in.FlowName}); err != nil {
		t.Fatalf("DeleteFlow of an on-demand flow without forceDelete: %v", err)
	}
	_, err = e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: in.FlowName})
	flowE2EWant[*types.ResourceNotFoundException](t, err, "orders-copy")
}

func TestE2EFlowScheduledLifecycle(t *testing.T) {
	e := newFlowE2E(t)
	in := flowE2ES3("nightly", types.TriggerTypeScheduled)
	created, err := e.client.CreateFlow(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if created.FlowStatus != types.FlowStatusDraft {
		t.Fatalf("CreateFlow got %s, want Draft", created.FlowStatus)
	}
	d, err := e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	if diff := flowE2EDiff(in.TriggerConfig, d.TriggerConfig); diff != "" {
		t.Errorf("DescribeFlow triggerConfig (-sent +described):\n%s", diff)
	}
	_, err = e.client.StopFlow(e.ctx, &appflow.StopFlowInput{FlowName: in.FlowName})
	flowE2EWant[*types.ConflictException](t, err, "not active")

	start, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	if start.FlowStatus != types.FlowStatusActive || start.ExecutionId != nil {
		t.Errorf("StartFlow got %s executionId %v, want Active and none", start.FlowStatus, start.ExecutionId)
	}
	_, err = e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: in.FlowName})
	flowE2EWant[*types.ConflictException](t, err, "already active")
	_, err = e.client.DeleteFlow(e.ctx, &appflow.DeleteFlowInput{FlowName: in.FlowName})
	flowE2EWant[*types.ConflictException](t, err,
		"Conflict executing request: Flow is in active state, please set forceDelete to true or deactivate the flow: nightly")

	stop, err := e.client.StopFlow(e.ctx, &appflow.StopFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	if stop.FlowStatus != types.FlowStatusSuspended {
		t.Errorf("StopFlow got %s, want Suspended", stop.FlowStatus)
	}
	d, _ = e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: in.FlowName})
	if d.FlowStatus != types.FlowStatusSuspended {
		t.Errorf("DescribeFlow got %s, want Suspended", d.FlowStatus)
	}
	if n := len(e.runner.StartedIDs()); n != 0 {
		t.Errorf("activating a scheduled flow started %d runs through StartFlow, want 0", n)
	}
	if _, err := e.client.DeleteFlow(e.ctx, &appflow.DeleteFlowInput{FlowName: in.FlowName}); err != nil {
		t.Fatalf("DeleteFlow of a Suspended flow: %v", err)
	}
}

func TestE2EFlowEventLifecycle(t *testing.T) {
	e := newFlowE2E(t)
	e.profile("sf", "Salesforce")
	in := flowE2ESalesforce("on-change", types.TriggerTypeEvent)
	created, err := e.client.CreateFlow(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if created.FlowStatus != types.FlowStatusDraft {
		t.Fatalf("CreateFlow got %s, want Draft", created.FlowStatus)
	}
	d, err := e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	if diff := flowE2EDiff(in.SourceFlowConfig, d.SourceFlowConfig); diff != "" {
		t.Errorf("DescribeFlow sourceFlowConfig (-sent +described):\n%s", diff)
	}
	if _, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: in.FlowName}); err != nil {
		t.Fatal(err)
	}
	stop, err := e.client.StopFlow(e.ctx, &appflow.StopFlowInput{FlowName: in.FlowName})
	if err != nil || stop.FlowStatus != types.FlowStatusSuspended {
		t.Fatalf("StopFlow got %+v, %v; want Suspended", stop, err)
	}
	if _, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: in.FlowName}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteFlow(e.ctx, &appflow.DeleteFlowInput{FlowName: in.FlowName, ForceDelete: true}); err != nil {
		t.Fatalf("forced DeleteFlow of an active event flow: %v", err)
	}
	list, err := e.client.ListFlows(e.ctx, &appflow.ListFlowsInput{})
	if err != nil || len(list.Flows) != 0 {
		t.Errorf("ListFlows after delete got %+v, %v; want none", list, err)
	}
}

func TestE2EFlowExceptions(t *testing.T) {
	e := newFlowE2E(t)
	e.profile("sf", "Salesforce")
	if _, err := e.client.CreateFlow(e.ctx, flowE2ES3("exists", types.TriggerTypeOndemand)); err != nil {
		t.Fatal(err)
	}
	missing := aws.String("missing")

	_, err := e.client.CreateFlow(e.ctx, flowE2ES3("exists", types.TriggerTypeOndemand))
	flowE2EWant[*types.ConflictException](t, err, "Conflict executing request: Flow with name exists already exists.")

	in := flowE2ESalesforce("nope", types.TriggerTypeOndemand)
	in.SourceFlowConfig.ConnectorProfileName = aws.String("sf-missing")
	_, err = e.client.CreateFlow(e.ctx, in)
	flowE2EWant[*types.ResourceNotFoundException](t, err, "Connector Profile with name sf-missing does not exist.")

	in = flowE2ES3("two-dests", types.TriggerTypeOndemand)
	in.DestinationFlowConfigList = append(in.DestinationFlowConfigList, in.DestinationFlowConfigList[0])
	_, err = e.client.CreateFlow(e.ctx, in)
	flowE2EWant[*types.ValidationException](t, err, "one destination")

	in = flowE2ESalesforce("no-projection", types.TriggerTypeOndemand)
	in.Tasks = in.Tasks[1:]
	_, err = e.client.CreateFlow(e.ctx, in)
	flowE2EWant[*types.ValidationException](t, err, "You must specify a projection task or a MAP_ALL task")

	in = flowE2ES3("has space", types.TriggerTypeOndemand)
	_, err = e.client.CreateFlow(e.ctx, in)
	flowE2EWant[*types.ValidationException](t, err, "flowName")

	in = flowE2ES3("bad-schedule", types.TriggerTypeScheduled)
	in.TriggerConfig.TriggerProperties.Scheduled.ScheduleExpression = aws.String("rate(5 fortnights)")
	_, err = e.client.CreateFlow(e.ctx, in)
	flowE2EWant[*types.ValidationException](t, err, "rate")

	_, err = e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: missing})
	flowE2EWant[*types.ResourceNotFoundException](t, err, "Flow with name missing does not exist.")
	u := flowE2ES3("missing", types.TriggerTypeOndemand)
	_, err = e.client.UpdateFlow(e.ctx, &appflow.UpdateFlowInput{FlowName: missing, TriggerConfig: u.TriggerConfig,
		SourceFlowConfig: u.SourceFlowConfig, DestinationFlowConfigList: u.DestinationFlowConfigList, Tasks: u.Tasks})
	flowE2EWant[*types.ResourceNotFoundException](t, err, "missing")
	_, err = e.client.DeleteFlow(e.ctx, &appflow.DeleteFlowInput{FlowName: missing})
	flowE2EWant[*types.ResourceNotFoundException](t, err, "missing")
	_, err = e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: missing})
	flowE2EWant[*types.ResourceNotFoundException](t, err, "missing")
	_, err = e.client.StopFlow(e.ctx, &appflow.StopFlowInput{FlowName: missing})
	flowE2EWant[*types.ResourceNotFoundException](t, err, "missing")
	_, err = e.client.DescribeFlowExecutionRecords(e.ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: missing})
	flowE2EWant[*types.ResourceNotFoundException](t, err, "missing")
	_, err = e.client.CancelFlowExecutions(e.ctx, &appflow.CancelFlowExecutionsInput{FlowName: missing})
	flowE2EWant[*types.ResourceNotFoundException](t, err, "missing")
	_, err = e.client.ListFlows(e.ctx, &appflow.ListFlowsInput{NextToken: aws.String("not-a-token")})
	flowE2EWant[*types.ValidationException](t, err, "nextToken")

	// The flow quota (1,000 per account) answers 402 ServiceQuotaExceeded.
	for i := range 999 {
		name := fmt.Sprintf("seed-%04d", i)
		if err := e.store.FlowCreate(e.ctx, &store.Flow{AccountID: flowE2EAccount, Name: name, Arn: "arn:" + name, Status: "Active", Doc: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.client.CreateFlow(e.ctx, flowE2ES3("one-too-many", types.TriggerTypeOndemand))
	flowE2EWant[*types.ServiceQuotaExceededException](t, err, "quota")
}

func TestE2EFlowClientTokens(t *testing.T) {
	e := newFlowE2E(t)
	for _, n := range []string{"fa", "fb"} {
		if _, err := e.client.CreateFlow(e.ctx, flowE2ES3(n, types.TriggerTypeOndemand)); err != nil {
			t.Fatal(err)
		}
	}
	sched := flowE2ES3("sched", types.TriggerTypeScheduled)
	sched.ClientToken = aws.String("create-sched")
	first, err := e.client.CreateFlow(e.ctx, sched)
	if err != nil {
		t.Fatal(err)
	}
	// A retried CreateFlow replays; the same token with other input conflicts.
	again, err := e.client.CreateFlow(e.ctx, sched)
	if err != nil || aws.ToString(again.FlowArn) != aws.ToString(first.FlowArn) || again.FlowStatus != first.FlowStatus {
		t.Fatalf("replayed CreateFlow got %+v, %v; want %+v", again, err, first)
	}
	sched.Description = aws.String("different")
	_, err = e.client.CreateFlow(e.ctx, sched)
	flowE2EWant[*types.ConflictException](t, err, "client token create-sched")

	run, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String("fa"), ClientToken: aws.String("run-1")})
	if err != nil {
		t.Fatal(err)
	}
	replay, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String("fa"), ClientToken: aws.String("run-1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(replay.ExecutionId) != aws.ToString(run.ExecutionId) {
		t.Errorf("replayed StartFlow got executionId %s, want %s", aws.ToString(replay.ExecutionId), aws.ToString(run.ExecutionId))
	}
	recs, err := e.client.DescribeFlowExecutionRecords(e.ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("fa")})
	if err != nil || len(recs.FlowExecutions) != 1 {
		t.Fatalf("after a replay got %d records (%v), want 1", len(recs.FlowExecutions), err)
	}
	// The same token for another on-demand flow is a new run ...
	other, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String("fb"), ClientToken: aws.String("run-1")})
	if err != nil {
		t.Fatal(err)
	}
	if other.ExecutionId == nil || aws.ToString(other.ExecutionId) == aws.ToString(run.ExecutionId) {
		t.Errorf("StartFlow of b with a's token got executionId %v, want a new run", other.ExecutionId)
	}
	// ... and for a scheduled flow a conflict.
	_, err = e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String("sched"), ClientToken: aws.String("run-1")})
	flowE2EWant[*types.ConflictException](t, err, "run-1")

	// Tokens survive a restart: the replay needs no second run.
	e.restart()
	replay, err = e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String("fa"), ClientToken: aws.String("run-1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(replay.ExecutionId) != aws.ToString(run.ExecutionId) {
		t.Errorf("after a restart StartFlow got executionId %s, want %s", aws.ToString(replay.ExecutionId), aws.ToString(run.ExecutionId))
	}
	if n := len(e.runner.StartedIDs()); n != 0 {
		t.Errorf("after a restart the replay started %d runs, want 0", n)
	}
	recs, err = e.client.DescribeFlowExecutionRecords(e.ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("fa")})
	if err != nil || len(recs.FlowExecutions) != 1 {
		t.Errorf("after a restart and replay got %d records (%v), want 1", len(recs.FlowExecutions), err)
	}
}

func TestE2EFlowPagination(t *testing.T) {
	e := newFlowE2E(t)
	var want []string
	for i := range 23 {
		in := flowE2ES3(fmt.Sprintf("flow-%02d", i), types.TriggerTypeOndemand)
		if _, err := e.client.CreateFlow(e.ctx, in); err != nil {
			t.Fatal(err)
		}
		want = append(want, *in.FlowName)
	}
	// The SDK's own paginator stops on an absent nextToken; the default page is 20.
	var got []string
	var pages []int
	p := appflow.NewListFlowsPaginator(e.client, &appflow.ListFlowsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(out.Flows))
		for _, f := range out.Flows {
			got = append(got, aws.ToString(f.FlowName))
		}
	}
	if !slices.Equal(got, want) || !slices.Equal(pages, []int{20, 3}) {
		t.Errorf("ListFlows paginator got %v in pages %v, want %v in [20 3]", got, pages, want)
	}

	var runs []string
	for range 5 {
		out, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String("flow-00")})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, aws.ToString(out.ExecutionId))
	}
	slices.Reverse(runs)
	var gotRuns []string
	pages = nil
	rp := appflow.NewDescribeFlowExecutionRecordsPaginator(e.client, &appflow.DescribeFlowExecutionRecordsInput{
		FlowName: aws.String("flow-00"), MaxResults: aws.Int32(2)})
	for rp.HasMorePages() {
		out, err := rp.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(out.FlowExecutions))
		for _, r := range out.FlowExecutions {
			gotRuns = append(gotRuns, aws.ToString(r.ExecutionId))
		}
	}
	if !slices.Equal(gotRuns, runs) || !slices.Equal(pages, []int{2, 2, 1}) {
		t.Errorf("execution records got %v in pages %v, want newest first %v in [2 2 1]", gotRuns, pages, runs)
	}
}

func TestE2EFlowCancelExecutions(t *testing.T) {
	e := newFlowE2E(t)
	name := aws.String("long")
	if _, err := e.client.CreateFlow(e.ctx, flowE2ES3("long", types.TriggerTypeOndemand)); err != nil {
		t.Fatal(err)
	}
	done, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: name})
	if err != nil {
		t.Fatal(err)
	}
	e.runner.Finish = "" // later runs stay InProgress until canceled
	r1, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: name})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: name})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DeleteFlow(e.ctx, &appflow.DeleteFlowInput{FlowName: name})
	flowE2EWant[*types.ConflictException](t, err, "in progress")

	out, err := e.client.CancelFlowExecutions(e.ctx, &appflow.CancelFlowExecutionsInput{FlowName: name,
		ExecutionIds: []string{aws.ToString(r1.ExecutionId), aws.ToString(done.ExecutionId), "no-such-run"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{aws.ToString(done.ExecutionId), "no-such-run"}; !slices.Equal(out.InvalidExecutions, want) {
		t.Errorf("got invalidExecutions %v, want %v", out.InvalidExecutions, want)
	}
	out, err = e.client.CancelFlowExecutions(e.ctx, &appflow.CancelFlowExecutionsInput{FlowName: name})
	if err != nil || len(out.InvalidExecutions) != 0 {
		t.Fatalf("cancel all got %+v, %v; want r2 canceled", out, err)
	}
	recs, err := e.client.DescribeFlowExecutionRecords(e.ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: name})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]types.ExecutionStatus{}
	for _, r := range recs.FlowExecutions {
		status[aws.ToString(r.ExecutionId)] = r.ExecutionStatus
	}
	want := map[string]types.ExecutionStatus{
		aws.ToString(done.ExecutionId): types.ExecutionStatusSuccessful,
		aws.ToString(r1.ExecutionId):   types.ExecutionStatusCanceled,
		aws.ToString(r2.ExecutionId):   types.ExecutionStatusCanceled,
	}
	if diff := cmp.Diff(want, status); diff != "" {
		t.Errorf("execution statuses (-want +got):\n%s", diff)
	}
	if _, err := e.client.DeleteFlow(e.ctx, &appflow.DeleteFlowInput{FlowName: name}); err != nil {
		t.Errorf("DeleteFlow with no run in progress: %v", err)
	}
}
