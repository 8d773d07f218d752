package redshiftconn

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

const roleArn = "arn:aws:iam::000000000000:role/redshift-s3"

// stagedKeys lists the files a run left in the local intermediate bucket.
func stagedKeys(t *testing.T, fx *fixture) []string {
	root := filepath.Join(fx.dataDir, "s3", "stage")
	var keys []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(root, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(keys)
	return keys
}

// stagedLines reads every staged gzipped JSON line under prefix.
func stagedLines(t *testing.T, fx *fixture, prefix string) []string {
	var lines []string
	for _, k := range stagedKeys(t, fx) {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		f, err := os.Open(filepath.Join(fx.dataDir, "s3", "stage", filepath.FromSlash(k)))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s is not gzip: %v", k, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
	}
	return lines
}

// recordingExec records the statements of the Redshift SQL path. On the
// COPY it does what Redshift would: loads the staged JSON Lines (keys
// matched to columns ignoring case) into the table, through PostgreSQL's
// json_populate_record, inside the same transaction.
type recordingExec struct {
	t     *testing.T
	fx    *fixture
	table string
	conn  *pgx.Conn
	stmts []string
	fail  string // a COPY error to answer with, if set
}

func (r *recordingExec) Exec(ctx context.Context, sql string) (int64, error) {
	r.stmts = append(r.stmts, sql)
	if !strings.HasPrefix(sql, "COPY ") {
		_, err := r.conn.Exec(ctx, sql)
		return 0, err
	}
	if r.fail != "" {
		return 0, &testCopyError{r.fail}
	}
	from := sql[strings.Index(sql, "'s3://stage/")+len("'s3://stage/"):]
	prefix := from[:strings.Index(from, "'")]
	var n int64
	for _, line := range stagedLines(r.t, r.fx, prefix) {
		if _, err := r.conn.Exec(ctx, "INSERT INTO "+r.table+" SELECT * FROM json_populate_record(NULL::"+r.table+", $1::json)", line); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

func (r *recordingExec) Close() error { return nil }

type testCopyError struct{ msg string }

func (e *testCopyError) Error() string { return e.msg }

func TestRedshiftSQLPathStatements(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".events (id bigint NOT NULL, name varchar(10), at timestamp, ok boolean, amt numeric(6,2))")
	fx := newFixture(t)
	d := fx.driver(t, "redshift")
	rec := &recordingExec{t: t, fx: fx, table: schema + ".events", conn: adminConn(t)}
	d.exec = func(context.Context) (execer, error) { return rec, nil }
	ctx := context.Background()
	fields := []connector.FieldSpec{{Name: "ID", Type: "long"}, {Name: "name", Type: "string"}, {Name: "at", Type: "datetime"}, {Name: "ok", Type: "boolean"}, {Name: "amt", Type: "decimal"}}
	req := &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec-1", Object: schema + ".events", Fields: fields,
		Properties:    json.RawMessage(`{"object":"` + schema + `.events","intermediateBucketName":"stage","bucketPrefix":"rs"}`),
		ErrorHandling: &connector.ErrorHandling{BucketName: "errors"}}
	w, err := d.OpenWriter(ctx, req)
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	names := []string{"ID", "name", "at", "ok", "amt"}
	if err := w.Write(ctx, batch("s", 1, names,
		[]record.Value{record.IntVal(1), record.Str(`it's "x"`), record.MillisVal(1709647620500), record.BoolVal(true), record.DecimalVal("12.5")},
		[]record.Value{record.IntVal(2), record.NullVal(), record.NullVal(), record.NullVal(), record.NullVal()},
		[]record.Value{record.Str("three"), record.Str("bad"), record.NullVal(), record.NullVal(), record.NullVal()},
	)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if len(rec.stmts) != 0 {
		t.Errorf("statements before Commit: %v", rec.stmts)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	wantStmts := []string{
		"BEGIN",
		`COPY "` + schema + `"."events" ("id", "name", "at", "ok", "amt") FROM 's3://stage/rs/flow1/exec-1/' IAM_ROLE '` + roleArn +
			`' FORMAT AS JSON 'auto ignorecase' GZIP TIMEFORMAT 'auto' DATEFORMAT 'auto'`,
		"COMMIT",
	}
	if d := cmp.Diff(wantStmts, rec.stmts); d != "" {
		t.Errorf("statements (-want +got):\n%s", d)
	}
	if got := stagedKeys(t, fx); !cmp.Equal(got, []string{"rs/flow1/exec-1/part-00000.jsonl.gz"}) {
		t.Errorf("staged = %v", got)
	}
	wantLines := []string{
		`{"id":1,"name":"it's \"x\"","at":"2024-03-05 14:07:00.5","ok":true,"amt":12.5}`,
		`{"id":2,"name":null,"at":null,"ok":null,"amt":null}`,
	}
	if d := cmp.Diff(wantLines, stagedLines(t, fx, "rs/")); d != "" {
		t.Errorf("staged lines (-want +got):\n%s", d)
	}
	if res.RecordsWritten != 2 || len(res.Failures) != 1 || res.Failures[0].Line != 3 {
		t.Errorf("result = %+v, want 2 written and row 3 rejected", res)
	}
	got := tableText(t, conn, schema+".events")
	want := [][]string{{"1", `it's "x"`, "2024-03-05 14:07:00.5", "t", "12.50"}, {"2", "<null>", "<null>", "<null>", "<null>"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("table after the emulated COPY (-want +got):\n%s", d)
	}
}

func TestRedshiftSQLPathFailedCopyRollsBack(t *testing.T) {
	conn := adminConn(t)
	schema := newSchema(t, conn)
	mustExec(t, conn, "CREATE TABLE "+schema+".events (id bigint)")
	fx := newFixture(t)
	d := fx.driver(t, "redshift")
	rec := &recordingExec{t: t, fx: fx, table: schema + ".events", conn: adminConn(t), fail: "Load into table 'events' failed. Check 'stl_load_errors'"}
	d.exec = func(context.Context) (execer, error) { return rec, nil }
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Object: schema + ".events", Fields: []connector.FieldSpec{{Name: "id", Type: "long"}}})
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	if err := w.Write(ctx, batch("s", 1, []string{"id"}, []record.Value{record.IntVal(1)})); err != nil {
		t.Fatalf("Write: %v", err)
	}
	_, err = w.Commit(ctx)
	if err == nil || !strings.Contains(err.Error(), "stl_load_errors") || !strings.Contains(err.Error(), schema+".events") {
		t.Fatalf("Commit = %v, want the COPY error naming the table", err)
	}
	if got := rec.stmts; len(got) != 3 || got[0] != "BEGIN" || got[2] != "ROLLBACK" {
		t.Errorf("statements = %q, want BEGIN, COPY, ROLLBACK", got)
	}
	if k := stagedKeys(t, fx); len(k) != 0 {
		t.Errorf("staged files left after a failed load: %v", k)
	}
}

// fakeDataAPI records Data API calls, plays a statement's life and
// answers the catalog calls from schemas, tables and columns.
type fakeDataAPI struct {
	mu        sync.Mutex
	exec      []ExecuteStatementInput
	described []string
	canceled  []string
	statuses  []DescribeStatementOutput // answered in turn; the last repeats

	schemas  []string
	tables   []TableMember
	columns  map[string][]ColumnMetadata // by "schema.table"
	catalog  []any                       // the catalog requests, in order
	catError error                       // answered to every catalog call, if set
}

// like matches a Data API LIKE pattern ("" matches everything).
func like(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	var re strings.Builder
	re.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '%':
			re.WriteString(".*")
		case '_':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(s)
}

func (f *fakeDataAPI) ListSchemas(_ context.Context, in *ListSchemasInput) (*ListSchemasOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.catalog = append(f.catalog, *in)
	if f.catError != nil {
		return nil, f.catError
	}
	out := &ListSchemasOutput{Schemas: []string{}}
	for _, s := range f.schemas {
		if like(in.SchemaPattern, s) {
			out.Schemas = append(out.Schemas, s)
		}
	}
	return out, nil
}

func (f *fakeDataAPI) ListTables(_ context.Context, in *ListTablesInput) (*ListTablesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.catalog = append(f.catalog, *in)
	if f.catError != nil {
		return nil, f.catError
	}
	out := &ListTablesOutput{Tables: []TableMember{}}
	for _, t := range f.tables {
		if like(in.SchemaPattern, t.Schema) && like(in.TablePattern, t.Name) {
			out.Tables = append(out.Tables, t)
		}
	}
	return out, nil
}

func (f *fakeDataAPI) DescribeTable(_ context.Context, in *DescribeTableInput) (*DescribeTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.catalog = append(f.catalog, *in)
	if f.catError != nil {
		return nil, f.catError
	}
	out := &DescribeTableOutput{ColumnList: []ColumnMetadata{}, TableName: in.Table}
	for key, cols := range f.columns {
		schema, table, _ := strings.Cut(key, ".")
		if like(in.Schema, schema) && like(in.Table, table) {
			for _, c := range cols {
				c.SchemaName, c.TableName = schema, table
				out.ColumnList = append(out.ColumnList, c)
			}
		}
	}
	return out, nil
}

func (f *fakeDataAPI) ExecuteStatement(_ context.Context, in *ExecuteStatementInput) (*ExecuteStatementOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exec = append(f.exec, *in)
	return &ExecuteStatementOutput{Id: "d9b6c0c9-0747-4bf4-b142-e8883122f766"}, nil
}

func (f *fakeDataAPI) DescribeStatement(_ context.Context, id string) (*DescribeStatementOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.described = append(f.described, id)
	st := f.statuses[0]
	if len(f.statuses) > 1 {
		f.statuses = f.statuses[1:]
	}
	st.Id = id
	return &st, nil
}

func (f *fakeDataAPI) CancelStatement(_ context.Context, id string) error {
	f.canceled = append(f.canceled, id)
	return nil
}

func TestDataAPIPath(t *testing.T) {
	ctx := context.Background()
	dataProfile := func(t *testing.T, extra map[string]any) (*fixture, *Driver, *fakeDataAPI) {
		fx := newFixture(t)
		delete(fx.props, "databaseUrl") // Data API only: no SQL connection; the catalog is DescribeTable
		fx.props["databaseName"] = "dev"
		for k, v := range extra {
			fx.props[k] = v
		}
		fx.creds["username"] = "loader"
		d := fx.driver(t, "")
		fake := &fakeDataAPI{columns: map[string][]ColumnMetadata{"sales.orders": {
			{Name: "id", TypeName: "int4", Nullable: 0, Length: 10, Precision: 10},
			{Name: "who", TypeName: "varchar", Nullable: 1, Length: 6, Precision: 6},
			{Name: "at", TypeName: "timestamp", Nullable: 1, ColumnDefault: ptr("getdate()")},
		}}}
		d.data = fake
		return fx, d, fake
	}
	write := func(t *testing.T, d *Driver) (*connector.WriteResult, error) {
		w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec-2", Object: "sales.orders",
			Fields: []connector.FieldSpec{{Name: "id", Type: "integer"}, {Name: "who", Type: "string"}}})
		if err != nil {
			t.Fatalf("OpenWriter: %v", err)
		}
		// Checked against DescribeTable's columns: row 3 is longer than
		// varchar(6) in bytes (7), though it has 4 characters.
		if err := w.Write(ctx, batch("s", 1, []string{"id", "who"},
			[]record.Value{record.IntVal(7), record.Str("a")}, []record.Value{record.Str("8"), record.NullVal()},
			[]record.Value{record.IntVal(9), record.Str("Zoë€")})); err != nil {
			t.Fatalf("Write: %v", err)
		}
		res, err := w.Commit(ctx)
		if err != nil {
			_ = w.Abort(ctx)
		}
		return res, err
	}
	wantSQL := `COPY "sales"."orders" ("id", "who") FROM 's3://stage/loads/flow1/exec-2/' IAM_ROLE '` + roleArn +
		`' FORMAT AS JSON 'auto ignorecase' GZIP TIMEFORMAT 'auto' DATEFORMAT 'auto'`

	t.Run("Cluster", func(t *testing.T) {
		fx, d, fake := dataProfile(t, map[string]any{"clusterIdentifier": "cl-1"})
		fake.statuses = []DescribeStatementOutput{{Status: "SUBMITTED"}, {Status: "STARTED"}, {Status: "FINISHED", ResultRows: 2}}
		res, err := write(t, d)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		want := []ExecuteStatementInput{{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", Sql: wantSQL, StatementName: "appflowd-load"}}
		if d := cmp.Diff(want, fake.exec); d != "" {
			t.Errorf("ExecuteStatement (-want +got):\n%s", d)
		}
		if len(fake.described) != 3 {
			t.Errorf("DescribeStatement called %d times, want 3 (until FINISHED)", len(fake.described))
		}
		if res.RecordsWritten != 2 {
			t.Errorf("RecordsWritten = %d, want 2 (ResultRows)", res.RecordsWritten)
		}
		wantFail := `column "who" (character varying): value of 7 bytes is longer than 6 (Redshift counts VARCHAR length in bytes)`
		if len(res.Failures) != 1 || res.Failures[0].Line != 3 || res.Failures[0].Reason != wantFail {
			t.Errorf("failures = %+v, want line 3: %s", res.Failures, wantFail)
		}
		wantCat := []any{DescribeTableInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", Schema: "sales", Table: "orders"}}
		if d := cmp.Diff(wantCat, fake.catalog); d != "" {
			t.Errorf("catalog requests (-want +got):\n%s", d)
		}
		if got := stagedLines(t, fx, "loads/"); !cmp.Equal(got, []string{`{"id":7,"who":"a"}`, `{"id":8,"who":null}`}) {
			t.Errorf("staged = %v", got)
		}
	})

	t.Run("ServerlessFailed", func(t *testing.T) {
		fx, d, fake := dataProfile(t, map[string]any{"workgroupName": "wg", "isRedshiftServerless": true})
		fake.statuses = []DescribeStatementOutput{{Status: "PICKED"}, {Status: "FAILED", Error: "ERROR: Load into table 'orders' failed."}}
		_, err := write(t, d)
		if err == nil || !strings.Contains(err.Error(), "Load into table 'orders' failed.") {
			t.Fatalf("Commit = %v, want the statement's error", err)
		}
		want := []ExecuteStatementInput{{WorkgroupName: "wg", Database: "dev", Sql: wantSQL, StatementName: "appflowd-load"}}
		if d := cmp.Diff(want, fake.exec); d != "" {
			t.Errorf("ExecuteStatement (-want +got):\n%s", d)
		}
		wantCat := []any{DescribeTableInput{WorkgroupName: "wg", Database: "dev", Schema: "sales", Table: "orders"}}
		if d := cmp.Diff(wantCat, fake.catalog); d != "" {
			t.Errorf("catalog requests (-want +got):\n%s", d)
		}
		if k := stagedKeys(t, fx); len(k) != 0 {
			t.Errorf("staged files left after a failed load: %v", k)
		}
	})

	t.Run("CheckProfile", func(t *testing.T) {
		_, d, fake := dataProfile(t, map[string]any{"clusterIdentifier": "cl-1"})
		fake.statuses = []DescribeStatementOutput{{Status: "FINISHED"}}
		if err := d.CheckProfile(ctx); err != nil {
			t.Fatalf("CheckProfile: %v", err)
		}
		if len(fake.exec) != 1 || fake.exec[0].Sql != "SELECT 1" {
			t.Errorf("CheckProfile ran %+v, want SELECT 1", fake.exec)
		}
	})
}

// The hand-written client speaks awsJson1_1 with SigV4 for redshift-data.
func TestDataAPIClientWire(t *testing.T) {
	type call struct{ target, ctype, auth, body string }
	var calls []call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, call{r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)})
		switch r.Header.Get("X-Amz-Target") {
		case "RedshiftData.ExecuteStatement":
			_, _ = io.WriteString(w, `{"Id":"d9b6c0c9-0747-4bf4-b142-e8883122f766","Database":"dev"}`)
		case "RedshiftData.DescribeStatement":
			_, _ = io.WriteString(w, `{"Id":"d9b6c0c9-0747-4bf4-b142-e8883122f766","Status":"FINISHED","ResultRows":5}`)
		default:
			w.Header().Set("X-Amzn-ErrorType", "ValidationException")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"__type":"ValidationException","message":"bad id"}`)
		}
	}))
	defer srv.Close()
	c := &dataAPIClient{endpoint: srv.URL, region: "eu-west-1", http: srv.Client(),
		creds: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}, nil
		}),
		signer: v4.NewSigner(), now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	d := &Driver{data: c, pollEvery: time.Millisecond, props: Properties{ClusterIdentifier: "cl", DatabaseName: "dev"}}
	n, err := d.runStatementRows(context.Background(), "SELECT 1", "n")
	if err != nil || n != 5 {
		t.Fatalf("runStatementRows = %d, %v", n, err)
	}
	if len(calls) != 2 {
		t.Fatalf("calls = %+v", calls)
	}
	if calls[0].target != "RedshiftData.ExecuteStatement" || calls[0].ctype != "application/x-amz-json-1.1" ||
		calls[0].body != `{"ClusterIdentifier":"cl","Database":"dev","Sql":"SELECT 1","StatementName":"n"}` {
		t.Errorf("ExecuteStatement request = %+v", calls[0])
	}
	if !strings.HasPrefix(calls[0].auth, "AWS4-HMAC-SHA256 Credential=AKID/20260102/eu-west-1/redshift-data/aws4_request") {
		t.Errorf("Authorization = %q, want SigV4 for redshift-data", calls[0].auth)
	}
	if calls[1].target != "RedshiftData.DescribeStatement" || calls[1].body != `{"Id":"d9b6c0c9-0747-4bf4-b142-e8883122f766"}` {
		t.Errorf("DescribeStatement request = %+v", calls[1])
	}
	err = c.CancelStatement(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), "ValidationException") || !strings.Contains(err.Error(), "bad id") {
		t.Errorf("CancelStatement error = %v, want the ValidationException", err)
	}
}

func ptr[T any](v T) *T { return &v }

// Without a databaseUrl the catalog comes from ListSchemas, ListTables and
// DescribeTable, and a load checks its rows against DescribeTable's columns.
func TestDataAPICatalog(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	delete(fx.props, "databaseUrl")
	fx.props["databaseName"] = "dev"
	fx.props["clusterIdentifier"] = "cl-1"
	fx.creds["username"] = "loader"
	d := fx.driver(t, "")
	fake := &fakeDataAPI{
		schemas: []string{"public", "sales", "sa_es", "information_schema", "pg_catalog", "pg_internal", "empty"},
		tables: []TableMember{
			{Name: "orders", Schema: "sales", Type: "TABLE"},
			{Name: "customers", Schema: "sales", Type: "TABLE"},
			{Name: "order_totals", Schema: "sales", Type: "VIEW"},
			{Name: "decoy", Schema: "saxes", Type: "TABLE"}, // matches the pattern "sa_es" only as LIKE
			{Name: "t", Schema: "public", Type: "TABLE"},
		},
		columns: map[string][]ColumnMetadata{
			"sales.orders": {
				{Name: "id", TypeName: "int8", Nullable: 0, Length: 19, Precision: 19},
				{Name: "total", TypeName: "numeric", Nullable: 0, Length: 10, Precision: 10, Scale: 2},
				{Name: "placed", TypeName: "timestamptz", Nullable: 1, Length: 35, Precision: 35},
				{Name: "note", TypeName: "varchar", Nullable: 1, Length: 20, Precision: 20},
				{Name: "ok", TypeName: "bool", Nullable: 1, Length: 1, Precision: 1},
				{Name: "qty", TypeName: "int2", Nullable: 2, Length: 5, Precision: 5},
				{Name: "price", TypeName: "float8", Nullable: 1, Length: 17, Precision: 17, Scale: 17},
				{Name: "d", TypeName: "date", Nullable: 1, Length: 13, Precision: 13},
				{Name: "code", TypeName: "bpchar", Nullable: 1, Length: 3, Precision: 3},
			},
			"sales.ordersx": {{Name: "other", TypeName: "int4"}}, // never asked for
		},
	}
	d.data = fake

	top, err := d.ListEntities(ctx, "")
	if err != nil {
		t.Fatalf("ListEntities(\"\"): %v", err)
	}
	var names []string
	for _, e := range top["Schemas"] {
		if !e.HasNestedEntities {
			t.Errorf("schema %s has no nested entities", e.Name)
		}
		names = append(names, e.Name)
	}
	if want := []string{"empty", "public", "sa_es", "sales"}; !cmp.Equal(names, want) {
		t.Errorf("schemas = %v, want %v (no system schemas)", names, want)
	}

	tables, err := d.ListEntities(ctx, "sales")
	if err != nil {
		t.Fatalf("ListEntities(sales): %v", err)
	}
	names = nil
	for _, e := range tables["Tables"] {
		names = append(names, e.Name+"/"+e.Label)
	}
	if want := []string{"sales.customers/customers", "sales.orders/orders"}; !cmp.Equal(names, want) {
		t.Errorf("tables = %v, want %v (no views)", names, want)
	}
	if got, err := d.ListEntities(ctx, "empty"); err != nil || len(got["Tables"]) != 0 {
		t.Errorf("ListEntities(empty) = %v, %v; want no tables", got, err)
	}
	if got, err := d.ListEntities(ctx, "sa_es"); err != nil || len(got["Tables"]) != 0 {
		t.Errorf("ListEntities(sa_es) = %v, %v; want no tables (saxes.decoy only matches as a pattern)", got, err)
	}
	if _, err := d.ListEntities(ctx, "nope"); !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), `schema "nope" does not exist`) {
		t.Errorf("ListEntities(nope) = %v, want NotFound naming the schema", err)
	}
	c := func(in any) any { return in }
	wantCat := []any{
		c(ListSchemasInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader"}),
		c(ListTablesInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", SchemaPattern: "sales"}),
		c(ListTablesInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", SchemaPattern: "empty"}),
		c(ListSchemasInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", SchemaPattern: "empty"}),
		c(ListTablesInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", SchemaPattern: "sa_es"}),
		c(ListSchemasInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", SchemaPattern: "sa_es"}),
		c(ListTablesInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", SchemaPattern: "nope"}),
		c(ListSchemasInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", SchemaPattern: "nope"}),
	}
	if d := cmp.Diff(wantCat, fake.catalog); d != "" {
		t.Errorf("catalog requests (-want +got):\n%s", d)
	}

	// Mixed case folds to lower case, as Redshift folds identifiers.
	fake.catalog = nil
	fields, err := d.DescribeEntity(ctx, "Sales.Orders")
	if err != nil {
		t.Fatalf("DescribeEntity: %v", err)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.Name+":"+string(f.Type)+":"+map[bool]string{true: "null", false: "notnull"}[f.Nullable]+":"+strings.Join(f.WriteOperations, "|"))
	}
	want := []string{"id:long:notnull:INSERT", "total:decimal:notnull:INSERT", "placed:datetime:null:INSERT", "note:string:null:INSERT",
		"ok:boolean:null:INSERT", "qty:integer:null:INSERT", "price:double:null:INSERT", "d:date:null:INSERT", "code:string:null:INSERT"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("DescribeEntity (-want +got):\n%s", d)
	}
	wantCat = []any{
		c(DescribeTableInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", Schema: "Sales", Table: "Orders"}),
		c(DescribeTableInput{ClusterIdentifier: "cl-1", Database: "dev", DbUser: "loader", Schema: "sales", Table: "orders"}),
	}
	if d := cmp.Diff(wantCat, fake.catalog); d != "" {
		t.Errorf("DescribeTable requests (-want +got):\n%s", d)
	}
	if _, err := d.DescribeEntity(ctx, "sales.nope"); !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), "sales.nope does not exist") {
		t.Errorf("DescribeEntity(missing) = %v, want NotFound naming the table", err)
	}

	// A load checks the table and the columns before staging anything.
	open := func(object string, fields ...connector.FieldSpec) error {
		w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Object: object, Fields: fields})
		if err == nil {
			_ = w.Abort(ctx)
		}
		return err
	}
	if err := open("sales.nope", connector.FieldSpec{Name: "id"}); err == nil || !strings.Contains(err.Error(), "destination table sales.nope does not exist") {
		t.Errorf("OpenWriter(missing table) = %v, want the table named", err)
	}
	if err := open("sales.orders", connector.FieldSpec{Name: "id"}, connector.FieldSpec{Name: "total"}, connector.FieldSpec{Name: "color"}); err == nil ||
		!strings.Contains(err.Error(), `column "color" (field "color") does not exist in table sales.orders`) {
		t.Errorf("OpenWriter(missing column) = %v, want the column named", err)
	}
	if err := open("sales.orders", connector.FieldSpec{Name: "id"}); err == nil || !strings.Contains(err.Error(), `column "total" of sales.orders is NOT NULL without a default`) {
		t.Errorf("OpenWriter(NOT NULL column unmapped) = %v, want it named", err)
	}
	fake.catError = &fault.Error{Code: fault.AuthFailed, Msg: "DescribeTable", Err: &apiError{Status: 403, Type: "AccessDeniedException", Message: "not authorized"}}
	if err := open("sales.orders", connector.FieldSpec{Name: "id"}); !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("OpenWriter(DescribeTable refused) = %v, want AuthFailed with the reason", err)
	}
	if k := stagedKeys(t, fx); len(k) != 0 {
		t.Errorf("staged files after refused opens: %v", k)
	}
}

// The catalog operations on the wire: awsJson1_1 bodies, exact, and
// NextToken paging.
func TestDataAPICatalogWire(t *testing.T) {
	type call struct{ target, body string }
	var calls []call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		target := r.Header.Get("X-Amz-Target")
		calls = append(calls, call{target, string(b)})
		paged := strings.Contains(string(b), `"NextToken":"p2"`)
		switch {
		case target == "RedshiftData.ListSchemas" && !paged:
			_, _ = io.WriteString(w, `{"Schemas":["public","pg_catalog"],"NextToken":"p2"}`)
		case target == "RedshiftData.ListSchemas":
			_, _ = io.WriteString(w, `{"Schemas":["sales"]}`)
		case target == "RedshiftData.ListTables" && !paged:
			_, _ = io.WriteString(w, `{"Tables":[{"name":"orders","schema":"sales","type":"TABLE"}],"NextToken":"p2"}`)
		case target == "RedshiftData.ListTables":
			_, _ = io.WriteString(w, `{"Tables":[{"name":"v","schema":"sales","type":"VIEW"},{"name":"a","schema":"sales","type":"TABLE"}]}`)
		case target == "RedshiftData.DescribeTable" && !paged:
			_, _ = io.WriteString(w, `{"ColumnList":[{"isCaseSensitive":false,"isCurrency":false,"isSigned":true,"length":10,"name":"id","nullable":0,"precision":10,"scale":0,"schemaName":"sales","tableName":"orders","typeName":"int4"}],"NextToken":"p2","TableName":"orders"}`)
		case target == "RedshiftData.DescribeTable":
			_, _ = io.WriteString(w, `{"ColumnList":[{"columnDefault":"'x'::character varying","isCaseSensitive":true,"length":12,"name":"who","nullable":1,"precision":12,"scale":0,"schemaName":"sales","tableName":"orders","typeName":"varchar"}],"TableName":"orders"}`)
		default:
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"__type":"ValidationException","message":"unexpected"}`)
		}
	}))
	defer srv.Close()
	c := &dataAPIClient{endpoint: srv.URL, region: "eu-west-1", http: srv.Client(),
		creds: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}, nil
		}),
		signer: v4.NewSigner(), now: time.Now}
	d := &Driver{data: c, pollEvery: time.Millisecond, props: Properties{WorkgroupName: "wg", DatabaseName: "dev", IsRedshiftServerless: true}}
	ctx := context.Background()

	top, err := d.ListEntities(ctx, "")
	if err != nil || len(top["Schemas"]) != 2 || top["Schemas"][0].Name != "public" || top["Schemas"][1].Name != "sales" {
		t.Errorf("ListEntities(\"\") = %v, %v; want public and sales from both pages", top, err)
	}
	tables, err := d.ListEntities(ctx, "sales")
	if err != nil || len(tables["Tables"]) != 2 || tables["Tables"][0].Name != "sales.a" || tables["Tables"][1].Name != "sales.orders" {
		t.Errorf("ListEntities(sales) = %v, %v; want sales.a and sales.orders", tables, err)
	}
	tbl, err := d.describeTableData(ctx, "sales.orders")
	if err != nil {
		t.Fatalf("describeTableData: %v", err)
	}
	wantCols := []column{
		{Name: "id", DataType: "integer"},
		{Name: "who", DataType: "character varying", Nullable: true, HasDefault: true, MaxLen: 12},
	}
	if d := cmp.Diff(wantCols, tbl.Columns, cmp.AllowUnexported(column{})); d != "" {
		t.Errorf("columns (-want +got):\n%s", d)
	}
	want := []call{
		{"RedshiftData.ListSchemas", `{"WorkgroupName":"wg","Database":"dev"}`},
		{"RedshiftData.ListSchemas", `{"WorkgroupName":"wg","Database":"dev","NextToken":"p2"}`},
		{"RedshiftData.ListTables", `{"WorkgroupName":"wg","Database":"dev","SchemaPattern":"sales"}`},
		{"RedshiftData.ListTables", `{"WorkgroupName":"wg","Database":"dev","SchemaPattern":"sales","NextToken":"p2"}`},
		{"RedshiftData.DescribeTable", `{"WorkgroupName":"wg","Database":"dev","Schema":"sales","Table":"orders"}`},
		{"RedshiftData.DescribeTable", `{"WorkgroupName":"wg","Database":"dev","Schema":"sales","Table":"orders","NextToken":"p2"}`},
	}
	if d := cmp.Diff(want, calls, cmp.AllowUnexported(call{})); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}
