// Package odatatest is a stand-in for an SAP Gateway serving one OData v2
// service, after the documented API (connectors-saas-2 §8.5): the
// catalog service's ServiceCollection, the service document, $metadata
// (EDMX with SAP annotations), entity-set reads with $select, $filter (the
// operators the driver pushes: eq, ne, lt, le, gt, ge, and, or,
// parentheses, substringof), $top/$skip and server-driven paging through
// d.__next with $skiptoken, HTTP Basic and OAuth bearer tokens from the
// AS ABAP token endpoint, and v2 error bodies. Writes (CSRF tokens,
// session cookies, POST/MERGE/PATCH/PUT/DELETE by key) are in writes.go.
//
// Assumptions where SAP documents nothing [U]: a refused logon answers 401
// with a v2 error body whose message is "Logon failed"; __next keeps the
// request's query options and replaces $skiptoken.
package odatatest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Fixed credentials and names.
const (
	User         = "u"
	Password     = "p"
	SAPClient    = "100"
	ClientID     = "appflow-client"
	ClientSecret = "appflow-secret"
	AuthCode     = "code-1"
	RedirectURI  = "https://console.example/oauth"
	CatalogPath  = "/sap/opu/odata/iwfnd/catalogservice;v=2"
	ServiceName  = "ZAPI_SO_SRV"
	ServicePath  = "/sap/opu/odata/sap/" + ServiceName
	TokenPath    = "/sap/bc/sec/oauth2/token"
)

// Prop is one property of an entity type.
type Prop struct {
	Name          string
	Type          string // Edm.String, Edm.Decimal, ...
	Key           bool
	NotFilterable bool
	// Generated keys are assigned by the server on create when the body
	// has none, as SAP number ranges do (1, 2, ...).
	Generated bool
}

// Set is an entity set with its type's properties and its rows, stored as
// SAP sends them (decimals and Int64 as strings, dates as "/Date(ms)/").
type Set struct {
	Name  string
	Props []Prop
	Navs  []string
	Rows  []map[string]any
	// ETags makes the set's entities ETag-protected, as SAP Gateway
	// services with concurrency control are: a change must carry If-Match
	// (the entity's ETag, or *), else 428; a stale ETag is 412.
	ETags    bool
	versions map[string]int // ETag version by key predicate
}

// Server is the fake SAP Gateway.
type Server struct {
	*fakeapi.Server

	mu        sync.Mutex
	sets      map[string]*Set
	order     []string
	pageSize  int
	tokens    map[string]bool // valid access tokens
	refresh   map[string]bool
	issued    int
	malformed map[string]bool
	fail      []int // statuses to answer the next requests with
	requests  fakeapi.Log
	calls     fakeapi.Log       // "METHOD URI" of every request
	csrf      map[string]string // valid CSRF token -> session id
	csrfN     int
	generated int
}

// New starts the fake with A_SalesOrder and A_SalesOrderItem (no rows)
// and a page size of 2.
func New(t testing.TB) *Server {
	s := &Server{sets: map[string]*Set{}, pageSize: 2, tokens: map[string]bool{}, refresh: map[string]bool{}, malformed: map[string]bool{}, csrf: map[string]string{}}
	s.Define(&Set{Name: "A_SalesOrder", Props: []Prop{
		{Name: "SalesOrder", Type: "Edm.String", Key: true},
		{Name: "SoldToParty", Type: "Edm.String"},
		{Name: "TotalNetAmount", Type: "Edm.Decimal"},
		{Name: "ItemCount", Type: "Edm.Int32"},
		{Name: "Released", Type: "Edm.Boolean"},
		{Name: "LastChangeDateTime", Type: "Edm.DateTimeOffset"},
		{Name: "CreationDate", Type: "Edm.DateTime"},
		{Name: "Notes", Type: "Edm.String", NotFilterable: true},
	}, Navs: []string{"to_Item"}})
	s.Define(&Set{Name: "A_SalesOrderItem", Props: []Prop{
		{Name: "SalesOrder", Type: "Edm.String", Key: true},
		{Name: "SalesOrderItem", Type: "Edm.String", Key: true},
		{Name: "Material", Type: "Edm.String"},
		{Name: "RequestedQuantity", Type: "Edm.Decimal"},
	}})
	s.Server = fakeapi.StartFunc(t, s.serve)
	return s
}

// Port is the server's port.
func (s *Server) Port() int {
	u, _ := url.Parse(s.URL())
	p, _ := strconv.Atoi(u.Port())
	return p
}

// Define adds or replaces an entity set.
func (s *Server) Define(set *Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sets[set.Name]; !ok {
		s.order = append(s.order, set.Name)
	}
	s.sets[set.Name] = set
	delete(s.malformed, set.Name)
}

// Put appends rows to a set.
func (s *Server) Put(set string, rows ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets[set].Rows = append(s.sets[set].Rows, rows...)
}

// SetPageSize sets the server-driven page size; 0: no server paging.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// Malformed makes reads of set answer a truncated JSON body.
func (s *Server) Malformed(set string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.malformed[set] = true
}

// Fail answers the next len(statuses) requests with those statuses (503
// and 429 carry Retry-After: 1) and a v2 error body.
func (s *Server) Fail(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, statuses...)
}

// ExpireTokens makes every issued access token invalid.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
}

// Requests returns the request URIs (path and raw query) received, the
// token endpoint excluded.
func (s *Server) Requests() []string { return s.requests.Lines() }

// ResetRequests forgets the requests received so far (Requests and Calls).
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Reset()
	s.calls.Reset()
}

// sapError writes a v2 error body.
func sapError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": map[string]string{"lang": "en", "value": msg},
		"innererror": map[string]any{"transactionid": "4FDF0D5E2F1A4A8E", "timestamp": "20240101000000.0000000",
			"errordetails": []map[string]string{{"code": code, "message": msg, "propertyref": "", "severity": "error"}}},
	}})
	w.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == TokenPath {
		s.token(w, r)
		return
	}
	s.mu.Lock()
	s.requests.Add(r.URL.RequestURI())
	s.calls.Add(r.Method + " " + r.URL.RequestURI())
	var status int
	if len(s.fail) > 0 {
		status, s.fail = s.fail[0], s.fail[1:]
	}
	s.mu.Unlock()
	if status != 0 {
		sapError(w, status, "/IWFND/CM_BEC/026", http.StatusText(status))
		return
	}
	if !s.authorized(r) {
		sapError(w, http.StatusUnauthorized, "/IWFND/CM_CONSUMER/101", "Logon failed")
		return
	}
	if r.URL.Query().Get("sap-client") != SAPClient {
		sapError(w, http.StatusBadRequest, "/IWFND/CM_CONSUMER/102", "Client "+r.URL.Query().Get("sap-client")+" is not available in this system")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.modify(w, r)
		return
	}
	if strings.EqualFold(r.Header.Get("X-CSRF-Token"), "Fetch") {
		s.issueCSRF(w)
	}
	switch p := r.URL.Path; {
	case p == CatalogPath+"/":
		writeJSON(w, map[string]any{"d": map[string]any{"EntitySets": []string{"ServiceCollection", "EntitySetCollection"}}})
	case p == CatalogPath+"/ServiceCollection":
		writeJSON(w, map[string]any{"d": map[string]any{"results": []map[string]any{{
			"ID": ServiceName + "_0001", "TechnicalServiceName": ServiceName, "TechnicalServiceVersion": 1,
			"Title": "Sales orders", "ServiceUrl": s.URL() + ServicePath, "MetadataUrl": s.URL() + ServicePath + "/$metadata",
		}}}})
	case p == ServicePath+"/" || p == ServicePath:
		s.mu.Lock()
		names := append([]string(nil), s.order...)
		s.mu.Unlock()
		writeJSON(w, map[string]any{"d": map[string]any{"EntitySets": names}})
	case p == ServicePath+"/$metadata":
		w.Header().Set("Content-Type", "application/xml")
		w.Write([]byte(s.metadata()))
	case strings.HasPrefix(p, ServicePath+"/") && strings.HasSuffix(p, "/$count"):
		s.count(w, r, strings.TrimSuffix(strings.TrimPrefix(p, ServicePath+"/"), "/$count"))
	case strings.HasPrefix(p, ServicePath+"/"):
		s.read(w, r, strings.TrimPrefix(p, ServicePath+"/"))
	default:
		sapError(w, http.StatusNotFound, "/IWFND/MED/170", "No service found for namespace '', name '"+p+"', version '0001'")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(v)
	w.Write(b)
}

func (s *Server) authorized(r *http.Request) bool {
	if u, p, ok := r.BasicAuth(); ok {
		return u == User && p == Password
	}
	tok, ok := fakeapi.Bearer(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok && s.tokens[tok]
}

// token is the AS ABAP OAuth 2.0 token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if r.Method != http.MethodPost || !ok || id != ClientID || secret != ClientSecret || r.URL.Query().Get("sap-client") != SAPClient {
		fakeapi.WriteRawJSON(w, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"Client authentication failed"}`)
		return
	}
	r.ParseForm()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch g := r.PostForm.Get("grant_type"); {
	case g == "authorization_code" && r.PostForm.Get("code") == AuthCode:
	case g == "refresh_token" && s.refresh[r.PostForm.Get("refresh_token")]:
	default:
		fakeapi.WriteRawJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Authorization code or refresh token invalid"}`)
		return
	}
	s.issued++
	at, rt := fmt.Sprintf("access-%d", s.issued), fmt.Sprintf("refresh-%d", s.issued)
	s.tokens[at], s.refresh[rt] = true, true
	writeJSON(w, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600, "refresh_token": rt, "scope": ServiceName + "_0001"})
}

// AccessToken issues a valid access token directly.
func (s *Server) AccessToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued++
	at := fmt.Sprintf("access-%d", s.issued)
	s.tokens[at] = true
	return at
}

// RefreshToken issues a valid refresh token directly.
func (s *Server) RefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued++
	rt := fmt.Sprintf("refresh-%d", s.issued)
	s.refresh[rt] = true
	return rt
}

func (s *Server) metadata() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var types, sets strings.Builder
	for _, n := range s.order {
		set := s.sets[n]
		fmt.Fprintf(&types, `<EntityType Name="%sType" sap:content-version="1"><Key>`, n)
		for _, p := range set.Props {
			if p.Key {
				fmt.Fprintf(&types, `<PropertyRef Name="%s"/>`, p.Name)
			}
		}
		types.WriteString(`</Key>`)
		for _, p := range set.Props {
			extra := ""
			if p.NotFilterable {
				extra = ` sap:filterable="false"`
			}
			if p.Key {
				extra += ` Nullable="false" sap:updatable="false"`
			}
			fmt.Fprintf(&types, `<Property Name="%s" Type="%s" sap:label="%s label"%s/>`, p.Name, p.Type, p.Name, extra)
		}
		for _, nav := range set.Navs {
			fmt.Fprintf(&types, `<NavigationProperty Name="%s" Relationship="%s.assoc_%s" FromRole="FromRole" ToRole="ToRole"/>`, nav, ServiceName, nav)
		}
		types.WriteString(`</EntityType>`)
		fmt.Fprintf(&sets, `<EntitySet Name="%s" EntityType="%s.%sType" sap:creatable="true" sap:updatable="true" sap:deletable="true" sap:pageable="true" sap:content-version="1"/>`, n, ServiceName, n)
	}
	return `<?xml version="1.0" encoding="utf-8"?>` +
		`<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" xmlns:sap="http://www.sap.com/Protocols/SAPData">` +
		`<edmx:DataServices m:DataServiceVersion="2.0"><Schema Namespace="` + ServiceName + `" xml:lang="en" sap:schema-version="1" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">` +
		types.String() +
		`<EntityContainer Name="` + ServiceName + `_Entities" m:IsDefaultEntityContainer="true" sap:supported-formats="atom json xlsx">` + sets.String() + `</EntityContainer>` +
		`</Schema></edmx:DataServices></edmx:Edmx>`
}

// count answers GET {service}/{Set}/$count: the number of rows that pass
// $filter, as plain text (OData v2 URI conventions, $count).
func (s *Server) count(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	set := s.sets[name]
	var rows []map[string]any
	if set != nil {
		rows = append(rows, set.Rows...)
	}
	s.mu.Unlock()
	if set == nil {
		sapError(w, http.StatusNotFound, "/IWBEP/CM_MGW_RT/021", "Resource not found for segment '"+name+"'")
		return
	}
	props := map[string]Prop{}
	for _, p := range set.Props {
		props[p.Name] = p
	}
	n := len(rows)
	if f := r.URL.Query().Get("$filter"); f != "" {
		pred, err := parseFilter(f, props)
		if err != nil {
			sapError(w, http.StatusBadRequest, "/IWBEP/CM_MGW_RT/022", err.Error())
			return
		}
		n = 0
		for _, row := range rows {
			if pred(row) {
				n++
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, n)
}

// read answers GET {service}/{Set} with the query options above.
func (s *Server) read(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	set := s.sets[name]
	pageSize := s.pageSize
	bad := s.malformed[name]
	var rows []map[string]any
	if set != nil {
		rows = append(rows, set.Rows...)
	}
	s.mu.Unlock()
	if set == nil {
		sapError(w, http.StatusNotFound, "/IWBEP/CM_MGW_RT/021", "Resource not found for segment '"+name+"'")
		return
	}
	if bad {
		fakeapi.WriteRawJSON(w, http.StatusOK, `{"d":{"results":[{"SalesOrder":"1",`)
		return
	}
	q := r.URL.Query()
	if q.Get("$format") != "json" && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		sapError(w, http.StatusNotAcceptable, "/IWFND/CM_MGW/005", "Only JSON is served here")
		return
	}
	props := map[string]Prop{}
	for _, p := range set.Props {
		props[p.Name] = p
	}
	if f := q.Get("$filter"); f != "" {
		pred, err := parseFilter(f, props)
		if err != nil {
			sapError(w, http.StatusBadRequest, "/IWBEP/CM_MGW_RT/022", err.Error())
			return
		}
		var kept []map[string]any
		for _, row := range rows {
			if pred(row) {
				kept = append(kept, row)
			}
		}
		rows = kept
	}
	var sel []string
	if v := q.Get("$select"); v != "" {
		sel = strings.Split(v, ",")
		for _, f := range sel {
			if _, ok := props[f]; !ok {
				sapError(w, http.StatusBadRequest, "/IWBEP/CM_MGW_RT/004", "Property '"+f+"' not found in type '"+name+"Type'")
				return
			}
		}
	}
	next := ""
	// $skip and $top choose the rows; the server then pages them by its
	// own page size, __next carrying $skiptoken (an offset into what $top
	// and $skip chose). A page size of 0 is a service without server
	// paging: every row chosen comes in one answer.
	if q.Has("$top") || q.Has("$skip") {
		skip, _ := strconv.Atoi(q.Get("$skip"))
		top, err := strconv.Atoi(q.Get("$top"))
		if err != nil {
			top = len(rows)
		}
		rows = rows[min(skip, len(rows)):min(skip+top, len(rows))]
	}
	if pageSize > 0 {
		from, _ := strconv.Atoi(q.Get("$skiptoken"))
		if from > len(rows) {
			from = len(rows)
		}
		to := min(from+pageSize, len(rows))
		if to < len(rows) {
			nq := url.Values{}
			for k, v := range q {
				if k != "$skiptoken" {
					nq[k] = v
				}
			}
			nq.Set("$skiptoken", strconv.Itoa(to))
			next = s.URL() + r.URL.Path + "?" + nq.Encode()
		}
		rows = rows[from:to]
	}
	out := make([]map[string]any, 0, len(rows))
	for _, row := range rows {
		o := map[string]any{"__metadata": map[string]string{
			"uri":  s.URL() + ServicePath + "/" + name + "('" + fmt.Sprint(row[set.Props[0].Name]) + "')",
			"type": ServiceName + "." + name + "Type"}}
		if sel == nil {
			for _, p := range set.Props {
				o[p.Name] = row[p.Name]
			}
			for _, nav := range set.Navs {
				o[nav] = map[string]any{"__deferred": map[string]string{"uri": s.URL() + ServicePath + "/" + name + "/" + nav}}
			}
		} else {
			for _, f := range sel {
				o[f] = row[f]
			}
		}
		out = append(out, o)
	}
	d := map[string]any{"results": out}
	if next != "" {
		d["__next"] = next
	}
	if q.Get("$inlinecount") == "allpages" {
		d["__count"] = strconv.Itoa(len(set.Rows))
	}
	writeJSON(w, map[string]any{"d": d})
}

// --- $filter ---

type pred func(map[string]any) bool

type parser struct {
	toks  []string
	i     int
	props map[string]Prop
}

func parseFilter(s string, props map[string]Prop) (pred, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, props: props}
	f, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("Invalid token %q at position %d", p.toks[p.i], p.i)
	}
	return f, nil
}

func tokenize(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case c == '(' || c == ')' || c == ',':
			out = append(out, string(c))
			i++
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' && s[j] != ',' {
				if s[j] == '\'' {
					j++
					for {
						if j >= len(s) {
							return nil, fmt.Errorf("Unterminated string literal")
						}
						if s[j] == '\'' {
							if j+1 < len(s) && s[j+1] == '\'' {
								j += 2
								continue
							}
							break
						}
						j++
					}
				}
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	p.i++
	return t
}

func (p *parser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("Expected %q, found %q", t, got)
	}
	return nil
}

func (p *parser) or() (pred, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "or" {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a := l
		l = func(m map[string]any) bool { return a(m) || r(m) }
	}
	return l, nil
}

func (p *parser) and() (pred, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek() == "and" {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		a := l
		l = func(m map[string]any) bool { return a(m) && r(m) }
	}
	return l, nil
}

func (p *parser) prop(name string) (Prop, error) {
	pr, ok := p.props[name]
	if !ok {
		return pr, fmt.Errorf("Property '%s' not found", name)
	}
	if pr.NotFilterable {
		return pr, fmt.Errorf("Property '%s' is not filterable", name)
	}
	return pr, nil
}

func (p *parser) unary() (pred, error) {
	switch t := p.next(); t {
	case "(":
		f, err := p.or()
		if err != nil {
			return nil, err
		}
		return f, p.expect(")")
	case "substringof":
		if err := p.expect("("); err != nil {
			return nil, err
		}
		lit := p.next()
		if err := p.expect(","); err != nil {
			return nil, err
		}
		pr, err := p.prop(p.next())
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		if p.next() != "eq" || p.next() != "true" {
			return nil, fmt.Errorf("substringof must be compared eq true")
		}
		sub, ok := strLit(lit)
		if !ok || pr.Type != "Edm.String" {
			return nil, fmt.Errorf("Invalid parametertype used at function 'substringof'")
		}
		return func(m map[string]any) bool {
			v, _ := m[pr.Name].(string)
			return strings.Contains(v, sub)
		}, nil
	default:
		pr, err := p.prop(t)
		if err != nil {
			return nil, err
		}
		op := p.next()
		lit := p.next()
		want, err := literal(pr.Type, lit)
		if err != nil {
			return nil, err
		}
		switch op {
		case "eq", "ne", "lt", "le", "gt", "ge":
		default:
			return nil, fmt.Errorf("Invalid operator %q", op)
		}
		return func(m map[string]any) bool {
			got, ok := native(pr.Type, m[pr.Name])
			if !ok {
				return op == "ne"
			}
			c := compare(got, want)
			switch op {
			case "eq":
				return c == 0
			case "ne":
				return c != 0
			case "lt":
				return c < 0
			case "le":
				return c <= 0
			case "gt":
				return c > 0
			}
			return c >= 0
		}, nil
	}
}

func strLit(s string) (string, bool) {
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return "", false
	}
	return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), true
}

// literal parses an OData v2 literal of the Edm type to a float64, string,
// bool or int64 milliseconds.
func literal(edm, s string) (any, error) {
	bad := fmt.Errorf("Invalid literal %s for type %s", s, edm)
	switch edm {
	case "Edm.String":
		if v, ok := strLit(s); ok {
			return v, nil
		}
	case "Edm.Boolean":
		if s == "true" || s == "false" {
			return s == "true", nil
		}
	case "Edm.DateTime", "Edm.DateTimeOffset":
		prefix := "datetime"
		if edm == "Edm.DateTimeOffset" {
			prefix = "datetimeoffset"
		}
		if v, ok := strings.CutPrefix(s, prefix); ok {
			if v, ok := strLit(v); ok {
				for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
					if t, err := time.Parse(l, v); err == nil {
						return float64(t.UnixMilli()), nil
					}
				}
			}
		}
	default:
		suffix := map[string]string{"Edm.Decimal": "M", "Edm.Int64": "L", "Edm.Double": "d", "Edm.Single": "f"}[edm]
		v, ok := strings.CutSuffix(s, suffix)
		if suffix != "" && !ok {
			return nil, bad
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f, nil
		}
	}
	return nil, bad
}

// native converts a stored row value for comparison.
func native(edm string, v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case bool:
		return x, true
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		switch edm {
		case "Edm.String":
			return x, true
		case "Edm.DateTime", "Edm.DateTimeOffset":
			in := strings.TrimSuffix(strings.TrimPrefix(x, "/Date("), ")/")
			if i := strings.IndexAny(in[min(1, len(in)):], "+-"); i >= 0 {
				in = in[:i+1]
			}
			ms, err := strconv.ParseInt(in, 10, 64)
			return float64(ms), err == nil
		default:
			f, err := strconv.ParseFloat(x, 64)
			return f, err == nil
		}
	}
	return nil, false
}

func compare(a, b any) int {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return strings.Compare(x, y)
	case float64:
		y, _ := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y, _ := b.(bool)
		if x == y {
			return 0
		}
		return 1
	}
	return 2 // incomparable: only ne holds
}
