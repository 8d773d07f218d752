package zendeskconn_test

// End-to-end: the whole server (internal/app behind httptest) driven by
// the real AWS SDK AppFlow client, reading the documented-API fake Zendesk
// (zdtest) into a local bucket in DataDir/s3.

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector/zendeskconn/zdtest"
)

func zdOp(op types.ZendeskConnectorOperator) *types.ConnectorOperator {
	return &types.ConnectorOperator{Zendesk: op}
}

func TestE2EZendeskToS3(t *testing.T) {
	ctx := context.Background()
	zd := zdtest.New(t)
	zd.SetNow(time.Now().UTC()) // the server's flow runs on the real clock
	zd.Put("tickets",
		map[string]any{"id": json.Number("1"), "subject": "Printer on fire", "status": "open", "updated_at": "2024-01-01T00:00:10Z",
			"generated_timestamp": json.Number("1704067210"), "custom_fields": []any{map[string]any{"id": json.Number("360001"), "value": "X1"}}},
		map[string]any{"id": json.Number("2"), "subject": `Say "hi", please`, "status": "solved", "updated_at": "2024-01-02T03:04:05Z",
			"generated_timestamp": json.Number("1704164645"), "custom_fields": []any{}},
	)

	srv := apptest.Start(t, app.Config{}, "lake")
	dataDir, client := srv.DataDir, srv.Client

	profile := func(name, token string) error {
		_, err := client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
			ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeZendesk, ConnectionMode: types.ConnectionModePublic,
			ConnectorProfileConfig: &types.ConnectorProfileConfig{
				ConnectorProfileProperties: &types.ConnectorProfileProperties{Zendesk: &types.ZendeskConnectorProfileProperties{InstanceUrl: aws.String(zd.URL())}},
				ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Zendesk: &types.ZendeskConnectorProfileCredentials{
					ClientId: aws.String(zdtest.ClientID), ClientSecret: aws.String(zdtest.ClientSecret), AccessToken: aws.String(token)}},
			},
		})
		return err
	}
	if err := profile("zd", zdtest.AccessToken); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	var ae *types.ConnectorAuthenticationException
	if err := profile("zd-stale", "stale"); !errors.As(err, &ae) || !strings.Contains(err.Error(), "invalid_token") {
		t.Errorf("stale token profile: %v, want ConnectorAuthenticationException with Zendesk's error", err)
	}

	_, err := client.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("tickets"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeZendesk, ConnectorProfileName: aws.String("zd"),
			SourceConnectorProperties: &types.SourceConnectorProperties{Zendesk: &types.ZendeskSourceProperties{Object: aws.String("tickets")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("lake"), BucketPrefix: aws.String("zendesk"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeCsv,
					AggregationConfig: &types.AggregationConfig{AggregationType: types.AggregationTypeSingleFile}}}}}},
		Tasks: []types.Task{
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"id", "subject", "updated_at", "custom_field_360001"},
				ConnectorOperator: zdOp(types.ZendeskConnectorOperatorProjection)},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("ticket_id"), ConnectorOperator: zdOp(types.ZendeskConnectorOperatorNoOp),
				TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "integer", "DESTINATION_DATA_TYPE": "integer"}},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"subject"}, DestinationField: aws.String("subject"), ConnectorOperator: zdOp(types.ZendeskConnectorOperatorNoOp),
				TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"updated_at"}, DestinationField: aws.String("updated"), ConnectorOperator: zdOp(types.ZendeskConnectorOperatorNoOp),
				TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "datetime", "DESTINATION_DATA_TYPE": "datetime"}},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"custom_field_360001"}, DestinationField: aws.String("order_ref"), ConnectorOperator: zdOp(types.ZendeskConnectorOperatorNoOp),
				TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}},
		},
	})
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	st, err := client.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("tickets")})
	if err != nil {
		t.Fatalf("StartFlow: %v", err)
	}
	id := aws.ToString(st.ExecutionId)
	var rec types.ExecutionRecord
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := client.DescribeFlowExecutionRecords(ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("tickets")})
		if err != nil {
			t.Fatal(err)
		}
		done := false
		for _, r := range out.FlowExecutions {
			if aws.ToString(r.ExecutionId) == id && r.ExecutionStatus != types.ExecutionStatusInprogress {
				rec, done = r, true
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not finish in 60 s")
		}
	}
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		msg := ""
		if rec.ExecutionResult != nil && rec.ExecutionResult.ErrorInfo != nil {
			msg = aws.ToString(rec.ExecutionResult.ErrorInfo.ExecutionMessage)
		}
		t.Fatalf("run: %s (%s)", rec.ExecutionStatus, msg)
	}
	files := map[string]string{}
	root := filepath.Join(dataDir, "s3", "lake")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if len(files) != 1 {
		t.Fatalf("output objects %v, want one", files)
	}
	for key, body := range files {
		if !strings.HasPrefix(key, "zendesk/tickets/"+id+"/") {
			t.Errorf("output key %s", key)
		}
		want := "ticket_id,subject,updated,order_ref\n" +
			"1,Printer on fire,2024-01-01T00:00:10.000Z,X1\n" +
			"2,\"Say \"\"hi\"\", please\",2024-01-02T03:04:05.000Z,\n"
		if body != want {
			t.Errorf("output\n got %q\nwant %q", body, want)
		}
	}
}
