package customconn_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
)

// TestE2ES3ToCustomConnector drives a flow from S3 into the example
// connector through the AppFlow SDK: CreateFlow and UpdateFlow ask the
// connector to validate the flow's customProperties (scope DESTINATION or
// SOURCE) and refuse with its reasons; the run writes with WriteData, and
// the record the connector refuses is counted in putFailuresCount while
// the others land.
func TestE2ES3ToCustomConnector(t *testing.T) {
	ctx := context.Background()
	e := newE2E(t, nil)
	e.register(t)
	if _, err := e.c.CreateConnectorProfile(ctx, basicProfile("dest", "demo-password")); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	input := `{"id":"B1","name":"Alpha","amount":10}
{"id":"B2","name":"Beta","amount":-5}
{"id":"B3","name":"Gamma","amount":30}
`
	if err := os.MkdirAll(filepath.Join(e.dataDir, "s3", "input", "accounts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dataDir, "s3", "input", "accounts", "part-1.json"), []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	op := func(o types.Operator) *types.ConnectorOperator {
		return &types.ConnectorOperator{S3: types.S3ConnectorOperator(o)}
	}
	tasks := []types.Task{
		{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("id"), ConnectorOperator: op(types.OperatorNoOp)},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"name"}, DestinationField: aws.String("name"), ConnectorOperator: op(types.OperatorNoOp)},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"amount"}, DestinationField: aws.String("amount"), ConnectorOperator: op(types.OperatorNoOp)},
	}
	source := &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
		SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
			BucketName: aws.String("input"), BucketPrefix: aws.String("accounts"),
			S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeJson}}}}
	dest := func(batchSize string) []types.DestinationFlowConfig {
		return []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeCustomconnector, ConnectorProfileName: aws.String("dest"),
			DestinationConnectorProperties: &types.DestinationConnectorProperties{CustomConnector: &types.CustomConnectorDestinationProperties{
				EntityName: aws.String("accounts"), WriteOperationType: types.WriteOperationTypeUpsert, IdFieldNames: []string{"id"},
				CustomProperties:    map[string]string{"batchSize": batchSize},
				ErrorHandlingConfig: &types.ErrorHandlingConfig{FailOnFirstDestinationError: false}}}}}
	}
	create := &appflow.CreateFlowInput{FlowName: aws.String("s3-to-example"),
		TriggerConfig:    &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: source, DestinationFlowConfigList: dest("5000"), Tasks: tasks}

	// The connector refuses batchSize 5000: so does CreateFlow, in its words.
	_, err := e.c.CreateFlow(ctx, create)
	var ve *types.ValidationException
	if !errorAs(err, &ve) || !strings.Contains(err.Error(), `batchSize must be an integer from 1 to 1000, not "5000"`) {
		t.Fatalf("CreateFlow with batchSize 5000: %v, want a ValidationException with the connector's reason", err)
	}
	create.DestinationFlowConfigList = dest("500")
	if _, err := e.c.CreateFlow(ctx, create); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	var scopes []string
	for _, r := range e.conn.Requests() {
		if r.Type != "ValidateConnectorRuntimeSettingsRequest" {
			continue
		}
		var v struct {
			Scope    string            `json:"scope"`
			Settings map[string]string `json:"connectorRuntimeSettings"`
		}
		_ = json.Unmarshal(r.Body, &v)
		scopes = append(scopes, v.Scope+":"+v.Settings["batchSize"])
	}
	if want := []string{"CONNECTOR_PROFILE:", "DESTINATION:5000", "DESTINATION:500"}; !slices.Equal(scopes, want) {
		t.Errorf("ValidateConnectorRuntimeSettings calls = %v, want %v", scopes, want)
	}
	_, err = e.c.UpdateFlow(ctx, &appflow.UpdateFlowInput{FlowName: create.FlowName, TriggerConfig: create.TriggerConfig,
		SourceFlowConfig: source, DestinationFlowConfigList: dest("0"), Tasks: tasks})
	if !errorAs(err, &ve) || !strings.Contains(err.Error(), "batchSize must be an integer") {
		t.Errorf("UpdateFlow with batchSize 0: %v, want a ValidationException", err)
	}

	// As a source, the SOURCE scope is asked.
	_, err = e.c.CreateFlow(ctx, &appflow.CreateFlowInput{FlowName: aws.String("example-to-s3"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeCustomconnector, ConnectorProfileName: aws.String("dest"),
			SourceConnectorProperties: &types.SourceConnectorProperties{CustomConnector: &types.CustomConnectorSourceProperties{
				EntityName: aws.String("accounts"), CustomProperties: map[string]string{"maxPageSize": "lots"}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{BucketName: aws.String("out")}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &types.ConnectorOperator{CustomConnector: types.OperatorNoOp}}},
	})
	if !errorAs(err, &ve) || !strings.Contains(err.Error(), "maxPageSize must be an integer") {
		t.Errorf("CreateFlow with a custom source and maxPageSize lots: %v, want a ValidationException", err)
	}

	// The run: B2's negative amount is refused by the connector, alone.
	before := len(e.conn.Rows("accounts"))
	if _, err := e.c.StartFlow(ctx, &appflow.StartFlowInput{FlowName: create.FlowName}); err != nil {
		t.Fatalf("StartFlow: %v", err)
	}
	rec := e.waitRun(t, "s3-to-example")
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run: %s (%s)", rec.ExecutionStatus, aws.ToString(rec.ExecutionResult.ErrorInfo.ExecutionMessage))
	}
	ei := rec.ExecutionResult.ErrorInfo
	if ei == nil || aws.ToInt64(ei.PutFailuresCount) != 1 || !strings.Contains(aws.ToString(ei.ExecutionMessage), "amount must not be negative") {
		t.Errorf("errorInfo = %+v, want putFailuresCount 1 with the connector's reason", ei)
	} else if p := aws.ToInt64(rec.ExecutionResult.RecordsProcessed); p != 3 {
		t.Errorf("recordsProcessed = %d, want 3", p)
	}
	rows := e.conn.Rows("accounts")
	var added []string
	for _, r := range rows {
		if id, _ := r["id"].(string); strings.HasPrefix(id, "B") {
			added = append(added, id+"|"+r["name"].(string))
		}
	}
	if len(rows) != before+2 || !slices.Equal(added, []string{"B1|Alpha", "B3|Gamma"}) {
		t.Errorf("the connector holds %d rows (was %d), new %v; want B1 and B3 upserted", len(rows), before, added)
	}

	// The WriteData request, exactly as the protocol has it.
	var write map[string]json.RawMessage
	for _, r := range e.conn.Requests() {
		if r.Type == "WriteDataRequest" {
			_ = json.Unmarshal(r.Body, &write)
		}
	}
	var records []string
	_ = json.Unmarshal(write["records"], &records)
	var cc map[string]json.RawMessage
	_ = json.Unmarshal(write["connectorContext"], &cc)
	if string(write["entityIdentifier"]) != `"accounts"` || string(write["operation"]) != `"UPSERT"` || string(write["idFieldNames"]) != `["id"]` ||
		len(records) != 3 || string(cc["connectorRuntimeSettings"]) != `{"batchSize":"500","region":"eu"}` || string(cc["flowName"]) != `"s3-to-example"` {
		t.Errorf("WriteDataRequest = entity %s op %s ids %s, %d records, context %s %s", write["entityIdentifier"], write["operation"],
			write["idFieldNames"], len(records), cc["connectorRuntimeSettings"], cc["flowName"])
	}
	for _, want := range []string{`{"amount":10,"id":"B1","name":"Alpha"}`, `{"amount":-5,"id":"B2","name":"Beta"}`} {
		if !slices.Contains(records, want) {
			t.Errorf("records %q lack %s", records, want)
		}
	}
}
