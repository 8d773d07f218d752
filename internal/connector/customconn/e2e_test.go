package customconn_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/examples/customconnector/exampleconn"
	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
)

// TestE2ECustomConnectorToS3 drives a real appflowd (app.New) with the AWS
// SDK: register the example connector served on the Lambda Invoke path,
// create a profile (credentials validated through the lent secret), create
// and run a flow from it to a local S3 bucket, and compare the output.
func TestE2ECustomConnectorToS3(t *testing.T) {
	ctx := context.Background()
	conn := exampleconn.New()
	lambdaSrv := httptest.NewServer(conn)
	t.Cleanup(lambdaSrv.Close)

	dataDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dataDir, "s3", "out"), 0o755); err != nil { // the destination bucket
		t.Fatal(err)
	}
	a, err := app.New(ctx, app.Config{DataDir: dataDir, Region: "us-east-1", AccountID: "123456789012",
		Endpoints: connector.Endpoints{connector.EndpointLambda: lambdaSrv.URL + "/2015-03-31/functions/function/invocations"}})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	api := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		api.Close()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = a.Shutdown(sctx)
		_ = a.Close()
	})
	conn.SecretsEndpoint = api.URL // the connector reads its secret from appflowd

	c := appflow.New(appflow.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(api.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	lambdaArn := "arn:aws:lambda:us-east-1:123456789012:function:example-connector"
	reg, err := c.RegisterConnector(ctx, &appflow.RegisterConnectorInput{
		ConnectorLabel: aws.String("example"), Description: aws.String("example connector"),
		ConnectorProvisioningType:   types.ConnectorProvisioningTypeLambda,
		ConnectorProvisioningConfig: &types.ConnectorProvisioningConfig{Lambda: &types.LambdaConnectorProvisioningConfig{LambdaArn: aws.String(lambdaArn)}},
	})
	if err != nil {
		t.Fatalf("RegisterConnector: %v", err)
	}
	if got, want := aws.ToString(reg.ConnectorArn), "arn:aws:appflow:us-east-1:123456789012:connector/example"; got != want {
		t.Errorf("connectorArn = %s, want %s", got, want)
	}
	dc, err := c.DescribeConnector(ctx, &appflow.DescribeConnectorInput{ConnectorType: types.ConnectorTypeCustomconnector, ConnectorLabel: aws.String("example")})
	if err != nil {
		t.Fatalf("DescribeConnector: %v", err)
	}
	if cfg := dc.ConnectorConfiguration; aws.ToString(cfg.ConnectorName) != "ExampleConnector" || !cfg.CanUseAsSource ||
		!slices.Equal(cfg.SupportedApiVersions, []string{"v1"}) {
		t.Errorf("DescribeConnector: name %q, source %v, api versions %v", aws.ToString(cfg.ConnectorName), cfg.CanUseAsSource, cfg.SupportedApiVersions)
	}

	profile := func(password string) *appflow.CreateConnectorProfileInput {
		return &appflow.CreateConnectorProfileInput{
			ConnectorProfileName: aws.String("example-profile"), ConnectorType: types.ConnectorTypeCustomconnector,
			ConnectorLabel: aws.String("example"), ConnectionMode: types.ConnectionModePublic,
			ConnectorProfileConfig: &types.ConnectorProfileConfig{
				ConnectorProfileProperties: &types.ConnectorProfileProperties{CustomConnector: &types.CustomConnectorProfileProperties{
					ProfileProperties: map[string]string{"region": "eu"}}},
				ConnectorProfileCredentials: &types.ConnectorProfileCredentials{CustomConnector: &types.CustomConnectorProfileCredentials{
					AuthenticationType: types.AuthenticationTypeBasic,
					Basic:              &types.BasicAuthCredentials{Username: aws.String("demo"), Password: aws.String(password)}}},
			},
		}
	}
	if _, err := c.CreateConnectorProfile(ctx, profile("wrong")); err == nil || !strings.Contains(err.Error(), "username or password is wrong") {
		t.Errorf("CreateConnectorProfile with a wrong password: %v, want the connector's refusal", err)
	} else if ae := new(types.ConnectorAuthenticationException); !errorAs(err, &ae) {
		t.Errorf("CreateConnectorProfile with a wrong password: %T, want ConnectorAuthenticationException", err)
	}
	if _, err := c.CreateConnectorProfile(ctx, profile("demo-password")); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}

	ents, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("example-profile")})
	if err != nil {
		t.Fatalf("ListConnectorEntities: %v", err)
	}
	var names []string
	for _, e := range ents.ConnectorEntityMap["Objects"] {
		names = append(names, aws.ToString(e.Name))
	}
	if !slices.Equal(names, []string{"accounts", "contacts"}) {
		t.Errorf("ListConnectorEntities = %v", names)
	}
	de, err := c.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorEntityName: aws.String("accounts"),
		ConnectorProfileName: aws.String("example-profile"), ConnectorType: types.ConnectorTypeCustomconnector})
	if err != nil || len(de.ConnectorEntityFields) != 5 {
		t.Fatalf("DescribeConnectorEntity: %v fields, %v", len(de.ConnectorEntityFields), err)
	}

	op := func(o types.Operator) *types.ConnectorOperator { return &types.ConnectorOperator{CustomConnector: o} }
	_, err = c.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("accounts-to-s3"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeCustomconnector, ConnectorProfileName: aws.String("example-profile"),
			SourceConnectorProperties: &types.SourceConnectorProperties{CustomConnector: &types.CustomConnectorSourceProperties{EntityName: aws.String("accounts")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("out"), BucketPrefix: aws.String("accounts"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeJson,
					AggregationConfig: &types.AggregationConfig{AggregationType: types.AggregationTypeSingleFile}}}}}},
		Tasks: []types.Task{
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"id", "name", "amount"}, ConnectorOperator: op(types.OperatorProjection)},
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"amount"}, ConnectorOperator: op(types.OperatorGreaterThan),
				TaskProperties: map[string]string{"DATA_TYPE": "double", "VALUE": "50"}},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("id"), ConnectorOperator: op(types.OperatorNoOp)},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"name"}, DestinationField: aws.String("name"), ConnectorOperator: op(types.OperatorNoOp)},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"amount"}, DestinationField: aws.String("amount"), ConnectorOperator: op(types.OperatorNoOp)},
		},
	})
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	start, err := c.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("accounts-to-s3")})
	if err != nil {
		t.Fatalf("StartFlow: %v", err)
	}
	var rec types.ExecutionRecord
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.DescribeFlowExecutionRecords(ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("accounts-to-s3")})
		if err != nil {
			t.Fatalf("DescribeFlowExecutionRecords: %v", err)
		}
		if len(out.FlowExecutions) > 0 && out.FlowExecutions[0].ExecutionStatus != types.ExecutionStatusInprogress {
			rec = out.FlowExecutions[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not finish in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful || aws.ToString(rec.ExecutionId) != aws.ToString(start.ExecutionId) {
		t.Fatalf("execution %s: %s (%s)", aws.ToString(rec.ExecutionId), rec.ExecutionStatus, aws.ToString(rec.ExecutionResult.ErrorInfo.ExecutionMessage))
	}

	// The output: every account with amount > 50, projected.
	var got []string
	err = filepath.WalkDir(filepath.Join(dataDir, "s3", "out"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Errorf("%s: %q is not a JSON record: %v", p, line, err)
				continue
			}
			got = append(got, m["id"].(string)+"|"+m["name"].(string))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read the output: %v", err)
	}
	slices.Sort(got)
	if want := []string{"A1|Acme", "A3|Initech", "A4|Umbrella Corp", "A2|Globex"}; !slices.Equal(got, sorted(want)) {
		t.Errorf("output records = %v, want %v", got, sorted(want))
	}

	// What the connector was asked for the run, exactly.
	var query json.RawMessage
	for _, r := range conn.Requests() {
		if r.Type == "QueryDataRequest" {
			query = r.Body
		}
	}
	var q map[string]any
	_ = json.Unmarshal(query, &q)
	if q["filterExpression"] != "amount > 50" || q["maxResults"] != float64(1000) || q["entityIdentifier"] != "accounts" {
		t.Errorf("QueryDataRequest = %s", query)
	}
	cc, _ := q["connectorContext"].(map[string]any)
	creds, _ := cc["credentials"].(map[string]any)
	if cc["apiVersion"] != "v1" || creds["authenticationType"] != "BasicAuth" || !strings.HasPrefix(creds["secretArn"].(string), "arn:aws:secretsmanager:us-east-1:123456789012:secret:appflow!123456789012-example-profile-") {
		t.Errorf("connectorContext = %v", cc)
	}
	if s, _ := cc["connectorRuntimeSettings"].(map[string]any); s["region"] != "eu" {
		t.Errorf("connectorRuntimeSettings = %v, want the profile's region", cc["connectorRuntimeSettings"])
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
