package service

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
	"github.com/appflowd/appflowd/internal/wire"
)

// FlowTestRunner is a Runner for tests (this package's and service_test's):
// it records calls and, when Finish is set, completes each run at once the
// way the real runner does, by rewriting the execution's wire.ExecutionRecord.
type FlowTestRunner struct {
	Store store.Store
	Now   func() time.Time
	// Finish is the status a started run ends in; "" leaves it InProgress.
	Finish wire.ExecutionStatus
	// StartErr, when set, is what Start returns.
	StartErr error

	mu      sync.Mutex
	Started []string   // execution ids, in order
	Cancels [][]string // the ids of each Cancel call
}

func (r *FlowTestRunner) Start(ctx context.Context, accountID, flowName, executionID string) error {
	r.mu.Lock()
	r.Started = append(r.Started, executionID)
	r.mu.Unlock()
	if r.StartErr != nil {
		return r.StartErr
	}
	if r.Finish == "" {
		return nil
	}
	return r.set(ctx, accountID, flowName, executionID, r.Finish, func(rec *wire.ExecutionRecord) {
		n := int64(3)
		rec.ExecutionResult = &wire.ExecutionResult{RecordsProcessed: &n, BytesProcessed: &n, BytesWritten: &n}
		if r.Finish == wire.ExecutionStatusError {
			rec.ExecutionResult.ErrorInfo = &wire.ErrorInfo{ExecutionMessage: "source bucket is missing"}
		}
	})
}

// Cancel moves InProgress runs to CancelStarted and then Canceled, and
// reports the others as not running.
func (r *FlowTestRunner) Cancel(ctx context.Context, accountID, flowName string, ids []string) ([]string, error) {
	r.mu.Lock()
	r.Cancels = append(r.Cancels, slices.Clone(ids))
	r.mu.Unlock()
	var notRunning []string
	for _, id := range ids {
		e, err := r.Store.ExecutionGet(ctx, accountID, flowName, id)
		if err != nil || e.Status != string(wire.ExecutionStatusInProgress) {
			notRunning = append(notRunning, id)
			continue
		}
		for _, st := range []wire.ExecutionStatus{wire.ExecutionStatusCancelStarted, wire.ExecutionStatusCanceled} {
			if err := r.set(ctx, accountID, flowName, id, st, nil); err != nil {
				return nil, err
			}
		}
	}
	return notRunning, nil
}

func (r *FlowTestRunner) set(ctx context.Context, accountID, flowName, id string, st wire.ExecutionStatus, edit func(*wire.ExecutionRecord)) error {
	e, err := r.Store.ExecutionGet(ctx, accountID, flowName, id)
	if err != nil {
		return err
	}
	var rec wire.ExecutionRecord
	if err := json.Unmarshal(e.Doc, &rec); err != nil {
		return err
	}
	now := r.Now()
	rec.ExecutionStatus, rec.LastUpdatedAt = st, wire.NewTimestamp(now)
	if edit != nil {
		edit(&rec)
	}
	e.Doc, _ = json.Marshal(&rec)
	e.Status, e.UpdatedAt = string(st), now
	return r.Store.ExecutionUpdate(ctx, e)
}

// StartedIDs returns a copy of the started execution ids.
func (r *FlowTestRunner) StartedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.Started)
}

// CancelCalls returns a copy of the ids of each Cancel call.
func (r *FlowTestRunner) CancelCalls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.Cancels)
}

// FlowTestClock is a clock that moves one millisecond on every reading, so
// that runs started one after another have distinct, ordered times.
type FlowTestClock struct {
	mu sync.Mutex
	t  time.Time
}

func NewFlowTestClock() *FlowTestClock {
	return &FlowTestClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *FlowTestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// FlowTestRegistry is a registry with the built-in connector catalog, as
// appflowd serves it.
func FlowTestRegistry() *connector.Registry {
	r := connector.NewRegistry()
	catalog.RegisterAll(r)
	return r
}

const flowTestAccount = "123456789012"

type flowEnv struct {
	svc    *Service
	store  store.Store
	runner *FlowTestRunner
	clock  *FlowTestClock
	path   string
}

// newFlowEnv opens a SQLite store in a temporary directory and a Service on
// it with the test registry, a ticking clock and a runner that finishes runs
// Successful (nil runner when noRunner).
func newFlowEnv(t *testing.T, noRunner bool) *flowEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "appflowd.db")
	st, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	env := &flowEnv{store: st, clock: NewFlowTestClock(), path: path}
	d := Deps{Store: st, Registry: FlowTestRegistry(), Now: env.clock.Now, DefaultAccountID: flowTestAccount, Region: "us-east-1"}
	if !noRunner {
		env.runner = &FlowTestRunner{Store: st, Now: env.clock.Now, Finish: wire.ExecutionStatusSuccessful}
		d.Runner = env.runner
	}
	env.svc = New(d)
	return env
}

func (e *flowEnv) profile(t *testing.T, name, typ, label string) {
	t.Helper()
	err := e.store.ProfileCreate(context.Background(), &store.Profile{AccountID: flowTestAccount, Name: name,
		Arn: "arn:aws:appflow:us-east-1:" + flowTestAccount + ":connectorprofile/" + name, ConnectorType: typ, Label: label, Doc: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
}

// registration registers a custom connector that can be a source, and a
// destination when dest, with schedules as frequent as freq.
func (e *flowEnv) registration(t *testing.T, label string, dest bool, freq wire.ScheduleFrequencyType) {
	t.Helper()
	doc, err := json.Marshal(&registrationDoc{Configuration: wire.ConnectorConfiguration{
		CanUseAsSource: flowPtr(true), CanUseAsDestination: flowPtr(dest), ConnectorLabel: label,
		SupportedTriggerTypes:          []wire.TriggerType{wire.TriggerTypeOnDemand, wire.TriggerTypeScheduled},
		SupportedSchedulingFrequencies: []wire.ScheduleFrequencyType{freq, wire.ScheduleFrequencyTypeDaily},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = e.store.RegistrationCreate(context.Background(), &store.Registration{AccountID: flowTestAccount, Label: label,
		Arn: "arn:aws:appflow:us-east-1:" + flowTestAccount + ":connector/" + label, Doc: doc})
	if err != nil {
		t.Fatal(err)
	}
}

// flowS3 is an S3-to-S3 flow of the given trigger type.
func flowS3(name string, trigger wire.TriggerType) *wire.CreateFlowRequest {
	in := &wire.CreateFlowRequest{
		FlowName:      name,
		Description:   "copy orders",
		TriggerConfig: &wire.TriggerConfig{TriggerType: trigger},
		SourceFlowConfig: &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeS3,
			SourceConnectorProperties: &wire.SourceConnectorProperties{S3: &wire.S3SourceProperties{BucketName: "src-bucket", BucketPrefix: "in"}}},
		DestinationFlowConfigList: []wire.DestinationFlowConfig{{ConnectorType: wire.ConnectorTypeS3,
			DestinationConnectorProperties: &wire.DestinationConnectorProperties{S3: &wire.S3DestinationProperties{BucketName: "dst-bucket"}}}},
		Tasks: []wire.Task{{TaskType: wire.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: "id",
			ConnectorOperator: &wire.ConnectorOperator{S3: wire.S3ConnectorOperatorNoOp}}},
	}
	if trigger == wire.TriggerTypeScheduled {
		in.TriggerConfig.TriggerProperties = &wire.TriggerProperties{Scheduled: &wire.ScheduledTriggerProperties{ScheduleExpression: "rate(5minutes)"}}
	}
	return in
}

// flowSalesforce reads Account from Salesforce profile sf into S3.
func flowSalesforce(name string, trigger wire.TriggerType) *wire.CreateFlowRequest {
	in := flowS3(name, trigger)
	in.SourceFlowConfig = &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeSalesforce, ConnectorProfileName: "sf",
		SourceConnectorProperties: &wire.SourceConnectorProperties{Salesforce: &wire.SalesforceSourceProperties{Object: "Account"}}}
	in.Tasks = []wire.Task{
		{TaskType: wire.TaskTypeFilter, SourceFields: []string{"Id", "Name"}, ConnectorOperator: &wire.ConnectorOperator{Salesforce: wire.SalesforceConnectorOperatorProjection}},
		{TaskType: wire.TaskTypeMap, SourceFields: []string{"Id"}, DestinationField: "Id", ConnectorOperator: &wire.ConnectorOperator{Salesforce: wire.SalesforceConnectorOperatorNoOp}},
	}
	return in
}

func flowWantCode(t *testing.T, err error, code fault.Code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v %q", code, msg)
	}
	if got := fault.CodeOf(err); got != code {
		t.Fatalf("got error code %v (%v), want %v", got, err, code)
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		t.Fatalf("got message %q, want it to contain %q", err.Error(), msg)
	}
}

func TestCreateFlowInitialStatus(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	env.profile(t, "sf", "Salesforce", "")
	for _, tc := range []struct {
		in   *wire.CreateFlowRequest
		want wire.FlowStatus
	}{
		{flowS3("ondemand", wire.TriggerTypeOnDemand), wire.FlowStatusActive},
		{flowS3("scheduled", wire.TriggerTypeScheduled), wire.FlowStatusDraft},
		{flowSalesforce("event", wire.TriggerTypeEvent), wire.FlowStatusDraft},
	} {
		out, err := env.svc.CreateFlow(ctx, tc.in)
		if err != nil {
			t.Fatalf("CreateFlow %s: %v", tc.in.FlowName, err)
		}
		if out.FlowStatus != tc.want {
			t.Errorf("CreateFlow %s: got status %s, want %s", tc.in.FlowName, out.FlowStatus, tc.want)
		}
		if want := "arn:aws:appflow:us-east-1:" + flowTestAccount + ":flow/" + tc.in.FlowName; out.FlowArn != want {
			t.Errorf("CreateFlow %s: got arn %s, want %s", tc.in.FlowName, out.FlowArn, want)
		}
	}
}

func TestDescribeFlowEchoesDefinition(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	in := flowS3("orders", wire.TriggerTypeScheduled)
	f := false
	in.DestinationFlowConfigList[0].DestinationConnectorProperties.S3.S3OutputFormatConfig = &wire.S3OutputFormatConfig{
		FileType: wire.FileTypeParquet, PreserveSourceDataTyping: &f,
		PrefixConfig: &wire.PrefixConfig{PrefixType: wire.PrefixTypePath, PathPrefixHierarchy: []wire.PathPrefix{wire.PathPrefixSchemaVersion}}}
	off := int64(0)
	in.TriggerConfig.TriggerProperties.Scheduled.ScheduleOffset = &off
	in.TriggerConfig.TriggerProperties.Scheduled.DataPullMode = wire.DataPullModeIncremental
	in.Tags = map[string]string{"env": "test", "team": ""}
	in.KmsArn = "arn:aws:kms:us-east-1:123456789012:key/abc"
	created, err := env.svc.CreateFlow(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	one := int64(1)
	principal := "arn:aws:iam::" + flowTestAccount + ":root"
	want := &wire.DescribeFlowResponse{
		FlowArn: created.FlowArn, FlowName: "orders", Description: in.Description, KmsArn: in.KmsArn,
		FlowStatus: wire.FlowStatusDraft, SourceFlowConfig: in.SourceFlowConfig, DestinationFlowConfigList: in.DestinationFlowConfigList,
		Tasks: in.Tasks, TriggerConfig: in.TriggerConfig, Tags: in.Tags, SchemaVersion: &one,
		CreatedBy: principal, LastUpdatedBy: principal, CreatedAt: got.CreatedAt, LastUpdatedAt: got.CreatedAt,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DescribeFlow (-want +got):\n%s", diff)
	}
	if got.CreatedAt == nil || got.CreatedAt.IsZero() {
		t.Errorf("got createdAt %v, want a time", got.CreatedAt)
	}
	// The explicit false survives the store and the wire encoding.
	body, _ := json.Marshal(got)
	if !strings.Contains(string(body), `"preserveSourceDataTyping":false`) {
		t.Errorf("DescribeFlow JSON %s lacks the explicit preserveSourceDataTyping false", body)
	}
}

func TestCreateFlowDefaultsAndNormalization(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	env.profile(t, "sf", "Salesforce", "")
	env.profile(t, "rs", "Redshift", "")
	in := flowSalesforce("norm", wire.TriggerTypeOnDemand)
	in.DestinationFlowConfigList = []wire.DestinationFlowConfig{{ConnectorType: wire.ConnectorTypeRedshift, ConnectorProfileName: "rs",
		DestinationConnectorProperties: &wire.DestinationConnectorProperties{Redshift: &wire.RedshiftDestinationProperties{
			Object: "public.accounts", IntermediateBucketName: "stage", ErrorHandlingConfig: &wire.ErrorHandlingConfig{BucketName: "errors"}}}}}
	in.Tasks = append(in.Tasks, wire.Task{TaskType: wire.TaskTypeMapAll, SourceFields: []string{""}})
	in.Tasks = in.Tasks[1:] // Map_all instead of the projection
	if _, err := env.svc.CreateFlow(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "norm"})
	if err != nil {
		t.Fatal(err)
	}
	ehc := got.DestinationFlowConfigList[0].DestinationConnectorProperties.Redshift.ErrorHandlingConfig
	if ehc.FailOnFirstDestinationError == nil || *ehc.FailOnFirstDestinationError {
		t.Errorf("got failOnFirstDestinationError %v, want an explicit false", ehc.FailOnFirstDestinationError)
	}
	if ehc.BucketName != "errors" {
		t.Errorf("got errorHandlingConfig.bucketName %q, want errors", ehc.BucketName)
	}
	last := got.Tasks[len(got.Tasks)-1]
	if last.TaskType != wire.TaskTypeMapAll || len(last.SourceFields) != 0 {
		t.Errorf("got Map_all task %+v, want empty sourceFields", last)
	}
	wantKMS := env.svc.flowDefaultKMSArn(ctx)
	if got.KmsArn != wantKMS || !strings.HasPrefix(wantKMS, "arn:aws:kms:us-east-1:"+flowTestAccount+":key/") {
		t.Errorf("got kmsArn %q, want the account default %q", got.KmsArn, wantKMS)
	}
	if got.Tags != nil {
		t.Errorf("got tags %v, want none", got.Tags)
	}
}

func TestCreateFlowRefusals(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	env.profile(t, "sf", "Salesforce", "")
	env.profile(t, "amp", "Amplitude", "")
	env.profile(t, "cc-unregistered", "CustomConnector", "ghost")
	env.profile(t, "cc-source-only", "CustomConnector", "source-only")
	env.registration(t, "source-only", false, "HOURLY")
	if _, err := env.svc.CreateFlow(ctx, flowS3("taken", wire.TriggerTypeOnDemand)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*wire.CreateFlowRequest)
		code fault.Code
		msg  string
	}{
		{"name taken", func(in *wire.CreateFlowRequest) { in.FlowName = "taken" },
			fault.Conflict, "Conflict executing request: Flow with name taken already exists."},
		{"missing profile", func(in *wire.CreateFlowRequest) { in.SourceFlowConfig.ConnectorProfileName = "nope" },
			fault.NotFound, "Connector Profile with name nope does not exist."},
		{"missing destination profile", func(in *wire.CreateFlowRequest) {
			in.DestinationFlowConfigList[0] = wire.DestinationFlowConfig{ConnectorType: wire.ConnectorTypeRedshift, ConnectorProfileName: "rs-missing",
				DestinationConnectorProperties: &wire.DestinationConnectorProperties{Redshift: &wire.RedshiftDestinationProperties{Object: "t", IntermediateBucketName: "b"}}}
		}, fault.NotFound, "Connector Profile with name rs-missing does not exist."},
		{"profile of another type", func(in *wire.CreateFlowRequest) { in.SourceFlowConfig.ConnectorProfileName = "amp" },
			fault.Invalid, "Connector Profile amp is of connector type Amplitude"},
		{"no profile for a profile connector", func(in *wire.CreateFlowRequest) { in.SourceFlowConfig.ConnectorProfileName = "" },
			fault.Invalid, "connectorProfileName is required"},
		{"two destinations", func(in *wire.CreateFlowRequest) {
			in.DestinationFlowConfigList = append(in.DestinationFlowConfigList, in.DestinationFlowConfigList[0])
		}, fault.Invalid, "Exactly one destination"},
		{"no destination", func(in *wire.CreateFlowRequest) { in.DestinationFlowConfigList = []wire.DestinationFlowConfig{} },
			fault.Invalid, "Exactly one destination"},
		{"destination-only connector as source", func(in *wire.CreateFlowRequest) {
			in.SourceFlowConfig = &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeRedshift, ConnectorProfileName: "sf",
				SourceConnectorProperties: &wire.SourceConnectorProperties{}}
		}, fault.Invalid, "Redshift cannot be used as a source"},
		{"source-only connector as destination", func(in *wire.CreateFlowRequest) {
			in.DestinationFlowConfigList[0] = wire.DestinationFlowConfig{ConnectorType: wire.ConnectorTypeAmplitude, ConnectorProfileName: "amp",
				DestinationConnectorProperties: &wire.DestinationConnectorProperties{}}
		}, fault.Invalid, "Amplitude cannot be used as a destination"},
		{"unregistered custom connector", func(in *wire.CreateFlowRequest) {
			in.SourceFlowConfig = &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorProfileName: "cc-unregistered",
				SourceConnectorProperties: &wire.SourceConnectorProperties{CustomConnector: &wire.CustomConnectorSourceProperties{EntityName: "x"}}}
		}, fault.NotFound, "Connector:ghost is not registered."},
		{"custom connector that is no destination", func(in *wire.CreateFlowRequest) {
			in.DestinationFlowConfigList[0] = wire.DestinationFlowConfig{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorProfileName: "cc-source-only",
				DestinationConnectorProperties: &wire.DestinationConnectorProperties{CustomConnector: &wire.CustomConnectorDestinationProperties{EntityName: "x"}}}
		}, fault.Invalid, "Connector type source-only cannot be used as a destination"},
		{"custom connector trigger", func(in *wire.CreateFlowRequest) {
			in.SourceFlowConfig = &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorProfileName: "cc-source-only",
				SourceConnectorProperties: &wire.SourceConnectorProperties{CustomConnector: &wire.CustomConnectorSourceProperties{EntityName: "x"}}}
			in.Tasks[0].ConnectorOperator = &wire.ConnectorOperator{CustomConnector: wire.OperatorProjection}
			in.Tasks[1].ConnectorOperator = &wire.ConnectorOperator{CustomConnector: wire.OperatorNoOp}
			in.TriggerConfig = &wire.TriggerConfig{TriggerType: wire.TriggerTypeScheduled,
				TriggerProperties: &wire.TriggerProperties{Scheduled: &wire.ScheduledTriggerProperties{ScheduleExpression: "rate(5minutes)"}}}
		}, fault.Invalid, "at most one run every 1 hour"},
		{"properties of another connector", func(in *wire.CreateFlowRequest) {
			in.SourceFlowConfig.SourceConnectorProperties = &wire.SourceConnectorProperties{S3: &wire.S3SourceProperties{BucketName: "b"}}
		}, fault.Invalid, "sourceConnectorProperties.Salesforce is required"},
		{"event trigger on a source without events", func(in *wire.CreateFlowRequest) {
			in.SourceFlowConfig = &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeAmplitude, ConnectorProfileName: "amp",
				SourceConnectorProperties: &wire.SourceConnectorProperties{Amplitude: &wire.AmplitudeSourceProperties{Object: "EVENTS"}}}
			in.TriggerConfig = &wire.TriggerConfig{TriggerType: wire.TriggerTypeEvent}
		}, fault.Invalid, "Trigger type Event is not supported for source connector Amplitude"},
		{"scheduled without an expression", func(in *wire.CreateFlowRequest) {
			in.TriggerConfig = &wire.TriggerConfig{TriggerType: wire.TriggerTypeScheduled}
		}, fault.Invalid, "scheduleExpression is required"},
		{"bad schedule expression", func(in *wire.CreateFlowRequest) {
			in.TriggerConfig = &wire.TriggerConfig{TriggerType: wire.TriggerTypeScheduled,
				TriggerProperties: &wire.TriggerProperties{Scheduled: &wire.ScheduledTriggerProperties{ScheduleExpression: "every 5 minutes"}}}
		}, fault.Invalid, "rate(...) or cron(...)"},
		{"schedule more frequent than the source allows", func(in *wire.CreateFlowRequest) {
			in.SourceFlowConfig = &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeAmplitude, ConnectorProfileName: "amp",
				SourceConnectorProperties: &wire.SourceConnectorProperties{Amplitude: &wire.AmplitudeSourceProperties{Object: "EVENTS"}}}
			in.TriggerConfig = &wire.TriggerConfig{TriggerType: wire.TriggerTypeScheduled,
				TriggerProperties: &wire.TriggerProperties{Scheduled: &wire.ScheduledTriggerProperties{ScheduleExpression: "rate(1hours)"}}}
		}, fault.Invalid, "at most one run every 1 day"},
		{"no projection for a record source", func(in *wire.CreateFlowRequest) { in.Tasks = in.Tasks[1:] },
			fault.Invalid, "Create Flow request failed: [Task Validation Error: You must specify a projection task or a MAP_ALL task]"},
		{"task the transform refuses", func(in *wire.CreateFlowRequest) { in.Tasks[1].SourceFields = []string{"a", "b"} },
			fault.Invalid, "needs exactly one source field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := flowSalesforce("refused", wire.TriggerTypeOnDemand)
			tc.edit(in)
			_, err := env.svc.CreateFlow(ctx, in)
			flowWantCode(t, err, tc.code, tc.msg)
			if tc.name != "name taken" {
				if _, err := env.store.FlowGet(ctx, flowTestAccount, in.FlowName); !store.IsNotFound(err) {
					t.Errorf("a refused CreateFlow stored flow %s (err %v)", in.FlowName, err)
				}
			}
		})
	}
}

func TestCreateFlowUnknownConnectorType(t *testing.T) {
	env := newFlowEnv(t, false)
	env.svc.d.Registry = connector.NewRegistry()
	_, err := env.svc.CreateFlow(context.Background(), flowS3("x", wire.TriggerTypeOnDemand))
	flowWantCode(t, err, fault.Invalid, "Connector type S3 is not supported.")
}

func TestCreateFlowQuota(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	for i := range flowQuota {
		name := fmt.Sprintf("f%04d", i)
		if err := env.store.FlowCreate(ctx, &store.Flow{AccountID: flowTestAccount, Name: name, Arn: "arn:" + name, Status: "Active", Doc: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := env.svc.CreateFlow(ctx, flowS3("one-too-many", wire.TriggerTypeOnDemand))
	flowWantCode(t, err, fault.QuotaExceeded, "quota of 1000 flows")
}

func TestClientTokenCreateFlow(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	in := flowS3("tok", wire.TriggerTypeOnDemand)
	in.ClientToken = "token-1"
	first, err := env.svc.CreateFlow(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.svc.CreateFlow(ctx, in)
	if err != nil {
		t.Fatalf("replayed CreateFlow: %v", err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("replayed CreateFlow (-first +again):\n%s", diff)
	}
	other := flowS3("tok", wire.TriggerTypeOnDemand)
	other.ClientToken, other.Description = "token-1", "something else"
	_, err = env.svc.CreateFlow(ctx, other)
	flowWantCode(t, err, fault.Conflict, "client token token-1 was already used with different request parameters")
	// A new token is a new call: the name is taken now.
	in.ClientToken = "token-2"
	_, err = env.svc.CreateFlow(ctx, in)
	flowWantCode(t, err, fault.Conflict, "already exists")
}

func TestUpdateFlow(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	in := flowS3("upd", wire.TriggerTypeOnDemand)
	in.Tags = map[string]string{"k": "v"}
	if _, err := env.svc.CreateFlow(ctx, in); err != nil {
		t.Fatal(err)
	}
	before, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "upd"})
	if err != nil {
		t.Fatal(err)
	}
	update := func(edit func(*wire.UpdateFlowRequest)) (*wire.UpdateFlowResponse, *wire.DescribeFlowResponse) {
		t.Helper()
		cur, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "upd"})
		if err != nil {
			t.Fatal(err)
		}
		u := &wire.UpdateFlowRequest{FlowName: "upd", Description: cur.Description, TriggerConfig: cur.TriggerConfig,
			SourceFlowConfig: cur.SourceFlowConfig, DestinationFlowConfigList: cur.DestinationFlowConfigList, Tasks: cur.Tasks}
		edit(u)
		out, err := env.svc.UpdateFlow(ctx, u)
		if err != nil {
			t.Fatalf("UpdateFlow: %v", err)
		}
		after, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "upd"})
		if err != nil {
			t.Fatal(err)
		}
		return out, after
	}

	// Description only: same schema version; description omitted is cleared.
	out, after := update(func(u *wire.UpdateFlowRequest) { u.Description = "" })
	if out.FlowStatus != wire.FlowStatusActive {
		t.Errorf("got status %s, want Active", out.FlowStatus)
	}
	if after.Description != "" {
		t.Errorf("got description %q after an update without one, want it cleared", after.Description)
	}
	if *after.SchemaVersion != 1 {
		t.Errorf("got schemaVersion %d after a description change, want 1", *after.SchemaVersion)
	}
	for _, c := range []struct{ name, got, want string }{
		{"flowArn", after.FlowArn, before.FlowArn},
		{"kmsArn", after.KmsArn, before.KmsArn},
		{"createdBy", after.CreatedBy, before.CreatedBy},
		{"createdAt", after.CreatedAt.String(), before.CreatedAt.String()},
		{"tags", fmt.Sprint(after.Tags), fmt.Sprint(before.Tags)},
	} {
		if c.got != c.want {
			t.Errorf("UpdateFlow changed %s: got %s, want %s", c.name, c.got, c.want)
		}
	}
	if !after.LastUpdatedAt.After(before.LastUpdatedAt.Time) {
		t.Errorf("got lastUpdatedAt %v, want after %v", after.LastUpdatedAt, before.LastUpdatedAt)
	}

	// A mapping change bumps the schema version.
	_, after = update(func(u *wire.UpdateFlowRequest) { u.Tasks[0].DestinationField = "order_id" })
	if *after.SchemaVersion != 2 {
		t.Errorf("got schemaVersion %d after a mapping change, want 2", *after.SchemaVersion)
	}
	// Reordering tasks does not.
	_, after = update(func(u *wire.UpdateFlowRequest) {
		u.Tasks = append(u.Tasks, wire.Task{TaskType: wire.TaskTypeMap, SourceFields: []string{"name"}, DestinationField: "name"})
	})
	_, after2 := update(func(u *wire.UpdateFlowRequest) { slices.Reverse(u.Tasks) })
	if *after2.SchemaVersion != *after.SchemaVersion {
		t.Errorf("reordering tasks moved schemaVersion from %d to %d", *after.SchemaVersion, *after2.SchemaVersion)
	}
	// A data type change does.
	_, after3 := update(func(u *wire.UpdateFlowRequest) {
		u.Tasks[0].TaskProperties = map[string]string{"DESTINATION_DATA_TYPE": "integer"}
	})
	if *after3.SchemaVersion != *after2.SchemaVersion+1 {
		t.Errorf("got schemaVersion %d after a data type change, want %d", *after3.SchemaVersion, *after2.SchemaVersion+1)
	}

	// OnDemand -> Scheduled: Draft; activate; an update keeps it Active;
	// back to OnDemand: Active.
	sched := &wire.TriggerConfig{TriggerType: wire.TriggerTypeScheduled,
		TriggerProperties: &wire.TriggerProperties{Scheduled: &wire.ScheduledTriggerProperties{ScheduleExpression: "rate(1hours)"}}}
	out, _ = update(func(u *wire.UpdateFlowRequest) { u.TriggerConfig = sched })
	if out.FlowStatus != wire.FlowStatusDraft {
		t.Errorf("OnDemand -> Scheduled: got %s, want Draft", out.FlowStatus)
	}
	if _, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "upd"}); err != nil {
		t.Fatal(err)
	}
	out, _ = update(func(u *wire.UpdateFlowRequest) {
		u.TriggerConfig.TriggerProperties.Scheduled.ScheduleExpression = "rate(2hours)"
	})
	if out.FlowStatus != wire.FlowStatusActive {
		t.Errorf("active Scheduled stays Scheduled: got %s, want Active", out.FlowStatus)
	}
	out, _ = update(func(u *wire.UpdateFlowRequest) {
		u.TriggerConfig = &wire.TriggerConfig{TriggerType: wire.TriggerTypeOnDemand}
	})
	if out.FlowStatus != wire.FlowStatusActive {
		t.Errorf("Scheduled -> OnDemand: got %s, want Active", out.FlowStatus)
	}

	// Refusals: unknown flow, missing profile, clientToken reuse.
	u := &wire.UpdateFlowRequest{FlowName: "nope", TriggerConfig: in.TriggerConfig, SourceFlowConfig: in.SourceFlowConfig,
		DestinationFlowConfigList: in.DestinationFlowConfigList, Tasks: in.Tasks}
	_, err = env.svc.UpdateFlow(ctx, u)
	flowWantCode(t, err, fault.NotFound, "Flow with name nope does not exist.")
	u.FlowName = "upd"
	u.SourceFlowConfig = &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeSalesforce, ConnectorProfileName: "gone",
		SourceConnectorProperties: &wire.SourceConnectorProperties{Salesforce: &wire.SalesforceSourceProperties{Object: "Account"}}}
	_, err = env.svc.UpdateFlow(ctx, u)
	flowWantCode(t, err, fault.NotFound, "Connector Profile with name gone does not exist.")

	u = &wire.UpdateFlowRequest{FlowName: "upd", ClientToken: "u1", TriggerConfig: in.TriggerConfig, SourceFlowConfig: in.SourceFlowConfig,
		DestinationFlowConfigList: in.DestinationFlowConfigList, Tasks: in.Tasks}
	if _, err := env.svc.UpdateFlow(ctx, u); err != nil {
		t.Fatal(err)
	}
	mid, _ := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "upd"})
	if _, err := env.svc.UpdateFlow(ctx, u); err != nil {
		t.Fatalf("replayed UpdateFlow: %v", err)
	}
	end, _ := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "upd"})
	if !end.LastUpdatedAt.Equal(mid.LastUpdatedAt.Time) {
		t.Errorf("a replayed UpdateFlow updated the flow again: lastUpdatedAt %v -> %v", mid.LastUpdatedAt, end.LastUpdatedAt)
	}
	u.Description = "changed"
	_, err = env.svc.UpdateFlow(ctx, u)
	flowWantCode(t, err, fault.Conflict, "different request parameters")
}

func TestStartStopScheduledAndEvent(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	env.profile(t, "sf", "Salesforce", "")
	for _, in := range []*wire.CreateFlowRequest{flowS3("sched", wire.TriggerTypeScheduled), flowSalesforce("event", wire.TriggerTypeEvent)} {
		name := in.FlowName
		if _, err := env.svc.CreateFlow(ctx, in); err != nil {
			t.Fatal(err)
		}
		_, err := env.svc.StopFlow(ctx, &wire.StopFlowRequest{FlowName: name})
		flowWantCode(t, err, fault.Conflict, "not active")

		out, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: name})
		if err != nil {
			t.Fatal(err)
		}
		if out.FlowStatus != wire.FlowStatusActive || out.ExecutionId != "" {
			t.Errorf("%s: StartFlow got %+v, want Active and no executionId", name, out)
		}
		_, err = env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: name})
		flowWantCode(t, err, fault.Conflict, "already active")

		_, err = env.svc.DeleteFlow(ctx, &wire.DeleteFlowRequest{FlowName: name})
		flowWantCode(t, err, fault.Conflict, "Conflict executing request: Flow is in active state, please set forceDelete to true or deactivate the flow: "+name)

		stop, err := env.svc.StopFlow(ctx, &wire.StopFlowRequest{FlowName: name})
		if err != nil {
			t.Fatal(err)
		}
		if stop.FlowStatus != wire.FlowStatusSuspended {
			t.Errorf("%s: StopFlow got %s, want Suspended", name, stop.FlowStatus)
		}
		again, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: name})
		if err != nil || again.FlowStatus != wire.FlowStatusActive {
			t.Fatalf("%s: reactivating got %+v, %v; want Active", name, again, err)
		}
		if got := env.runner.StartedIDs(); len(got) != 0 {
			t.Errorf("%s: activation started runs %v, want none", name, got)
		}
		if _, err := env.svc.DeleteFlow(ctx, &wire.DeleteFlowRequest{FlowName: name, ForceDelete: flowPtr(true)}); err != nil {
			t.Fatalf("%s: forced delete: %v", name, err)
		}
		_, err = env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: name})
		flowWantCode(t, err, fault.NotFound, "")
	}
	// A Draft flow deletes without forceDelete.
	if _, err := env.svc.CreateFlow(ctx, flowS3("draft", wire.TriggerTypeScheduled)); err != nil {
		t.Fatal(err)
	}
	if _, err := env.svc.DeleteFlow(ctx, &wire.DeleteFlowRequest{FlowName: "draft"}); err != nil {
		t.Errorf("deleting a Draft flow: %v", err)
	}
}

func flowPtr[T any](v T) *T { return &v }

func TestStartFlowOnDemand(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	if _, err := env.svc.CreateFlow(ctx, flowS3("od", wire.TriggerTypeOnDemand)); err != nil {
		t.Fatal(err)
	}
	out, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "od"})
	if err != nil {
		t.Fatal(err)
	}
	if out.ExecutionId == "" || out.FlowStatus != wire.FlowStatusActive {
		t.Fatalf("StartFlow got %+v, want an executionId and Active", out)
	}
	if got := env.runner.StartedIDs(); !slices.Equal(got, []string{out.ExecutionId}) {
		t.Errorf("runner started %v, want [%s]", got, out.ExecutionId)
	}
	_, err = env.svc.StopFlow(ctx, &wire.StopFlowRequest{FlowName: "od"})
	flowWantCode(t, err, fault.Unsupported, "not supported for on-demand flows")

	d, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "od"})
	if err != nil {
		t.Fatal(err)
	}
	lr := d.LastRunExecutionDetails
	if lr == nil || lr.MostRecentExecutionStatus != wire.ExecutionStatusSuccessful || lr.MostRecentExecutionMessage != "Successfully ran the flow" || lr.MostRecentExecutionTime == nil {
		t.Errorf("got lastRunExecutionDetails %+v, want Successful with AppFlow's message and a time", lr)
	}

	// A failed start leaves an Error record and reports the failure.
	env.runner.StartErr = fault.New(fault.QuotaExceeded, "too many concurrent runs")
	_, err = env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "od"})
	flowWantCode(t, err, fault.QuotaExceeded, "too many concurrent runs")
	recs, err := env.svc.DescribeFlowExecutionRecords(ctx, &wire.DescribeFlowExecutionRecordsRequest{FlowName: "od"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs.FlowExecutions) != 2 || recs.FlowExecutions[0].ExecutionStatus != wire.ExecutionStatusError {
		t.Errorf("after a failed start got records %+v, want the newest in Error", recs.FlowExecutions)
	}

	_, err = env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "missing"})
	flowWantCode(t, err, fault.NotFound, "Flow with name missing does not exist.")
}

func TestStartFlowWithoutEngine(t *testing.T) {
	env := newFlowEnv(t, true)
	ctx := context.Background()
	if _, err := env.svc.CreateFlow(ctx, flowS3("od", wire.TriggerTypeOnDemand)); err != nil {
		t.Fatal(err)
	}
	out, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "od"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := env.store.ExecutionGet(ctx, flowTestAccount, "od", out.ExecutionId)
	if err != nil {
		t.Fatalf("no record for execution %q: %v", out.ExecutionId, err)
	}
	var rec wire.ExecutionRecord
	if err := json.Unmarshal(e.Doc, &rec); err != nil {
		t.Fatal(err)
	}
	if e.Status != "Error" || rec.ExecutionStatus != wire.ExecutionStatusError {
		t.Errorf("got status %s / %s, want Error", e.Status, rec.ExecutionStatus)
	}
	if rec.ExecutionResult == nil || rec.ExecutionResult.ErrorInfo == nil || rec.ExecutionResult.ErrorInfo.ExecutionMessage != execNoEngine {
		t.Errorf("got result %+v, want executionMessage %q", rec.ExecutionResult, execNoEngine)
	}
	if rec.ExecutionId != out.ExecutionId || rec.StartedAt == nil || rec.LastUpdatedAt == nil {
		t.Errorf("got record %+v, want id %s with startedAt and lastUpdatedAt", rec, out.ExecutionId)
	}
}

func TestStartFlowClientToken(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	for _, in := range []*wire.CreateFlowRequest{flowS3("fa", wire.TriggerTypeOnDemand), flowS3("fb", wire.TriggerTypeOnDemand),
		flowS3("sched", wire.TriggerTypeScheduled)} {
		if _, err := env.svc.CreateFlow(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	first, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "fa", ClientToken: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "fa", ClientToken: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ExecutionId != first.ExecutionId {
		t.Errorf("replay got executionId %s, want %s", again.ExecutionId, first.ExecutionId)
	}
	if n := len(env.runner.StartedIDs()); n != 1 {
		t.Errorf("replay started %d runs, want 1", n)
	}
	// The same token on another on-demand flow is a new run.
	other, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "fb", ClientToken: "t1"})
	if err != nil {
		t.Fatalf("token reused for another on-demand flow: %v", err)
	}
	if other.ExecutionId == "" || other.ExecutionId == first.ExecutionId {
		t.Errorf("got executionId %q for flow b, want a new one", other.ExecutionId)
	}
	// ... but on a scheduled flow it is a conflict.
	_, err = env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "sched", ClientToken: "t1"})
	flowWantCode(t, err, fault.Conflict, "different request parameters")
	if n := len(env.runner.StartedIDs()); n != 2 {
		t.Errorf("got %d runs, want 2", n)
	}
}

func TestDeleteFlow(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	in := flowS3("del", wire.TriggerTypeOnDemand)
	in.Tags = map[string]string{"a": "1"}
	created, err := env.svc.CreateFlow(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "del"}); err != nil {
		t.Fatal(err)
	}
	// A run in progress needs forceDelete, which cancels it.
	env.runner.Finish = ""
	run, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "del"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.svc.DeleteFlow(ctx, &wire.DeleteFlowRequest{FlowName: "del"})
	flowWantCode(t, err, fault.Conflict, "in progress")
	if _, err := env.svc.DeleteFlow(ctx, &wire.DeleteFlowRequest{FlowName: "del", ForceDelete: flowPtr(true)}); err != nil {
		t.Fatal(err)
	}
	if calls := env.runner.CancelCalls(); len(calls) != 1 || !slices.Equal(calls[0], []string{run.ExecutionId}) {
		t.Errorf("got Cancel calls %v, want one for %s", calls, run.ExecutionId)
	}
	tags, err := env.store.TagsGet(ctx, created.FlowArn)
	if err != nil || len(tags) != 0 {
		t.Errorf("tags after delete: %v, %v; want none", tags, err)
	}
	_, err = env.svc.DeleteFlow(ctx, &wire.DeleteFlowRequest{FlowName: "del"})
	flowWantCode(t, err, fault.NotFound, "")

	// The name is reusable, without the old runs or tags.
	if _, err := env.svc.CreateFlow(ctx, flowS3("del", wire.TriggerTypeOnDemand)); err != nil {
		t.Fatal(err)
	}
	d, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "del"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Tags != nil || d.LastRunExecutionDetails != nil {
		t.Errorf("recreated flow has tags %v and last run %+v, want neither", d.Tags, d.LastRunExecutionDetails)
	}
}

func TestDescribeFlowExecutionRecordsPaging(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	if _, err := env.svc.CreateFlow(ctx, flowS3("runs", wire.TriggerTypeOnDemand)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 5 {
		out, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "runs"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.ExecutionId)
	}
	slices.Reverse(ids) // newest first
	var got []string
	var pages []int
	token := ""
	for {
		out, err := env.svc.DescribeFlowExecutionRecords(ctx, &wire.DescribeFlowExecutionRecordsRequest{FlowName: "runs", MaxResults: flowPtr(int32(2)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(out.FlowExecutions))
		for _, r := range out.FlowExecutions {
			got = append(got, r.ExecutionId)
			if r.ExecutionStatus != wire.ExecutionStatusSuccessful {
				t.Errorf("run %s: got %s, want Successful", r.ExecutionId, r.ExecutionStatus)
			}
		}
		if out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	if !slices.Equal(got, ids) {
		t.Errorf("got runs %v, want newest first %v", got, ids)
	}
	if !slices.Equal(pages, []int{2, 2, 1}) {
		t.Errorf("got page sizes %v, want [2 2 1] (no trailing empty page)", pages)
	}
	_, err := env.svc.DescribeFlowExecutionRecords(ctx, &wire.DescribeFlowExecutionRecordsRequest{FlowName: "runs", NextToken: "garbage!"})
	flowWantCode(t, err, fault.Invalid, "nextToken")
	_, err = env.svc.DescribeFlowExecutionRecords(ctx, &wire.DescribeFlowExecutionRecordsRequest{FlowName: "nope"})
	flowWantCode(t, err, fault.NotFound, "Flow with name nope does not exist.")
}

func TestCancelFlowExecutions(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	if _, err := env.svc.CreateFlow(ctx, flowS3("fc", wire.TriggerTypeOnDemand)); err != nil {
		t.Fatal(err)
	}
	done, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "fc"})
	if err != nil {
		t.Fatal(err)
	}
	env.runner.Finish = ""
	r1, _ := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "fc"})
	r2, _ := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "fc"})

	out, err := env.svc.CancelFlowExecutions(ctx, &wire.CancelFlowExecutionsRequest{FlowName: "fc",
		ExecutionIds: []string{r1.ExecutionId, done.ExecutionId, "unknown"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{done.ExecutionId, "unknown"}; !slices.Equal(out.InvalidExecutions, want) {
		t.Errorf("got invalidExecutions %v, want %v", out.InvalidExecutions, want)
	}
	// Without ids: every run in progress, i.e. r2 only now.
	out, err = env.svc.CancelFlowExecutions(ctx, &wire.CancelFlowExecutionsRequest{FlowName: "fc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.InvalidExecutions) != 0 {
		t.Errorf("got invalidExecutions %v, want none", out.InvalidExecutions)
	}
	calls := env.runner.CancelCalls()
	if len(calls) != 2 || !slices.Equal(calls[0], []string{r1.ExecutionId}) || !slices.Equal(calls[1], []string{r2.ExecutionId}) {
		t.Errorf("got Cancel calls %v, want [[%s] [%s]]", calls, r1.ExecutionId, r2.ExecutionId)
	}
	for _, id := range []string{r1.ExecutionId, r2.ExecutionId} {
		e, err := env.store.ExecutionGet(ctx, flowTestAccount, "fc", id)
		if err != nil || e.Status != "Canceled" {
			t.Errorf("run %s: got %v, %v; want Canceled", id, e, err)
		}
	}
	d, _ := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "fc"})
	if d.LastRunExecutionDetails == nil || d.LastRunExecutionDetails.MostRecentExecutionStatus != wire.ExecutionStatusCanceled {
		t.Errorf("got lastRunExecutionDetails %+v, want Canceled", d.LastRunExecutionDetails)
	}
	// Nothing left: cancelling everything is a no-op.
	out, err = env.svc.CancelFlowExecutions(ctx, &wire.CancelFlowExecutionsRequest{FlowName: "fc"})
	if err != nil || len(out.InvalidExecutions) != 0 || len(env.runner.CancelCalls()) != 2 {
		t.Errorf("cancel with nothing running: %+v, %v, %d calls; want no-op", out, err, len(env.runner.CancelCalls()))
	}
	_, err = env.svc.CancelFlowExecutions(ctx, &wire.CancelFlowExecutionsRequest{FlowName: "nope"})
	flowWantCode(t, err, fault.NotFound, "")
}

func TestCancelFlowExecutionsWithoutEngine(t *testing.T) {
	env := newFlowEnv(t, true)
	ctx := context.Background()
	if _, err := env.svc.CreateFlow(ctx, flowS3("fc", wire.TriggerTypeOnDemand)); err != nil {
		t.Fatal(err)
	}
	// A run left InProgress by a process that had an engine.
	k := runstate.Key{Account: flowTestAccount, Flow: "fc", ID: "orphan"}
	if _, err := runstate.New(env.store, env.clock.Now).Create(ctx, k, env.clock.Now()); err != nil {
		t.Fatal(err)
	}
	out, err := env.svc.CancelFlowExecutions(ctx, &wire.CancelFlowExecutionsRequest{FlowName: "fc", ExecutionIds: []string{"orphan"}})
	if err != nil || len(out.InvalidExecutions) != 0 {
		t.Fatalf("got %+v, %v; want the orphan canceled", out, err)
	}
	got, _ := env.store.ExecutionGet(ctx, flowTestAccount, "fc", "orphan")
	if got.Status != "Canceled" {
		t.Errorf("got status %s, want Canceled", got.Status)
	}
}

func TestListFlows(t *testing.T) {
	env := newFlowEnv(t, false)
	ctx := context.Background()
	env.profile(t, "cc", "CustomConnector", "my-connector")
	env.registration(t, "my-connector", true, "BYMINUTE")
	var want []string
	for i := range 5 {
		in := flowS3(fmt.Sprintf("flow-%d", i), wire.TriggerTypeOnDemand)
		in.Tags = map[string]string{"i": fmt.Sprint(i)}
		if i == 4 {
			in.SourceFlowConfig = &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorProfileName: "cc",
				SourceConnectorProperties: &wire.SourceConnectorProperties{CustomConnector: &wire.CustomConnectorSourceProperties{EntityName: "things"}}}
			in.Tasks = []wire.Task{{TaskType: wire.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &wire.ConnectorOperator{CustomConnector: wire.OperatorNoOp}}}
		}
		if _, err := env.svc.CreateFlow(ctx, in); err != nil {
			t.Fatal(err)
		}
		want = append(want, in.FlowName)
	}
	if _, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "flow-1"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	var pages []int
	byName := map[string]wire.FlowDefinition{}
	token := ""
	for {
		out, err := env.svc.ListFlows(ctx, &wire.ListFlowsRequest{MaxResults: flowPtr(int32(2)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(out.Flows))
		for _, f := range out.Flows {
			got = append(got, f.FlowName)
			byName[f.FlowName] = f
		}
		if out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	if !slices.Equal(got, want) || !slices.Equal(pages, []int{2, 2, 1}) {
		t.Errorf("got flows %v in pages %v, want %v in [2 2 1]", got, pages, want)
	}
	f1 := byName["flow-1"]
	if f1.TriggerType != wire.TriggerTypeOnDemand || f1.SourceConnectorType != wire.ConnectorTypeS3 || f1.DestinationConnectorType != wire.ConnectorTypeS3 ||
		f1.FlowStatus != wire.FlowStatusActive || f1.Tags["i"] != "1" || f1.Description != "copy orders" || f1.CreatedAt == nil || f1.CreatedBy == "" {
		t.Errorf("got summary %+v, want the flow's trigger, connectors, status, tags and times", f1)
	}
	if f1.LastRunExecutionDetails == nil || f1.LastRunExecutionDetails.MostRecentExecutionStatus != wire.ExecutionStatusSuccessful {
		t.Errorf("got lastRunExecutionDetails %+v, want Successful", f1.LastRunExecutionDetails)
	}
	if f := byName["flow-4"]; f.SourceConnectorLabel != "my-connector" || f.DestinationConnectorLabel != "" {
		t.Errorf("got labels %q/%q, want my-connector/empty", f.SourceConnectorLabel, f.DestinationConnectorLabel)
	}
	_, err := env.svc.ListFlows(ctx, &wire.ListFlowsRequest{NextToken: "%%%"})
	flowWantCode(t, err, fault.Invalid, "nextToken")
}

func TestFlowSchemaFingerprint(t *testing.T) {
	base := []wire.Task{{TaskType: wire.TaskTypeMap, SourceFields: []string{"a"}, DestinationField: "a"},
		{TaskType: wire.TaskTypeFilter, SourceFields: []string{"a"}}}
	dests := []wire.DestinationFlowConfig{{ConnectorType: wire.ConnectorTypeS3}}
	fp := flowSchemaFingerprint(base, dests)
	for _, tc := range []struct {
		name   string
		tasks  []wire.Task
		dests  []wire.DestinationFlowConfig
		change bool
	}{
		{"same", base, dests, false},
		{"filter changed", []wire.Task{base[0], {TaskType: wire.TaskTypeFilter, SourceFields: []string{"b"}}}, dests, false},
		{"mapping renamed", []wire.Task{{TaskType: wire.TaskTypeMap, SourceFields: []string{"a"}, DestinationField: "b"}}, dests, true},
		{"source data type", []wire.Task{{TaskType: wire.TaskTypeMap, SourceFields: []string{"a"}, DestinationField: "a",
			TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "string"}}, base[1]}, dests, true},
		{"partition keys", append(slices.Clone(base), wire.Task{TaskType: wire.TaskTypePartition, SourceFields: []string{"a"},
			TaskProperties: map[string]string{"ORDERED_PARTITION_KEYS_LIST": `["a"]`}}), dests, true},
		{"destination type", base, []wire.DestinationFlowConfig{{ConnectorType: wire.ConnectorTypeRedshift}}, true},
	} {
		if got := flowSchemaFingerprint(tc.tasks, tc.dests) != fp; got != tc.change {
			t.Errorf("%s: got changed=%v, want %v", tc.name, got, tc.change)
		}
	}
}
