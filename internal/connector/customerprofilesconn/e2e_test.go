package customerprofilesconn_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/customerprofiles"
	cptypes "github.com/aws/aws-sdk-go-v2/service/customerprofiles/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/customerprofilesconn/cptest"
)

func TestMain(m *testing.M) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull} {
		os.Setenv(k, v)
	}
	os.Unsetenv("AWS_PROFILE")
	os.Exit(m.Run())
}

// setup makes domain "shop" with object type "Customer" keyed uniquely by
// the record's "id" and tied to a profile by "email", through the real
// Customer Profiles client.
func setup(t *testing.T, cp *cptest.Server) {
	t.Helper()
	ctx := context.Background()
	c := customerprofiles.New(customerprofiles.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	if _, err := c.CreateDomain(ctx, &customerprofiles.CreateDomainInput{DomainName: aws.String("shop"), DefaultExpirationDays: aws.Int32(365)}); err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	if _, err := c.PutProfileObjectType(ctx, &customerprofiles.PutProfileObjectTypeInput{
		DomainName: aws.String("shop"), ObjectTypeName: aws.String("Customer"), Description: aws.String("shop customers"),
		AllowProfileCreation: true,
		Fields: map[string]cptypes.ObjectTypeField{
			"id":    {Source: aws.String("_source.id"), Target: aws.String("_profile.AccountNumber"), ContentType: cptypes.FieldContentTypeString},
			"email": {Source: aws.String("_source.email"), Target: aws.String("_profile.EmailAddress"), ContentType: cptypes.FieldContentTypeEmailAddress},
			"spend": {Source: aws.String("_source.spend"), Target: aws.String("_profile.Attributes.spend"), ContentType: cptypes.FieldContentTypeNumber},
		},
		Keys: map[string][]cptypes.ObjectTypeKey{
			"id":    {{StandardIdentifiers: []cptypes.StandardIdentifier{cptypes.StandardIdentifierUnique}, FieldNames: []string{"id"}}},
			"email": {{StandardIdentifiers: []cptypes.StandardIdentifier{cptypes.StandardIdentifierProfile}, FieldNames: []string{"email"}}},
		},
	}); err != nil {
		t.Fatalf("PutProfileObjectType: %v", err)
	}
}

type env struct {
	srv *apptest.Server
	cp  *cptest.Server
}

func newEnv(t *testing.T) *env {
	cp := cptest.New(t)
	setup(t, cp)
	srv := apptest.Start(t, app.Config{PlanInterval: -1,
		Endpoints: connector.Endpoints{connector.EndpointCustomerProfiles: cp.URL}}, "raw")
	return &env{srv: srv, cp: cp}
}

func (e *env) csv(t *testing.T, body string) {
	t.Helper()
	dir := filepath.Join(e.srv.DataDir, "s3", "raw", "in")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rows.csv"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *env) createFlow(name, domain, objectType string) error {
	_, err := e.srv.Client.CreateFlow(context.Background(), &appflow.CreateFlowInput{FlowName: aws.String(name),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("raw"), BucketPrefix: aws.String("in"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeCustomerprofiles,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{CustomerProfiles: &types.CustomerProfilesDestinationProperties{
				DomainName: aws.String(domain), ObjectTypeName: aws.String(objectType)}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
	})
	return err
}

// objects returns the stored objects decoded, by id.
func (e *env) objects(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, o := range e.cp.Objects("shop", "Customer") {
		var m map[string]any
		if err := json.Unmarshal([]byte(o), &m); err != nil {
			t.Fatalf("stored object %q: %v", o, err)
		}
		out[m["id"].(string)] = m
	}
	return out
}

func TestPutsEachRecordAndUpdatesOnRerun(t *testing.T) {
	e := newEnv(t)
	e.csv(t, "id,email,spend\nc1,a@x.com,10\nc2,b@x.com,20\nc3,c@x.com,30\n")
	if err := e.createFlow("to-profiles", "shop", "Customer"); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	rec := e.srv.RunFlow(t, "to-profiles", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful || aws.ToInt64(rec.ExecutionResult.RecordsProcessed) != 3 {
		t.Fatalf("run: %s, %d records, %q; want Successful with 3", rec.ExecutionStatus, aws.ToInt64(rec.ExecutionResult.RecordsProcessed), apptest.Message(rec))
	}
	got := e.objects(t)
	if len(got) != 3 || got["c2"]["email"] != "b@x.com" || got["c3"]["spend"] != "30" {
		t.Fatalf("stored objects %v, want c1..c3 as the records' JSON", got)
	}

	// A second run with a changed row updates the object with the same
	// unique key rather than adding one.
	e.csv(t, "id,email,spend\nc1,a@x.com,10\nc2,b@x.com,99\nc3,c@x.com,30\n")
	rec = e.srv.RunFlow(t, "to-profiles", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("rerun: %s %q", rec.ExecutionStatus, apptest.Message(rec))
	}
	got = e.objects(t)
	if len(got) != 3 || got["c2"]["spend"] != "99" {
		t.Errorf("after the rerun: %v, want 3 objects with c2 updated to spend 99", got)
	}
}

func TestRefusedObjectsAreCountedFailures(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("x", cptest.MaxObject)
	e.csv(t, "id,email,spend\nc1,a@x.com,10\nc2,"+big+",20\n,nokey@x.com,5\nc4,d@x.com,40\n")
	if err := e.createFlow("with-refusals", "shop", "Customer"); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	rec := e.srv.RunFlow(t, "with-refusals", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run: %s %q, want Successful with 2 put failures", rec.ExecutionStatus, apptest.Message(rec))
	}
	ei := rec.ExecutionResult.ErrorInfo
	if ei == nil || aws.ToInt64(ei.PutFailuresCount) != 2 {
		t.Fatalf("errorInfo %+v, want putFailuresCount 2", ei)
	}
	if msg := aws.ToString(ei.ExecutionMessage); !strings.Contains(msg, "256000") {
		t.Errorf("executionMessage %q, want Customer Profiles' reason (the 256000 limit)", msg)
	}
	if got := e.objects(t); len(got) != 2 || got["c1"] == nil || got["c4"] == nil {
		t.Errorf("stored %v, want c1 and c4: the refused records do not stop the others", got)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	e := newEnv(t)
	e.csv(t, "id,email,spend\nc1,a@x.com,10\nc2,b@x.com,20\n")
	if err := e.createFlow("throttled", "shop", "Customer"); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	e.cp.Throttle(3)
	rec := e.srv.RunFlow(t, "throttled", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful || len(e.objects(t)) != 2 {
		t.Fatalf("run: %s %q with %d objects, want Successful with 2 after the 429s", rec.ExecutionStatus, apptest.Message(rec), len(e.objects(t)))
	}
	if n := e.cp.Puts(); n != 5 {
		t.Errorf("PutProfileObject calls %d, want 5 (3 throttled, 2 stored)", n)
	}

	// A server that keeps failing fails the run once retries run out.
	e.cp.FailPuts(1000)
	rec = e.srv.RunFlow(t, "throttled", 2*time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusError || !strings.Contains(apptest.Message(rec), "InternalServerException") {
		t.Errorf("run against a failing service: %s %q, want Error naming InternalServerException", rec.ExecutionStatus, apptest.Message(rec))
	}
}

func TestCreateFlowChecksDomainAndObjectType(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ domain, typ, want string }{
		{"nosuch", "Customer", "domain nosuch does not exist"},
		{"shop", "Order", "object type Order does not exist in domain shop"},
	} {
		err := e.createFlow("bad-"+tc.domain+"-"+tc.typ, tc.domain, tc.typ)
		var ve *types.ValidationException
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateFlow to %s/%s: %v, want a ValidationException saying %q", tc.domain, tc.typ, err, tc.want)
		}
	}

	ctx := context.Background()
	ents, err := e.srv.Client.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorType: types.ConnectorTypeCustomerprofiles,
		EntitiesPath: aws.String("shop")})
	if err != nil {
		t.Fatalf("ListConnectorEntities: %v", err)
	}
	var names []string
	for _, list := range ents.ConnectorEntityMap {
		for _, en := range list {
			names = append(names, aws.ToString(en.Name))
		}
	}
	if len(names) != 1 || names[0] != "shop/Customer" {
		t.Errorf("entities under shop: %v, want [shop/Customer]", names)
	}
	desc, err := e.srv.Client.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{
		ConnectorType: types.ConnectorTypeCustomerprofiles, ConnectorEntityName: aws.String("shop/Customer")})
	if err != nil {
		t.Fatalf("DescribeConnectorEntity: %v", err)
	}
	fields := map[string]bool{}
	for _, f := range desc.ConnectorEntityFields {
		fields[aws.ToString(f.Identifier)] = true
	}
	if len(fields) != 3 || !fields["id"] || !fields["email"] || !fields["spend"] {
		t.Errorf("entity fields %v, want the object type's sources id, email, spend", fields)
	}
}
