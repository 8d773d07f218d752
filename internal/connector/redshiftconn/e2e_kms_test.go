package redshiftconn_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/redshiftconn"
	"github.com/appflowd/appflowd/internal/events/eventstest"
)

// TestE2EStagedSSEKMS: with an S3 API (moto), the files a flow stages for
// Redshift's COPY (through the Data API) and its error-bucket file carry
// SSE-KMS under the flow's kmsArn, keep their content type and encoding,
// and load; a flow without a kmsArn stages under the bucket's default
// encryption.
func TestE2EStagedSSEKMS(t *testing.T) {
	eventstest.SetAWSEnvFor(t)
	moto := eventstest.OwnMoto(t)
	ctx := context.Background()
	s3c := eventstest.S3(t, moto, e2eSource, e2eStage, e2eErrors)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e2eSource), Key: aws.String("in/data.csv"),
		Body: strings.NewReader(rejectCSV)}); err != nil {
		t.Fatal(err)
	}
	_, keyArn := eventstest.KMSKey(t, moto)

	var srv *dataAPIServer
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	e := newRSEnv(t, func(c *app.Config) {
		c.Endpoints = connector.Endpoints{connector.EndpointSTS: hs.URL, connector.EndpointS3: moto, connector.EndpointKMS: moto}
	})
	srv = &dataAPIServer{t: t, e: e, results: map[string]map[string]any{}, creds: map[string]bool{}, s3: s3c}
	t.Setenv(redshiftconn.DataAPIEndpointEnv, hs.URL)
	e.exec("CREATE TABLE " + e.schema + ".typed " + typedDDL)
	db := strings.TrimPrefix(e.dbURL[strings.LastIndex(e.dbURL, "/"):], "/")
	if _, err := e.client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("data"), ConnectorType: types.ConnectorTypeRedshift, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Redshift: &types.RedshiftConnectorProfileProperties{
				ClusterIdentifier: aws.String("cl-1"), DatabaseName: aws.String(db), DataApiRoleArn: aws.String("arn:aws:iam::000000000000:role/data"),
				BucketName: aws.String(e2eStage), BucketPrefix: aws.String("staging"), RoleArn: aws.String(e2eRole),
			}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Redshift: &types.RedshiftConnectorProfileCredentials{
				Username: aws.String("loader")}},
		},
	}); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	for _, tc := range []struct{ flow, kmsArn string }{
		{"own-key", keyArn},
		{"managed-key", ""}, // AppFlow's managed key: the bucket's own encryption
	} {
		in := &appflow.CreateFlowInput{FlowName: aws.String(tc.flow),
			TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
			SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
				SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
					BucketName: aws.String(e2eSource), BucketPrefix: aws.String("in"),
					S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
			DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeRedshift, ConnectorProfileName: aws.String("data"),
				DestinationConnectorProperties: &types.DestinationConnectorProperties{Redshift: &types.RedshiftDestinationProperties{
					Object: aws.String(e.schema + ".typed"), IntermediateBucketName: aws.String(e2eStage), BucketPrefix: aws.String("staging"),
					ErrorHandlingConfig: &types.ErrorHandlingConfig{BucketName: aws.String(e2eErrors), BucketPrefix: aws.String("rejects")},
				}}}},
			Tasks: typedTasks,
		}
		if tc.kmsArn != "" {
			in.KmsArn = aws.String(tc.kmsArn)
		}
		if _, err := e.client.CreateFlow(ctx, in); err != nil {
			t.Fatalf("CreateFlow %s: %v", tc.flow, err)
		}
		e.exec("TRUNCATE " + e.schema + ".typed")
		id, r := e.run(tc.flow)
		mustStatus(t, r, types.ExecutionStatusSuccessful)
		if n := putFailures(r); n != 4 {
			t.Errorf("%s: putFailuresCount = %d, want 4 (message %q)", tc.flow, n, execMessage(r))
		}
		if n := len(e.rows("SELECT id FROM " + e.schema + ".typed")); n != 3 {
			t.Errorf("%s: %d rows loaded, want 3", tc.flow, n)
		}
		staged := eventstest.Heads(t, s3c, e2eStage, "staging/"+tc.flow+"/"+id+"/")
		if len(staged) == 0 {
			t.Fatalf("%s: nothing staged under s3://%s/staging/%s/%s/", tc.flow, e2eStage, tc.flow, id)
		}
		rejected := eventstest.Heads(t, s3c, e2eErrors, "rejects/"+tc.flow+"/"+id+"/")
		if len(rejected) != 1 {
			t.Errorf("%s: error-bucket files %v, want the one rejected-records file", tc.flow, rejected)
		}
		for k, h := range staged {
			if aws.ToString(h.ContentType) != "application/x-ndjson" || aws.ToString(h.ContentEncoding) != "gzip" {
				t.Errorf("%s: staged %s is %q encoded %q, want application/x-ndjson, gzip", tc.flow, k, aws.ToString(h.ContentType), aws.ToString(h.ContentEncoding))
			}
		}
		maps.Copy(staged, rejected)
		if bad := eventstest.NotUnderKey(staged, tc.kmsArn); len(bad) > 0 {
			t.Errorf("%s: objects not under the flow's key %q: %v", tc.flow, tc.kmsArn, bad)
		}
	}
}
