// Package servicenowconn is the ServiceNow source (connectors-saas-1 §3):
// any table read through the Table API (GET /api/now/table/{table}) with
// offset paging, projection (sysparm_fields) and filters pushed down as an
// encoded query (sysparm_query); the catalog from sys_db_object and
// sys_dictionary (walking super_class for inherited columns); Basic auth or
// OAuth 2.0 bearer tokens from {instanceUrl}/oauth_token.do.
//
// Choices where AppFlow is silent:
//   - One split per flow: the table.
//   - References are read with sysparm_exclude_reference_link=true, so a
//     reference field is its sys_id as a string: the engine re-applies
//     EQUAL_TO/NOT_EQUAL_TO filters to the record, which a {link, value}
//     object would never equal.
//   - Values are typed from the table's sys_dictionary where the user may
//     read it: glide_date_time and glide_date as datetimes (UTC),
//     integer, decimal and boolean columns as such; else, and for other
//     types, the strings ServiceNow returns (sys_created_on and
//     sys_updated_on are datetimes either way).
//   - Filters are pushed only where ServiceNow's answer is a superset of the
//     engine's: string comparisons in ServiceNow ignore case, so
//     NOT_EQUAL_TO and ordering comparisons on strings stay in the engine;
//     datetime bounds are widened to whole seconds; a value holding "^" (or
//     "," in a list) is not pushed. Field names are checked against the
//     describe first, since ServiceNow silently drops unknown ones.
//   - Rows are paged by sys_id (sys_id>last^ORDERBYsys_id), not by
//     offset, so a row updated during the read neither makes another row
//     be skipped nor is read twice; the window and filters are a filter.
//   - The table list is cached for the driver's life (one opened profile).
//   - The 100,000-records-per-run quota of AppFlow is not enforced.
package servicenowconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// Type is the connector type this package registers (the union key is
// "ServiceNow").
const Type = "Servicenow"

// Options configure the driver beyond the profile; its PageSize is
// sysparm_limit; 0 means 1000.
type Options = httpconn.Options

func init() { httpconn.Register(Type, httpconn.Source, Open) }

type profileCreds struct {
	Username string                     `json:"username"`
	Password string                     `json:"password"`
	OAuth2   *httpconn.OAuthCredentials `json:"oAuth2Credentials"`
}

// Driver is one opened ServiceNow profile.
type Driver struct {
	c        *httpconn.Client
	pageSize int

	mu     sync.Mutex
	tables []tableInfo // nil until listed
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	base, creds, err := httpconn.InstanceProfile[profileCreds](p, "ServiceNow", "https://<instance>.service-now.com")
	if err != nil {
		return nil, err
	}
	var auth httpconn.Auth
	switch o := creds.OAuth2; {
	case o.Usable():
		oa := o.OAuth2(base + "/oauth_token.do")
		oa.Saved = httpconn.SaveTokens(p.SaveCredentials, p.Credentials, "oAuth2Credentials")
		auth = httpconn.NewOAuth2(oa)
	case creds.Username != "":
		auth = httpconn.Basic(creds.Username, creds.Password)
	default:
		return nil, fault.New(fault.AuthFailed, "the ServiceNow profile %s has neither username and password nor oAuth2Credentials", p.Name)
	}
	c := httpconn.New(deps, httpconn.Config{Name: "ServiceNow", Base: base, Auth: auth, Retry: opts.Retry,
		Header: http.Header{"Accept": {"application/json"}}, Check: check})
	return &Driver{c: c, pageSize: httpconn.Size(opts.PageSize, 1000, 0)}, nil
}

// CheckProfile reads one row of sys_db_object, the table the catalog needs.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, err := get(ctx, d.c, "sys_db_object", url.Values{"sysparm_limit": {"1"}, "sysparm_fields": {"sys_id"}})
	return err
}

// ---- HTTP ----

// APIError is a ServiceNow error answer.
type APIError = httpconn.Error

func parseError(status int, b []byte) *APIError {
	return httpconn.ParseError("ServiceNow", status, b, func(b []byte, e *APIError) bool {
		var body struct {
			Error struct {
				Message string `json:"message"`
				Detail  string `json:"detail"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &body) != nil || body.Error.Message == "" {
			return false
		}
		e.Message, e.Detail = body.Error.Message, body.Error.Detail
		return true
	})
}

func classify(e *APIError) error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return fault.Wrap(fault.AuthFailed, e, "ServiceNow authentication failed")
	case e.Status == http.StatusTooManyRequests:
		return fault.Wrap(fault.Throttled, e, "ServiceNow rate limit")
	}
	return fault.Wrap(fault.ConnectorServer, e, "ServiceNow")
}

// check accepts ServiceNow's 404 "No Record found", which is an empty
// result, and otherwise reads refusals the usual way.
func check(r *httpconn.Response) error {
	if r.OK() || r.Status == http.StatusNotFound && bytes.Contains(r.Body, []byte("No Record found")) {
		return nil
	}
	return httpconn.Refusal(r, classify(parseError(r.Status, r.Body)))
}

type page struct {
	body   []byte
	header http.Header
}

// get reads /api/now/table/<table>.
func get(ctx context.Context, c *httpconn.Client, table string, q url.Values) (*page, error) {
	res, err := c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: "/api/now/table/" + url.PathEscape(table), Query: q, Idempotent: true})
	if err != nil {
		return nil, err
	}
	if res.Status == http.StatusNotFound {
		return &page{[]byte(`{"result":[]}`), res.Header}, nil
	}
	return &page{res.Body, res.Header}, nil
}

// rows decodes {"result":[...]}; an answer without a result is not an
// empty table.
func rows(table string, p *page) ([]map[string]json.RawMessage, error) {
	var body struct {
		Result *[]map[string]json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(p.body, &body); err != nil {
		return nil, fault.Wrap(fault.ConnectorServer, err, "ServiceNow table %s: the response is not a Table API result", table)
	}
	if body.Result == nil {
		return nil, fault.New(fault.ConnectorServer, "ServiceNow table %s: the response has no result: %s", table, httpconn.Excerpt(p.body))
	}
	return *body.Result, nil
}

// readTable pages a table with offset += limit until a short page or, when
// the answer has Link headers, no rel="next".
func readTable(ctx context.Context, c *httpconn.Client, table string, q url.Values, limit int, each func([]map[string]json.RawMessage, int) error) error {
	return httpconn.Offset(ctx, func(ctx context.Context, offset int) (int, bool, error) {
		q.Set("sysparm_limit", strconv.Itoa(limit))
		q.Set("sysparm_offset", strconv.Itoa(offset))
		p, err := get(ctx, c, table, q)
		if err != nil {
			return 0, false, err
		}
		rs, err := rows(table, p)
		if err != nil {
			return 0, false, err
		}
		more := len(rs) == limit // ACLs may shorten a page: a Link header says better
		if len(p.header.Values("Link")) > 0 {
			more = httpconn.NextLink(p.header) != ""
		}
		return len(rs), more, each(rs, len(p.body))
	})
}

// readKeyset pages a table by sys_id, each page asking for the rows after
// the last one read (sys_id>last^ORDERBYsys_id) rather than at an offset:
// a row updated mid-read (its sys_updated_on moved) shifts no other row
// out of reach, and none is read twice. A sys_id never changes.
func readKeyset(ctx context.Context, c *httpconn.Client, table string, terms []string, q url.Values, limit int, each func([]map[string]json.RawMessage, int) error) error {
	return httpconn.Keyset(ctx, func(ctx context.Context, after string) (string, bool, error) {
		t := terms[:len(terms):len(terms)]
		if after != "" {
			t = append(t, "sys_id>"+after)
		}
		q.Set("sysparm_query", strings.Join(append(t, "ORDERBYsys_id"), "^"))
		q.Set("sysparm_limit", strconv.Itoa(limit))
		p, err := get(ctx, c, table, q)
		if err != nil {
			return "", false, err
		}
		rs, err := rows(table, p)
		if err != nil || len(rs) == 0 {
			return "", false, err
		}
		last := str(rs[len(rs)-1]["sys_id"])
		if last == "" {
			return "", false, fault.New(fault.ConnectorServer, "ServiceNow table %s answered a row without sys_id", table)
		}
		more := len(rs) == limit // ACLs may shorten a page: a Link header says better
		if len(p.header.Values("Link")) > 0 {
			more = httpconn.NextLink(p.header) != ""
		}
		return last, more, each(rs, len(p.body))
	})
}

func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var ref struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(raw, &ref) == nil {
		return ref.Value
	}
	return string(raw)
}

// ---- catalog ----

type tableInfo struct{ sysID, name, label, super string }

func (d *Driver) listTables(ctx context.Context) ([]tableInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tables != nil {
		return d.tables, nil
	}
	var out []tableInfo
	q := url.Values{"sysparm_fields": {"sys_id,name,label,super_class"}, "sysparm_exclude_reference_link": {"true"}, "sysparm_query": {"ORDERBYname"}}
	err := readTable(ctx, d.c, "sys_db_object", q, 1000, func(rs []map[string]json.RawMessage, _ int) error {
		for _, r := range rs {
			out = append(out, tableInfo{str(r["sys_id"]), str(r["name"]), str(r["label"]), str(r["super_class"])})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []tableInfo{}
	}
	d.tables = out
	return out, nil
}

// ListEntities lists every table under group "Objects".
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	if path != "" {
		return nil, fault.New(fault.NotFound, "ServiceNow tables have no nested entities (path %q)", path)
	}
	ts, err := d.listTables(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]connector.Entity, 0, len(ts))
	for _, t := range ts {
		if t.name == "" {
			continue
		}
		label := t.label
		if label == "" {
			label = t.name
		}
		out = append(out, connector.Entity{Name: t.name, Label: label})
	}
	return map[string][]connector.Entity{"Objects": out}, nil
}

var (
	strOps  = []string{"EQUAL_TO", "NOT_EQUAL_TO", "CONTAINS"}
	cmpOps  = []string{"EQUAL_TO", "NOT_EQUAL_TO", "CONTAINS", "LESS_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO", "BETWEEN"}
	boolOps = []string{"EQUAL_TO", "NOT_EQUAL_TO"}
)

// appflowType maps a sys_dictionary internal_type.
func appflowType(internal string) (record.FieldType, []string) {
	switch internal {
	case "integer", "longint":
		return "integer", cmpOps
	case "decimal", "float", "currency", "price", "percent_complete":
		return "double", cmpOps
	case "boolean":
		return "boolean", boolOps
	case "glide_date_time", "due_date", "glide_time":
		return "datetime", cmpOps
	case "glide_date":
		return "date", cmpOps
	case "reference", "choice":
		return "string", boolOps
	}
	return "string", strOps
}

type column struct {
	name, label, internal string
	mandatory, readOnly   bool
}

// columns returns the table's columns, its own and inherited, by name.
func (d *Driver) columns(ctx context.Context, table string) ([]column, error) {
	ts, err := d.listTables(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]tableInfo{}
	var self *tableInfo
	for i, t := range ts {
		byID[t.sysID] = t
		if t.name == table {
			self = &ts[i]
		}
	}
	if self == nil {
		return nil, fault.New(fault.NotFound, "ServiceNow has no table %q (or the user cannot read it in sys_db_object)", table)
	}
	chain := []string{}
	seenT := map[string]bool{}
	for t, ok := *self, true; ok && !seenT[t.name]; t, ok = byID[t.super] {
		seenT[t.name] = true
		chain = append(chain, t.name)
	}
	q := url.Values{"sysparm_query": {"nameIN" + strings.Join(chain, ",") + "^elementISNOTEMPTY"},
		"sysparm_fields":                 {"name,element,column_label,internal_type,max_length,reference,mandatory,read_only,active"},
		"sysparm_exclude_reference_link": {"true"}}
	byTable := map[string][]column{}
	err = readTable(ctx, d.c, "sys_dictionary", q, 1000, func(rs []map[string]json.RawMessage, _ int) error {
		for _, r := range rs {
			if str(r["active"]) == "false" {
				continue
			}
			n := str(r["name"])
			byTable[n] = append(byTable[n], column{name: str(r["element"]), label: str(r["column_label"]), internal: str(r["internal_type"]),
				mandatory: str(r["mandatory"]) == "true", readOnly: str(r["read_only"]) == "true"})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []column
	seen := map[string]bool{}
	for i := len(chain) - 1; i >= 0; i-- { // ancestors first
		for _, c := range byTable[chain[i]] {
			if c.name != "" && !seen[c.name] {
				seen[c.name] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// DescribeEntity describes a table's columns.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	cols, err := d.columns(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]connector.EntityField, 0, len(cols))
	for _, c := range cols {
		typ, ops := appflowType(c.internal)
		out = append(out, connector.EntityField{Name: c.name, Label: c.label, Type: typ, FilterOperators: ops,
			IsPrimaryKey: c.name == "sys_id", Nullable: !c.mandatory && c.name != "sys_id", Queryable: true,
			IsTimestampForIncremental: c.name == "sys_updated_on"})
	}
	return out, nil
}

// ---- source ----

type split struct{ table string }

// Splits returns the one table the object names.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	if req.Object == "" || strings.ContainsAny(req.Object, "/?#") {
		return nil, fault.New(fault.Invalid, "ServiceNow object %q is not a table name", req.Object)
	}
	return []connector.Split{{Name: req.Object, Opaque: split{req.Object}}}, nil
}

const snTime = "2006-01-02 15:04:05"

func floorSec(ms int64) string {
	return time.UnixMilli(int64(math.Floor(float64(ms)/1000)) * 1000).UTC().Format(snTime)
}

func ceilSec(ms int64) string {
	return time.UnixMilli(int64(math.Ceil(float64(ms)/1000)) * 1000).UTC().Format(snTime)
}

// encode turns one filter into encoded-query terms, or false when
// ServiceNow cannot answer a superset of the engine's result.
func encode(f connector.Filter, internal string) ([]string, bool) {
	typ, _ := appflowType(internal)
	if len(f.Values) == 0 {
		return nil, false
	}
	for _, v := range f.Values {
		if strings.Contains(v, "^") || v == "" {
			return nil, false
		}
	}
	isTime := typ == "datetime" || typ == "date"
	isNum := typ == "integer" || typ == "double"
	ordered := isTime || isNum
	lit := func(v string, up bool) (string, bool) {
		switch {
		case isTime:
			ms, ok := httpconn.ParseMillis(v)
			if !ok {
				return "", false
			}
			if up {
				return ceilSec(ms), true
			}
			return floorSec(ms), true
		case isNum:
			if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
				return "", false
			}
			return strings.TrimSpace(v), true
		}
		return v, true
	}
	one := func(op string, up bool) ([]string, bool) {
		if len(f.Values) != 1 {
			return nil, false
		}
		v, ok := lit(f.Values[0], up)
		return []string{f.Field + op + v}, ok
	}
	switch f.Operator {
	case "EQUAL_TO":
		if isTime {
			return nil, false // second-precision storage against ms values
		}
		if len(f.Values) == 1 {
			return one("=", false)
		}
		for _, v := range f.Values {
			if strings.Contains(v, ",") {
				return nil, false
			}
		}
		return []string{f.Field + "IN" + strings.Join(f.Values, ",")}, true
	case "NOT_EQUAL_TO":
		if !ordered && typ != "boolean" && !(typ == "string" && internal == "reference") {
			return nil, false // string comparisons ignore case in ServiceNow
		}
		if isTime || len(f.Values) != 1 {
			return nil, false
		}
		return one("!=", false)
	case "CONTAINS":
		if ordered || len(f.Values) != 1 {
			return nil, false
		}
		return one("LIKE", false)
	case "GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO":
		if !ordered {
			return nil, false
		}
		if isTime {
			return one(">=", false)
		}
		return one(map[string]string{"GREATER_THAN": ">", "GREATER_THAN_OR_EQUAL_TO": ">="}[f.Operator], false)
	case "LESS_THAN", "LESS_THAN_OR_EQUAL_TO":
		if !ordered {
			return nil, false
		}
		if isTime {
			return one("<=", true)
		}
		return one(map[string]string{"LESS_THAN": "<", "LESS_THAN_OR_EQUAL_TO": "<="}[f.Operator], false)
	case "BETWEEN":
		if !ordered || len(f.Values) != 2 {
			return nil, false
		}
		lo, ok1 := lit(f.Values[0], false)
		hi, ok2 := lit(f.Values[1], true)
		return []string{f.Field + ">=" + lo, f.Field + "<=" + hi}, ok1 && ok2
	}
	return nil, false
}

// ReadSplit pages through the table.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	sp, ok := s.Opaque.(split)
	if !ok {
		return fault.New(fault.Internal, "ServiceNow split %s was not made by this driver", s.Name)
	}
	types := map[string]string{"sys_created_on": "glide_date_time", "sys_updated_on": "glide_date_time"}
	var order []string
	cols, err := d.columns(ctx, sp.table)
	described := err == nil
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Code == fault.AuthFailed {
			return fmt.Errorf("read %s: %w", s.Name, err)
		}
		// Without read access to the dictionary: read strings, push nothing.
	}
	for _, c := range cols {
		types[c.name] = c.internal
		order = append(order, c.name)
	}
	fields := req.Fields
	if fields == nil {
		fields = order
		if fields == nil {
			fields = []string{}
		}
	}
	var terms []string
	if w := req.Window; w != nil {
		f := w.Field
		if f == "" {
			f = "sys_updated_on"
		}
		if _, ok := types[f]; ok {
			terms = append(terms, f+">="+floorSec(w.Start.UnixMilli()), f+"<"+ceilSec(w.End.UnixMilli()))
		}
	}
	if described {
		for _, f := range req.Filters {
			internal, ok := types[f.Field]
			if !ok {
				continue
			}
			if t, ok := encode(f, internal); ok {
				terms = append(terms, t...)
			}
		}
	}
	q := url.Values{"sysparm_exclude_reference_link": {"true"}, "sysparm_display_value": {"false"}, "sysparm_suppress_pagination_header": {"false"}}
	if len(fields) > 0 && req.Fields != nil {
		// sys_id is the paging key, read whether projected or not.
		q.Set("sysparm_fields", strings.Join(append(fields[:len(fields):len(fields)], "sys_id"), ","))
	}
	line := int64(1)
	var pending *record.Batch
	err = readKeyset(ctx, d.c, sp.table, terms, q, d.pageSize, func(rs []map[string]json.RawMessage, n int) error {
		if pending != nil {
			if err := emit(pending); err != nil {
				return err
			}
		}
		b := &record.Batch{Fields: fields, Split: s.Name, FirstLine: line, SourceBytes: int64(n)}
		b.Cells = make([]record.Value, 0, len(fields)*len(rs))
		for i, r := range rs {
			for _, f := range fields {
				v, err := value(r[f], types[f])
				if err != nil {
					return fault.Wrap(fault.ConnectorServer, err, "read %s: record %d field %s", s.Name, line+int64(i), f)
				}
				b.Cells = append(b.Cells, v)
			}
		}
		line += int64(len(rs))
		pending = b
		return nil
	})
	if err != nil {
		if strings.Contains(err.Error(), s.Name) {
			return err
		}
		return fmt.Errorf("read %s: %w", s.Name, err)
	}
	if pending == nil {
		pending = &record.Batch{Fields: fields, Split: s.Name, FirstLine: 1}
	}
	pending.Final = true
	return emit(pending)
}

// value converts one Table API value by the column's internal type.
func value(raw json.RawMessage, internal string) (record.Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return record.Value{}, nil
	}
	if raw[0] == 'n' {
		return record.NullVal(), nil
	}
	if raw[0] == '{' || raw[0] == '[' {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) != nil {
			return record.JSONVal(string(raw)), nil
		}
		return record.JSONVal(buf.String()), nil
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return record.Value{}, err
		}
	} else {
		s = string(raw)
	}
	if s == "" {
		return record.Str(""), nil
	}
	switch internal {
	case "glide_date_time", "due_date":
		if t, err := time.Parse(snTime, s); err == nil {
			return record.TimeVal(t), nil
		}
	case "glide_date":
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return record.TimeVal(t), nil
		}
	case "integer", "longint":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return record.IntVal(n), nil
		}
	case "decimal", "float", "currency", "price":
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return record.DecimalVal(s), nil
		}
	case "boolean":
		if b, err := strconv.ParseBool(s); err == nil {
			return record.BoolVal(b), nil
		}
	}
	return record.Str(s), nil
}
