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
	"github.com/appflowd/appflowd/internal/secrets"
)

// TestE2EStagedSSEKMS: with an S3 API (moto), the files a flow stages for
// Redshift's COPY (through the Data API) and its error-bucket file carry
// SSE-KMS under the flow's kmsArn, keep their content type and encoding,
// and load; a flow without a kmsArn stages under the bucket's default
// encryption. The profile, created with a kmsArn and no credentials,
// keeps its key: the credentials UpdateConnectorProfile adds are sealed
// under it, and the runs open them.
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
	// The profile names the key and has no credentials (the Data API signs
	// with dataApiRoleArn); it keeps the key for those added later.
	props := &types.ConnectorProfileProperties{Redshift: &types.RedshiftConnectorProfileProperties{
		ClusterIdentifier: aws.String("cl-1"), DatabaseName: aws.String(db), DataApiRoleArn: aws.String("arn:aws:iam::000000000000:role/data"),
		BucketName: aws.String(e2eStage), BucketPrefix: aws.String("staging"), RoleArn: aws.String(e2eRole),
	}}
	if _, err := e.client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("data"), ConnectorType: types.ConnectorTypeRedshift, ConnectionMode: types.ConnectionModePublic,
		KmsArn: aws.String(keyArn), ConnectorProfileConfig: &types.ConnectorProfileConfig{ConnectorProfileProperties: props},
	}); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	profileKey := func() string {
		t.Helper()
		p, err := e.srv.App.Store.ProfileGet(ctx, "000000000000", "data")
		if err != nil {
			t.Fatal(err)
		}
		if k, resource := secrets.KeyOf(p.Credentials); resource != p.Arn {
			t.Errorf("profile sealed under %q bound to %q, want its own ARN %s", k, resource, p.Arn)
		}
		k, _ := secrets.KeyOf(p.Credentials)
		return k
	}
	if k := profileKey(); k != keyArn {
		t.Errorf("a profile created with kmsArn and no credentials keeps key %q, want %s", k, keyArn)
	}
	if _, err := e.client.UpdateConnectorProfile(ctx, &appflow.UpdateConnectorProfileInput{
		ConnectorProfileName: aws.String("data"), ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{ConnectorProfileProperties: props,
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Redshift: &types.RedshiftConnectorProfileCredentials{
				Username: aws.String("loader")}}},
	}); err != nil {
		t.Fatalf("UpdateConnectorProfile: %v", err)
	}
	if k := profileKey(); k != keyArn {
		t.Errorf("credentials added by UpdateConnectorProfile sealed under %q, want the profile's key %s", k, keyArn)
	}
	srv.mu.Lock()
	srv.calls = nil
	srv.mu.Unlock()

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
		srv.mu.Lock()
		for _, c := range srv.calls { // the credentials sealed under the key opened
			if !strings.Contains(c, `"DbUser":"loader"`) && !strings.HasPrefix(c, "DescribeStatement") {
				t.Errorf("%s: Data API call %s, want it as DbUser loader", tc.flow, c)
			}
		}
		srv.mu.Unlock()
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
