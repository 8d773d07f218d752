package snowflakeconn

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/snowflakeconn/sfktest"
	"github.com/appflowd/appflowd/internal/connector/stage"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

func threeCols() []sfktest.Column {
	return []sfktest.Column{
		{Name: "ID", Type: "NUMBER(38,0)", Nullable: false},
		{Name: "NAME", Type: "VARCHAR(16777216)", Nullable: true},
		{Name: "AMOUNT", Type: "FLOAT", Nullable: true},
	}
}

func batch(split string, first int64, rows ...[]record.Value) *record.Batch {
	b := &record.Batch{Fields: []string{"id", "name", "amount"}, Split: split, FirstLine: first, Final: true}
	for _, r := range rows {
		b.AppendRow(r)
	}
	return b
}

var fields3 = []connector.FieldSpec{{Name: "id", Type: "integer"}, {Name: "name", Type: "string"}, {Name: "amount", Type: "double"}}

func TestCopyStatementsExact(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	obj := fx.newTable(threeCols()...)
	d := fx.driver(t)
	props, _ := json.Marshal(stage.Dest{Object: obj, IntermediateBucketName: bucketName, BucketPrefix: "appflow/in/runs"})
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec-1", Object: obj,
		Properties: props, Fields: fields3, ErrorHandling: &connector.ErrorHandling{FailOnFirstError: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, batch("in.csv", 2,
		[]record.Value{record.IntVal(1), record.Str(`say "hi", ok`), record.FloatVal(1.5)},
		[]record.Value{record.IntVal(2), record.Str(""), record.NullVal()},
	)); err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsWritten != 2 || len(res.Failures) != 0 || res.BytesWritten <= 0 || !reflect.DeepEqual(res.Objects, []string{obj}) {
		t.Errorf("result = %+v", res)
	}
	want := []sfktest.Statement{
		{SQL: "DESCRIBE TABLE DB.PUBLIC." + obj[len("DB.PUBLIC."):], Database: "DB", Schema: "PUBLIC", Warehouse: "LOAD_WH", TokenType: "OAUTH"},
		{SQL: "COPY INTO " + obj + ` ("ID", "NAME", "AMOUNT") FROM @DB.PUBLIC.APPFLOW_STAGE/runs/flow1/exec-1/ ` +
			`FILE_FORMAT=(TYPE=CSV SKIP_HEADER=1 FIELD_OPTIONALLY_ENCLOSED_BY='"' EMPTY_FIELD_AS_NULL=TRUE NULL_IF=() COMPRESSION=GZIP) ` +
			`ON_ERROR=ABORT_STATEMENT PURGE=FALSE`, Database: "DB", Schema: "PUBLIC", Warehouse: "LOAD_WH", TokenType: "OAUTH"},
	}
	got := fx.fake.Statements()
	for i := range got {
		got[i].Host = "" // TestHostReached checks it
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statements:\n got %#v\nwant %#v", got, want)
	}
	rows := fx.fake.Rows(obj)
	wantRows := []map[string]string{{"ID": "1", "NAME": `say "hi", ok`, "AMOUNT": "1.5"}, {"ID": "2", "NAME": ""}}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("rows = %#v, want %#v (empty string kept, null dropped)", rows, wantRows)
	}
	// Staged files stay after a load, at the stage-visible key.
	if keys := fx.stagedKeys(t); !reflect.DeepEqual(keys, []string{"appflow/in/runs/flow1/exec-1/part-00000.csv.gz"}) {
		t.Errorf("staged keys = %v", keys)
	}
}

func TestRejectedRowsContinue(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	obj := fx.newTable(threeCols()...)
	d := fx.driver(t)
	eh := &connector.ErrorHandling{FailOnFirstError: false, BucketName: "errors", BucketPrefix: "rej"}
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec-2", Object: obj, Fields: fields3, ErrorHandling: eh})
	if err != nil {
		t.Fatal(err)
	}
	// A Map task's rejection, handed over before the batch.
	taskFail := connector.RecordFailure{Split: "a.csv", Line: 9, Reason: "not an integer", Record: map[string]string{"id": "zz"}}
	if err := w.(connector.FailureRecorder).RecordFailures(ctx, []connector.RecordFailure{taskFail}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, batch("a.csv", 2,
		[]record.Value{record.IntVal(1), record.Str("ok"), record.FloatVal(1)},
		[]record.Value{record.Str("x1"), record.Str("bad id"), record.FloatVal(2)},
		[]record.Value{record.IntVal(3), record.Str("ok3"), record.Str("nan-ish")},
		[]record.Value{record.IntVal(4), record.Str("ok4"), record.NullVal()},
	)); err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsWritten != 2 {
		t.Errorf("RecordsWritten = %d, want 2", res.RecordsWritten)
	}
	if len(res.Failures) != 3 {
		t.Fatalf("failures = %+v, want 3", res.Failures)
	}
	if !reflect.DeepEqual(res.Failures[0], taskFail) {
		t.Errorf("first failure = %+v, want the task's", res.Failures[0])
	}
	f1, f2 := res.Failures[1], res.Failures[2]
	if f1.Split != "a.csv" || f1.Line != 3 || !strings.Contains(f1.Reason, "Numeric value 'x1' is not recognized") ||
		!reflect.DeepEqual(f1.Record, map[string]string{"id": "x1", "name": "bad id", "amount": "2"}) {
		t.Errorf("failure 1 = %+v", f1)
	}
	if f2.Split != "a.csv" || f2.Line != 4 || !strings.Contains(f2.Reason, "nan-ish") {
		t.Errorf("failure 2 = %+v", f2)
	}
	stmts := fx.fake.Statements()
	last := stmts[len(stmts)-1].SQL
	if !strings.HasPrefix(stmts[len(stmts)-2].SQL, "COPY INTO ") || !strings.Contains(stmts[len(stmts)-2].SQL, "ON_ERROR=CONTINUE PURGE=FALSE") {
		t.Errorf("COPY = %s", stmts[len(stmts)-2].SQL)
	}
	if want := "SELECT * FROM TABLE(VALIDATE(" + obj + ", JOB_ID=>'01b00000-0000-0000-0000-000000000002'))"; last != want {
		t.Errorf("last statement = %s, want %s", last, want)
	}
	// The error bucket holds all three.
	f, err := os.Open(filepath.Join(fx.dataDir, "s3", "errors", "rej", "flow1", "exec-2", RejectsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
	}
	if n != 3 {
		t.Errorf("error file has %d lines, want 3", n)
	}
	if got := len(fx.fake.Rows(obj)); got != 2 {
		t.Errorf("table has %d rows, want 2", got)
	}
}

func TestFailFirstAbortsAndCleansUp(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	obj := fx.newTable(threeCols()...)
	d := fx.driver(t)
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec-3", Object: obj, Fields: fields3,
		ErrorHandling: &connector.ErrorHandling{FailOnFirstError: true, BucketName: "errors"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, batch("a.csv", 2,
		[]record.Value{record.IntVal(1), record.Str("ok"), record.FloatVal(1)},
		[]record.Value{record.Str("x1"), record.Str("bad"), record.FloatVal(2)},
	)); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(ctx)
	if err == nil || !strings.Contains(err.Error(), "Numeric value 'x1' is not recognized") || fault.CodeOf(err) != fault.ConnectorServer {
		t.Fatalf("Commit = %v (%v), want Snowflake's conversion error as ConnectorServer", err, fault.CodeOf(err))
	}
	if rows := fx.fake.Rows(obj); len(rows) != 0 {
		t.Errorf("rows loaded: %v", rows)
	}
	if keys := fx.stagedKeys(t); len(keys) != 0 {
		t.Errorf("staged files left: %v", keys)
	}
	if err := w.Abort(ctx); err != nil {
		t.Errorf("Abort after a failed Commit: %v", err)
	}
}

func TestAbortDeletesStagedFiles(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	obj := fx.newTable(threeCols()...)
	d := fx.driver(t)
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec-4", Object: obj, Fields: fields3})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, batch("a.csv", 2, []record.Value{record.IntVal(1), record.Str("ok"), record.FloatVal(1)})); err != nil {
		t.Fatal(err)
	}
	// Close the part so it exists in the bucket, then abort.
	if err := w.(*writer).parts.Close(); err != nil {
		t.Fatal(err)
	}
	if keys := fx.stagedKeys(t); len(keys) != 1 {
		t.Fatalf("staged = %v, want one file", keys)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := fx.stagedKeys(t); len(keys) != 0 {
		t.Errorf("after Abort, staged = %v", keys)
	}
	for _, s := range fx.fake.Statements() {
		if strings.HasPrefix(s.SQL, "COPY") {
			t.Errorf("Abort issued %s", s.SQL)
		}
	}
}

func TestOpenWriterChecks(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	obj := fx.newTable(threeCols()...)
	d := fx.driver(t)
	cases := []struct {
		req  *connector.WriteRequest
		code fault.Code
		msg  string
	}{
		{&connector.WriteRequest{Object: "DB.PUBLIC.NOPE", Fields: fields3}, fault.NotFound, "does not exist"},
		{&connector.WriteRequest{Object: obj, Fields: []connector.FieldSpec{{Name: "zzz"}}}, fault.Invalid, `field "zzz" has no column`},
		{&connector.WriteRequest{Object: obj, WriteOperation: "UPSERT"}, fault.Unsupported, "UPSERT"},
		{&connector.WriteRequest{Object: obj, Properties: json.RawMessage(`{"intermediateBucketName":"other"}`)}, fault.Invalid, "must be the stage's bucket"},
	}
	for _, c := range cases {
		_, err := d.OpenWriter(ctx, c.req)
		if fault.CodeOf(err) != c.code || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("OpenWriter(%s) = %v (%v), want %v containing %q", c.req.Object, err, fault.CodeOf(err), c.code, c.msg)
		}
	}
}

func TestCheckProfile(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	if err := fx.driver(t).CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	if got := fx.fake.Statements(); len(got) != 1 || got[0].SQL != "SELECT 1" || got[0].Warehouse != "LOAD_WH" {
		t.Errorf("statements = %+v", got)
	}
	bad, err := New(fx.deps(), fx.profile(map[string]string{"username": "u", "accessToken": "wrong"}))
	if err != nil {
		t.Fatal(err)
	}
	err = bad.CheckProfile(ctx)
	if fault.CodeOf(err) != fault.AuthFailed || !strings.Contains(err.Error(), "Invalid OAuth access token") {
		t.Errorf("bad token: %v (%v), want AuthFailed with Snowflake's message", err, fault.CodeOf(err))
	}
	// Through the AppFlow API, whose Snowflake credentials are username and
	// password only, the token comes as the password with an oauth: prefix.
	viaPassword, err := New(fx.deps(), fx.profile(map[string]string{"username": "u", "password": "oauth:" + testToken}))
	if err != nil {
		t.Fatal(err)
	}
	if err := viaPassword.CheckProfile(ctx); err != nil {
		t.Errorf("CheckProfile with the token as an oauth: password: %v", err)
	}
}

// TestPasswordIsProgrammaticAccessToken: a username/password profile (all
// AppFlow's model has) reaches the SQL API with the password as a
// programmatic access token: Authorization: Bearer <token> and
// X-Snowflake-Authorization-Token-Type: PROGRAMMATIC_ACCESS_TOKEN.
func TestPasswordIsProgrammaticAccessToken(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	fx.fake.PAT = "pat-secret-1"
	d, err := New(fx.deps(), fx.profile(map[string]string{"username": "appflow", "password": "pat-secret-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile with a programmatic access token as the password: %v", err)
	}
	if got := fx.fake.Statements(); len(got) != 1 || got[0].TokenType != "PROGRAMMATIC_ACCESS_TOKEN" {
		t.Errorf("statements = %+v, want one sent with token type PROGRAMMATIC_ACCESS_TOKEN", got)
	}
	bad, err := New(fx.deps(), fx.profile(map[string]string{"username": "appflow", "password": "revoked"}))
	if err != nil {
		t.Fatal(err)
	}
	err = bad.CheckProfile(ctx)
	if fault.CodeOf(err) != fault.AuthFailed || !strings.Contains(err.Error(), "Programmatic access token is invalid") {
		t.Errorf("revoked token: %v (%v), want AuthFailed with Snowflake's message", err, fault.CodeOf(err))
	}
	// The OAuth token is not a PAT, nor the PAT an OAuth token.
	asOAuth, _ := New(fx.deps(), fx.profile(map[string]string{"username": "appflow", "password": "oauth:pat-secret-1"}))
	if err := asOAuth.CheckProfile(ctx); fault.CodeOf(err) != fault.AuthFailed {
		t.Errorf("a PAT sent as OAUTH: %v, want AuthFailed", err)
	}
	if _, err := New(fx.deps(), fx.profile(map[string]string{"username": "appflow"})); fault.CodeOf(err) != fault.Invalid {
		t.Errorf("no password, key or token: %v, want Invalid", err)
	}
}

func TestKeyPairJWT(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(pub)
	wantIss := "XY12345.APPFLOW.SHA256:" + base64.StdEncoding.EncodeToString(sum[:])

	var claims map[string]any
	verify := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		parts := strings.Split(tok, ".")
		if len(parts) != 3 || r.Header.Get("X-Snowflake-Authorization-Token-Type") != "KEYPAIR_JWT" {
			http.Error(w, `{"code":"390144","message":"JWT token is invalid."}`, http.StatusUnauthorized)
			return
		}
		h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, h[:], sig) != nil {
			http.Error(w, `{"code":"390144","message":"JWT token is invalid."}`, http.StatusUnauthorized)
			return
		}
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(raw, &claims)
		r.Header.Set("Authorization", "Bearer "+testToken)
		fx.fake.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(verify)
	defer srv.Close()
	deps := fx.deps()
	deps.Env = func(k string) string {
		if k == EndpointEnv {
			return srv.URL
		}
		return ""
	}
	for _, creds := range []map[string]string{
		{"username": "appflow", "privateKey": pemKey},
	} {
		d, err := New(deps, fx.profile(creds))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CheckProfile(ctx); err != nil {
			t.Fatalf("CheckProfile with a key-pair JWT from %v: %v", keysOf(creds), err)
		}
	}
	if claims["iss"] != wantIss || claims["sub"] != "XY12345.APPFLOW" {
		t.Errorf("claims = %v, want iss %s", claims, wantIss)
	}
	iat, exp := claims["iat"].(float64), claims["exp"].(float64)
	if exp-iat > 3600 || exp <= iat {
		t.Errorf("iat %v exp %v: at most one hour", iat, exp)
	}
}

func TestAsyncStatementsArePolled(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	fx.fake.Async = true
	obj := fx.newTable(threeCols()...)
	d := fx.driver(t)
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Object: obj, Fields: fields3})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, batch("a", 1, []record.Value{record.IntVal(7), record.Str("x"), record.FloatVal(0.5)})); err != nil {
		t.Fatal(err)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsWritten != 1 {
		t.Errorf("RecordsWritten = %d", res.RecordsWritten)
	}
}

func TestCatalog(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	fx.fake.CreateTable("DB.PUBLIC.ORDERS",
		sfktest.Column{Name: "ID", Type: "NUMBER(38,0)"},
		sfktest.Column{Name: "PRICE", Type: "NUMBER(10,2)", Nullable: true},
		sfktest.Column{Name: "CREATED", Type: "TIMESTAMP_NTZ(9)", Nullable: true},
		sfktest.Column{Name: "DOC", Type: "VARIANT", Nullable: true},
		sfktest.Column{Name: "note", Type: "VARCHAR(100)", Nullable: true})
	fx.fake.CreateTable("DB.SALES.lower_t", sfktest.Column{Name: "X", Type: "BOOLEAN", Nullable: true})
	d := fx.driver(t)
	got, err := d.ListEntities(ctx, "")
	if err != nil || len(got["Databases"]) != 1 || got["Databases"][0].Name != "DB" || !got["Databases"][0].HasNestedEntities {
		t.Fatalf("databases = %+v, %v", got, err)
	}
	got, err = d.ListEntities(ctx, "DB")
	if err != nil || len(got["Schemas"]) != 2 || got["Schemas"][0].Name != "DB.PUBLIC" || got["Schemas"][1].Name != "DB.SALES" {
		t.Fatalf("schemas = %+v, %v", got, err)
	}
	got, err = d.ListEntities(ctx, "DB.SALES")
	if err != nil || len(got["Tables"]) != 1 || got["Tables"][0].Name != `DB.SALES."lower_t"` || got["Tables"][0].Label != "lower_t" {
		t.Fatalf("tables = %+v, %v", got, err)
	}
	if _, err := d.ListEntities(ctx, "DB.NOPE"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("missing schema: %v", err)
	}
	fs, err := d.DescribeEntity(ctx, "ORDERS") // completed with the stage's DB.PUBLIC
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]record.FieldType{}
	for _, f := range fs {
		types[f.Name] = f.Type
	}
	want := map[string]record.FieldType{"ID": "long", "PRICE": "decimal", "CREATED": "datetime", "DOC": "struct", "note": "string"}
	if !reflect.DeepEqual(types, want) || fs[0].Nullable || !fs[1].Nullable {
		t.Errorf("fields = %+v", fs)
	}
	if _, err := d.DescribeEntity(ctx, `DB.SALES."lower_t"`); err != nil {
		t.Errorf("quoted table: %v", err)
	}
	stmts := fx.fake.Statements()
	wantSQL := []string{"SHOW DATABASES", "SHOW SCHEMAS IN DATABASE DB", "SHOW TABLES IN SCHEMA DB.SALES", "SHOW TABLES IN SCHEMA DB.NOPE",
		"DESCRIBE TABLE DB.PUBLIC.ORDERS", `DESCRIBE TABLE DB.SALES."lower_t"`}
	for i, s := range stmts {
		if i >= len(wantSQL) || s.SQL != wantSQL[i] {
			t.Errorf("statement %d = %q, want %q", i, s.SQL, wantSQL[min(i, len(wantSQL)-1)])
		}
	}
}

func TestHost(t *testing.T) {
	cases := []struct {
		p    Properties
		want string
	}{
		// Snowflake's account identifier page: orgname-account_name as is.
		{Properties{AccountName: "myorg-myaccount"}, "myorg-myaccount.snowflakecomputing.com"},
		{Properties{AccountName: "MyOrg-My_Account", Region: "us-east-2"}, "myorg-my_account.snowflakecomputing.com"},
		// Legacy locators, by the region they live in.
		{Properties{AccountName: "xy12345", Region: "us-west-2"}, "xy12345.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345"}, "xy12345.snowflakecomputing.com"},
		{Properties{AccountName: "XY12345", Region: "us-east-1"}, "xy12345.us-east-1.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345", Region: "us-east-2"}, "xy12345.us-east-2.aws.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345", Region: "eu-west-1"}, "xy12345.eu-west-1.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345", Region: "eu-central-1"}, "xy12345.eu-central-1.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345", Region: "ap-southeast-2"}, "xy12345.ap-southeast-2.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345", Region: "ap-northeast-1"}, "xy12345.ap-northeast-1.aws.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345", Region: "ca-central-1"}, "xy12345.ca-central-1.aws.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345", Region: "east-us-2.azure"}, "xy12345.east-us-2.azure.snowflakecomputing.com"},
		// The locator already carries its region: taken whole.
		{Properties{AccountName: "xy12345.us-east-2.aws", Region: "us-east-2"}, "xy12345.us-east-2.aws.snowflakecomputing.com"},
		{Properties{AccountName: "https://xy12345.us-east-2.aws.snowflakecomputing.com/"}, "xy12345.us-east-2.aws.snowflakecomputing.com"},
		// PrivateLink.
		{Properties{AccountName: "xy12345.eu-west-1", PrivateLinkServiceName: "com.amazonaws.vpce.x"}, "xy12345.eu-west-1.privatelink.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345", Region: "us-east-2", PrivateLinkServiceName: "com.amazonaws.vpce.x"}, "xy12345.us-east-2.privatelink.snowflakecomputing.com"},
		{Properties{AccountName: "xy12345", PrivateLinkServiceName: "com.amazonaws.vpce.x"}, "xy12345.us-west-2.privatelink.snowflakecomputing.com"},
		{Properties{AccountName: "myorg-myaccount", PrivateLinkServiceName: "com.amazonaws.vpce.x"}, "myorg-myaccount.privatelink.snowflakecomputing.com"},
	}
	for _, c := range cases {
		d := &Driver{props: c.p}
		if got, err := d.host(); err != nil || got != c.want {
			t.Errorf("host(%+v) = %q, %v; want %q", c.p, got, err, c.want)
		}
	}
	for _, bad := range []Properties{{AccountName: ""}, {AccountName: "evil.example/x#"}, {AccountName: "xy12345", Region: "us-east-2/../x"}} {
		d := &Driver{props: bad}
		if got, err := d.host(); fault.CodeOf(err) != fault.Invalid {
			t.Errorf("host(%+v) = %q, %v; want Invalid", bad, got, err)
		}
	}
}

// TestHostReached: with no endpoint override the driver calls
// https://<account host>/api/v2/statements: the Host the (TLS) fake sees,
// reached through a dialer that stands for DNS, is the documented one.
func TestHostReached(t *testing.T) {
	ctx := ctxT(t)
	fx := newFixture(t)
	fx.fake.PAT = "pat-1"
	tlsSrv := httptest.NewTLSServer(fx.fake)
	t.Cleanup(tlsSrv.Close)
	tr := tlsSrv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, tlsSrv.Listener.Addr().String())
	}
	tr.TLSClientConfig.InsecureSkipVerify = true // the fake's certificate names 127.0.0.1, not Snowflake
	deps := connector.Deps{DataDir: fx.dataDir, HTTPClient: &http.Client{Transport: tr}}
	for account, want := range map[string]string{
		"xy12345":         "xy12345.us-east-2.aws.snowflakecomputing.com",
		"myorg-myaccount": "myorg-myaccount.snowflakecomputing.com",
	} {
		props, _ := json.Marshal(Properties{Warehouse: "LOAD_WH", Stage: stageName, BucketName: bucketName, AccountName: account, Region: "us-east-2"})
		creds, _ := json.Marshal(map[string]string{"username": "appflow", "password": "pat-1"})
		d, err := New(deps, connector.Profile{Name: "sf", Properties: props, Credentials: creds})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CheckProfile(ctx); err != nil {
			t.Fatalf("%s: CheckProfile: %v", account, err)
		}
		st := fx.fake.Statements()
		if got := st[len(st)-1].Host; got != want {
			t.Errorf("%s: request Host %q, want %q", account, got, want)
		}
	}
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
