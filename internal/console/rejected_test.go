package console_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/connector/zendeskconn/zdtest"
)

// TestRunPageShowsWhatZendeskRejected: a flow from S3 to Zendesk (the
// documented-API stand-in) whose destination refuses one ticket: the run
// page lists that ticket and Zendesk's reason, read from the error bucket
// the Zendesk driver wrote.
func TestRunPageShowsWhatZendeskRejected(t *testing.T) {
	ctx := context.Background()
	zd := zdtest.New(t)
	zd.SetNow(time.Now().UTC())
	zd.Reject = func(object string, rec map[string]any) string {
		if rec["subject"] == "Printer on fire" {
			return "Subject: printer tickets go to facilities"
		}
		return ""
	}
	s := start(t, false)
	if err := os.MkdirAll(filepath.Join(s.DataDir, "s3", "errors"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.DataDir, "s3", "src", "tickets"), 0o755); err != nil {
		t.Fatal(err)
	}
	csv := "subject,priority\nPrinter on fire,high\nNo coffee,urgent\nVPN is slow,low\n"
	if err := os.WriteFile(filepath.Join(s.DataDir, "s3", "src", "tickets", "t.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.Client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("zd"), ConnectorType: types.ConnectorTypeZendesk, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Zendesk: &types.ZendeskConnectorProfileProperties{InstanceUrl: aws.String(zd.URL())}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Zendesk: &types.ZendeskConnectorProfileCredentials{
				ClientId: aws.String(zdtest.ClientID), ClientSecret: aws.String(zdtest.ClientSecret), AccessToken: aws.String(zdtest.AccessToken)}},
		},
	})
	if err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	op := &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}
	_, err = s.Client.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("to-zendesk"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("src"), BucketPrefix: aws.String("tickets"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeZendesk, ConnectorProfileName: aws.String("zd"),
			DestinationConnectorProperties: &types.DestinationConnectorProperties{Zendesk: &types.ZendeskDestinationProperties{
				Object: aws.String("tickets"), WriteOperationType: types.WriteOperationTypeInsert,
				ErrorHandlingConfig: &types.ErrorHandlingConfig{BucketName: aws.String("errors"), BucketPrefix: aws.String("zd"), FailOnFirstDestinationError: false}}}}},
		Tasks: []types.Task{
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"subject", "priority"}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorProjection}},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"subject"}, DestinationField: aws.String("subject"), ConnectorOperator: op},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"priority"}, DestinationField: aws.String("priority"), ConnectorOperator: op},
		},
	})
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}

	v := newVisitor(t, s.URL)
	r := v.post("/console/flows/to-zendesk/start", url.Values{"csrf": {v.csrf("/console/flows/to-zendesk")}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("Run now: %d\n%s", r.status, r.body)
	}
	id := strings.TrimPrefix(r.location, "/console/flows/to-zendesk?started=")
	rec := waitRun(t, s.Client, "to-zendesk", id)
	if rec.ExecutionResult == nil || rec.ExecutionResult.ErrorInfo == nil || aws.ToInt64(rec.ExecutionResult.ErrorInfo.PutFailuresCount) != 1 {
		t.Fatalf("run %s: %s %+v, want one record refused", id, rec.ExecutionStatus, rec.ExecutionResult)
	}
	page := v.get("/console/flows/to-zendesk/runs/" + id)
	mustContain(t, "run page", page.body, "Records the Zendesk destination rejected", "s3://errors/zd/to-zendesk/"+id+"/",
		"Subject: printer tickets go to facilities", "<code>subject</code> = Printer on fire", "<dt>Records rejected</dt><dd>1</dd>")
	mustNotContain(t, "run page", page.body, "No coffee", "VPN is slow")
}
