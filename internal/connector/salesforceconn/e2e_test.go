package salesforceconn_test

// End-to-end tests: the whole server (internal/app behind httptest) driven
// by the real AWS SDK AppFlow client, against the documented-API test org
// (sftest), with local buckets in DataDir/s3.

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
)

type e2e struct {
	t       *testing.T
	ctx     context.Context
	dataDir string
	org     *sftest.Org
	client  *appflow.Client
	app     *app.App
}

// newE2E starts an org and a server whose default connected app is the
// org's (APPFLOWD_SALESFORCE_CLIENT_ID/SECRET, read when a profile is
// opened). cfg may set more of the app's Config.
func newE2E(t *testing.T, cfg func(*app.Config)) *e2e {
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_ID", sftest.ClientID)
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_SECRET", sftest.ClientSecret)
	e := &e2e{t: t, ctx: context.Background(), dataDir: t.TempDir(), org: sftest.NewOrg(t)}
	for _, b := range []string{"lake", "raw"} {
		if err := os.MkdirAll(filepath.Join(e.dataDir, "s3", b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := app.Config{DataDir: e.dataDir, Region: "us-east-1", AccountID: "000000000000"}
	if cfg != nil {
		cfg(&c)
	}
	a, err := app.New(e.ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	e.app = a
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		a.Close()
	})
	e.client = appflow.New(appflow.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:  srv.Client(), RetryMaxAttempts: 1,
	})
	return e
}

// createProfile makes a Salesforce profile on the org.
func (e *e2e) createProfile(name string, creds *types.SalesforceConnectorProfileCredentials) error {
	_, err := e.client.CreateConnectorProfile(e.ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name),
		ConnectorType:        types.ConnectorTypeSalesforce,
		ConnectionMode:       types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{
				Salesforce: &types.SalesforceConnectorProfileProperties{InstanceUrl: aws.String(e.org.URL())}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Salesforce: creds},
		},
	})
	return err
}

func (e *e2e) mustProfile(name string, creds *types.SalesforceConnectorProfileCredentials) {
	e.t.Helper()
	if err := e.createProfile(name, creds); err != nil {
		e.t.Fatalf("CreateConnectorProfile %s: %v", name, err)
	}
}

func tokens() *types.SalesforceConnectorProfileCredentials {
	return &types.SalesforceConnectorProfileCredentials{AccessToken: aws.String(sftest.AccessToken), RefreshToken: aws.String(sftest.RefreshToken)}
}

// run starts an OnDemand flow and waits for its run to finish.
func (e *e2e) run(flow string) types.ExecutionRecord {
	e.t.Helper()
	st, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String(flow)})
	if err != nil {
		e.t.Fatalf("StartFlow %s: %v", flow, err)
	}
	id := aws.ToString(st.ExecutionId)
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := e.client.DescribeFlowExecutionRecords(e.ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range out.FlowExecutions {
			if aws.ToString(r.ExecutionId) == id && r.ExecutionStatus != types.ExecutionStatusInprogress {
				return r
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s of %s did not finish in 60 s", id, flow)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func message(r types.ExecutionRecord) string {
	if r.ExecutionResult != nil && r.ExecutionResult.ErrorInfo != nil {
		return aws.ToString(r.ExecutionResult.ErrorInfo.ExecutionMessage)
	}
	return ""
}

func putFailures(r types.ExecutionRecord) int64 {
	if r.ExecutionResult != nil && r.ExecutionResult.ErrorInfo != nil {
		return aws.ToInt64(r.ExecutionResult.ErrorInfo.PutFailuresCount)
	}
	return 0
}

func mustSucceed(t *testing.T, r types.ExecutionRecord) {
	t.Helper()
	if r.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run %s: %s (%s), want Successful", aws.ToString(r.ExecutionId), r.ExecutionStatus, message(r))
	}
}

// bucketFiles reads every object under DataDir/s3/<bucket>, by key.
func (e *e2e) bucketFiles(bucket string) map[string]string {
	e.t.Helper()
	root := filepath.Join(e.dataDir, "s3", bucket)
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.t.Fatal(err)
	}
	return out
}

func (e *e2e) put(bucket, key, body string) {
	e.t.Helper()
	p := filepath.Join(e.dataDir, "s3", bucket, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// soqlLog records the SOQL of every REST query the org receives.
type soqlLog struct {
	mu sync.Mutex
	qs []string
}

func (l *soqlLog) watch(o *sftest.Org) {
	o.Inject(func(r *http.Request) (int, string, bool) {
		if q := r.URL.Query().Get("q"); q != "" {
			l.mu.Lock()
			l.qs = append(l.qs, q)
			l.mu.Unlock()
		}
		return 0, "", false
	})
}

func (l *soqlLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.qs...)
}

func seedAccounts(o *sftest.Org) *sftest.Object {
	obj := o.AddObject("Account", sftest.F("Name", "string"), sftest.F("Employees", "int"), sftest.F("Revenue", "currency"),
		sftest.F("Active", "boolean"), sftest.F("LastModifiedDate", "datetime"))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"Acme", "Globex, Inc.", `Say "hi"`, "Initech", "Umbrella", "Hooli", "Stark"} {
		rec := map[string]any{"Id": "001" + strings.Repeat("0", 14) + string(rune('A'+i)), "Name": name,
			"Employees": float64(i * 10), "Revenue": float64(i) * 1000.5, "Active": i%2 == 0,
			"LastModifiedDate": base.Add(time.Duration(i) * time.Hour)}
		if i == 4 {
			rec["Revenue"] = nil
		}
		o.Insert("Account", rec)
	}
	return obj
}

func sfSourceFlow(name, profile, api string, tasks []types.Task, outBucket string) *appflow.CreateFlowInput {
	return &appflow.CreateFlowInput{
		FlowName:      aws.String(name),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeSalesforce, ConnectorProfileName: aws.String(profile),
			SourceConnectorProperties: &types.SourceConnectorProperties{Salesforce: &types.SalesforceSourceProperties{
				Object: aws.String("Account"), DataTransferApi: types.SalesforceDataTransferApi(api)}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String(outBucket), BucketPrefix: aws.String("accounts"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeCsv,
					AggregationConfig: &types.AggregationConfig{AggregationType: types.AggregationTypeSingleFile}}}}}},
		Tasks: tasks,
	}
}

func sfOp(op types.SalesforceConnectorOperator) *types.ConnectorOperator {
	return &types.ConnectorOperator{Salesforce: op}
}

// accountTasks: a projection, a filter Salesforce can apply (Employees >
// 15) and Map tasks renaming and retyping fields.
func accountTasks() []types.Task {
	return []types.Task{
		{TaskType: types.TaskTypeFilter, SourceFields: []string{"Id", "Name", "Employees", "Revenue", "LastModifiedDate"},
			ConnectorOperator: sfOp(types.SalesforceConnectorOperatorProjection)},
		{TaskType: types.TaskTypeFilter, SourceFields: []string{"Employees"}, ConnectorOperator: sfOp(types.SalesforceConnectorOperatorGreaterThan),
			TaskProperties: map[string]string{"DATA_TYPE": "integer", "VALUE": "15"}},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"Id"}, DestinationField: aws.String("account_id"), ConnectorOperator: sfOp(types.SalesforceConnectorOperatorNoOp),
			TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "id", "DESTINATION_DATA_TYPE": "string"}},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"Name"}, DestinationField: aws.String("name"), ConnectorOperator: sfOp(types.SalesforceConnectorOperatorNoOp),
			TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"Employees"}, DestinationField: aws.String("headcount"), ConnectorOperator: sfOp(types.SalesforceConnectorOperatorNoOp),
			TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "int", "DESTINATION_DATA_TYPE": "int"}},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"Revenue"}, DestinationField: aws.String("revenue"), ConnectorOperator: sfOp(types.SalesforceConnectorOperatorNoOp),
			TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "currency", "DESTINATION_DATA_TYPE": "currency"}},
		{TaskType: types.TaskTypeMap, SourceFields: []string{"LastModifiedDate"}, DestinationField: aws.String("modified"), ConnectorOperator: sfOp(types.SalesforceConnectorOperatorNoOp),
			TaskProperties: map[string]string{"SOURCE_DATA_TYPE": "datetime", "DESTINATION_DATA_TYPE": "datetime"}},
	}
}

// oneOutput returns the only object in the bucket, failing otherwise.
func (e *e2e) oneOutput(bucket string, r types.ExecutionRecord) string {
	e.t.Helper()
	files := e.bucketFiles(bucket)
	var keys []string
	for k := range files {
		if strings.Contains(k, aws.ToString(r.ExecutionId)) {
			keys = append(keys, k)
		}
	}
	if len(keys) != 1 {
		e.t.Fatalf("run %s wrote %d objects (%v), want one", aws.ToString(r.ExecutionId), len(keys), files)
	}
	return files[keys[0]]
}

func TestE2EProfilesAndCatalog(t *testing.T) {
	e := newE2E(t, nil)
	seedAccounts(e.org)
	e.mustProfile("sf-tokens", tokens())

	// A one-time authorization code: exchanged at creation; the profile
	// keeps the tokens, or a later call could never log in again.
	e.org.AddCode("code-1")
	e.mustProfile("sf-code", &types.SalesforceConnectorProfileCredentials{
		OAuthRequest: &types.ConnectorOAuthRequest{AuthCode: aws.String("code-1"), RedirectUri: aws.String("https://example.com/cb")}})
	if n := e.org.Logged("POST /services/oauth2/token"); n != 1 {
		t.Errorf("token requests after the code profile: %d, want 1", n)
	}

	for _, c := range []struct {
		name  string
		creds *types.SalesforceConnectorProfileCredentials
		want  string
	}{
		{"bad-refresh", &types.SalesforceConnectorProfileCredentials{AccessToken: aws.String("stale"), RefreshToken: aws.String("nope")}, "expired access/refresh token"},
		{"used-code", &types.SalesforceConnectorProfileCredentials{OAuthRequest: &types.ConnectorOAuthRequest{AuthCode: aws.String("code-1"), RedirectUri: aws.String("https://example.com/cb")}}, "invalid authorization code"},
		{"no-refresh", &types.SalesforceConnectorProfileCredentials{AccessToken: aws.String("stale")}, "INVALID_SESSION_ID"},
	} {
		err := e.createProfile(c.name, c.creds)
		var ae *types.ConnectorAuthenticationException
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: CreateConnectorProfile = %v (%T), want ConnectorAuthenticationException with %q", c.name, err, err, c.want)
		}
	}
	out, err := e.client.DescribeConnectorProfiles(e.ctx, &appflow.DescribeConnectorProfilesInput{ConnectorType: types.ConnectorTypeSalesforce})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range out.ConnectorProfileDetails {
		names = append(names, aws.ToString(p.ConnectorProfileName))
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "sf-code,sf-tokens" {
		t.Errorf("profiles = %v, want only the two that logged in", names)
	}

	// The catalog, through the code profile: its stored tokens work.
	tokenCalls := e.org.Logged("POST /services/oauth2/token")
	for _, profile := range []string{"sf-code", "sf-tokens"} {
		ents, err := e.client.ListConnectorEntities(e.ctx, &appflow.ListConnectorEntitiesInput{
			ConnectorProfileName: aws.String(profile), ConnectorType: types.ConnectorTypeSalesforce})
		if err != nil {
			t.Fatalf("ListConnectorEntities %s: %v", profile, err)
		}
		var got []string
		for group, list := range ents.ConnectorEntityMap {
			for _, en := range list {
				got = append(got, group+"/"+aws.ToString(en.Name)+"/"+aws.ToString(en.Label))
			}
		}
		if strings.Join(got, ",") != "Objects/Account/Account" {
			t.Errorf("%s: entities %v, want the queryable Account only", profile, got)
		}
	}
	if n := e.org.Logged("POST /services/oauth2/token"); n != tokenCalls {
		t.Errorf("token requests in catalog calls: %d, want none (stored tokens reused)", n-tokenCalls)
	}
	desc, err := e.client.DescribeConnectorEntity(e.ctx, &appflow.DescribeConnectorEntityInput{
		ConnectorEntityName: aws.String("Account"), ConnectorProfileName: aws.String("sf-code"), ConnectorType: types.ConnectorTypeSalesforce})
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]types.ConnectorEntityField{}
	for _, f := range desc.ConnectorEntityFields {
		fields[aws.ToString(f.Identifier)] = f
	}
	if len(fields) != 7 {
		t.Errorf("DescribeConnectorEntity: %d fields, want 7: %v", len(fields), fields)
	}
	if f := fields["Employees"]; f.SupportedFieldTypeDetails == nil || aws.ToString(f.SupportedFieldTypeDetails.V1.FieldType) != "int" ||
		!contains(f.SupportedFieldTypeDetails.V1.FilterOperators, "GREATER_THAN") {
		t.Errorf("Employees = %+v", f.SupportedFieldTypeDetails)
	}
	if f := fields["Id"]; f.SourceProperties == nil || f.DestinationProperties == nil || !f.DestinationProperties.IsUpsertable {
		t.Errorf("Id: source %+v destination %+v", f.SourceProperties, f.DestinationProperties)
	}
	if f := fields["LastModifiedDate"]; f.SourceProperties == nil || !f.SourceProperties.IsTimestampFieldForIncrementalQueries {
		t.Errorf("LastModifiedDate: %+v, want an incremental timestamp", f.SourceProperties)
	}
	_, err = e.client.DescribeConnectorEntity(e.ctx, &appflow.DescribeConnectorEntityInput{
		ConnectorEntityName: aws.String("Nope"), ConnectorProfileName: aws.String("sf-code"), ConnectorType: types.ConnectorTypeSalesforce})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("DescribeConnectorEntity of an unknown object = %v (%T), want ResourceNotFoundException", err, err)
	}
}

func contains[S ~string](list []S, s string) bool {
	for _, x := range list {
		if string(x) == s {
			return true
		}
	}
	return false
}

// accountsCSV is what accountTasks make of seedAccounts' records.
const accountsCSV = "account_id,name,headcount,revenue,modified\n" +
	"00100000000000000C,\"Say \"\"hi\"\"\",20,2001,2024-01-01T02:00:00.000Z\n" +
	"00100000000000000D,Initech,30,3001.5,2024-01-01T03:00:00.000Z\n" +
	"00100000000000000E,Umbrella,40,,2024-01-01T04:00:00.000Z\n" +
	"00100000000000000F,Hooli,50,5002.5,2024-01-01T05:00:00.000Z\n" +
	"00100000000000000G,Stark,60,6003,2024-01-01T06:00:00.000Z\n"

// TestE2ESalesforceToS3 runs Account -> S3 on REST and Bulk API 2.0 with a
// profile made from an authorization code: the filter goes into the SOQL,
// the projection and Map tasks shape the CSV, compared whole.
func TestE2ESalesforceToS3(t *testing.T) {
	e := newE2E(t, nil)
	seedAccounts(e.org)
	e.org.AddCode("code-7")
	e.mustProfile("sf", &types.SalesforceConnectorProfileCredentials{
		OAuthRequest: &types.ConnectorOAuthRequest{AuthCode: aws.String("code-7"), RedirectUri: aws.String("https://example.com/cb")}})
	var soql soqlLog
	soql.watch(e.org)
	const want = accountsCSV
	for _, api := range []string{"REST_SYNC", "BULKV2"} {
		t.Run(api, func(t *testing.T) {
			e.t = t
			flow := "accounts-" + strings.ToLower(strings.ReplaceAll(api, "_", "-"))
			if _, err := e.client.CreateFlow(e.ctx, sfSourceFlow(flow, "sf", api, accountTasks(), "lake")); err != nil {
				t.Fatal(err)
			}
			r := e.run(flow)
			mustSucceed(t, r)
			if got := e.oneOutput("lake", r); got != want {
				t.Errorf("output:\n%s\nwant:\n%s", got, want)
			}
		})
	}
	e.t = t
	if n := e.org.Logged("POST /services/oauth2/token"); n != 1 {
		t.Errorf("token requests: %d, want 1 (the code exchange; the runs used the stored tokens)", n)
	}
	if n := e.org.Logged("POST " + sftest.VersionPrefix + "/jobs/query"); n != 1 {
		t.Errorf("Bulk API query jobs: %d, want 1", n)
	}
	pushed := false
	for _, q := range soql.all() {
		pushed = pushed || strings.Contains(q, "FROM Account WHERE Employees > 15")
	}
	if !pushed {
		t.Errorf("no REST query pushed the filter down: %q", soql.all())
	}
}

// TestE2ETokenExpiresMidRun: the session times out between two pages of a
// run; the run refreshes once, finishes, and stores the new token, so the
// next run needs no refresh.
func TestE2ETokenExpiresMidRun(t *testing.T) {
	e := newE2E(t, nil)
	seedAccounts(e.org)
	e.org.SetRESTPage(2)
	e.mustProfile("sf", tokens())
	if _, err := e.client.CreateFlow(e.ctx, sfSourceFlow("accounts", "sf", "REST_SYNC", accountTasks(), "lake")); err != nil {
		t.Fatal(err)
	}
	// describe, the query's first page, then the session times out.
	e.org.ExpireAfter(2)
	r := e.run("accounts")
	mustSucceed(t, r)
	if n := e.org.Logged("POST /services/oauth2/token"); n != 1 {
		t.Fatalf("token requests in the first run: %d, want one refresh", n)
	}
	if n := e.org.Logged("GET " + sftest.VersionPrefix + "/query/"); n < 2 {
		t.Errorf("%d queryMore pages, want the run to span several", n)
	}
	first := e.oneOutput("lake", r)
	if strings.Count(first, "\n") != 6 {
		t.Errorf("first run output:\n%s\nwant a header and 5 records", first)
	}
	r2 := e.run("accounts")
	mustSucceed(t, r2)
	if n := e.org.Logged("POST /services/oauth2/token"); n != 1 {
		t.Errorf("token requests after the second run: %d, want still 1: the refreshed token was not stored", n)
	}
	if got := e.bucketFiles("lake"); len(got) != 2 {
		t.Errorf("objects after two runs: %d", len(got))
	}
}

func seedContacts(o *sftest.Org) {
	obj := o.AddObject("Contact", sftest.F("LastName", "string"), sftest.F("Score", "double"),
		sftest.Field{Name: "Ext__c", Label: "External Id", Type: "string", Nillable: true, Createable: true, Updateable: true,
			ExternalID: true, IDLookup: true, Filterable: true})
	obj.Validate(func(rec map[string]any) *sftest.Err {
		if rec["LastName"] == nil {
			return &sftest.Err{Code: "REQUIRED_FIELD_MISSING", Msg: "Required fields are missing: [LastName]", Fields: []string{"LastName"}}
		}
		if rec["LastName"] == "bad" {
			return &sftest.Err{Code: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Msg: "Last name may not be bad"}
		}
		return nil
	})
	o.Insert("Contact", map[string]any{"LastName": "Old", "Score": 1.0, "Ext__c": "E1"})
}

func sfDestFlow(name, prefix string, op types.WriteOperationType, ids []string, tasks []types.Task) *appflow.CreateFlowInput {
	return &appflow.CreateFlowInput{
		FlowName:      aws.String(name),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("raw"), BucketPrefix: aws.String(prefix),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeSalesforce, ConnectorProfileName: aws.String("sf"),
			DestinationConnectorProperties: &types.DestinationConnectorProperties{Salesforce: &types.SalesforceDestinationProperties{
				Object: aws.String("Contact"), WriteOperationType: op, IdFieldNames: ids,
				DataTransferApi:     types.SalesforceDataTransferApiRestSync,
				ErrorHandlingConfig: &types.ErrorHandlingConfig{FailOnFirstDestinationError: false}}}}},
		Tasks: tasks,
	}
}

func s3Map(src, dst, typ string) types.Task {
	return types.Task{TaskType: types.TaskTypeMap, SourceFields: []string{src}, DestinationField: aws.String(dst),
		ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp},
		TaskProperties:    map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": typ}}
}

// TestE2ES3ToSalesforce: INSERT and UPSERT (on an external id) from CSV
// files; records Salesforce rejects are counted in putFailuresCount and
// named in the message, the others are written.
func TestE2ES3ToSalesforce(t *testing.T) {
	e := newE2E(t, nil)
	seedContacts(e.org)
	e.mustProfile("sf", tokens())

	e.put("raw", "insert/contacts.csv", "last,score\nAnn,1.5\nbad,2\n,3\nBo,\n")
	_, err := e.client.CreateFlow(e.ctx, sfDestFlow("insert", "insert", types.WriteOperationTypeInsert, nil,
		[]types.Task{s3Map("last", "LastName", "string"), s3Map("score", "Score", "double")}))
	if err != nil {
		t.Fatal(err)
	}
	r := e.run("insert")
	mustSucceed(t, r)
	if n := putFailures(r); n != 2 {
		t.Errorf("INSERT putFailuresCount = %d, want 2 (%s)", n, message(r))
	}
	// The message is AppFlow-sanitised (punctuation dropped) but keeps
	// Salesforce's code and message and the line.
	if m := message(r); !strings.Contains(m, "FIELD_CUSTOM_VALIDATION_EXCEPTION") || !strings.Contains(m, "Last name may not be bad") || !strings.Contains(m, "line 3") {
		t.Errorf("INSERT message %q, want the first rejection with Salesforce's code and its line", m)
	}

	e.put("raw", "upsert/contacts.csv", "ext,last,score\nE1,Renamed,9\nE2,New,\nE3,bad,1\n")
	_, err = e.client.CreateFlow(e.ctx, sfDestFlow("upsert", "upsert", types.WriteOperationTypeUpsert, []string{"Ext__c"},
		[]types.Task{s3Map("ext", "Ext__c", "string"), s3Map("last", "LastName", "string"), s3Map("score", "Score", "double")}))
	if err != nil {
		t.Fatal(err)
	}
	r = e.run("upsert")
	mustSucceed(t, r)
	if n := putFailures(r); n != 1 {
		t.Errorf("UPSERT putFailuresCount = %d, want 1 (%s)", n, message(r))
	}

	var got []string
	for _, rec := range e.org.Live("Contact") {
		got = append(got, sftest.CSVValue(rec["LastName"])+"|"+sftest.CSVValue(rec["Score"])+"|"+sftest.CSVValue(rec["Ext__c"]))
	}
	sort.Strings(got)
	want := []string{"Ann|1.5|", "Bo||", "New||E2", "Renamed|9|E1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Contacts = %v, want %v", got, want)
	}
}

// TestE2ERateLimitedPage: Salesforce refuses a page with 403
// REQUEST_LIMIT_EXCEEDED once; the run backs off, asks again, and writes
// every record exactly once.
func TestE2ERateLimitedPage(t *testing.T) {
	e := newE2E(t, nil)
	seedAccounts(e.org)
	e.org.SetRESTPage(2)
	e.mustProfile("sf", tokens())
	if _, err := e.client.CreateFlow(e.ctx, sfSourceFlow("accounts", "sf", "REST_SYNC", accountTasks(), "lake")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	pages := 0
	e.org.Inject(func(r *http.Request) (int, string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, sftest.VersionPrefix+"/query/") {
			return 0, "", false
		}
		if pages++; pages == 2 {
			return 403, `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`, true
		}
		return 0, "", false
	})
	r := e.run("accounts")
	mustSucceed(t, r)
	if got := e.oneOutput("lake", r); got != accountsCSV {
		t.Errorf("output:\n%s\nwant:\n%s", got, accountsCSV)
	}
	mu.Lock()
	defer mu.Unlock()
	if pages < 3 {
		t.Errorf("%d queryMore requests, want the refused one asked again", pages)
	}
}
