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

// fakeDataAPI records Data API calls and plays a statement's life.
type fakeDataAPI struct {
	mu        sync.Mutex
	exec      []ExecuteStatementInput
	described []string
	canceled  []string
	statuses  []DescribeStatementOutput // answered in turn; the last repeats
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
		delete(fx.props, "databaseUrl") // Data API only: no SQL connection, no catalog
		fx.props["databaseName"] = "dev"
		for k, v := range extra {
			fx.props[k] = v
		}
		fx.creds["username"] = "loader"
		d := fx.driver(t, "")
		fake := &fakeDataAPI{}
		d.data = fake
		return fx, d, fake
	}
	write := func(t *testing.T, d *Driver) (*connector.WriteResult, error) {
		w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "flow1", ExecutionID: "exec-2", Object: "sales.orders",
			Fields: []connector.FieldSpec{{Name: "id", Type: "integer"}, {Name: "who", Type: "string"}}})
		if err != nil {
			t.Fatalf("OpenWriter: %v", err)
		}
		if err := w.Write(ctx, batch("s", 1, []string{"id", "who"},
			[]record.Value{record.IntVal(7), record.Str("a")}, []record.Value{record.Str("8"), record.NullVal()})); err != nil {
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
