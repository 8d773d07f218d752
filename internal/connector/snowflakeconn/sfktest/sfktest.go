// Package sfktest is a fake Snowflake SQL API v2 for tests: it serves
// POST /api/v2/statements and GET /api/v2/statements/{handle} with the
// documented ResultSet, QueryStatus and QueryFailureStatus bodies, checks
// the bearer token, records every statement, and keeps tables in memory.
//
// It understands the statements snowflakeconn issues: SELECT 1, SHOW
// DATABASES, SHOW SCHEMAS IN DATABASE, SHOW TABLES IN SCHEMA, DESCRIBE
// TABLE, COPY INTO ... FROM @stage/path (reading gzipped CSV from a local
// folder that stands for the stage's S3 location) and SELECT * FROM
// TABLE(VALIDATE(table, JOB_ID=>'...')). A stage's location is a local
// folder or, with Server.S3, an s3://bucket/prefix read through an S3 API.
package sfktest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Column is a fake table's column.
type Column struct {
	Name     string // stored name, e.g. "ID"
	Type     string // NUMBER(38,0), VARCHAR(16777216), FLOAT, BOOLEAN, TIMESTAMP_TZ(9), ...
	Nullable bool
}

// Statement is one statement the fake received.
type Statement struct {
	SQL       string
	Database  string
	Schema    string
	Warehouse string
	Role      string
	TokenType string
	Host      string // the request's Host: the account's host name
}

type table struct {
	cols []Column
	rows [][]*string
}

type rejected struct {
	err, file, col string
	line, rowNum   int
	raw            string
}

// Server is the fake. Set the exported fields before serving.
type Server struct {
	// Token is the OAuth or key-pair bearer token accepted (token type
	// OAUTH or KEYPAIR_JWT); others get 401.
	Token string
	// PAT, when set, is a programmatic access token accepted with the
	// token type PROGRAMMATIC_ACCESS_TOKEN ("Using programmatic access
	// tokens for authentication": Authorization: Bearer <token>).
	PAT string
	// Stages maps a stage's stored name (DB.SCHEMA.STAGE) to the local
	// folder its URL points at, or to its s3://bucket/prefix URL.
	Stages map[string]string
	// S3 reads the stages at s3:// URLs, as the stage's storage
	// integration would.
	S3 *s3.Client
	// Async makes every POST answer 202 and the first GET as well, as a
	// statement running longer than the synchronous wait would.
	Async bool

	mu       sync.Mutex
	stmts    []Statement
	tables   map[string]*table // by DB.SCHEMA.TABLE, stored names
	results  map[string]*pending
	rejects  map[string][]rejected // by COPY handle
	seq      int
	FailNext *Failure // the next statement fails with this
}

// Failure is a canned QueryFailureStatus.
type Failure struct {
	Status   int
	Code     string
	SQLState string
	Message  string
}

type pending struct {
	status int
	body   any
	polls  int
}

// New returns a fake accepting token.
func New(token string) *Server {
	return &Server{Token: token, Stages: map[string]string{}, tables: map[string]*table{}, results: map[string]*pending{}, rejects: map[string][]rejected{}}
}

// CreateTable adds an empty table; name is DB.SCHEMA.TABLE in stored form.
func (s *Server) CreateTable(name string, cols ...Column) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables[name] = &table{cols: cols}
}

// Rows returns a table's rows, column name to value, NULLs left out.
func (s *Server) Rows(name string) []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[name]
	if t == nil {
		return nil
	}
	var out []map[string]string
	for _, r := range t.rows {
		m := map[string]string{}
		for i, v := range r {
			if v != nil {
				m[t.cols[i].Name] = *v
			}
		}
		out = append(out, m)
	}
	return out
}

// Statements returns the statements received so far.
func (s *Server) Statements() []Statement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stmts)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	typ := r.Header.Get("X-Snowflake-Authorization-Token-Type")
	tok, bearer := fakeapi.Bearer(r)
	switch {
	case bearer && typ == "PROGRAMMATIC_ACCESS_TOKEN" && s.PAT != "" && tok == s.PAT:
	case bearer && (typ == "OAUTH" || typ == "KEYPAIR_JWT") && tok == s.Token:
	case typ == "PROGRAMMATIC_ACCESS_TOKEN":
		fakeapi.WriteJSON(w, http.StatusUnauthorized, map[string]string{"message": "Programmatic access token is invalid."})
		return
	default:
		fakeapi.WriteJSON(w, http.StatusUnauthorized, map[string]string{"code": "390303", "message": "Invalid OAuth access token. "})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/statements":
		s.post(w, r, typ)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v2/statements/"):
		h := strings.TrimPrefix(r.URL.Path, "/api/v2/statements/")
		s.mu.Lock()
		p := s.results[h]
		if p != nil && s.Async && p.polls == 0 {
			p.polls++
			s.mu.Unlock()
			fakeapi.WriteJSON(w, http.StatusAccepted, running(h))
			return
		}
		s.mu.Unlock()
		if p == nil {
			fakeapi.WriteJSON(w, http.StatusNotFound, map[string]string{"code": "333333", "message": "statement " + h + " not found"})
			return
		}
		fakeapi.WriteJSON(w, p.status, p.body)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func running(h string) map[string]string {
	return map[string]string{"code": "333334", "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
		"statementHandle": h, "statementStatusUrl": "/api/v2/statements/" + h}
}

func (s *Server) post(w http.ResponseWriter, r *http.Request, typ string) {
	var req struct {
		Statement string `json:"statement"`
		Database  string `json:"database"`
		Schema    string `json:"schema"`
		Warehouse string `json:"warehouse"`
		Role      string `json:"role"`
	}
	if err := fakeapi.ReadJSON(r, &req); err != nil {
		fakeapi.WriteJSON(w, http.StatusBadRequest, map[string]string{"code": "390142", "message": "Incoming request does not contain a valid payload."})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stmts = append(s.stmts, Statement{req.Statement, req.Database, req.Schema, req.Warehouse, req.Role, typ, r.Host})
	s.seq++
	h := fmt.Sprintf("01b00000-0000-0000-0000-%012d", s.seq)
	var status int
	var body any
	if f := s.FailNext; f != nil {
		s.FailNext = nil
		status, body = f.Status, failure(h, f.Code, f.SQLState, f.Message)
	} else if req.Warehouse == "" {
		status, body = 422, failure(h, "000606", "57P03", "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command.")
	} else {
		status, body = s.run(h, req.Statement)
	}
	s.results[h] = &pending{status: status, body: body}
	if s.Async {
		fakeapi.WriteJSON(w, http.StatusAccepted, running(h))
		return
	}
	fakeapi.WriteJSON(w, status, body)
}

func failure(h, code, state, msg string) map[string]string {
	return map[string]string{"code": code, "sqlState": state, "message": msg, "statementHandle": h}
}

type result struct {
	Code              string `json:"code"`
	SQLState          string `json:"sqlState"`
	Message           string `json:"message"`
	StatementHandle   string `json:"statementHandle"`
	CreatedOn         int64  `json:"createdOn"`
	StatementStatus   string `json:"statementStatusUrl"`
	ResultSetMetaData struct {
		NumRows       int              `json:"numRows"`
		Format        string           `json:"format"`
		RowType       []map[string]any `json:"rowType"`
		PartitionInfo []map[string]int `json:"partitionInfo"`
	} `json:"resultSetMetaData"`
	Data [][]*string `json:"data"`
}

func ok(h string, cols []string, rows [][]*string) (int, any) {
	res := result{Code: "090001", SQLState: "00000", Message: "Statement executed successfully.", StatementHandle: h,
		CreatedOn: time.Now().UnixMilli(), StatementStatus: "/api/v2/statements/" + h}
	res.ResultSetMetaData.NumRows = len(rows)
	res.ResultSetMetaData.Format = "jsonv2"
	for _, c := range cols {
		res.ResultSetMetaData.RowType = append(res.ResultSetMetaData.RowType, map[string]any{"name": c, "type": "text", "nullable": true})
	}
	res.ResultSetMetaData.PartitionInfo = []map[string]int{{"rowCount": len(rows)}}
	if rows == nil {
		rows = [][]*string{}
	}
	res.Data = rows
	return http.StatusOK, res
}

func sp(s string) *string { return &s }

func strs(vs ...string) []*string {
	out := make([]*string, len(vs))
	for i, v := range vs {
		out[i] = sp(v)
	}
	return out
}

var (
	reShowSchemas = regexp.MustCompile(`^SHOW SCHEMAS IN DATABASE (\S+)$`)
	reShowTables  = regexp.MustCompile(`^SHOW TABLES IN SCHEMA (\S+)$`)
	reDescribe    = regexp.MustCompile(`^DESCRIBE TABLE (\S+)$`)
	reCopy        = regexp.MustCompile(`^COPY INTO (\S+) \(([^)]*)\) FROM (@[^ ']+|'@(?:[^']|'')+') FILE_FORMAT=\((.*)\) ON_ERROR=(ABORT_STATEMENT|CONTINUE) PURGE=FALSE$`)
	reValidate    = regexp.MustCompile(`^SELECT \* FROM TABLE\(VALIDATE\((\S+), JOB_ID=>'([^']+)'\)\)$`)
)

// norm turns a dotted name into stored form.
func norm(name string) string {
	var parts []string
	for p := range strings.SplitSeq(name, ".") {
		if strings.HasPrefix(p, `"`) && strings.HasSuffix(p, `"`) {
			parts = append(parts, strings.ReplaceAll(p[1:len(p)-1], `""`, `"`))
		} else {
			parts = append(parts, strings.ToUpper(p))
		}
	}
	return strings.Join(parts, ".")
}

func compileErr(h, msg string) (int, any) {
	return http.StatusUnprocessableEntity, failure(h, "001003", "42000", "SQL compilation error:\n"+msg)
}

func (s *Server) run(h, sql string) (int, any) {
	switch {
	case sql == "SELECT 1":
		return ok(h, []string{"1"}, [][]*string{strs("1")})
	case sql == "SHOW DATABASES":
		seen := map[string]bool{}
		var rows [][]*string
		for _, k := range slices.Sorted(mapKeys(s.tables)) {
			db := strings.Split(k, ".")[0]
			if !seen[db] {
				seen[db] = true
				rows = append(rows, strs("2024-01-01 00:00:00.000 -0800", db, "N", "N", "", "ACCOUNTADMIN", "", "", "1", "STANDARD"))
			}
		}
		return ok(h, []string{"created_on", "name", "is_default", "is_current", "origin", "owner", "comment", "options", "retention_time", "kind"}, rows)
	case reShowSchemas.MatchString(sql):
		db := norm(reShowSchemas.FindStringSubmatch(sql)[1])
		seen := map[string]bool{}
		var rows [][]*string
		for _, k := range slices.Sorted(mapKeys(s.tables)) {
			p := strings.Split(k, ".")
			if p[0] == db && !seen[p[1]] {
				seen[p[1]] = true
				rows = append(rows, strs("2024-01-01 00:00:00.000 -0800", p[1], "N", "N", db, "ACCOUNTADMIN", "", "", "1"))
			}
		}
		if rows == nil {
			return http.StatusUnprocessableEntity, failure(h, "002003", "02000", fmt.Sprintf("SQL compilation error:\nDatabase '%s' does not exist or not authorized.", db))
		}
		return ok(h, []string{"created_on", "name", "is_default", "is_current", "database_name", "owner", "comment", "options", "retention_time"}, rows)
	case reShowTables.MatchString(sql):
		sch := norm(reShowTables.FindStringSubmatch(sql)[1])
		var rows [][]*string
		found := false
		for _, k := range slices.Sorted(mapKeys(s.tables)) {
			p := strings.Split(k, ".")
			if p[0]+"."+p[1] == sch {
				found = true
				rows = append(rows, strs("2024-01-01 00:00:00.000 -0800", p[2], p[0], p[1], "TABLE", "", "", fmt.Sprint(len(s.tables[k].rows)), "0", "ACCOUNTADMIN", "1"))
			}
		}
		if !found {
			return http.StatusUnprocessableEntity, failure(h, "002003", "02000", fmt.Sprintf("SQL compilation error:\nSchema '%s' does not exist or not authorized.", sch))
		}
		return ok(h, []string{"created_on", "name", "database_name", "schema_name", "kind", "comment", "cluster_by", "rows", "bytes", "owner", "retention_time"}, rows)
	case reDescribe.MatchString(sql):
		name := norm(reDescribe.FindStringSubmatch(sql)[1])
		t := s.tables[name]
		if t == nil {
			return http.StatusUnprocessableEntity, failure(h, "002003", "42S02", fmt.Sprintf("SQL compilation error:\nTable '%s' does not exist or not authorized.", name))
		}
		var rows [][]*string
		for _, c := range t.cols {
			null := "Y"
			if !c.Nullable {
				null = "N"
			}
			rows = append(rows, []*string{sp(c.Name), sp(c.Type), sp("COLUMN"), sp(null), nil, sp("N"), sp("N"), nil, nil, nil})
		}
		return ok(h, []string{"name", "type", "kind", "null?", "default", "primary key", "unique key", "check", "expression", "comment"}, rows)
	case reCopy.MatchString(sql):
		return s.copyInto(h, reCopy.FindStringSubmatch(sql))
	case reValidate.MatchString(sql):
		m := reValidate.FindStringSubmatch(sql)
		rs, ok2 := s.rejects[m[2]]
		if !ok2 {
			return http.StatusUnprocessableEntity, failure(h, "000709", "02000", fmt.Sprintf("Statement %s not found", m[2]))
		}
		var rows [][]*string
		for _, r := range rs {
			rows = append(rows, strs(r.err, r.file, fmt.Sprint(r.line), "1", "0", "conversion", "100038", "22018",
				fmt.Sprintf(`"%s"[%s]`, strings.Split(norm(m[1]), ".")[2], r.col), fmt.Sprint(r.rowNum), fmt.Sprint(r.line), r.raw))
		}
		return ok(h, []string{"ERROR", "FILE", "LINE", "CHARACTER", "BYTE_OFFSET", "CATEGORY", "CODE", "SQL_STATE", "COLUMN_NAME", "ROW_NUMBER", "ROW_START_LINE", "REJECTED_RECORD"}, rows)
	}
	return compileErr(h, fmt.Sprintf("syntax error line 1 at position 0 unexpected '%s'.", strings.SplitN(sql, " ", 2)[0]))
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

const wantFormat = `TYPE=CSV SKIP_HEADER=1 FIELD_OPTIONALLY_ENCLOSED_BY='"' EMPTY_FIELD_AS_NULL=TRUE NULL_IF=() COMPRESSION=GZIP`

func (s *Server) copyInto(h string, m []string) (int, any) {
	name, colList, from, format, onError := norm(m[1]), m[2], m[3], m[4], m[5]
	t := s.tables[name]
	if t == nil {
		return http.StatusUnprocessableEntity, failure(h, "002003", "42S02", fmt.Sprintf("SQL compilation error:\nTable '%s' does not exist or not authorized.", name))
	}
	if format != wantFormat {
		return compileErr(h, "the fake understands only FILE_FORMAT=("+wantFormat+")")
	}
	if strings.HasPrefix(from, "'") {
		from = strings.ReplaceAll(from[1:len(from)-1], "''", "'")
	}
	stage, rel, _ := strings.Cut(from[1:], "/")
	dir, okStage := s.Stages[norm(stage)]
	if !okStage {
		return http.StatusUnprocessableEntity, failure(h, "002003", "02000", fmt.Sprintf("SQL compilation error:\nStage '%s' does not exist or not authorized.", norm(stage)))
	}
	var idx []int
	for c := range strings.SplitSeq(colList, ", ") {
		c = norm(c)
		j := slices.IndexFunc(t.cols, func(col Column) bool { return col.Name == c })
		if j < 0 {
			return compileErr(h, fmt.Sprintf("invalid identifier '%s'", c))
		}
		idx = append(idx, j)
	}
	files, err := s.stageFiles(dir, rel)
	if err != nil {
		return http.StatusUnprocessableEntity, failure(h, "091016", "22000", fmt.Sprintf("Remote file '%s%s' was not found: %v", dir, rel, err))
	}
	if len(files) == 0 {
		return ok(h, []string{"status"}, [][]*string{strs("Copy executed with 0 files processed.")})
	}
	var newRows [][]*string
	var rejs []rejected
	var out [][]*string
	for _, sf := range files {
		file := sf.name
		recs, err := readCSV(sf.data, strings.HasSuffix(file, ".gz"))
		if err != nil {
			return http.StatusUnprocessableEntity, failure(h, "100069", "22000", fmt.Sprintf("Error parsing the file '%s': %v", file, err))
		}
		parsed, loaded := 0, 0
		firstErr := ""
		for i, rec := range recs[1:] { // SKIP_HEADER=1
			parsed++
			row := make([]*string, len(t.cols))
			bad, badCol := "", ""
			if len(rec.cells) != len(idx) {
				bad = fmt.Sprintf("Number of columns in file (%d) does not match that of the corresponding table (%d)", len(rec.cells), len(idx))
			}
			for k := 0; bad == "" && k < len(idx); k++ {
				col := t.cols[idx[k]]
				v := rec.cells[k]
				if msg := check(col, v); msg != "" {
					bad, badCol = msg, fmt.Sprintf(`"%s":%d`, col.Name, k+1)
					break
				}
				row[idx[k]] = v
			}
			for j, col := range t.cols {
				if bad == "" && row[j] == nil && !col.Nullable {
					bad, badCol = fmt.Sprintf("NULL result in a non-nullable column"), fmt.Sprintf(`"%s":%d`, col.Name, j+1)
				}
			}
			if bad != "" {
				if onError == "ABORT_STATEMENT" {
					return http.StatusUnprocessableEntity, failure(h, "100038", "22018", fmt.Sprintf(
						"%s\n  File '%s', line %d, character 1\n  Row %d, column \"%s\"[%s]\n  If you would like to continue loading when an error is encountered, use other values such as 'SKIP_FILE' or 'CONTINUE' for the ON_ERROR option. For more information on loading options, please run 'info loading_data' in a SQL client.",
						bad, file, rec.line, i+1, strings.Split(name, ".")[2], badCol))
				}
				if firstErr == "" {
					firstErr = bad
				}
				rejs = append(rejs, rejected{err: bad, file: file, col: badCol, line: rec.line, rowNum: i + 1, raw: rec.raw})
				continue
			}
			loaded++
			newRows = append(newRows, row)
		}
		status := "LOADED"
		switch {
		case loaded == 0 && parsed > 0:
			status = "LOAD_FAILED"
		case loaded < parsed:
			status = "PARTIALLY_LOADED"
		}
		errs := parsed - loaded
		out = append(out, []*string{sp(file), sp(status), sp(fmt.Sprint(parsed)), sp(fmt.Sprint(loaded)), sp(fmt.Sprint(parsed)), sp(fmt.Sprint(errs)),
			nilIf(firstErr), nilIf(""), nilIf(""), nilIf("")})
	}
	t.rows = append(t.rows, newRows...)
	s.rejects[h] = rejs
	return ok(h, []string{"file", "status", "rows_parsed", "rows_loaded", "error_limit", "errors_seen", "first_error", "first_error_line", "first_error_character", "first_error_column_name"}, out)
}

func nilIf(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// check is Snowflake's conversion of a CSV field to a column type, roughly.
func check(c Column, v *string) string {
	if v == nil {
		return ""
	}
	base, _, _ := strings.Cut(strings.ToUpper(c.Type), "(")
	switch base {
	case "NUMBER", "INT", "INTEGER", "BIGINT", "DECIMAL":
		if _, err := strconv.ParseFloat(*v, 64); err != nil || strings.ContainsAny(*v, "eEnN") {
			return fmt.Sprintf("Numeric value '%s' is not recognized", *v)
		}
	case "FLOAT", "DOUBLE", "REAL":
		if _, err := strconv.ParseFloat(*v, 64); err != nil {
			return fmt.Sprintf("Numeric value '%s' is not recognized", *v)
		}
	case "BOOLEAN":
		switch strings.ToLower(*v) {
		case "true", "false", "t", "f", "yes", "no", "y", "n", "on", "off", "1", "0":
		default:
			return fmt.Sprintf("Boolean value '%s' is not recognized", *v)
		}
	case "TIMESTAMP_TZ", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP":
		if _, err := time.Parse(time.RFC3339Nano, *v); err != nil {
			return fmt.Sprintf("Timestamp '%s' is not recognized", *v)
		}
	}
	return ""
}

type csvRecord struct {
	cells []*string
	line  int // physical line the record starts on
	raw   string
}

type stageFile struct {
	name string // relative to the stage's location
	data []byte
}

// stageFiles reads the files under loc/rel, in name order: loc is a local
// folder or an s3://bucket/prefix URL.
func (s *Server) stageFiles(loc, rel string) ([]stageFile, error) {
	var out []stageFile
	if rest, isS3 := strings.CutPrefix(loc, "s3://"); isS3 {
		if s.S3 == nil {
			return nil, fmt.Errorf("no S3 client for %s", loc)
		}
		bucket, prefix, _ := strings.Cut(rest, "/")
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		ctx := context.Background()
		p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + rel)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, o := range page.Contents {
				obj, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
				if err != nil {
					return nil, err
				}
				data, err := io.ReadAll(obj.Body)
				obj.Body.Close()
				if err != nil {
					return nil, err
				}
				out = append(out, stageFile{name: strings.TrimPrefix(aws.ToString(o.Key), prefix), data: data})
			}
		}
	} else {
		root := filepath.Join(loc, filepath.FromSlash(rel))
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasPrefix(filepath.ToSlash(p), filepath.ToSlash(root)) {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			name, _ := filepath.Rel(loc, p)
			out = append(out, stageFile{name: filepath.ToSlash(name), data: data})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b stageFile) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// readCSV parses a (gzipped) staged file the way the COPY's FILE_FORMAT
// says: quoted fields may hold anything, "" is a quote, an empty unquoted
// field is NULL.
func readCSV(file []byte, gzipped bool) ([]csvRecord, error) {
	var r io.Reader = bufio.NewReader(bytes.NewReader(file))
	if gzipped {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = gz
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out []csvRecord
	line := 1
	i := 0
	for i < len(data) {
		rec := csvRecord{line: line}
		start := i
		for {
			var cell *string
			if i < len(data) && data[i] == '"' {
				var sb strings.Builder
				i++
				for {
					if i >= len(data) {
						return nil, fmt.Errorf("line %d: unterminated quoted field", rec.line)
					}
					c := data[i]
					if c == '"' {
						if i+1 < len(data) && data[i+1] == '"' {
							sb.WriteByte('"')
							i += 2
							continue
						}
						i++
						break
					}
					if c == '\n' {
						line++
					}
					sb.WriteByte(c)
					i++
				}
				s := sb.String()
				cell = &s
			} else {
				j := i
				for j < len(data) && data[j] != ',' && data[j] != '\n' {
					j++
				}
				if j > i {
					s := string(data[i:j])
					cell = &s
				}
				i = j
			}
			rec.cells = append(rec.cells, cell)
			if i >= len(data) || data[i] == '\n' {
				break
			}
			if data[i] != ',' {
				return nil, fmt.Errorf("line %d: unexpected %q after a quoted field", line, data[i])
			}
			i++
		}
		rec.raw = string(data[start:i])
		out = append(out, rec)
		if i < len(data) {
			i++ // '\n'
			line++
		}
	}
	return out, nil
}
