// Package vvtest is a stand-in for a Veeva Vault's REST API, written from
// Vault's public API reference and VQL guide (connectors-saas-2 §5.2-5.3):
// session login (POST /api/{v}/auth, form username/password), the object
// and document metadata calls, and VQL queries (POST /api/{v}/query, form
// q) answered page by page, the next page at responseDetails.next_page,
// which answers POST only (Vault's pagination guide). Errors are
// {"responseStatus":"FAILURE","errors":[{type,message}]} with HTTP 200.
//
// The VQL it understands is what a VQL guide example needs: SELECT a
// field list FROM an object, documents or ALLVERSIONS documents, a WHERE
// of conditions joined by AND — field op literal (=, !=, <, >, <=, >=),
// field IN (literals), field LIKE 'a%b', TONAME(field) = literal — and
// PAGESIZE n, PAGEOFFSET n. Strings are quoted with ' and escape \' and \\.
package vvtest

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Credentials the stand-in accepts.
const (
	Username = "agent@acme.com"
	Password = "s3cret"
)

// Record is one object record or document version.
type Record map[string]any

// Field is a field of an object as the metadata calls describe it.
type Field struct {
	Name, Type, Label string
}

// Server is the stand-in.
type Server struct {
	*fakeapi.Server

	mu        sync.Mutex
	objects   map[string][]Field
	data      map[string][]Record
	session   string
	logins    int
	queries   map[string]query
	limited   int
	malformed map[string]bool
	onePage   map[string]bool
	burst     int
	requests  fakeapi.Log
}

type query struct {
	rows   []Record
	fields []string
	size   int
	noNext bool
}

// New starts a stand-in with a documents entity (id, name__v, type__v,
// major/minor version numbers, modified_date__v).
func New(t testing.TB) *Server {
	s := &Server{objects: map[string][]Field{}, data: map[string][]Record{}, queries: map[string]query{}, malformed: map[string]bool{}, onePage: map[string]bool{}, burst: 2000}
	s.objects["documents"] = []Field{{"id", "id", "ID"}, {"name__v", "String", "Name"}, {"type__v", "String", "Type"},
		{"major_version_number__v", "Number", "Major"}, {"minor_version_number__v", "Number", "Minor"},
		{"modified_date__v", "DateTime", "Last Modified Date"}}
	s.Server = fakeapi.StartFunc(t, s.serve) // URL is the Vault's address (the profile's instanceUrl)
	return s
}

// Object declares an object and its fields.
func (s *Server) Object(name string, fields ...Field) {
	s.mu.Lock()
	s.objects[name] = fields
	s.mu.Unlock()
}

// Add stores records of an object (or "documents"; a document record with
// "latest": false is an older version).
func (s *Server) Add(object string, recs ...Record) {
	s.mu.Lock()
	s.data[object] = append(s.data[object], recs...)
	s.mu.Unlock()
}

// Expire ends the current session: its next use is INVALID_SESSION_ID.
func (s *Server) Expire() { s.mu.Lock(); s.session = ""; s.mu.Unlock() }

// Limit answers the next n calls with API_LIMIT_EXCEEDED.
func (s *Server) Limit(n int) { s.mu.Lock(); s.limited = n; s.mu.Unlock() }

// Malformed makes queries of an object answer a body that is not JSON.
func (s *Server) Malformed(object string) { s.mu.Lock(); s.malformed[object] = true; s.mu.Unlock() }

// NoNextPage answers an object's queries without next_page, as Vault does
// for users, events and legacy workflows: PAGEOFFSET pages them.
func (s *Server) NoNextPage(object string) { s.mu.Lock(); s.onePage[object] = true; s.mu.Unlock() }

// Burst sets the burst limit the answers' headers count down from (2000).
func (s *Server) Burst(n int) { s.mu.Lock(); s.burst = n; s.mu.Unlock() }

// Logins counts successful logins.
func (s *Server) Logins() int { s.mu.Lock(); defer s.mu.Unlock(); return s.logins }

// Requests lists the calls: "POST /api/v23.1/query q=..." or method and URI.
func (s *Server) Requests() []string { return s.requests.Lines() }

func reply(w http.ResponseWriter, v any) {
	fakeapi.WriteJSON(w, http.StatusOK, v)
}

func failure(w http.ResponseWriter, typ, msg string) {
	reply(w, map[string]any{"responseStatus": "FAILURE", "errors": []map[string]string{{"type": typ, "message": msg}}})
}

var apiPath = regexp.MustCompile(`^/api/v\d+\.\d+(/.*)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = r.ParseForm()
	entry := r.Method + " " + r.URL.RequestURI()
	if q := r.PostForm.Get("q"); q != "" {
		entry += " q=" + q
	}
	s.requests.Add(entry)
	m := apiPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	path := m[1]
	w.Header().Set("X-VaultAPI-BurstLimit", strconv.Itoa(s.burst))
	w.Header().Set("X-VaultAPI-BurstLimitRemaining", strconv.Itoa(max(0, s.burst-s.requests.Len())))
	if path == "/auth" {
		if r.Method != http.MethodPost || r.PostForm.Get("username") != Username || r.PostForm.Get("password") != Password {
			failure(w, "USERNAME_OR_PASSWORD_INCORRECT", "Authentication failed for user: "+r.PostForm.Get("username"))
			return
		}
		s.logins++
		s.session = fmt.Sprintf("S%d", s.logins)
		reply(w, map[string]any{"responseStatus": "SUCCESS", "sessionId": s.session, "userId": 7, "vaultId": 11,
			"vaultIds": []map[string]any{{"id": 11, "name": "Test", "url": s.URL() + "/api"}}})
		return
	}
	if s.session == "" || r.Header.Get("Authorization") != s.session {
		failure(w, "INVALID_SESSION_ID", "Invalid or expired session ID.")
		return
	}
	if s.limited > 0 {
		s.limited--
		failure(w, "API_LIMIT_EXCEEDED", "API limit exceeded")
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "/metadata/vobjects":
		var objs []map[string]string
		for _, n := range sortedKeys(s.objects) {
			if n != "documents" {
				objs = append(objs, map[string]string{"name": n, "label": n, "url": "/api/v23.1/metadata/vobjects/" + n})
			}
		}
		reply(w, map[string]any{"responseStatus": "SUCCESS", "objects": objs})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/metadata/vobjects/"):
		name := strings.TrimPrefix(path, "/metadata/vobjects/")
		fs, ok := s.objects[name]
		if !ok || name == "documents" {
			failure(w, "INVALID_DATA", "Object not found: "+name)
			return
		}
		reply(w, map[string]any{"responseStatus": "SUCCESS", "object": map[string]any{"name": name, "fields": describe(fs)}})
	case r.Method == http.MethodGet && path == "/metadata/objects/documents/properties":
		props := describe(s.objects["documents"])
		for _, p := range props {
			p["queryable"] = true
		}
		reply(w, map[string]any{"responseStatus": "SUCCESS", "properties": props})
	case path == "/query":
		if r.Method != http.MethodPost {
			failure(w, "METHOD_NOT_SUPPORTED", "Use POST")
			return
		}
		s.query(w, r.PostForm.Get("q"))
	case strings.HasPrefix(path, "/query/"):
		if r.Method != http.MethodPost {
			failure(w, "METHOD_NOT_SUPPORTED", "next_page is called with POST")
			return
		}
		id := strings.TrimPrefix(path, "/query/")
		q, ok := s.queries[id]
		if !ok {
			failure(w, "INVALID_DATA", "Query not found or expired")
			return
		}
		offset, _ := strconv.Atoi(r.URL.Query().Get("pageoffset"))
		s.page(w, id, q, offset)
	default:
		failure(w, "MALFORMED_URL", "The specified resource cannot be found.")
	}
}

func describe(fs []Field) []map[string]any {
	var out []map[string]any
	for _, f := range fs {
		out = append(out, map[string]any{"name": f.Name, "type": f.Type, "label": f.Label, "required": f.Name == "id"})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Server) page(w http.ResponseWriter, id string, q query, offset int) {
	end := min(offset+q.size, len(q.rows))
	data := []map[string]any{}
	for _, rec := range q.rows[offset:end] {
		row := map[string]any{}
		for _, f := range q.fields {
			row[f] = rec[f]
		}
		data = append(data, row)
	}
	details := map[string]any{"pagesize": q.size, "pageoffset": offset, "size": len(data), "total": len(q.rows)}
	if end < len(q.rows) && !q.noNext {
		details["next_page"] = fmt.Sprintf("/api/v23.1/query/%s?pagesize=%d&pageoffset=%d", id, q.size, end)
	}
	if offset > 0 && !q.noNext {
		details["previous_page"] = fmt.Sprintf("/api/v23.1/query/%s?pagesize=%d&pageoffset=%d", id, q.size, max(0, offset-q.size))
	}
	reply(w, map[string]any{"responseStatus": "SUCCESS", "responseDetails": details, "data": data})
}

func (s *Server) query(w http.ResponseWriter, vql string) {
	p := &parser{toks: tokenize(vql)}
	fields, from, all, conds, size, offset, err := p.parse()
	if err != nil {
		failure(w, "MALFORMED_URL", "VQL: "+err.Error())
		return
	}
	known, ok := s.objects[from]
	if !ok {
		failure(w, "INVALID_DATA", "Invalid query target: "+from)
		return
	}
	for _, f := range fields {
		if !hasField(known, f) && !s.seeded(from, f) {
			failure(w, "INVALID_DATA", "Unknown field: "+f)
			return
		}
	}
	if s.malformed[from] {
		fakeapi.WriteRawJSON(w, http.StatusOK, `{"responseStatus":"SUCCESS","data":[{`)
		return
	}
	var rows []Record
	for _, rec := range s.data[from] {
		if from == "documents" && !all && rec["latest"] == false {
			continue
		}
		keep := true
		for _, c := range conds {
			if !c(rec) {
				keep = false
				break
			}
		}
		if keep {
			rows = append(rows, rec)
		}
	}
	if size <= 0 {
		size = 1000
	}
	id := fmt.Sprintf("q-%d", len(s.queries)+1)
	q := query{rows: rows, fields: fields, size: size, noNext: s.onePage[from]}
	s.queries[id] = q
	s.page(w, id, q, min(offset, len(rows)))
}

func hasField(fs []Field, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// seeded lets an object carry fields it was seeded with but not declared.
func (s *Server) seeded(object, field string) bool {
	for _, r := range s.data[object] {
		if _, ok := r[field]; ok {
			return true
		}
	}
	return false
}

// ---- a small VQL reader ----

type token struct {
	text   string
	quoted bool
}

func tokenize(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t':
			i++
		case c == '\'':
			var b strings.Builder
			i++
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
				i++
			}
			i++
			out = append(out, token{b.String(), true})
		case strings.ContainsRune("(),", rune(c)):
			out = append(out, token{string(c), false})
			i++
		case strings.ContainsRune("<>=!", rune(c)):
			j := i + 1
			for j < len(s) && strings.ContainsRune("<>=", rune(s[j])) {
				j++
			}
			out = append(out, token{s[i:j], false})
			i = j
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \n\t'(),<>=!", rune(s[j])) {
				j++
			}
			out = append(out, token{s[i:j], false})
			i = j
		}
	}
	return out
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) next() token {
	if p.i >= len(p.toks) {
		return token{}
	}
	t := p.toks[p.i]
	p.i++
	return t
}

func (p *parser) peek() token {
	if p.i >= len(p.toks) {
		return token{}
	}
	return p.toks[p.i]
}

func (p *parser) keyword(k string) bool {
	if t := p.peek(); !t.quoted && strings.EqualFold(t.text, k) {
		p.i++
		return true
	}
	return false
}

func (p *parser) parse() (fields []string, from string, all bool, conds []func(Record) bool, size, offset int, err error) {
	if !p.keyword("SELECT") {
		return nil, "", false, nil, 0, 0, fmt.Errorf("expected SELECT")
	}
	for {
		fields = append(fields, p.next().text)
		if !p.keyword(",") {
			break
		}
	}
	if !p.keyword("FROM") {
		return nil, "", false, nil, 0, 0, fmt.Errorf("expected FROM")
	}
	all = p.keyword("ALLVERSIONS")
	from = p.next().text
	if p.keyword("WHERE") {
		for {
			c, err := p.condition()
			if err != nil {
				return nil, "", false, nil, 0, 0, err
			}
			conds = append(conds, c)
			if !p.keyword("AND") {
				break
			}
		}
	}
	if p.keyword("PAGESIZE") {
		size, err = strconv.Atoi(p.next().text)
		if err != nil {
			return nil, "", false, nil, 0, 0, fmt.Errorf("bad PAGESIZE")
		}
	}
	if p.keyword("PAGEOFFSET") {
		offset, err = strconv.Atoi(p.next().text)
		if err != nil {
			return nil, "", false, nil, 0, 0, fmt.Errorf("bad PAGEOFFSET")
		}
	}
	if t := p.peek(); t.text != "" {
		return nil, "", false, nil, 0, 0, fmt.Errorf("unexpected %q", t.text)
	}
	return fields, from, all, conds, size, offset, nil
}

func (p *parser) condition() (func(Record) bool, error) {
	field := p.next().text
	if strings.EqualFold(field, "TONAME") {
		p.next() // (
		field = p.next().text
		p.next() // )
	}
	op := p.next()
	switch {
	case strings.EqualFold(op.text, "IN"):
		if p.next().text != "(" {
			return nil, fmt.Errorf("expected ( after IN")
		}
		var vals []token
		for {
			vals = append(vals, p.next())
			if t := p.next().text; t == ")" {
				break
			} else if t != "," {
				return nil, fmt.Errorf("bad IN list")
			}
		}
		return func(r Record) bool {
			for _, v := range vals {
				if compare(r[field], v) == 0 {
					return true
				}
			}
			return false
		}, nil
	case strings.EqualFold(op.text, "LIKE"):
		pat := p.next().text
		re := regexp.MustCompile("(?is)^" + strings.ReplaceAll(regexp.QuoteMeta(pat), "%", ".*") + "$")
		return func(r Record) bool { return r[field] != nil && re.MatchString(fmt.Sprint(r[field])) }, nil
	}
	v := p.next()
	if v.text == "" && !v.quoted {
		return nil, fmt.Errorf("missing value after %s %s", field, op.text)
	}
	test := map[string]func(int) bool{"=": func(c int) bool { return c == 0 }, "!=": func(c int) bool { return c != 0 },
		"<": func(c int) bool { return c < 0 }, ">": func(c int) bool { return c > 0 },
		"<=": func(c int) bool { return c <= 0 }, ">=": func(c int) bool { return c >= 0 }}[op.text]
	if test == nil {
		return nil, fmt.Errorf("unknown operator %q", op.text)
	}
	return func(r Record) bool { return r[field] != nil && test(compare(r[field], v)) }, nil
}

// compare orders a stored value and a literal: numbers as numbers, the
// rest as text (ISO dates order as text).
func compare(stored any, lit token) int {
	if !lit.quoted {
		a, err1 := strconv.ParseFloat(fmt.Sprint(stored), 64)
		b, err2 := strconv.ParseFloat(lit.text, 64)
		if err1 == nil && err2 == nil {
			switch {
			case a < b:
				return -1
			case a > b:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(fmt.Sprint(stored), lit.text)
}
