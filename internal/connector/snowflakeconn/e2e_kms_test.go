package snowflakeconn_test

import (
	"context"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/snowflakeconn"
	"github.com/appflowd/appflowd/internal/connector/snowflakeconn/sfktest"
	"github.com/appflowd/appflowd/internal/events/eventstest"
)

// TestE2EStagedSSEKMS: with an S3 API (moto), the files a flow stages for
// Snowflake's COPY and its error-bucket file carry SSE-KMS under the
// flow's kmsArn, keep their content type and encoding, and load; a flow
// without a kmsArn stages under the bucket's default encryption.
func TestE2EStagedSSEKMS(t *testing.T) {
	eventstest.SetAWSEnvFor(t)
	moto := eventstest.OwnMoto(t)
	ctx := context.Background()
	s3c := eventstest.S3(t, moto, "source", "stagebucket", "errors")
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("source"), Key: aws.String("in/accounts.csv"),
		Body: strings.NewReader("id,name\n1,Acme\nx,Bad\n3,Globex\n")}); err != nil {
		t.Fatal(err)
	}
	_, keyArn := eventstest.KMSKey(t, moto)

	fake := sfktest.New("unused-oauth-token")
	fake.PAT = "pat"
	fake.S3 = s3c
	fake.Stages["DB.PUBLIC.APPFLOW_STAGE"] = "s3://stagebucket/appflow"
	fake.CreateTable("DB.PUBLIC.ACCOUNTS", sfktest.Column{Name: "ID", Type: "NUMBER(38,0)", Nullable: true},
		sfktest.Column{Name: "NAME", Type: "VARCHAR(16777216)", Nullable: true})
	sf := httptest.NewServer(fake)
	t.Cleanup(sf.Close)
	t.Setenv(snowflakeconn.EndpointEnv, sf.URL)
	srv := apptest.Start(t, app.Config{PlanInterval: -1,
		Endpoints: connector.Endpoints{connector.EndpointS3: moto, connector.EndpointKMS: moto}})

	if _, err := srv.Client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("sf"), ConnectorType: types.ConnectorTypeSnowflake, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Snowflake: &types.SnowflakeConnectorProfileProperties{
				Warehouse: aws.String("LOAD_WH"), Stage: aws.String("DB.PUBLIC.APPFLOW_STAGE"), BucketName: aws.String("stagebucket"),
				BucketPrefix: aws.String("appflow"), AccountName: aws.String("xy12345"),
			}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Snowflake: &types.SnowflakeConnectorProfileCredentials{
				Username: aws.String("APPFLOW"), Password: aws.String("pat")}},
		},
	}); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	createFlow := func(name, kmsArn string) {
		t.Helper()
		in := &appflow.CreateFlowInput{FlowName: aws.String(name),
			TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
			SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
				SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
					BucketName: aws.String("source"), BucketPrefix: aws.String("in"),
					S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
			DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeSnowflake, ConnectorProfileName: aws.String("sf"),
				DestinationConnectorProperties: &types.DestinationConnectorProperties{Snowflake: &types.SnowflakeDestinationProperties{
					Object: aws.String("DB.PUBLIC.ACCOUNTS"), IntermediateBucketName: aws.String("stagebucket"), BucketPrefix: aws.String("appflow"),
					ErrorHandlingConfig: &types.ErrorHandlingConfig{BucketName: aws.String("errors"), BucketPrefix: aws.String("rejects")},
				}}}},
			Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
				ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
		}
		if kmsArn != "" {
			in.KmsArn = aws.String(kmsArn)
		}
		if _, err := srv.Client.CreateFlow(ctx, in); err != nil {
			t.Fatalf("CreateFlow %s: %v", name, err)
		}
	}
	for _, tc := range []struct {
		flow, kmsArn string
	}{
		{"own-key", keyArn},
		{"managed-key", ""}, // AppFlow's managed key: the bucket's own encryption
	} {
		createFlow(tc.flow, tc.kmsArn)
		rec := srv.RunFlow(t, tc.flow, time.Minute)
		if rec.ExecutionStatus != types.ExecutionStatusSuccessful || aws.ToInt64(rec.ExecutionResult.RecordsProcessed) != 3 {
			t.Fatalf("%s: run %s %q, want Successful with 3 records", tc.flow, rec.ExecutionStatus, apptest.Message(rec))
		}
		id := aws.ToString(rec.ExecutionId)
		staged := eventstest.Heads(t, s3c, "stagebucket", "appflow/"+tc.flow+"/"+id+"/")
		if len(staged) == 0 {
			t.Fatalf("%s: nothing staged under s3://stagebucket/appflow/%s/%s/", tc.flow, tc.flow, id)
		}
		rejected := eventstest.Heads(t, s3c, "errors", "rejects/"+tc.flow+"/"+id+"/")
		if len(rejected) != 1 {
			t.Errorf("%s: error-bucket files %v, want the one rejected-records file", tc.flow, rejected)
		}
		for k, h := range staged {
			if aws.ToString(h.ContentType) != "text/csv" || aws.ToString(h.ContentEncoding) != "gzip" {
				t.Errorf("%s: staged %s is %q encoded %q, want text/csv, gzip", tc.flow, k, aws.ToString(h.ContentType), aws.ToString(h.ContentEncoding))
			}
		}
		maps.Copy(staged, rejected)
		if bad := eventstest.NotUnderKey(staged, tc.kmsArn); len(bad) > 0 {
			t.Errorf("%s: objects not under the flow's key %q: %v", tc.flow, tc.kmsArn, bad)
		}
	}
	if got := len(fake.Rows("DB.PUBLIC.ACCOUNTS")); got != 4 {
		t.Errorf("table has %d rows, want 4 (2 good rows from each run)", got)
	}
}
