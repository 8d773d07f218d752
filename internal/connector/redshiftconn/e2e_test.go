package redshiftconn_test

// End-to-end tests of the Redshift destination (issue 5, "Done when"): the
// whole server (internal/app behind httptest) driven by the real
// aws-sdk-go-v2 AppFlow client, loading S3 flows (CSV in local buckets under
// DataDir/s3) into the real PostgreSQL at APPFLOWD_TEST_POSTGRES, each test
// in a schema of its own that is dropped afterwards.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector/redshiftconn"
)

const (
	e2eRole   = "arn:aws:iam::000000000000:role/appflowd-redshift"
	e2eStage  = "stage"  // the intermediate bucket
	e2eErrors = "errors" // the error bucket
	e2eSource = "source" // the flows' source bucket
)

// rsEnv is one appflowd server on its own data dir, the AppFlow client, an
// admin connection to the test database and the test's schema.
type rsEnv struct {
	t       *testing.T
	ctx     context.Context
	srv     *apptest.Server
	dataDir string
	client  *appflow.Client
	db      *pgx.Conn
	schema  string
	dbURL   string // databaseUrl for profiles: jdbc:postgresql://host:port/db
	user    string
	pass    string
}

func newRSEnv(t *testing.T, configure ...func(*app.Config)) *rsEnv {
	t.Helper()
	dsn := os.Getenv("APPFLOWD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("APPFLOWD_TEST_POSTGRES is unset (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); skipping the Redshift end-to-end tests")
	}
	// Ask the server (SELECT version()) how to load, as a user's setup would.
	t.Setenv(redshiftconn.LoadModeEnv, "")
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("APPFLOWD_TEST_POSTGRES: %v", err)
	}
	db, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to APPFLOWD_TEST_POSTGRES: %v", err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	if _, err := db.Exec(ctx, "SET TIME ZONE 'UTC'"); err != nil {
		t.Fatal(err)
	}
	var b [5]byte
	_, _ = rand.Read(b[:])
	schema := "rse2e_" + hex.EncodeToString(b[:])
	if _, err := db.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("CREATE SCHEMA: %v", err)
	}
	// Registered first, so it runs after the server has shut down.
	t.Cleanup(func() {
		c, err := pgx.ConnectConfig(context.Background(), cfg)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	var appCfg app.Config
	for _, c := range configure {
		c(&appCfg)
	}
	srv := apptest.Start(t, appCfg, e2eStage, e2eErrors, e2eSource)
	dataDir, client := srv.DataDir, srv.Client
	pass := cfg.Password
	if pass == "" {
		pass = "unused-under-trust" // profiles need one; trust auth ignores it
	}
	return &rsEnv{
		t: t, ctx: ctx, srv: srv, dataDir: dataDir, client: client, db: db, schema: schema,
		dbURL: fmt.Sprintf("jdbc:postgresql://%s/%s", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), cfg.Database),
		user:  cfg.User, pass: pass,
	}
}

func (e *rsEnv) exec(sql string) {
	e.t.Helper()
	if _, err := e.db.Exec(e.ctx, sql); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// rows runs a query and returns every row as text, NULL as "<null>".
func (e *rsEnv) rows(sql string) [][]string {
	e.t.Helper()
	rs, err := e.db.Query(e.ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	defer rs.Close()
	var out [][]string
	for rs.Next() {
		var row []string
		for _, v := range rs.RawValues() {
			if v == nil {
				row = append(row, "<null>")
			} else {
				row = append(row, string(v))
			}
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// profile is a profile's properties and credentials; createProfile fills
// what is left empty with the working values.
type profile struct {
	dbURL, user, pass, bucket string
}

func (e *rsEnv) createProfile(name string, p profile) error {
	if p.dbURL == "" {
		p.dbURL = e.dbURL
	}
	if p.user == "" {
		p.user = e.user
	}
	if p.pass == "" {
		p.pass = e.pass
	}
	if p.bucket == "" {
		p.bucket = e2eStage
	}
	_, err := e.client.CreateConnectorProfile(e.ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name),
		ConnectorType:        types.ConnectorTypeRedshift,
		ConnectionMode:       types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Redshift: &types.RedshiftConnectorProfileProperties{
				DatabaseUrl: aws.String(p.dbURL), BucketName: aws.String(p.bucket), BucketPrefix: aws.String("staging"),
				RoleArn: aws.String(e2eRole),
			}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Redshift: &types.RedshiftConnectorProfileCredentials{
				Username: aws.String(p.user), Password: aws.String(p.pass),
			}},
		},
	})
	return err
}

func (e *rsEnv) mustProfile(name string) {
	e.t.Helper()
	if err := e.createProfile(name, profile{}); err != nil {
		e.t.Fatalf("CreateConnectorProfile %s: %v", name, err)
	}
}

// profileNames lists the account's Redshift profiles.
func (e *rsEnv) profileNames() []string {
	e.t.Helper()
	out, err := e.client.DescribeConnectorProfiles(e.ctx, &appflow.DescribeConnectorProfilesInput{ConnectorType: types.ConnectorTypeRedshift})
	if err != nil {
		e.t.Fatalf("DescribeConnectorProfiles: %v", err)
	}
	var names []string
	for _, p := range out.ConnectorProfileDetails {
		names = append(names, aws.ToString(p.ConnectorProfileName))
	}
	return names
}

// putSource stores an object in the source bucket.
func (e *rsEnv) putSource(key, data string) {
	e.t.Helper()
	p := filepath.Join(e.dataDir, "s3", e2eSource, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// bucket lists a local bucket's objects, keyed by key.
func (e *rsEnv) bucket(name string) map[string]string {
	e.t.Helper()
	root := filepath.Join(e.dataDir, "s3", name)
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// typedMap maps a CSV field to the same destination field with a
// DESTINATION_DATA_TYPE.
func typedMap(field, typ string) types.Task {
	return types.Task{
		TaskType: types.TaskTypeMap, SourceFields: []string{field}, DestinationField: aws.String(field),
		ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp},
		TaskProperties:    map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": typ},
	}
}

// createFlow makes an on-demand flow from s3://source/in/<name>/ (CSV) into
// object through the profile.
func (e *rsEnv) createFlow(name, profileName, object string, tasks []types.Task, eh *types.ErrorHandlingConfig) {
	e.t.Helper()
	_, err := e.client.CreateFlow(e.ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String(name),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String(e2eSource), BucketPrefix: aws.String("in/" + name),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{
			ConnectorType: types.ConnectorTypeRedshift, ConnectorProfileName: aws.String(profileName),
			DestinationConnectorProperties: &types.DestinationConnectorProperties{Redshift: &types.RedshiftDestinationProperties{
				Object: aws.String(object), IntermediateBucketName: aws.String(e2eStage), BucketPrefix: aws.String("staging"),
				ErrorHandlingConfig: eh,
			}},
		}},
		Tasks: tasks,
	})
	if err != nil {
		e.t.Fatalf("CreateFlow %s: %v", name, err)
	}
}

// run starts an on-demand flow and polls its execution record until the
// run is over.
func (e *rsEnv) run(flow string) (string, *types.ExecutionRecord) {
	e.t.Helper()
	out, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String(flow)})
	if err != nil {
		e.t.Fatalf("StartFlow %s: %v", flow, err)
	}
	id := aws.ToString(out.ExecutionId)
	if id == "" {
		e.t.Fatalf("StartFlow %s: no executionId", flow)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var rec *types.ExecutionRecord
		p := appflow.NewDescribeFlowExecutionRecordsPaginator(e.client, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
		for p.HasMorePages() && rec == nil {
			page, err := p.NextPage(e.ctx)
			if err != nil {
				e.t.Fatalf("DescribeFlowExecutionRecords %s: %v", flow, err)
			}
			for i := range page.FlowExecutions {
				if aws.ToString(page.FlowExecutions[i].ExecutionId) == id {
					rec = &page.FlowExecutions[i]
				}
			}
		}
		if rec == nil {
			e.t.Fatalf("flow %s: no execution record %s", flow, id)
		}
		switch rec.ExecutionStatus {
		case types.ExecutionStatusInprogress, types.ExecutionStatusCancelstarted:
		default:
			return id, rec
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("flow %s execution %s still %s after 60s", flow, id, rec.ExecutionStatus)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func execMessage(r *types.ExecutionRecord) string {
	if r.ExecutionResult == nil || r.ExecutionResult.ErrorInfo == nil {
		return ""
	}
	return aws.ToString(r.ExecutionResult.ErrorInfo.ExecutionMessage)
}

func putFailures(r *types.ExecutionRecord) int64 {
	if r.ExecutionResult == nil || r.ExecutionResult.ErrorInfo == nil {
		return 0
	}
	return aws.ToInt64(r.ExecutionResult.ErrorInfo.PutFailuresCount)
}

func mustStatus(t *testing.T, r *types.ExecutionRecord, want types.ExecutionStatus) {
	t.Helper()
	if r.ExecutionStatus != want {
		t.Fatalf("execution status %s (%q), want %s", r.ExecutionStatus, execMessage(r), want)
	}
}

// counts is recordsProcessed and bytesProcessed.
func counts(r *types.ExecutionRecord) [2]int64 {
	if r.ExecutionResult == nil {
		return [2]int64{-1, -1}
	}
	return [2]int64{aws.ToInt64(r.ExecutionResult.RecordsProcessed), aws.ToInt64(r.ExecutionResult.BytesProcessed)}
}

// TestE2EProfile: CreateConnectorProfile logs in to the database and
// refuses, with the right exception, a profile that cannot work; a refused
// profile is not stored.
func TestE2EProfile(t *testing.T) {
	e := newRSEnv(t)
	e.mustProfile("pg")
	if got := e.profileNames(); !cmp.Equal(got, []string{"pg"}) {
		t.Errorf("profiles = %v, want [pg]", got)
	}
	out, err := e.client.DescribeConnectorProfiles(e.ctx, &appflow.DescribeConnectorProfilesInput{ConnectorProfileNames: []string{"pg"}})
	if err != nil || len(out.ConnectorProfileDetails) != 1 {
		t.Fatalf("DescribeConnectorProfiles(pg) = %+v, %v", out, err)
	}
	p := out.ConnectorProfileDetails[0]
	if p.ConnectorType != types.ConnectorTypeRedshift || p.ConnectorProfileProperties == nil || p.ConnectorProfileProperties.Redshift == nil ||
		aws.ToString(p.ConnectorProfileProperties.Redshift.DatabaseUrl) != e.dbURL ||
		aws.ToString(p.ConnectorProfileProperties.Redshift.BucketName) != e2eStage {
		t.Errorf("described profile = %+v, want Redshift with databaseUrl %s and bucketName %s", p, e.dbURL, e2eStage)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now

	var validation *types.ValidationException
	var auth *types.ConnectorAuthenticationException
	for _, tc := range []struct {
		name     string
		p        profile
		wantType any
		want     string
	}{
		{"closed-port", profile{dbURL: "jdbc:postgresql://" + closed + "/postgres"}, &validation, "database host " + closed + " is unreachable"},
		{"unknown-role", profile{user: "no_such_role_e2e"}, &auth, `role "no_such_role_e2e" does not exist`},
		{"bad-password", profile{dbURL: "jdbc:redshift://" + refusingServer(t) + "/dev", user: "alice", pass: "wrong"}, &auth,
			`password authentication failed for user "alice"`},
		{"missing-bucket", profile{bucket: "no-such-bucket"}, &validation, `"no-such-bucket"`},
		{"bad-url", profile{dbURL: "jdbc:mysql://127.0.0.1:3306/x"}, &validation, "jdbc:mysql is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.createProfile(tc.name, tc.p)
			if err == nil {
				t.Fatalf("CreateConnectorProfile succeeded, want %T", tc.wantType)
			}
			if !errors.As(err, tc.wantType) {
				t.Errorf("error = %v (%T), want %T", err, err, tc.wantType)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to say %q", err, tc.want)
			}
		})
	}
	if got := e.profileNames(); !cmp.Equal(got, []string{"pg"}) {
		t.Errorf("profiles after the refusals = %v, want only [pg]", got)
	}
}

// refusingServer is a PostgreSQL-wire server that asks for a cleartext
// password and refuses it with 28P01, as a server with password auth does
// (the test database may trust every login).
func refusingServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				be := pgproto3.NewBackend(c, c)
				msg, err := be.ReceiveStartupMessage()
				if err != nil {
					return
				}
				sm, ok := msg.(*pgproto3.StartupMessage)
				if !ok { // SSLRequest: say no, then read the startup message
					if _, err := c.Write([]byte("N")); err != nil {
						return
					}
					if msg, err = be.ReceiveStartupMessage(); err != nil {
						return
					}
					if sm, ok = msg.(*pgproto3.StartupMessage); !ok {
						return
					}
				}
				be.Send(&pgproto3.AuthenticationCleartextPassword{})
				if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
					return
				}
				if _, err := be.Receive(); err != nil {
					return
				}
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01",
					Message: `password authentication failed for user "` + sm.Parameters["user"] + `"`})
				_ = be.Flush()
			}(c)
		}
	}()
	return ln.Addr().String()
}

const typedDDL = `(id integer PRIMARY KEY, name varchar(12) NOT NULL, amount numeric(8,2),
	ok boolean, born date, seen timestamptz, note text)`

var typedTasks = []types.Task{
	typedMap("id", "integer"), typedMap("name", "string"), typedMap("amount", "decimal"),
	typedMap("ok", "boolean"), typedMap("born", "date"), typedMap("seen", "datetime"), typedMap("note", "string"),
}

const typedSelect = "SELECT id, name, amount, ok, born, seen, note FROM %s.typed ORDER BY id"

// TestE2ELoad runs an S3 CSV into a typed table and compares the table
// exactly, rows already there included.
func TestE2ELoad(t *testing.T) {
	e := newRSEnv(t)
	e.exec("CREATE TABLE " + e.schema + ".typed " + typedDDL)
	e.exec("INSERT INTO " + e.schema + ".typed VALUES (100, 'before', 1, NULL, NULL, NULL, 'kept')")
	e.mustProfile("pg")
	csv := "id,name,amount,ok,born,seen,note\n" +
		"1,\"Ann, A.\",10.5,true,2024-03-05,2024-03-05T14:07:00Z,\"say \"\"hi\"\"\"\n" +
		"2,Bob,-2,false,1999-12-31,2024-03-05T10:00:00+02:00,\"two\nlines\"\n" +
		"3,Ünïcødé,0,TRUE,2000-02-29,2024-03-05T14:07:00.123Z,back\\slash\n"
	e.putSource("in/load/part1.csv", csv)
	e.createFlow("load", "pg", e.schema+".typed", typedTasks, nil)
	_, r := e.run("load")
	mustStatus(t, r, types.ExecutionStatusSuccessful)
	want := [][]string{
		{"1", "Ann, A.", "10.50", "t", "2024-03-05", "2024-03-05 14:07:00+00", `say "hi"`},
		{"2", "Bob", "-2.00", "f", "1999-12-31", "2024-03-05 08:00:00+00", "two\nlines"},
		{"3", "Ünïcødé", "0.00", "t", "2000-02-29", "2024-03-05 14:07:00.123+00", `back\slash`},
		{"100", "before", "1.00", "<null>", "<null>", "<null>", "kept"},
	}
	if d := cmp.Diff(want, e.rows(fmt.Sprintf(typedSelect, e.schema))); d != "" {
		t.Errorf("table (-want +got):\n%s", d)
	}
	if got, want := counts(r), [2]int64{3, int64(len(csv))}; got != want {
		t.Errorf("recordsProcessed, bytesProcessed = %v, want %v", got, want)
	}
	if r.ExecutionResult == nil || aws.ToInt64(r.ExecutionResult.BytesWritten) <= 0 {
		t.Errorf("bytesWritten = %v, want > 0", r.ExecutionResult)
	}
	if n := putFailures(r); n != 0 {
		t.Errorf("putFailuresCount = %d, want 0", n)
	}
	// PostgreSQL loads with COPY FROM STDIN: nothing is staged, nothing left.
	if got := e.bucket(e2eStage); len(got) != 0 {
		t.Errorf("intermediate bucket holds %v after a PostgreSQL load, want nothing", keys(got))
	}

	// A second run of the same flow appends the same rows again: the
	// primary key refuses them and the table stays as it is.
	_, r = e.run("load")
	mustStatus(t, r, types.ExecutionStatusError)
	if msg := execMessage(r); !strings.Contains(msg, e.schema+".typed") || !strings.Contains(msg, "duplicate key") {
		t.Errorf("execution message = %q, want the duplicate key naming %s.typed", msg, e.schema)
	}
	if d := cmp.Diff(want, e.rows(fmt.Sprintf(typedSelect, e.schema))); d != "" {
		t.Errorf("table after the failed rerun (-want +got):\n%s", d)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// rejectCSV has three good rows (1, 3, 6) and four rows the destination
// rejects: three the driver's check against the columns refuses (a value
// out of the column's range, too long, too many digits) and one the Map
// task's DESTINATION_DATA_TYPE cannot convert.
const rejectCSV = "id,name,amount,ok,born,seen,note\n" +
	"1,one,1,true,,,\n" +
	"3000000000,big,2,true,,,\n" + // line 3: integer column out of range
	"3,three,3,false,,,\n" +
	"4,abcdefghijklmnop,4,true,,,\n" + // line 5: longer than varchar(12)
	"5,five,123456789,true,,,\n" + // line 6: numeric(8,2) allows 6 integer digits
	"6,six,6,true,,,\n" +
	"x7,seven,7,true,,,\n" // line 8: not an integer

// TestE2ERejectedRows covers errorHandlingConfig in both modes.
func TestE2ERejectedRows(t *testing.T) {
	e := newRSEnv(t)
	e.exec("CREATE TABLE " + e.schema + ".typed " + typedDDL)
	e.exec("INSERT INTO " + e.schema + ".typed (id, name) VALUES (100, 'before')")
	e.mustProfile("pg")
	tbl := e.schema + ".typed"

	t.Run("continue", func(t *testing.T) {
		e.putSource("in/cont/data.csv", rejectCSV)
		e.createFlow("cont", "pg", tbl, typedTasks, &types.ErrorHandlingConfig{
			FailOnFirstDestinationError: false, BucketName: aws.String(e2eErrors), BucketPrefix: aws.String("rejects")})
		id, r := e.run("cont")
		mustStatus(t, r, types.ExecutionStatusSuccessful)
		want := [][]string{
			// An empty CSV cell is an empty string for a text column and
			// NULL for a typed one.
			{"1", "one", "1.00", "t", "<null>", "<null>", ""},
			{"3", "three", "3.00", "f", "<null>", "<null>", ""},
			{"6", "six", "6.00", "t", "<null>", "<null>", ""},
			{"100", "before", "<null>", "<null>", "<null>", "<null>", "<null>"},
		}
		if d := cmp.Diff(want, e.rows(fmt.Sprintf(typedSelect, e.schema))); d != "" {
			t.Errorf("table (-want +got):\n%s", d)
		}
		if n := putFailures(r); n != 4 {
			t.Errorf("putFailuresCount = %d, want 4 (message %q)", n, execMessage(r))
		}
		if got, want := counts(r), [2]int64{7, int64(len(rejectCSV))}; got != want {
			t.Errorf("recordsProcessed, bytesProcessed = %v, want %v", got, want)
		}
		// The error file: one JSON line per rejected record, with the reason.
		files := e.bucket(e2eErrors)
		key := "rejects/cont/" + id + "/redshift-rejected-records.jsonl"
		body, ok := files[key]
		if !ok {
			t.Fatalf("error bucket holds %v, want %s", keys(files), key)
		}
		type line struct {
			Split  string            `json:"split"`
			Line   int64             `json:"line"`
			Reason string            `json:"reason"`
			Record map[string]string `json:"record"`
		}
		byLine := map[int64]line{}
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("error file line %q: %v", sc.Text(), err)
			}
			byLine[l.Line] = l
		}
		for ln, reason := range map[int64]string{
			3: `column "id" (integer): 3000000000 is out of range`,
			5: `column "name" (character varying): value of 16 characters is longer than 12`,
			6: `column "amount" (numeric): 123456789 has 9 integer digits; numeric(8,2) allows 6`,
		} {
			l, ok := byLine[ln]
			if !ok {
				t.Errorf("error file has no line for CSV line %d; it has:\n%s", ln, body)
				continue
			}
			if !strings.Contains(l.Reason, reason) || !strings.HasSuffix(l.Split, "data.csv") {
				t.Errorf("error line %d = %+v, want reason %q in split data.csv", ln, l, reason)
			}
		}
		if l := byLine[3]; l.Record["id"] != "3000000000" || l.Record["name"] != "big" {
			t.Errorf("error line 3 record = %v, want the rejected record's fields", l.Record)
		}
		if len(byLine) != 4 {
			t.Errorf("error file has %d lines, want the 4 rejected records (3 by the table, 1 by the Map task):\n%s", len(byLine), body)
		}
		t.Run("map-rejection-in-error-file", func(t *testing.T) {
			// The record the Map task's DESTINATION_DATA_TYPE rejects (CSV
			// line 8) is in the error file too, with the source record.
			l, ok := byLine[8]
			if !ok {
				t.Fatalf("error file has no line for CSV line 8 (x7, rejected by the Map task); it has:\n%s", body)
			}
			if !strings.Contains(l.Reason, "tasks[0] (Map) field id") || !strings.Contains(l.Reason, "x7") ||
				!strings.HasSuffix(l.Split, "data.csv") || l.Record["id"] != "x7" || l.Record["name"] != "seven" {
				t.Errorf("error line 8 = %+v, want the Map task's reason and the record x7,seven", l)
			}
			// In input order, one line per record.
			var lines []int64
			sc := bufio.NewScanner(strings.NewReader(body))
			for sc.Scan() {
				var l line
				_ = json.Unmarshal(sc.Bytes(), &l)
				lines = append(lines, l.Line)
			}
			if !cmp.Equal(lines, []int64{3, 5, 6, 8}) {
				t.Errorf("error file lines %v, want [3 5 6 8]", lines)
			}
		})
	})

	t.Run("fail-first", func(t *testing.T) {
		before := e.rows(fmt.Sprintf(typedSelect, e.schema))
		errsBefore := e.bucket(e2eErrors)
		// Renumber so that the good rows would not collide with the
		// "continue" run's.
		renumbered := strings.NewReplacer("1,one", "11,one", "3,three", "13,three", "6,six", "16,six").Replace(rejectCSV)
		eh := &types.ErrorHandlingConfig{FailOnFirstDestinationError: true, BucketName: aws.String(e2eErrors), BucketPrefix: aws.String("rejects")}
		for _, c := range []struct {
			flow, csv, want string
		}{
			// Only rows the destination rejects: the first is line 3.
			{"first", strings.TrimSuffix(renumbered, "x7,seven,7,true,,,\n"), "record 3 of in/first/data.csv rejected by " + tbl + " column id integer 3000000000 is out of range"},
			// With a row the Map task rejects too, that one fails the run:
			// a batch is converted before the destination checks its rows.
			{"first-map", renumbered, "line 8 failed task 0 Map on field id"},
		} {
			e.putSource("in/"+c.flow+"/data.csv", c.csv)
			e.createFlow(c.flow, "pg", tbl, typedTasks, eh)
			_, r := e.run(c.flow)
			mustStatus(t, r, types.ExecutionStatusError)
			if msg := execMessage(r); !strings.Contains(msg, c.want) {
				t.Errorf("%s: execution message = %q, want it to contain %q", c.flow, msg, c.want)
			}
			if d := cmp.Diff(before, e.rows(fmt.Sprintf(typedSelect, e.schema))); d != "" {
				t.Errorf("%s: table changed by a fail-first run (-before +after):\n%s", c.flow, d)
			}
			if d := cmp.Diff(keys(errsBefore), keys(e.bucket(e2eErrors))); d != "" {
				t.Errorf("%s: error bucket changed by a fail-first run (-before +after):\n%s", c.flow, d)
			}
		}
	})
}

// TestE2EMidLoadFailure: the server refuses a row part-way (a CHECK
// constraint, which the driver's checks cannot see), after thousands of
// rows went out. With failOnFirstDestinationError the table is exactly as
// before and the run is Error, naming the table; without it the other rows
// load, and the refused one is counted in putFailuresCount and written to
// the error bucket with the server's reason and the constraint's name.
func TestE2EMidLoadFailure(t *testing.T) {
	e := newRSEnv(t)
	tbl := e.schema + ".checked"
	e.exec("CREATE TABLE " + tbl + " (id bigint, v text CHECK (v <> 'forbidden'))")
	e.exec("INSERT INTO " + tbl + " VALUES (1, 'before'), (2, 'before')")
	before := e.rows("SELECT id, v FROM " + tbl + " ORDER BY id")
	e.mustProfile("pg")
	var csv bytes.Buffer
	csv.WriteString("id,v\n")
	for i := 10; i < 20010; i++ {
		fmt.Fprintf(&csv, "%d,row %d\n", i, i)
	}
	csv.WriteString("99999,forbidden\n")
	for i := 20010; i < 20100; i++ {
		fmt.Fprintf(&csv, "%d,row %d\n", i, i)
	}
	t.Run("failOnFirstDestinationError=false", func(t *testing.T) {
		e.putSource("in/mid-cont/data.csv", csv.String())
		e.createFlow("mid-cont", "pg", tbl, []types.Task{typedMap("id", "long"), typedMap("v", "string")},
			&types.ErrorHandlingConfig{FailOnFirstDestinationError: false, BucketName: aws.String(e2eErrors), BucketPrefix: aws.String("mid")})
		id, r := e.run("mid-cont")
		mustStatus(t, r, types.ExecutionStatusSuccessful)
		if n := putFailures(r); n != 1 {
			t.Errorf("putFailuresCount = %d, want 1 (message %q)", n, execMessage(r))
		}
		if msg := execMessage(r); !strings.Contains(msg, "line 20002") || !strings.Contains(msg, "checked_v_check") {
			t.Errorf("execution message = %q, want the refused line 20002 and the constraint checked_v_check", msg)
		}
		if got := counts(r); got[0] != 20091 {
			t.Errorf("recordsProcessed = %d, want 20091", got[0])
		}
		want := append([][]string(nil), before...)
		for i := 10; i < 20100; i++ {
			want = append(want, []string{fmt.Sprint(i), fmt.Sprintf("row %d", i)})
		}
		if d := cmp.Diff(want, e.rows("SELECT id, v FROM "+tbl+" ORDER BY id")); d != "" {
			t.Errorf("table after the load (-want +got):\n%s", d)
		}
		key := "mid/mid-cont/" + id + "/redshift-rejected-records.jsonl"
		files := e.bucket(e2eErrors)
		body, ok := files[key]
		if !ok {
			t.Fatalf("error bucket holds %v, want %s", keys(files), key)
		}
		var l struct {
			Split  string            `json:"split"`
			Line   int64             `json:"line"`
			Reason string            `json:"reason"`
			Record map[string]string `json:"record"`
		}
		if strings.Count(body, "\n") != 1 {
			t.Fatalf("error file = %q, want one line", body)
		}
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatalf("error file %q: %v", body, err)
		}
		if !strings.HasSuffix(l.Split, "data.csv") || l.Line != 20002 ||
			!strings.Contains(l.Reason, `violates check constraint "checked_v_check"`) || !strings.Contains(l.Reason, "constraint checked_v_check") ||
			!cmp.Equal(l.Record, map[string]string{"id": "99999", "v": "forbidden"}) {
			t.Errorf("error line = %+v, want data.csv line 20002, the check constraint checked_v_check, record 99999,forbidden", l)
		}
		// Leave the table as the fail-first run expects it.
		e.exec("DELETE FROM " + tbl + " WHERE v <> 'before'")
		if err := os.RemoveAll(filepath.Join(e.dataDir, "s3", e2eErrors, "mid")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("failOnFirstDestinationError=true", func(t *testing.T) {
		flow := "mid-true"
		e.putSource("in/"+flow+"/data.csv", csv.String())
		e.createFlow(flow, "pg", tbl, []types.Task{typedMap("id", "long"), typedMap("v", "string")},
			&types.ErrorHandlingConfig{FailOnFirstDestinationError: true, BucketName: aws.String(e2eErrors)})
		_, r := e.run(flow)
		mustStatus(t, r, types.ExecutionStatusError)
		if msg := execMessage(r); !strings.Contains(msg, tbl) || !strings.Contains(msg, "check constraint") {
			t.Errorf("execution message = %q, want the check-constraint failure naming %s", msg, tbl)
		}
		if d := cmp.Diff(before, e.rows("SELECT id, v FROM "+tbl+" ORDER BY id")); d != "" {
			t.Errorf("table changed by a failed load (-before +after):\n%s", d)
		}
		if got := e.bucket(e2eErrors); len(got) != 0 {
			t.Errorf("error bucket holds %v after a failed load, want nothing", keys(got))
		}
	})
	// A missing table or column is a run error that names it.
	t.Run("missing-table", func(t *testing.T) {
		e.putSource("in/missing/data.csv", "id,v\n1,a\n")
		e.createFlow("missing", "pg", e.schema+".nope", []types.Task{typedMap("id", "long"), typedMap("v", "string")}, nil)
		_, r := e.run("missing")
		mustStatus(t, r, types.ExecutionStatusError)
		if msg := execMessage(r); !strings.Contains(msg, "destination table "+e.schema+".nope does not exist") {
			t.Errorf("execution message = %q, want it to name the missing table", msg)
		}
	})
	t.Run("missing-column", func(t *testing.T) {
		e.putSource("in/missingcol/data.csv", "id,w\n1,a\n")
		e.createFlow("missingcol", "pg", tbl, []types.Task{typedMap("id", "long"), typedMap("w", "string")}, nil)
		_, r := e.run("missingcol")
		mustStatus(t, r, types.ExecutionStatusError)
		if msg := execMessage(r); !strings.Contains(msg, "column w field w does not exist in table "+tbl) {
			t.Errorf("execution message = %q, want it to name column w of %s", msg, tbl)
		}
		if d := cmp.Diff(before, e.rows("SELECT id, v FROM "+tbl+" ORDER BY id")); d != "" {
			t.Errorf("table changed (-before +after):\n%s", d)
		}
	})
}

// TestE2EEntities lists schemas and tables and describes a table's columns
// through ListConnectorEntities and DescribeConnectorEntity.
func TestE2EEntities(t *testing.T) {
	e := newRSEnv(t)
	e.exec("CREATE TABLE " + e.schema + ".orders (id bigint PRIMARY KEY, total numeric(10,2) NOT NULL, placed timestamptz, note varchar(20), ok boolean)")
	e.exec("CREATE TABLE " + e.schema + ".empty (x text)")
	e.exec("CREATE VIEW " + e.schema + ".v AS SELECT 1 AS one")
	e.mustProfile("pg")

	list := func(path string) (map[string][]types.ConnectorEntity, error) {
		in := &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("pg"), ConnectorType: types.ConnectorTypeRedshift}
		if path != "" {
			in.EntitiesPath = aws.String(path)
		}
		out, err := e.client.ListConnectorEntities(e.ctx, in)
		if err != nil {
			return nil, err
		}
		return out.ConnectorEntityMap, nil
	}
	top, err := list("")
	if err != nil {
		t.Fatalf("ListConnectorEntities: %v", err)
	}
	var found *types.ConnectorEntity
	for i, s := range top["Schemas"] {
		if aws.ToString(s.Name) == e.schema {
			found = &top["Schemas"][i]
		}
		if n := aws.ToString(s.Name); strings.HasPrefix(n, "pg_") || n == "information_schema" {
			t.Errorf("system schema %s listed", n)
		}
	}
	if found == nil || !found.HasNestedEntities {
		t.Errorf("ListConnectorEntities() = %v, want schema %s with nested entities", top, e.schema)
	}

	tables, err := list(e.schema)
	if err != nil {
		t.Fatalf("ListConnectorEntities(%s): %v", e.schema, err)
	}
	var names []string
	for _, tb := range tables["Tables"] {
		names = append(names, fmt.Sprintf("%s:%v", aws.ToString(tb.Name), tb.HasNestedEntities))
	}
	if want := []string{e.schema + ".empty:false", e.schema + ".orders:false"}; !cmp.Equal(names, want) {
		t.Errorf("tables = %v, want %v (no views)", names, want)
	}
	if _, err := list("no_such_schema_e2e"); !errors.As(err, new(*types.ResourceNotFoundException)) {
		t.Errorf("ListConnectorEntities(missing schema) = %v, want ResourceNotFoundException", err)
	}

	out, err := e.client.DescribeConnectorEntity(e.ctx, &appflow.DescribeConnectorEntityInput{
		ConnectorProfileName: aws.String("pg"), ConnectorType: types.ConnectorTypeRedshift, ConnectorEntityName: aws.String(e.schema + ".orders")})
	if err != nil {
		t.Fatalf("DescribeConnectorEntity: %v", err)
	}
	var got []string
	for _, f := range out.ConnectorEntityFields {
		typ := ""
		if f.SupportedFieldTypeDetails != nil && f.SupportedFieldTypeDetails.V1 != nil {
			typ = aws.ToString(f.SupportedFieldTypeDetails.V1.FieldType)
		}
		s := aws.ToString(f.Identifier) + ":" + typ
		if f.IsPrimaryKey {
			s += ":pk"
		}
		if dp := f.DestinationProperties; dp != nil {
			s += fmt.Sprintf(":nullable=%v:%v", dp.IsNullable, dp.SupportedWriteOperations)
		} else {
			s += ":no destination properties"
		}
		got = append(got, s)
	}
	want := []string{
		"id:long:pk:nullable=false:[INSERT]",
		"total:decimal:nullable=false:[INSERT]",
		"placed:datetime:nullable=true:[INSERT]",
		"note:string:nullable=true:[INSERT]",
		"ok:boolean:nullable=true:[INSERT]",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("DescribeConnectorEntity fields (-want +got):\n%s", d)
	}
	_, err = e.client.DescribeConnectorEntity(e.ctx, &appflow.DescribeConnectorEntityInput{
		ConnectorProfileName: aws.String("pg"), ConnectorType: types.ConnectorTypeRedshift, ConnectorEntityName: aws.String(e.schema + ".nope")})
	if !errors.As(err, new(*types.ResourceNotFoundException)) {
		t.Errorf("DescribeConnectorEntity(missing table) = %v, want ResourceNotFoundException", err)
	}
}
