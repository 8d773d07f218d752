// Package sntest is a documented-API stand-in for a ServiceNow instance
// (connectors-saas-1 §3.3): the Table API (GET /api/now/table/{table} with
// sysparm_query, sysparm_fields, sysparm_limit, sysparm_offset, Link and
// X-Total-Count headers), sys_db_object and sys_dictionary served from the
// tables it holds, Basic auth and OAuth tokens from /oauth_token.do, the
// {"error":{"message","detail"},"status":"failure"} error bodies, and a
// per-hour rate limit answering 429 with Retry-After.
package sntest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Credentials the instance accepts.
const (
	Username     = "admin"
	Password     = "secret"
	ClientID     = "c"
	ClientSecret = "s"
	RefreshToken = "snr-1"
)

// Column is one sys_dictionary entry.
type Column struct {
	Name, Label string
	Type        string // internal_type: string, integer, decimal, boolean, glide_date_time, reference, ...
	Reference   string // the referenced table, for reference columns
}

// Table is one table of the instance.
type Table struct {
	Name, Label, Super string
	Columns            []Column
	// NoACL makes reads of the table answer 403 User Not Authorized.
	NoACL bool
	// Malformed makes reads of the table answer a body that is not JSON.
	Malformed bool
	sysID     string
	rows      []map[string]string
}

// Instance is a running stand-in.
type Instance struct {
	*fakeapi.Server

	mu         sync.Mutex
	tables     []*Table
	tokens     map[string]bool
	nTok       int
	queries    fakeapi.Log
	limitN     int
	limitCalls int
	nID        int

	// AfterPage, when set, runs after the instance has answered page n
	// (from 1) of a read of a user table: a test changes rows there, as
	// users do while a read is under way.
	AfterPage func(n int)
	pages     int
}

// New starts an instance holding task and incident (incident extends task),
// closed when t ends.
func New(t testing.TB) *Instance {
	in := &Instance{tokens: map[string]bool{}}
	in.Server = fakeapi.StartFunc(t, in.serve) // URL is the instance URL (https://<instance>.service-now.com)
	in.AddTable("task", "Task", "",
		Column{Name: "sys_id", Label: "Sys ID", Type: "GUID"},
		Column{Name: "number", Label: "Number", Type: "string"},
		Column{Name: "short_description", Label: "Short description", Type: "string"},
		Column{Name: "priority", Label: "Priority", Type: "integer"},
		Column{Name: "active", Label: "Active", Type: "boolean"},
		Column{Name: "assigned_to", Label: "Assigned to", Type: "reference", Reference: "sys_user"},
		Column{Name: "sys_updated_on", Label: "Updated", Type: "glide_date_time"})
	in.AddTable("incident", "Incident", "task", Column{Name: "severity", Label: "Severity", Type: "integer"})
	return in
}

// AddTable adds a table extending super ("" for none).
func (in *Instance) AddTable(name, label, super string, cols ...Column) *Table {
	in.mu.Lock()
	defer in.mu.Unlock()
	t := &Table{Name: name, Label: label, Super: super, Columns: cols, sysID: fmt.Sprintf("t%d", len(in.tables)+1)}
	in.tables = append(in.tables, t)
	return t
}

// Insert adds a row; a row without sys_id gets one.
func (in *Instance) Insert(table string, row map[string]string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	t := in.find(table)
	r := map[string]string{}
	for k, v := range row {
		r[k] = v
	}
	if r["sys_id"] == "" {
		in.nID++
		r["sys_id"] = fmt.Sprintf("%032x", in.nID)
	}
	t.rows = append(t.rows, r)
}

// Update changes the row of table with sys_id, as a user's edit would
// (the caller sets sys_updated_on).
func (in *Instance) Update(table, sysID string, set map[string]string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range in.find(table).rows {
		if r["sys_id"] == sysID {
			for k, v := range set {
				r[k] = v
			}
		}
	}
}

// Limit answers 429 to every Table API call after n (the hour's quota).
func (in *Instance) Limit(n int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.limitN, in.limitCalls = n, 0
}

// Queries lists the query strings of Table API reads of user tables.
func (in *Instance) Queries() []string { return in.queries.Lines() }

func (in *Instance) find(name string) *Table {
	for _, t := range in.tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

var writeJSON = fakeapi.JSONAs("application/json;charset=UTF-8")

func failure(rw http.ResponseWriter, status int, msg, detail string) {
	writeJSON(rw, status, map[string]any{"error": map[string]any{"message": msg, "detail": detail}, "status": "failure"})
}

func (in *Instance) serve(rw http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if r.URL.Path == "/oauth_token.do" {
		in.token(rw, r)
		return
	}
	table, ok := strings.CutPrefix(r.URL.Path, "/api/now/table/")
	if !ok {
		failure(rw, http.StatusBadRequest, "Requested URI does not represent any resource", r.URL.Path)
		return
	}
	if !in.authorized(r) {
		failure(rw, http.StatusUnauthorized, "User Not Authenticated", "Required to provide Auth information")
		return
	}
	if in.limitN > 0 {
		in.limitCalls++
		if in.limitCalls > in.limitN {
			rw.Header().Set("Retry-After", "5")
			rw.Header().Set("X-RateLimit-Limit", strconv.Itoa(in.limitN))
			rw.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
			rw.Header().Set("X-RateLimit-Rule", "0123456789abcdef")
			failure(rw, http.StatusTooManyRequests, "Rate limit exceeded", fmt.Sprintf("Rate limit of %d requests per hour for Table API exceeded", in.limitN))
			return
		}
	}
	var rows []map[string]string
	var cols map[string]bool
	numeric := map[string]bool{} // columns compared as numbers; the rest as text
	switch table {
	case "sys_db_object":
		cols = map[string]bool{"sys_id": true, "name": true, "label": true, "super_class": true}
		for _, t := range in.tables {
			super := ""
			if s := in.find(t.Super); s != nil {
				super = s.sysID
			}
			rows = append(rows, map[string]string{"sys_id": t.sysID, "name": t.Name, "label": t.Label, "super_class": super})
		}
	case "sys_dictionary":
		cols = map[string]bool{"name": true, "element": true, "column_label": true, "internal_type": true, "max_length": true,
			"reference": true, "mandatory": true, "read_only": true, "active": true}
		for _, t := range in.tables {
			rows = append(rows, map[string]string{"name": t.Name, "element": "", "column_label": t.Label, "internal_type": "collection"})
			for _, c := range t.Columns {
				rows = append(rows, map[string]string{"name": t.Name, "element": c.Name, "column_label": c.Label, "internal_type": c.Type,
					"max_length": "40", "reference": c.Reference, "mandatory": "false", "read_only": "false", "active": "true"})
			}
		}
	default:
		t := in.find(table)
		if t == nil {
			failure(rw, http.StatusBadRequest, "Invalid table "+table, "")
			return
		}
		in.queries.Add(r.URL.RawQuery)
		if t.NoACL {
			failure(rw, http.StatusForbidden, "User Not Authorized", "User does not have read access to table "+table)
			return
		}
		if t.Malformed {
			fakeapi.WriteRawJSON(rw, http.StatusOK, `{"result":[{"sys_id":`)
			return
		}
		cols = map[string]bool{}
		for x := t; x != nil; x = in.find(x.Super) {
			for _, c := range x.Columns {
				cols[c.Name] = true
				switch c.Type {
				case "integer", "longint", "decimal", "float", "currency", "price":
					numeric[c.Name] = true
				}
			}
		}
		cols["sys_id"] = true
		rows = t.rows
		in.pages++
	}
	n, after := in.pages, in.AfterPage
	in.mu.Unlock()
	in.table(rw, r, rows, cols, numeric)
	if after != nil && !strings.HasPrefix(table, "sys_") {
		after(n)
	}
	in.mu.Lock()
}

func (in *Instance) authorized(r *http.Request) bool {
	if u, p, ok := r.BasicAuth(); ok {
		return u == Username && p == Password
	}
	tok, ok := fakeapi.Bearer(r)
	return ok && in.tokens[tok]
}

func (in *Instance) token(rw http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeJSON(rw, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "form-encoded body required"})
		return
	}
	_ = r.ParseForm()
	f := r.PostForm
	if f.Get("client_id") != ClientID || f.Get("client_secret") != ClientSecret {
		writeJSON(rw, http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "access_denied"})
		return
	}
	ok := false
	switch f.Get("grant_type") {
	case "password":
		ok = f.Get("username") == Username && f.Get("password") == Password
	case "refresh_token":
		ok = f.Get("refresh_token") == RefreshToken
	case "authorization_code":
		ok = f.Get("code") == "good"
	}
	if !ok {
		writeJSON(rw, http.StatusUnauthorized, map[string]any{"error": "access_denied", "error_description": "access_denied"})
		return
	}
	in.nTok++
	tok := fmt.Sprintf("sn-%d", in.nTok)
	in.tokens[tok] = true
	writeJSON(rw, http.StatusOK, map[string]any{"access_token": tok, "refresh_token": RefreshToken, "scope": "useraccount", "token_type": "Bearer", "expires_in": 1799})
}

// Expire revokes every access token issued so far.
func (in *Instance) Expire() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.tokens = map[string]bool{}
}

// Grant issues an access token directly, as an authorization would.
func (in *Instance) Grant(tok string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.tokens[tok] = true
}

func (in *Instance) table(rw http.ResponseWriter, r *http.Request, rows []map[string]string, cols, numeric map[string]bool) {
	q := r.URL.Query()
	conds, orders := parseQuery(q.Get("sysparm_query"), cols)
	for _, alts := range conds {
		for i := range alts {
			alts[i].num = numeric[alts[i].col]
		}
	}
	var match []map[string]string
	for _, row := range rows {
		if conds.match(row) {
			match = append(match, row)
		}
	}
	if len(orders) > 0 {
		sort.SliceStable(match, func(i, j int) bool {
			for _, o := range orders {
				c := compare(match[i][o.col], match[j][o.col], numeric[o.col])
				if c != 0 {
					return (c < 0) != o.desc
				}
			}
			return false
		})
	}
	limit, err := strconv.Atoi(q.Get("sysparm_limit"))
	if q.Get("sysparm_limit") == "" {
		limit, err = 10000, nil
	}
	offset, err2 := strconv.Atoi(q.Get("sysparm_offset"))
	if q.Get("sysparm_offset") == "" {
		offset, err2 = 0, nil
	}
	if err != nil || err2 != nil || limit < 0 || offset < 0 {
		failure(rw, http.StatusBadRequest, "Invalid sysparm_limit or sysparm_offset", "")
		return
	}
	var fields []string
	for _, f := range strings.Split(q.Get("sysparm_fields"), ",") {
		if f = strings.TrimSpace(f); f != "" && cols[f] {
			fields = append(fields, f)
		}
	}
	end := min(offset+limit, len(match))
	out := []map[string]any{}
	for _, row := range match[min(offset, len(match)):end] {
		o := map[string]any{}
		if fields == nil {
			for c := range cols {
				o[c] = row[c]
			}
		} else {
			for _, f := range fields {
				o[f] = row[f]
			}
		}
		out = append(out, o)
	}
	link := func(off int, rel string) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("sysparm_offset", strconv.Itoa(off))
		v.Set("sysparm_limit", strconv.Itoa(limit))
		return fmt.Sprintf("<%s%s?%s>;rel=%q", in.URL(), r.URL.Path, v.Encode(), rel)
	}
	if limit > 0 {
		links := []string{link(0, "first")}
		if offset > 0 {
			links = append(links, link(max(0, offset-limit), "prev"))
		}
		if end < len(match) {
			links = append(links, link(end, "next"))
		}
		last := 0
		if len(match) > 0 {
			last = (len(match) - 1) / limit * limit
		}
		links = append(links, link(last, "last"))
		rw.Header().Set("Link", strings.Join(links, ","))
	}
	rw.Header().Set("X-Total-Count", strconv.Itoa(len(match)))
	writeJSON(rw, http.StatusOK, map[string]any{"result": out})
}

// ---- encoded queries ----

type cond struct {
	col, op, val string
	num          bool // a numeric column: compared as numbers
}

// query is an OR of AND groups.
type query [][]cond

type order struct {
	col  string
	desc bool
}

var ops = []string{"NOT IN", "ISNOTEMPTY", "ISEMPTY", "STARTSWITH", "ENDSWITH", "NOT LIKE", "LIKE", "IN", "!=", "<=", ">=", "<", ">", "="}

func parseQuery(s string, cols map[string]bool) (query, []order) {
	var q query
	var orders []order
	for i, part := range strings.Split(s, "^") {
		or := false
		if strings.HasPrefix(part, "OR") && i > 0 && !strings.HasPrefix(part, "ORDERBY") {
			or, part = true, part[2:]
		}
		if part == "" {
			continue
		}
		if c, ok := strings.CutPrefix(part, "ORDERBYDESC"); ok {
			orders = append(orders, order{c, true})
			continue
		}
		if c, ok := strings.CutPrefix(part, "ORDERBY"); ok {
			orders = append(orders, order{c, false})
			continue
		}
		n := 0
		for n < len(part) && (part[n] >= 'a' && part[n] <= 'z' || part[n] >= '0' && part[n] <= '9' || part[n] == '_' || part[n] == '.') {
			n++
		}
		col, rest := part[:n], part[n:]
		var c *cond
		for _, op := range ops {
			if v, ok := strings.CutPrefix(rest, op); ok {
				c = &cond{col: col, op: op, val: v}
				break
			}
		}
		if c == nil || !cols[col] {
			continue // unknown parts are dropped, as ServiceNow does
		}
		if or && len(q) > 0 {
			q[len(q)-1] = append(q[len(q)-1], *c) // OR binds to the previous condition
			continue
		}
		q = append(q, []cond{*c})
	}
	return q, orders
}

func (q query) match(row map[string]string) bool {
	for _, alts := range q {
		ok := false
		for _, c := range alts {
			if c.match(row[c.col]) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// compare orders values of a column: numbers by value, the rest (strings,
// GUIDs such as sys_id, date-times) as text, ignoring case.
func compare(a, b string, numeric bool) int {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if numeric && err1 == nil && err2 == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func (c cond) match(v string) bool {
	lv, lc := strings.ToLower(v), strings.ToLower(c.val)
	inList := func() bool {
		for _, x := range strings.Split(c.val, ",") {
			if strings.EqualFold(x, v) {
				return true
			}
		}
		return false
	}
	switch c.op {
	case "=":
		return strings.EqualFold(v, c.val)
	case "!=":
		return !strings.EqualFold(v, c.val)
	case "<":
		return v != "" && compare(v, c.val, c.num) < 0
	case "<=":
		return v != "" && compare(v, c.val, c.num) <= 0
	case ">":
		return v != "" && compare(v, c.val, c.num) > 0
	case ">=":
		return v != "" && compare(v, c.val, c.num) >= 0
	case "LIKE":
		return strings.Contains(lv, lc)
	case "NOT LIKE":
		return !strings.Contains(lv, lc)
	case "STARTSWITH":
		return strings.HasPrefix(lv, lc)
	case "ENDSWITH":
		return strings.HasSuffix(lv, lc)
	case "IN":
		return inList()
	case "NOT IN":
		return !inList()
	case "ISEMPTY":
		return v == ""
	case "ISNOTEMPTY":
		return v != ""
	}
	return false
}

// BasicAuth is the Authorization header value of the instance's user.
func BasicAuth() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(Username+":"+Password))
}
