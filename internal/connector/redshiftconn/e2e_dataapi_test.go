package redshiftconn_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/redshiftconn"
)

// dataAPIServer is a Redshift Data API over the test PostgreSQL: the
// catalog calls read information_schema, and ExecuteStatement runs
// "SELECT 1" or does what Redshift's COPY ... FROM 's3://stage/...' would,
// loading the staged gzipped JSON Lines in one transaction. It records
// every request (target and body).
type dataAPIServer struct {
	t       *testing.T
	e       *rsEnv
	mu      sync.Mutex
	calls   []string // "Target body"
	results map[string]map[string]any
	// assumed are the roles STS AssumeRole was asked for (the server is
	// the STS endpoint too); creds are the Access Key IDs that signed
	// Data API requests.
	assumed []string
	creds   map[string]bool
	// s3, when set, is where COPY reads the stage (else the local bucket).
	s3 *s3.Client
}

var credRE = regexp.MustCompile(`Credential=([^/]+)/`)

var copyRE = regexp.MustCompile(`^COPY "([^"]+)"\."([^"]+)" \(([^)]*)\) FROM 's3://` + e2eStage + `/([^']*)' IAM_ROLE '[^']*' FORMAT AS JSON 'auto ignorecase' GZIP TIMEFORMAT 'auto' DATEFORMAT 'auto'$`)

func (s *dataAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("X-Amz-Target") == "" { // STS, query protocol
		q, _ := url.ParseQuery(string(body))
		if q.Get("Action") != "AssumeRole" {
			w.WriteHeader(400)
			return
		}
		s.mu.Lock()
		s.assumed = append(s.assumed, q.Get("RoleArn"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>`+
			`<Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>s2</SecretAccessKey><SessionToken>tok</SessionToken>`+
			`<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>`+q.Get("RoleArn")+`/appflowd</Arn>`+
			`<AssumedRoleId>AROA:appflowd</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
		return
	}
	target := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "RedshiftData.")
	s.mu.Lock()
	s.calls = append(s.calls, target+" "+string(body))
	if m := credRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		s.creds[m[1]] = true
	}
	s.mu.Unlock()
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	str := func(k string) string { v, _ := in[k].(string); return v }
	pattern := func(k string) string {
		if v := str(k); v != "" {
			return v
		}
		return "%"
	}
	ctx := r.Context()
	db := s.e.db
	var out any
	var err error
	switch target {
	case "ListSchemas":
		var names []string
		names, err = collect(ctx, db, `SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE $1 ORDER BY 1`, pattern("SchemaPattern"))
		out = map[string]any{"Schemas": names}
	case "ListTables":
		var rows pgx.Rows
		rows, err = db.Query(ctx, `SELECT table_name, table_schema, CASE table_type WHEN 'BASE TABLE' THEN 'TABLE' ELSE table_type END
			FROM information_schema.tables WHERE table_schema LIKE $1 AND table_name LIKE $2 ORDER BY 2, 1`, pattern("SchemaPattern"), pattern("TablePattern"))
		tables := []map[string]string{}
		if err == nil {
			for rows.Next() {
				var n, sc, ty string
				if err = rows.Scan(&n, &sc, &ty); err != nil {
					break
				}
				tables = append(tables, map[string]string{"name": n, "schema": sc, "type": ty})
			}
			rows.Close()
		}
		out = map[string]any{"Tables": tables}
	case "DescribeTable":
		var rows pgx.Rows
		rows, err = db.Query(ctx, `SELECT column_name, udt_name, CASE is_nullable WHEN 'YES' THEN 1 ELSE 0 END, column_default,
			COALESCE(character_maximum_length, numeric_precision, 0), COALESCE(numeric_precision, character_maximum_length, 0), COALESCE(numeric_scale, 0)
			FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, str("Schema"), str("Table"))
		cols := []map[string]any{}
		if err == nil {
			for rows.Next() {
				var name, typ string
				var nullable, length, prec, scale int32
				var def *string
				if err = rows.Scan(&name, &typ, &nullable, &def, &length, &prec, &scale); err != nil {
					break
				}
				c := map[string]any{"name": name, "typeName": typ, "nullable": nullable, "length": length, "precision": prec,
					"scale": scale, "schemaName": str("Schema"), "tableName": str("Table"), "isCaseSensitive": false}
				if def != nil {
					c["columnDefault"] = *def
				}
				cols = append(cols, c)
			}
			rows.Close()
		}
		out = map[string]any{"ColumnList": cols, "TableName": str("Table")}
	case "ExecuteStatement":
		id := fmt.Sprintf("stmt-%d", len(s.results)+1)
		res := map[string]any{"Id": id, "Status": "FINISHED", "ResultRows": 0}
		if sql := str("Sql"); sql != "SELECT 1" {
			n, lerr := s.copy(ctx, sql)
			if lerr != nil {
				res["Status"], res["Error"] = "FAILED", "ERROR: "+lerr.Error()
			}
			res["ResultRows"] = n
		}
		s.mu.Lock()
		s.results[id] = res
		s.mu.Unlock()
		out = map[string]any{"Id": id}
	case "DescribeStatement":
		s.mu.Lock()
		out = s.results[str("Id")]
		s.mu.Unlock()
	default:
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"__type":"ValidationException","message":"unknown operation"}`)
		return
	}
	if err != nil {
		w.WriteHeader(500)
		_, _ = fmt.Fprintf(w, `{"__type":"InternalServerException","message":%q}`, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func collect(ctx context.Context, db *pgx.Conn, sql string, args ...any) ([]string, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// copy loads the staged files under the COPY's prefix, all rows or none.
func (s *dataAPIServer) copy(ctx context.Context, sql string) (int64, error) {
	m := copyRE.FindStringSubmatch(sql)
	if m == nil {
		return 0, fmt.Errorf("unexpected statement %q", sql)
	}
	tbl := pgx.Identifier{m[1], m[2]}.Sanitize()
	files, err := s.staged(ctx, m[4])
	if err != nil {
		return 0, err
	}
	tx, err := s.e.db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	var n int64
	for _, f := range files {
		zr, err := gzip.NewReader(bytes.NewReader(f))
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(zr)
		for sc.Scan() {
			if _, err := tx.Exec(ctx, "INSERT INTO "+tbl+" ("+m[3]+") SELECT "+m[3]+" FROM json_populate_record(NULL::"+tbl+", $1::json)", sc.Text()); err != nil {
				return 0, err
			}
			n++
		}
	}
	return n, tx.Commit(ctx)
}

// staged reads the gzipped files under prefix in the stage bucket, in key
// order: from the S3 API when the server has one, else the local bucket.
func (s *dataAPIServer) staged(ctx context.Context, prefix string) ([][]byte, error) {
	var out [][]byte
	if s.s3 == nil {
		files, _ := filepath.Glob(filepath.Join(s.e.dataDir, "s3", e2eStage, filepath.FromSlash(prefix), "*.gz"))
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, nil
	}
	list, err := s.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(e2eStage), Prefix: aws.String(prefix)})
	if err != nil {
		return nil, err
	}
	for _, o := range list.Contents { // in key order
		if !strings.HasSuffix(aws.ToString(o.Key), ".gz") {
			continue
		}
		obj, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e2eStage), Key: o.Key})
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// TestE2EDataAPI: a profile with a cluster and no databaseUrl, through the
// AppFlow SDK: CreateConnectorProfile checks it with a statement, the
// catalog comes from ListSchemas, ListTables and DescribeTable, and a flow
// stages in S3, checks rows against DescribeTable's columns (rejected rows
// to the error bucket) and loads with one COPY through ExecuteStatement.
func TestE2EDataAPI(t *testing.T) {
	// The stand-in is the Data API and STS; appflowd is told so at start,
	// as --endpoint sts=URL does.
	var srv *dataAPIServer
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	e := newRSEnv(t, func(c *app.Config) { c.Endpoints = connector.Endpoints{connector.EndpointSTS: hs.URL} })
	srv = &dataAPIServer{t: t, e: e, results: map[string]map[string]any{}, creds: map[string]bool{}}
	t.Setenv(redshiftconn.DataAPIEndpointEnv, hs.URL)
	const dataRole = "arn:aws:iam::000000000000:role/appflowd-data-api"
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	e.exec("CREATE TABLE " + e.schema + ".typed " + typedDDL)
	e.exec("INSERT INTO " + e.schema + ".typed (id, name) VALUES (100, 'before')")
	db := strings.TrimPrefix(e.dbURL[strings.LastIndex(e.dbURL, "/"):], "/")

	_, err := e.client.CreateConnectorProfile(e.ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("data"), ConnectorType: types.ConnectorTypeRedshift, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Redshift: &types.RedshiftConnectorProfileProperties{
				ClusterIdentifier: aws.String("cl-1"), DatabaseName: aws.String(db), DataApiRoleArn: aws.String(dataRole), BucketName: aws.String(e2eStage),
				BucketPrefix: aws.String("staging"), RoleArn: aws.String(e2eRole),
			}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Redshift: &types.RedshiftConnectorProfileCredentials{
				Username: aws.String("loader"),
			}},
		},
	})
	if err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	target := `"ClusterIdentifier":"cl-1","Database":"` + db + `","DbUser":"loader"`
	srv.mu.Lock()
	if want := []string{`ExecuteStatement {` + target + `,"Sql":"SELECT 1","StatementName":"appflowd-profile-check"}`,
		`DescribeStatement {"Id":"stmt-1"}`}; !cmp.Equal(srv.calls, want) {
		t.Errorf("profile check requests = %q, want %q", srv.calls, want)
	}
	// The Data API is called as dataApiRoleArn, as AppFlow does.
	if !cmp.Equal(srv.assumed, []string{dataRole}) || !cmp.Equal(srv.creds, map[string]bool{"ASIAASSUMED": true}) {
		t.Errorf("STS AssumeRole for %q, Data API signed by %v; want %s and the assumed role's key only", srv.assumed, srv.creds, dataRole)
	}
	srv.calls = nil
	srv.mu.Unlock()

	t.Run("entities", func(t *testing.T) {
		top, err := e.client.ListConnectorEntities(e.ctx, &appflow.ListConnectorEntitiesInput{
			ConnectorProfileName: aws.String("data"), ConnectorType: types.ConnectorTypeRedshift})
		if err != nil {
			t.Fatalf("ListConnectorEntities: %v", err)
		}
		found := false
		for _, g := range top.ConnectorEntityMap {
			for _, en := range g {
				found = found || aws.ToString(en.Name) == e.schema
			}
		}
		if !found {
			t.Errorf("schemas %v do not include %s", top.ConnectorEntityMap, e.schema)
		}
		tables, err := e.client.ListConnectorEntities(e.ctx, &appflow.ListConnectorEntitiesInput{
			ConnectorProfileName: aws.String("data"), ConnectorType: types.ConnectorTypeRedshift, EntitiesPath: aws.String(e.schema)})
		if err != nil {
			t.Fatalf("ListConnectorEntities(%s): %v", e.schema, err)
		}
		var names []string
		for _, g := range tables.ConnectorEntityMap {
			for _, en := range g {
				names = append(names, aws.ToString(en.Name))
			}
		}
		if want := []string{e.schema + ".typed"}; !cmp.Equal(names, want) {
			t.Errorf("tables = %v, want %v", names, want)
		}
		desc, err := e.client.DescribeConnectorEntity(e.ctx, &appflow.DescribeConnectorEntityInput{
			ConnectorProfileName: aws.String("data"), ConnectorType: types.ConnectorTypeRedshift, ConnectorEntityName: aws.String(e.schema + ".typed")})
		if err != nil {
			t.Fatalf("DescribeConnectorEntity: %v", err)
		}
		var cols []string
		for _, f := range desc.ConnectorEntityFields {
			typ := ""
			if f.SupportedFieldTypeDetails != nil && f.SupportedFieldTypeDetails.V1 != nil {
				typ = aws.ToString(f.SupportedFieldTypeDetails.V1.FieldType)
			}
			cols = append(cols, aws.ToString(f.Identifier)+":"+typ)
		}
		want := []string{"id:integer", "name:string", "amount:decimal", "ok:boolean", "born:date", "seen:datetime", "note:string"}
		if d := cmp.Diff(want, cols); d != "" {
			t.Errorf("DescribeConnectorEntity fields (-want +got):\n%s", d)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		wantCalls := []string{
			`ListSchemas {` + target + `}`,
			`ListTables {` + target + `,"SchemaPattern":"` + e.schema + `"}`,
			`DescribeTable {` + target + `,"Schema":"` + e.schema + `","Table":"typed"}`,
		}
		if d := cmp.Diff(wantCalls, srv.calls); d != "" {
			t.Errorf("Data API requests (-want +got):\n%s", d)
		}
		srv.calls = nil
	})

	t.Run("load", func(t *testing.T) {
		e.putSource("in/dload/data.csv", rejectCSV)
		e.createFlow("dload", "data", e.schema+".typed", typedTasks, &types.ErrorHandlingConfig{
			BucketName: aws.String(e2eErrors), BucketPrefix: aws.String("rejects")})
		id, r := e.run("dload")
		mustStatus(t, r, types.ExecutionStatusSuccessful)
		want := [][]string{
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
		body := e.bucket(e2eErrors)["rejects/dload/"+id+"/redshift-rejected-records.jsonl"]
		var lines []int64
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			var l struct{ Line int64 }
			_ = json.Unmarshal(sc.Bytes(), &l)
			lines = append(lines, l.Line)
		}
		if !cmp.Equal(lines, []int64{3, 5, 6, 8}) {
			t.Errorf("error file lines = %v, want [3 5 6 8]:\n%s", lines, body)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		copySQL := fmt.Sprintf(`COPY \"%s\".\"typed\" (\"id\", \"name\", \"amount\", \"ok\", \"born\", \"seen\", \"note\") FROM 's3://%s/staging/dload/%s/' IAM_ROLE '%s' FORMAT AS JSON 'auto ignorecase' GZIP TIMEFORMAT 'auto' DATEFORMAT 'auto'`,
			e.schema, e2eStage, id, e2eRole)
		wantCalls := []string{
			`DescribeTable {` + target + `,"Schema":"` + e.schema + `","Table":"typed"}`,
			`ExecuteStatement {` + target + `,"Sql":"` + copySQL + `","StatementName":"appflowd-load"}`,
			`DescribeStatement {"Id":"stmt-2"}`,
		}
		if d := cmp.Diff(wantCalls, srv.calls); d != "" {
			t.Errorf("Data API requests (-want +got):\n%s", d)
		}
	})
}
