package secrets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
	"github.com/appflowd/appflowd/internal/events/eventstest"
	"github.com/appflowd/appflowd/internal/secrets"
)

func TestMain(m *testing.M) {
	eventstest.SetAWSEnv()
	code := m.Run()
	eventstest.Stop()
	os.Exit(code)
}

func kmsClient(endpoint string) *kms.Client {
	return kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

func newKey(t *testing.T, c *kms.Client) (id, arn string) {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("appflowd test")})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId), aws.ToString(out.KeyMetadata.Arn)
}

// TestProfileCredentialsUnderKMS: a Salesforce profile naming kmsArn is
// sealed under that moto key (bound to the profile's ARN), survives
// Create -> Describe -> run, and a token refreshed during a run is sealed
// under the same key again.
func TestProfileCredentialsUnderKMS(t *testing.T) {
	moto := eventstest.Moto(t)
	kc := kmsClient(moto)
	_, keyArn := newKey(t, kc)
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_ID", sftest.ClientID)
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_SECRET", sftest.ClientSecret)
	org := sftest.NewOrg(t)
	org.AddObject("Account", sftest.F("Name", "string"))
	org.Insert("Account", map[string]any{"Name": "Acme"}, map[string]any{"Name": "Globex"})
	srv := apptest.Start(t, app.Config{PlanInterval: -1, Endpoints: connector.Endpoints{connector.EndpointKMS: moto}}, "lake")
	ctx := context.Background()

	if _, err := srv.Client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("sf"), ConnectorType: types.ConnectorTypeSalesforce, ConnectionMode: types.ConnectionModePublic,
		KmsArn: aws.String(keyArn),
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Salesforce: &types.SalesforceConnectorProfileProperties{InstanceUrl: aws.String(org.URL())}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Salesforce: &types.SalesforceConnectorProfileCredentials{
				AccessToken: aws.String(sftest.AccessToken), RefreshToken: aws.String(sftest.RefreshToken)}},
		},
	}); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	p, err := srv.App.Store.ProfileGet(ctx, "000000000000", "sf")
	if err != nil {
		t.Fatal(err)
	}
	gotKey, resource := secrets.KeyOf(p.Credentials)
	if gotKey != keyArn || resource != p.Arn {
		t.Errorf("stored credentials under key %q bound to %q, want %s and the profile ARN %s", gotKey, resource, keyArn, p.Arn)
	}
	if bytes.Contains(p.Credentials, []byte(sftest.AccessToken)) {
		t.Error("the stored credentials hold the access token in clear")
	}
	if _, err := srv.Client.DescribeConnectorProfiles(ctx, &appflow.DescribeConnectorProfilesInput{ConnectorProfileNames: []string{"sf"}}); err != nil {
		t.Fatal(err)
	}

	if _, err := srv.Client.CreateFlow(ctx, &appflow.CreateFlowInput{FlowName: aws.String("accounts"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeSalesforce, ConnectorProfileName: aws.String("sf"),
			SourceConnectorProperties: &types.SourceConnectorProperties{Salesforce: &types.SalesforceSourceProperties{Object: aws.String("Account")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("lake"), S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeJson}}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
			ConnectorOperator: &types.ConnectorOperator{Salesforce: types.SalesforceConnectorOperatorNoOp}}},
		KmsArn: aws.String(keyArn),
	}); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	org.ExpireTokens() // the run refreshes the token and stores it again
	rec := srv.RunFlow(t, "accounts", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful || aws.ToInt64(rec.ExecutionResult.RecordsProcessed) != 2 {
		t.Fatalf("run: %s %q, want Successful with 2 records (the credentials opened)", rec.ExecutionStatus, apptest.Message(rec))
	}
	if n := org.Logged("POST /services/oauth2/token"); n != 1 {
		t.Fatalf("token refreshes %d, want 1", n)
	}
	p2, err := srv.App.Store.ProfileGet(ctx, "000000000000", "sf")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(p2.Credentials, p.Credentials) {
		t.Fatal("the refreshed token was not stored")
	}
	if k, _ := secrets.KeyOf(p2.Credentials); k != keyArn {
		t.Errorf("refreshed credentials sealed under %q, want the profile's key %s", k, keyArn)
	}
}

// TestKMSKeyChecks: a missing key, a disabled key and an asymmetric key are
// refused at CreateConnectorProfile and CreateFlow with a
// ValidationException naming the key.
func TestKMSKeyChecks(t *testing.T) {
	moto := eventstest.Moto(t)
	kc := kmsClient(moto)
	ctx := context.Background()
	disabledID, disabled := newKey(t, kc)
	if _, err := kc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(disabledID)}); err != nil {
		t.Fatalf("DisableKey: %v", err)
	}
	signing, err := kc.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: "RSA_2048", KeyUsage: "SIGN_VERIFY"})
	if err != nil {
		t.Fatalf("CreateKey RSA: %v", err)
	}
	missing := "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
	srv := apptest.Start(t, app.Config{PlanInterval: -1, Endpoints: connector.Endpoints{connector.EndpointKMS: moto}}, "raw", "lake")

	for _, tc := range []struct{ key, want string }{
		{missing, "does not exist"},
		{disabled, "is Disabled"},
		{aws.ToString(signing.KeyMetadata.Arn), "symmetric"},
	} {
		var ve *types.ValidationException
		_, err := srv.Client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
			ConnectorProfileName: aws.String("hc"), ConnectorType: types.ConnectorTypeHoneycode, ConnectionMode: types.ConnectionModePublic,
			KmsArn: aws.String(tc.key),
			ConnectorProfileConfig: &types.ConnectorProfileConfig{
				ConnectorProfileProperties: &types.ConnectorProfileProperties{Honeycode: &types.HoneycodeConnectorProfileProperties{}},
				ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Honeycode: &types.HoneycodeConnectorProfileCredentials{
					AccessToken: aws.String("at")}}},
		})
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateConnectorProfile with key %s: %v, want a ValidationException naming it and saying %q", tc.key, err, tc.want)
		}
		_, err = srv.Client.CreateFlow(ctx, &appflow.CreateFlowInput{FlowName: aws.String("kms-flow"), KmsArn: aws.String(tc.key),
			TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
			SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
				SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{BucketName: aws.String("raw")}}},
			DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
				DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{BucketName: aws.String("lake")}}}},
			Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
				ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
		})
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("CreateFlow with key %s: %v, want a ValidationException naming it", tc.key, err)
		}
	}
}

// TestEnvelopePinning: a sealed value opens only under its own key and
// resource; a changed resource (encryption context) or key id fails.
func TestEnvelopePinning(t *testing.T) {
	moto := eventstest.Moto(t)
	kc := kmsClient(moto)
	_, keyA := newKey(t, kc)
	_, keyB := newKey(t, kc)
	kr, err := secrets.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	kr.SetKMS(awsconfig.NewKMS(connector.Deps{Region: "us-east-1", Endpoints: connector.Endpoints{connector.EndpointKMS: moto}}))
	ctx := context.Background()
	const resource = "arn:aws:appflow:us-east-1:000000000000:connectorprofile/p"
	sealed, err := kr.SealKMS(ctx, keyA, resource, []byte(`{"password":"pw"}`))
	if err != nil {
		t.Fatalf("SealKMS: %v", err)
	}
	if got, err := kr.OpenContext(ctx, sealed); err != nil || string(got) != `{"password":"pw"}` {
		t.Fatalf("OpenContext: %q, %v", got, err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(sealed[1:], &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return append([]byte{sealed[0]}, b...)
	}
	// A fresh keyring: no data key cached from the seal above.
	fresh := func() *secrets.Keyring {
		k, _ := secrets.New(bytes.Repeat([]byte{7}, 32))
		k.SetKMS(awsconfig.NewKMS(connector.Deps{Region: "us-east-1", Endpoints: connector.Endpoints{connector.EndpointKMS: moto}}))
		return k
	}
	for name, bad := range map[string][]byte{
		"another resource": edit(func(m map[string]any) { m["arn"] = "arn:aws:appflow:us-east-1:000000000000:connectorprofile/other" }),
		"another key":      edit(func(m map[string]any) { m["keyArn"] = keyB }),
	} {
		if got, err := fresh().OpenContext(ctx, bad); err == nil {
			t.Errorf("%s: opened to %q, want a refusal", name, got)
		}
	}
	if got, err := fresh().OpenContext(ctx, sealed); err != nil || string(got) != `{"password":"pw"}` {
		t.Errorf("the untouched value in a fresh keyring: %q, %v", got, err)
	}
}

// TestFlowKeyUnusableAtRun: a flow whose own key is disabled, or scheduled
// for deletion, after CreateFlow checked it ends its next run in Error
// saying which key and why, before anything is read or written; enabled
// again, the flow runs.
func TestFlowKeyUnusableAtRun(t *testing.T) {
	moto := eventstest.Moto(t)
	kc := kmsClient(moto)
	ctx := context.Background()
	srv := apptest.Start(t, app.Config{PlanInterval: -1, Endpoints: connector.Endpoints{connector.EndpointKMS: moto}}, "raw", "lake")
	if err := os.WriteFile(srv.DataDir+"/s3/raw/rows.csv", []byte("id\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flow, want string
		spoil      func(id string) error
	}{
		{"disabled", "is Disabled", func(id string) error {
			_, err := kc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(id)})
			return err
		}},
		{"deleted", "is PendingDeletion", func(id string) error {
			_, err := kc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
			return err
		}},
	} {
		id, keyArn := newKey(t, kc)
		if _, err := srv.Client.CreateFlow(ctx, &appflow.CreateFlowInput{FlowName: aws.String(tc.flow), KmsArn: aws.String(keyArn),
			TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
			SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
				SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{BucketName: aws.String("raw")}}},
			DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
				DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
					BucketName: aws.String("lake"), BucketPrefix: aws.String(tc.flow)}}}},
			Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
				ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
		}); err != nil {
			t.Fatalf("CreateFlow %s: %v", tc.flow, err)
		}
		if err := tc.spoil(id); err != nil {
			t.Fatal(err)
		}
		rec := srv.RunFlow(t, tc.flow, time.Minute)
		if msg := apptest.Message(rec); rec.ExecutionStatus != types.ExecutionStatusError || !strings.Contains(msg, id) || !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "The flow cannot use its kmsArn") {
			t.Errorf("%s: run %s %q, want Error naming key %s and saying %q", tc.flow, rec.ExecutionStatus, msg, id, tc.want)
		}
		if entries, _ := os.ReadDir(srv.DataDir + "/s3/lake/" + tc.flow); len(entries) != 0 {
			t.Errorf("%s: the refused run wrote %d entries", tc.flow, len(entries))
		}
	}
	// Enabled again, the disabled key's flow runs.
	out, err := srv.Client.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String("disabled")})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(out.KmsArn)[strings.LastIndex(aws.ToString(out.KmsArn), "/")+1:]
	if _, err := kc.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(keyID)}); err != nil {
		t.Fatal(err)
	}
	if rec := srv.RunFlow(t, "disabled", time.Minute); rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Errorf("after EnableKey: run %s %q, want Successful", rec.ExecutionStatus, apptest.Message(rec))
	}
}

// TestKeyWithoutCredentials: sealing nothing under a key keeps the key
// (and the resource) without a KMS call, opens to nothing, and what is
// resealed into it later goes under that key.
func TestKeyWithoutCredentials(t *testing.T) {
	moto := eventstest.Moto(t)
	_, key := newKey(t, kmsClient(moto))
	const resource = "arn:aws:appflow:us-east-1:000000000000:connectorprofile/empty"
	noKMS, err := secrets.New(bytes.Repeat([]byte{7}, 32)) // any KMS call would fail
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	empty, err := noKMS.SealKMS(ctx, key, resource, nil)
	if err != nil {
		t.Fatalf("SealKMS of nothing: %v", err)
	}
	if k, r := secrets.KeyOf(empty); k != key || r != resource {
		t.Errorf("KeyOf = %q, %q; want %s, %s", k, r, key, resource)
	}
	if got, err := noKMS.OpenContext(ctx, empty); err != nil || got != nil {
		t.Errorf("OpenContext = %q, %v; want nothing", got, err)
	}
	kr, _ := secrets.New(bytes.Repeat([]byte{7}, 32))
	kr.SetKMS(awsconfig.NewKMS(connector.Deps{Region: "us-east-1", Endpoints: connector.Endpoints{connector.EndpointKMS: moto}}))
	sealed, err := kr.Reseal(ctx, empty, []byte(`{"password":"pw"}`))
	if err != nil {
		t.Fatalf("Reseal: %v", err)
	}
	if k, r := secrets.KeyOf(sealed); k != key || r != resource {
		t.Errorf("resealed under %q bound to %q, want %s, %s", k, r, key, resource)
	}
	if _, err := noKMS.OpenContext(ctx, sealed); err == nil {
		t.Error("resealed credentials opened without KMS")
	}
	if got, err := kr.OpenContext(ctx, sealed); err != nil || string(got) != `{"password":"pw"}` {
		t.Errorf("OpenContext = %q, %v", got, err)
	}
}
