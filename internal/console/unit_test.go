package console

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// flowService answers for one flow with one finished run, as the service
// would; every other operation is not needed by the pages tested here.
type flowService struct {
	wire.Service
	flow *wire.DescribeFlowResponse
	run  wire.ExecutionRecord
	seen []wire.Caller // who each call came from
}

func (s *flowService) DescribeFlow(ctx context.Context, in *wire.DescribeFlowRequest) (*wire.DescribeFlowResponse, error) {
	s.seen = append(s.seen, wire.CallerFrom(ctx))
	if in.FlowName != s.flow.FlowName {
		return nil, fault.New(fault.NotFound, "Flow %s does not exist.", in.FlowName)
	}
	return s.flow, nil
}

func (s *flowService) DescribeFlowExecutionRecords(ctx context.Context, in *wire.DescribeFlowExecutionRecordsRequest) (*wire.DescribeFlowExecutionRecordsResponse, error) {
	return &wire.DescribeFlowExecutionRecordsResponse{FlowExecutions: []wire.ExecutionRecord{s.run}}, nil
}

func (s *flowService) ListFlows(ctx context.Context, in *wire.ListFlowsRequest) (*wire.ListFlowsResponse, error) {
	s.seen = append(s.seen, wire.CallerFrom(ctx))
	return &wire.ListFlowsResponse{Flows: []wire.FlowDefinition{{FlowName: s.flow.FlowName, FlowStatus: wire.FlowStatusActive}}}, nil
}

func ptr[T any](v T) *T { return &v }

// TestRunPageShowsRejectedRecords: a run page lists the first records the
// destination put in its error bucket, with their reasons, as
// rejects.Write (what every destination uses) wrote them.
func TestRunPageShowsRejectedRecords(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s3", "errors"), 0o755); err != nil {
		t.Fatal(err)
	}
	deps := connector.Deps{DataDir: dir, DefaultAccountID: "000000000000"}
	var fails []connector.RecordFailure
	for i := range 25 {
		fails = append(fails, connector.RecordFailure{Split: "batch-1", Line: int64(i + 1), Reason: "REQUIRED_FIELD_MISSING: Last Name <b>",
			Record: map[string]string{"Email": "p" + string(rune('a'+i)) + "@example.com"}})
	}
	eh := &connector.ErrorHandling{BucketName: "errors", BucketPrefix: "sf"}
	req := &connector.WriteRequest{FlowName: "to-salesforce", ExecutionID: "run-1", ErrorHandling: eh}
	if _, _, err := rejects.Write(context.Background(), deps, req, "salesforce"+rejects.Suffix, fails); err != nil {
		t.Fatal(err)
	}
	svc := &flowService{
		flow: &wire.DescribeFlowResponse{FlowName: "to-salesforce", FlowStatus: wire.FlowStatusActive,
			DestinationFlowConfigList: []wire.DestinationFlowConfig{{ConnectorType: wire.ConnectorTypeSalesforce,
				DestinationConnectorProperties: &wire.DestinationConnectorProperties{Salesforce: &wire.SalesforceDestinationProperties{
					Object: "Contact", ErrorHandlingConfig: &wire.ErrorHandlingConfig{BucketName: "errors", BucketPrefix: "sf"}}}}}},
		run: wire.ExecutionRecord{ExecutionId: "run-1", ExecutionStatus: wire.ExecutionStatusSuccessful,
			StartedAt: wire.NewTimestamp(time.Unix(1700000000, 0)), LastUpdatedAt: wire.NewTimestamp(time.Unix(1700000002, 500e6)),
			ExecutionResult: &wire.ExecutionResult{RecordsProcessed: ptr(int64(100)), ErrorInfo: &wire.ErrorInfo{PutFailuresCount: ptr(int64(25)),
				ExecutionMessage: "25 records failed"}}},
	}
	c := New(Deps{Service: svc, AccountID: "000000000000", Region: "us-east-1", Connector: deps})
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/console/flows/to-salesforce/runs/run-1", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("run page: %d\n%s", rec.Code, body)
	}
	for _, want := range []string{"Records the Salesforce destination rejected", "s3://errors/sf/to-salesforce/run-1/", "Showing 20 (at most 20).",
		"REQUIRED_FIELD_MISSING: Last Name &lt;b&gt;", "pa@example.com", "pt@example.com", "<dt>Records rejected</dt><dd>25</dd>",
		"<dt>Duration</dt><dd>2.5 s</dd>", "25 records failed"} {
		if !strings.Contains(body, want) {
			t.Errorf("run page: missing %q", want)
		}
	}
	if strings.Contains(body, "pu@example.com") {
		t.Error("run page shows more than the first 20 rejected records")
	}

	// A missing error bucket is said, not hidden.
	if err := os.RemoveAll(filepath.Join(dir, "s3", "errors")); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/console/flows/to-salesforce/runs/run-1", nil))
	if !strings.Contains(rec.Body.String(), "could not read the rejected records") || !strings.Contains(rec.Body.String(), "errors") {
		t.Errorf("run page without the error bucket:\n%s", rec.Body.String())
	}
}

// TestFlowPageShowsScheduleAndIncrementalState: a scheduled incremental
// flow's page shows its schedule, the field it pulls by and the window of
// its latest finished run, and offers Activate rather than Run now.
func TestFlowPageShowsScheduleAndIncrementalState(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	svc := &flowService{
		flow: &wire.DescribeFlowResponse{FlowName: "hourly", FlowStatus: wire.FlowStatusSuspended,
			TriggerConfig: &wire.TriggerConfig{TriggerType: wire.TriggerTypeScheduled, TriggerProperties: &wire.TriggerProperties{
				Scheduled: &wire.ScheduledTriggerProperties{ScheduleExpression: "rate(1hours)", DataPullMode: wire.DataPullModeIncremental,
					ScheduleStartTime: wire.NewTimestamp(start), Timezone: "Europe/Paris"}}},
			SourceFlowConfig: &wire.SourceFlowConfig{ConnectorType: wire.ConnectorTypeSalesforce, ConnectorProfileName: "sf",
				IncrementalPullConfig:     &wire.IncrementalPullConfig{DatetimeTypeFieldName: "LastModifiedDate"},
				SourceConnectorProperties: &wire.SourceConnectorProperties{Salesforce: &wire.SalesforceSourceProperties{Object: "Account"}}},
			Tasks: []wire.Task{{TaskType: wire.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &wire.ConnectorOperator{Salesforce: wire.SalesforceConnectorOperatorNoOp}}}},
		run: wire.ExecutionRecord{ExecutionId: "r1", ExecutionStatus: wire.ExecutionStatusSuccessful,
			StartedAt: wire.NewTimestamp(start.Add(time.Hour)), LastUpdatedAt: wire.NewTimestamp(start.Add(time.Hour + time.Minute)),
			DataPullStartTime: wire.NewTimestamp(start), DataPullEndTime: wire.NewTimestamp(start.Add(time.Hour)),
			ExecutionResult: &wire.ExecutionResult{RecordsProcessed: ptr(int64(42))}},
	}
	c := New(Deps{Service: svc, AccountID: "000000000000"})
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/console/flows/hourly", nil))
	body := rec.Body.String()
	for _, want := range []string{"Schedule rate(1hours)", "<code>rate(1hours)</code>", "Incremental", "Europe/Paris",
		"<dt>Incremental on field</dt><dd><code>LastModifiedDate</code></dd>",
		"2026-03-01 00:00:00 UTC to 2026-03-01 01:00:00 UTC", ">Activate</button>", "Salesforce", "Account", "sf",
		"<td data-label=\"Task type\">Map_all</td>", "42 records"} {
		if !strings.Contains(body, want) {
			t.Errorf("flow page: missing %q", want)
		}
	}
	for _, bad := range []string{">Run now</button>", ">Deactivate</button>"} {
		if strings.Contains(body, bad) {
			t.Errorf("flow page of a suspended scheduled flow has %q", bad)
		}
	}
}

// brokenService fails as a store outage would.
type brokenService struct{ wire.Service }

func (brokenService) ListFlows(context.Context, *wire.ListFlowsRequest) (*wire.ListFlowsResponse, error) {
	return nil, fault.Wrap(fault.Internal, errors.New("dial tcp 10.0.0.7:5432: connection refused"), "list flows")
}

// TestInternalErrorsStayInTheLog: a failure of the server shows as one,
// with the API's status, and its details stay out of the page.
func TestInternalErrorsStayInTheLog(t *testing.T) {
	c := New(Deps{Service: brokenService{}, AccountID: "000000000000"})
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/console/", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "Internal server error") ||
		strings.Contains(rec.Body.String(), "10.0.0.7") {
		t.Errorf("store outage: %d\n%s", rec.Code, rec.Body.String())
	}
}
