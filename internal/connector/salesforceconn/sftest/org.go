// Package sftest is a Salesforce org on loopback that follows Salesforce's
// public documentation, so the Salesforce connector is tested against the
// documented API, from its own tests and from end-to-end tests of the whole
// server. It shares no code with the connector (salesforceconn): its types,
// SOQL parser and CSV are its own, so a misreading of the docs in one does
// not hide in the other.
//
//   - OAuth 2.0 token endpoint /services/oauth2/token on the org's My Domain
//     (refresh_token, authorization_code, client_credentials grants, and
//     the JWT bearer grant in jwt.go; {"error", "error_description"}
//     bodies): Salesforce Help, "OAuth 2.0 Refresh Token Flow", "OAuth 2.0
//     Web Server Flow", "OAuth 2.0 Client Credentials Flow", "OAuth 2.0 JWT
//     Bearer Flow for Server-to-Server Integration".
//   - Error bodies [{"message", "errorCode"}], 401 INVALID_SESSION_ID,
//     403 REQUEST_LIMIT_EXCEEDED, Sforce-Limit-Info: api-usage=n/max:
//     REST API Developer Guide, "Status Codes and Error Responses",
//     "Limit Info Header".
//   - /limits, /sobjects (describeGlobal), /sobjects/X/describe, /query and
//     /queryAll with totalSize/done/nextRecordsUrl paging and records
//     carrying "attributes": REST API Developer Guide, "Limits", "Describe
//     Global", "sObject Describe", "Query", "QueryAll".
//   - /composite/sobjects (POST create, PATCH update, PATCH
//     /composite/sobjects/X/ExtId upsert, DELETE ?ids=) with allOrNone and
//     per-record {id, success, errors[{statusCode, message, fields}]}:
//     REST API Developer Guide, "sObject Collections".
//   - Bulk API 2.0 /jobs/query (UploadComplete -> InProgress -> JobComplete,
//     CSV results paged by Sforce-Locator, "null" on the last set) and
//     /jobs/ingest (Open, PUT /batches text/csv, PATCH UploadComplete,
//     InProgress, JobComplete, failedResults with sf__Id, sf__Error):
//     Bulk API 2.0 Developer Guide, "Create a Query Job", "Get Results for a
//     Query Job", "Create a Job", "Upload Job Data", "Close or Abort a Job",
//     "Get Job Failed Record Results".
//   - Change Data Capture over the Streaming API (CometD long polling on
//     /cometd/<version>): see cometd.go.
//   - SOQL WHERE: =, !=, <, <=, >, >=, LIKE (case-insensitive, % and _),
//     IN, NOT IN, AND, OR, NOT, parentheses; quoted strings with backslash
//     escapes; unquoted YYYY-MM-DD and YYYY-MM-DDThh:mm:ssZ literals: SOQL
//     and SOSL Reference, "Comparison Operators", "Quoted String Escape
//     Sequences", "Date Formats and Date Literals".
//
// Deviation: field names match case-sensitively (Salesforce ignores case),
// so the conformance suite's lower-case "id" column is a custom field of
// its own rather than the record Id.
package sftest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// APIVersion is the REST API version the org serves.
const APIVersion = "v58.0"

// VersionPrefix is the path under which the org serves its data API.
const VersionPrefix = "/services/data/" + APIVersion

// The org's connected app and the tokens it starts with.
const (
	ClientID     = "appflowd-client"
	ClientSecret = "s3cret"
	AccessToken  = "00D!initial"
	RefreshToken = "refresh-1"
)

// Field is a describe result's field (REST API Developer Guide, sObject
// Describe; SOAP API Developer Guide, DescribeSObjectResult Field).
type Field struct {
	Name              string `json:"name"`
	Label             string `json:"label"`
	Type              string `json:"type"`
	Nillable          bool   `json:"nillable"`
	Createable        bool   `json:"createable"`
	Updateable        bool   `json:"updateable"`
	Filterable        bool   `json:"filterable"`
	IDLookup          bool   `json:"idLookup"`
	ExternalID        bool   `json:"externalId"`
	DefaultedOnCreate bool   `json:"defaultedOnCreate"`
	Calculated        bool   `json:"calculated"`
	CompoundFieldName string `json:"compoundFieldName,omitempty"`
	Deprecated        bool   `json:"deprecatedAndHidden"`
	PicklistValues    []struct {
		Value  string `json:"value"`
		Active bool   `json:"active"`
	} `json:"picklistValues"`
}

// F is a plain nillable, createable, updateable field of type typ
// (filterable unless a textarea, as in Salesforce).
func F(name, typ string) Field {
	return Field{Name: name, Label: name, Type: typ, Nillable: true, Createable: true, Updateable: true, Filterable: typ != "textarea"}
}

// Describe is an sObject describe result, the parts the org serves.
type Describe struct {
	Name       string  `json:"name"`
	Label      string  `json:"label"`
	Queryable  bool    `json:"queryable"`
	Createable bool    `json:"createable"`
	Fields     []Field `json:"fields"`
}

func (d *Describe) field(name string) *Field {
	for i := range d.Fields {
		if d.Fields[i].Name == name {
			return &d.Fields[i]
		}
	}
	return nil
}

// Err is a Salesforce error: errorCode (statusCode in per-record results),
// message and the fields concerned.
type Err struct {
	Code, Msg string
	Fields    []string
}

// Object is one sObject type of the org.
type Object struct {
	org       *Org
	desc      Describe
	records   []map[string]any // values: string, float64, bool, time.Time, nil; "Id" and "IsDeleted" always
	malformed bool             // query responses are cut short
	validate  func(rec map[string]any) *Err
}

// Validate installs a validation rule: a write whose merged record gets a
// non-nil Err fails with it.
func (obj *Object) Validate(fn func(rec map[string]any) *Err) {
	obj.org.mu.Lock()
	defer obj.org.mu.Unlock()
	obj.validate = fn
}

// Malformed makes query responses on this object cut short.
func (obj *Object) Malformed() {
	obj.org.mu.Lock()
	defer obj.org.mu.Unlock()
	obj.malformed = true
}

// AddField adds a field to the describe.
func (obj *Object) AddField(f Field) {
	obj.org.mu.Lock()
	defer obj.org.mu.Unlock()
	obj.desc.Fields = append(obj.desc.Fields, f)
}

// SoftDelete moves the i-th record inserted into the recycle bin
// (IsDeleted), where only queryAll sees it.
func (obj *Object) SoftDelete(i int) {
	obj.org.mu.Lock()
	defer obj.org.mu.Unlock()
	obj.records[i]["IsDeleted"] = true
	obj.org.publish(obj, "DELETE", obj.records[i], nil)
}

type job struct {
	id, kind, op, object, extID, state string
	query                              string
	polls                              int
	header                             []string
	rows                               [][]string
	data                               []byte
	processed, failed                  int64
	failedRows                         [][]string
}

// Org is a fake Salesforce org served over HTTP on loopback.
type Org struct {
	*fakeapi.Server

	mu           sync.Mutex
	clientID     string
	clientSecret string
	access       map[string]bool
	refresh      map[string]bool
	codes        map[string]bool
	objects      map[string]*Object
	cursors      map[string][]map[string]any
	cursorFields map[string][]string
	jobs         map[string]*job
	seq          int
	restPage     int
	apiUsed      int
	expireAfter  int // > 0: data requests left before every session times out
	// inject, when set, may answer a data request itself (fault injection).
	inject func(r *http.Request) (status int, body string, ok bool)
	log    fakeapi.Log
	jwt    jwtState // the JWT bearer flow (jwt.go)
	cdc    cdcState // change events and CometD clients (cometd.go)
}

// NewOrg starts an org, closed when the test ends. Its connected app is
// ClientID/ClientSecret; AccessToken and RefreshToken are valid.
func NewOrg(t testing.TB) *Org {
	o := &Org{clientID: ClientID, clientSecret: ClientSecret,
		access: map[string]bool{AccessToken: true}, refresh: map[string]bool{RefreshToken: true}, codes: map[string]bool{},
		objects: map[string]*Object{}, cursors: map[string][]map[string]any{}, cursorFields: map[string][]string{},
		jobs: map[string]*job{}, restPage: 2000, cdc: newCDCState()}
	o.Server = fakeapi.StartFunc(t, o.serve) // URL is the org's instance URL (its My Domain)
	return o
}

func (o *Org) next() int { o.seq++; return o.seq }

// ExpireTokens makes every access token invalid, as a session timeout does.
func (o *Org) ExpireTokens() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.access = map[string]bool{}
}

// ExpireAfter lets n more authenticated data requests through, then times
// out every session: the n+1st request gets 401 INVALID_SESSION_ID.
func (o *Org) ExpireAfter(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.expireAfter = n + 1
}

// AddCode makes code a valid one-time authorization code.
func (o *Org) AddCode(code string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes[code] = true
}

// SetClient changes the connected app's consumer key and secret.
func (o *Org) SetClient(id, secret string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clientID, o.clientSecret = id, secret
}

// SetRESTPage sets how many records a REST query page holds (default 2000).
func (o *Org) SetRESTPage(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.restPage = n
}

// Inject installs fault injection: fn sees every authenticated data request
// and may answer it itself (ok true) with a status and a JSON body.
func (o *Org) Inject(fn func(r *http.Request) (status int, body string, ok bool)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inject = fn
}

// Logged counts the requests, "METHOD /path", starting with prefix.
func (o *Org) Logged(prefix string) int {
	return o.log.Count(func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// Log is every request so far, "METHOD /path".
func (o *Org) Log() []string { return o.log.Lines() }

// AddObject adds a queryable, createable object with Id, IsDeleted and
// fields.
func (o *Org) AddObject(name string, fields ...Field) *Object {
	o.mu.Lock()
	defer o.mu.Unlock()
	all := append([]Field{
		{Name: "Id", Label: "Record ID", Type: "id", Filterable: true, IDLookup: true, DefaultedOnCreate: true},
		{Name: "IsDeleted", Label: "Deleted", Type: "boolean", Filterable: true, DefaultedOnCreate: true},
	}, fields...)
	obj := &Object{org: o, desc: Describe{Name: name, Label: name, Queryable: true, Createable: true, Fields: all}}
	o.objects[name] = obj
	return obj
}

// Insert stores records as given (values string, float64, bool, time.Time
// or nil, typed as the describe says) and returns their Ids.
func (o *Org) Insert(object string, recs ...map[string]any) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj := o.objects[object]
	var ids []string
	for _, r := range recs {
		rec := map[string]any{"IsDeleted": false}
		for k, v := range r {
			rec[k] = v
		}
		if _, ok := rec["Id"]; !ok {
			rec["Id"] = fmt.Sprintf("a0%016d", o.next())
		}
		obj.records = append(obj.records, rec)
		ids = append(ids, rec["Id"].(string))
		o.publish(obj, "CREATE", rec, nil)
	}
	return ids
}

// Live returns copies of the object's records that are not in the recycle
// bin, in insertion order.
func (o *Org) Live(object string) []map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []map[string]any
	if obj := o.objects[object]; obj != nil {
		for _, r := range obj.records {
			if r["IsDeleted"] != true {
				c := make(map[string]any, len(r))
				for k, v := range r {
					c[k] = v
				}
				out = append(out, c)
			}
		}
	}
	return out
}

// CheckSOQL parses q as the org would, for tests of generated SOQL.
func CheckSOQL(q string) error {
	_, err := parseSOQL(q)
	return err
}

var writeJSON = fakeapi.JSONAs("application/json;charset=UTF-8")

func sfError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, []map[string]any{{"message": msg, "errorCode": code}})
}

func (o *Org) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.log.Add(r.Method + " " + r.URL.Path)
	o.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/cometd/") {
		o.cometd(w, r)
		return
	}
	if r.URL.Path == "/services/oauth2/token" {
		o.token(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, VersionPrefix+"/") {
		sfError(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	o.mu.Lock()
	if o.expireAfter > 0 {
		if o.expireAfter--; o.expireAfter == 0 {
			o.access = map[string]bool{} // the session times out now
		}
	}
	ok := o.access[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	inject := o.inject
	o.mu.Unlock()
	if !ok {
		sfError(w, 401, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	if inject != nil {
		if status, body, ok := inject(r); ok {
			fakeapi.WriteRawJSON(w, status, body)
			return
		}
	}
	o.mu.Lock()
	o.apiUsed++
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/15000", o.apiUsed))
	o.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, VersionPrefix)
	parts := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case p == "/limits":
		writeJSON(w, 200, map[string]any{"DailyApiRequests": map[string]int{"Max": 15000, "Remaining": 15000 - o.apiUsed}})
	case p == "/sobjects":
		o.describeGlobal(w)
	case len(parts) == 3 && parts[0] == "sobjects" && parts[2] == "describe":
		o.mu.Lock()
		obj := o.objects[parts[1]]
		o.mu.Unlock()
		if obj == nil {
			sfError(w, 404, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		writeJSON(w, 200, obj.desc)
	case p == "/query" || p == "/queryAll":
		o.query(w, r.URL.Query().Get("q"), p == "/queryAll")
	case len(parts) == 2 && (parts[0] == "query" || parts[0] == "queryAll"):
		o.queryMore(w, parts[1])
	case parts[0] == "composite" && len(parts) >= 2 && parts[1] == "sobjects":
		o.collections(w, r, parts[2:])
	case parts[0] == "jobs" && len(parts) >= 2:
		o.jobsAPI(w, r, parts[1], parts[2:])
	default:
		sfError(w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (o *Org) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	o.mu.Lock()
	defer o.mu.Unlock()
	oauthErr := func(code, desc string) {
		writeJSON(w, 400, map[string]string{"error": code, "error_description": desc})
	}
	if r.PostForm.Get("grant_type") == JWTBearerGrant { // no client secret: the signature proves the app
		o.jwtBearer(w, r)
		return
	}
	if r.PostForm.Get("client_id") != o.clientID {
		oauthErr("invalid_client_id", "client identifier invalid")
		return
	}
	if r.PostForm.Get("client_secret") != o.clientSecret {
		oauthErr("invalid_client", "invalid client credentials")
		return
	}
	issue := func(withRefresh bool) {
		tok := fmt.Sprintf("00D!tok-%d", o.next())
		o.access[tok] = true
		out := map[string]string{"access_token": tok, "instance_url": o.URL(), "id": o.URL() + "/id/00D/005",
			"token_type": "Bearer", "issued_at": strconv.FormatInt(time.Now().UnixMilli(), 10), "signature": "sig", "scope": "api refresh_token id"}
		if withRefresh {
			rt := fmt.Sprintf("refresh-%d", o.next())
			o.refresh[rt] = true
			out["refresh_token"] = rt
		}
		writeJSON(w, 200, out)
	}
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		if !o.refresh[r.PostForm.Get("refresh_token")] {
			oauthErr("invalid_grant", "expired access/refresh token")
			return
		}
		issue(false)
	case "authorization_code":
		code := r.PostForm.Get("code")
		if !o.codes[code] {
			oauthErr("invalid_grant", "invalid authorization code")
			return
		}
		delete(o.codes, code)
		issue(true)
	case "client_credentials":
		issue(false)
	default:
		oauthErr("unsupported_grant_type", "grant type not supported")
	}
}

func (o *Org) describeGlobal(w http.ResponseWriter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var list []map[string]any
	for _, obj := range o.objects {
		list = append(list, map[string]any{"name": obj.desc.Name, "label": obj.desc.Label, "queryable": true, "createable": true, "custom": strings.HasSuffix(obj.desc.Name, "__c")})
	}
	list = append(list, map[string]any{"name": "AccountChangeEvent", "label": "Account Change Event", "queryable": false})
	sort.Slice(list, func(i, j int) bool { return list[i]["name"].(string) < list[j]["name"].(string) })
	writeJSON(w, 200, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})
}

// runQuery parses and runs SOQL; it answers MALFORMED_QUERY or
// INVALID_FIELD errors as Salesforce does.
func (o *Org) runQuery(q string, all bool) (*soqlQuery, []map[string]any, *Err) {
	sq, err := parseSOQL(q)
	if err != nil {
		return nil, nil, &Err{Code: "MALFORMED_QUERY", Msg: err.Error()}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	obj := o.objects[sq.object]
	if obj == nil {
		return nil, nil, &Err{Code: "INVALID_TYPE", Msg: "sObject type '" + sq.object + "' is not supported."}
	}
	for _, f := range append(append([]string(nil), sq.fields...), sq.where.fieldsUsed()...) {
		if !strings.Contains(f, ".") && obj.desc.field(f) == nil {
			return nil, nil, &Err{Code: "INVALID_FIELD", Msg: "No such column '" + f + "' on entity '" + sq.object + "'."}
		}
	}
	var out []map[string]any
	for _, rec := range obj.records {
		if rec["IsDeleted"] == true && !all {
			continue
		}
		ok, err := sq.where.eval(rec, &obj.desc)
		if err != nil {
			return nil, nil, &Err{Code: "INVALID_QUERY_FILTER_OPERATOR", Msg: err.Error()}
		}
		if ok {
			out = append(out, rec)
		}
	}
	return sq, out, nil
}

func (o *Org) query(w http.ResponseWriter, q string, all bool) {
	sq, recs, ferr := o.runQuery(q, all)
	if ferr != nil {
		sfError(w, 400, ferr.Code, ferr.Msg)
		return
	}
	if sq.count {
		writeJSON(w, 200, map[string]any{"totalSize": len(recs), "done": true, "records": []any{}})
		return
	}
	o.mu.Lock()
	id := fmt.Sprintf("01g%015d", o.next())
	o.cursors[id] = recs
	o.cursorFields[id] = sq.fields
	o.mu.Unlock()
	o.queryPage(w, sq.object, id, 0)
}

func (o *Org) queryMore(w http.ResponseWriter, loc string) {
	id, off, ok := strings.Cut(loc, "-")
	n, err := strconv.Atoi(off)
	o.mu.Lock()
	_, known := o.cursors[id]
	o.mu.Unlock()
	if !ok || err != nil || !known {
		sfError(w, 400, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	o.queryPage(w, "", id, n)
}

func (o *Org) queryPage(w http.ResponseWriter, object, id string, off int) {
	o.mu.Lock()
	recs, fields, page := o.cursors[id], o.cursorFields[id], o.restPage
	malformed := false
	if object == "" && len(recs) > 0 {
		object = objectOf(recs[0], o.objects)
	}
	if obj := o.objects[object]; obj != nil {
		malformed = obj.malformed
	}
	o.mu.Unlock()
	end := min(off+page, len(recs))
	out := make([]map[string]any, 0, end-off)
	for _, rec := range recs[off:end] {
		m := map[string]any{"attributes": map[string]string{"type": object, "url": VersionPrefix + "/sobjects/" + object + "/" + rec["Id"].(string)}}
		for _, f := range fields {
			m[f] = restValue(rec[f])
		}
		out = append(out, m)
	}
	res := map[string]any{"totalSize": len(recs), "done": end == len(recs), "records": out}
	if end < len(recs) {
		res["nextRecordsUrl"] = fmt.Sprintf("%s/query/%s-%d", VersionPrefix, id, end)
	}
	if malformed {
		fakeapi.WriteRawJSON(w, http.StatusOK, `{"totalSize": 1, "done": true, "records": [{"attributes": `)
		return
	}
	writeJSON(w, 200, res)
}

func objectOf(rec map[string]any, objs map[string]*Object) string {
	for name, obj := range objs {
		for _, r := range obj.records {
			if r["Id"] == rec["Id"] {
				return name
			}
		}
	}
	return ""
}

// restValue renders a stored value as the REST API does; datetimes as
// 2024-01-05T10:00:00.000+0000.
func restValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format("2006-01-02T15:04:05.000-0700")
	}
	return v
}

// CSVValue renders a stored value as Bulk API 2.0 CSV does; null is empty.
func CSVValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// typed converts a JSON or CSV value to the stored form of its field.
func typed(f *Field, v any) (any, *Err) {
	if v == nil {
		return nil, nil
	}
	bad := &Err{Code: "INVALID_TYPE_ON_FIELD_IN_RECORD", Msg: fmt.Sprintf("%s: value not of required type: %v", f.Label, v), Fields: []string{f.Name}}
	s, isStr := v.(string)
	switch typeClass(f.Type) {
	case classInt, classFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case json.Number:
			n, err := x.Float64()
			if err != nil {
				return nil, bad
			}
			return n, nil
		}
		n, err := strconv.ParseFloat(s, 64)
		if !isStr || err != nil {
			return nil, bad
		}
		return n, nil
	case classBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		b, err := strconv.ParseBool(s)
		if !isStr || err != nil {
			return nil, bad
		}
		return b, nil
	case classDateTime:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t, err = time.Parse("2006-01-02T15:04:05.000-0700", s)
		}
		if !isStr || err != nil {
			return nil, bad
		}
		return t.UTC(), nil
	}
	if isStr && s == "" {
		return nil, nil // Salesforce keeps no empty strings
	}
	switch x := v.(type) {
	case json.Number:
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return s, nil
}

// apply performs one write on one record; the caller holds o.mu.
func (o *Org) apply(op string, obj *Object, extID string, in map[string]any) (id string, created bool, ferr *Err) {
	vals := map[string]any{}
	for k, v := range in {
		if k == "attributes" {
			continue
		}
		f := obj.desc.field(k)
		if f == nil {
			return "", false, &Err{Code: "INVALID_FIELD", Msg: "No such column '" + k + "' on sobject of type " + obj.desc.Name, Fields: []string{k}}
		}
		if k == "Id" {
			vals[k] = v
			continue
		}
		tv, e := typed(f, v)
		if e != nil {
			return "", false, e
		}
		vals[k] = tv
	}
	find := func(field string, v any) []map[string]any {
		var out []map[string]any
		for _, r := range obj.records {
			if r["IsDeleted"] != true && v != nil && r[field] == v {
				out = append(out, r)
			}
		}
		return out
	}
	var target map[string]any
	switch op {
	case "update", "delete":
		m := find("Id", vals["Id"])
		if len(m) == 0 {
			return "", false, &Err{Code: "INVALID_CROSS_REFERENCE_KEY", Msg: "invalid cross reference id"}
		}
		target = m[0]
		if op == "delete" {
			target["IsDeleted"] = true
			o.publish(obj, "DELETE", target, nil)
			return target["Id"].(string), false, nil
		}
	case "upsert":
		m := find(extID, vals[extID])
		if len(m) > 1 {
			return "", false, &Err{Code: "DUPLICATE_EXTERNAL_ID", Msg: fmt.Sprintf("%s: more than one record found for external id field", extID), Fields: []string{extID}}
		}
		if len(m) == 1 {
			target = m[0]
		}
	}
	merged := map[string]any{}
	for k, v := range target {
		merged[k] = v
	}
	for k, v := range vals {
		merged[k] = v
	}
	if obj.validate != nil {
		if e := obj.validate(merged); e != nil {
			return "", false, e
		}
	}
	if target == nil {
		merged["Id"] = fmt.Sprintf("a0%016d", o.next())
		merged["IsDeleted"] = false
		obj.records = append(obj.records, merged)
		o.publish(obj, "CREATE", merged, nil)
		return merged["Id"].(string), true, nil
	}
	var changed []string
	for k, v := range vals {
		target[k] = v
		if k != "Id" {
			changed = append(changed, k)
		}
	}
	o.publish(obj, "UPDATE", target, changed)
	return target["Id"].(string), false, nil
}

func resultOf(id string, created bool, e *Err) map[string]any {
	if e != nil {
		fields := e.Fields
		if fields == nil {
			fields = []string{}
		}
		return map[string]any{"success": false, "errors": []map[string]any{{"statusCode": e.Code, "message": e.Msg, "fields": fields}}}
	}
	return map[string]any{"id": id, "success": true, "created": created, "errors": []any{}}
}

func (o *Org) collections(w http.ResponseWriter, r *http.Request, rest []string) {
	if r.Method == http.MethodDelete {
		ids := strings.Split(r.URL.Query().Get("ids"), ",")
		if len(ids) > 200 {
			sfError(w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
			return
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		var out []map[string]any
		for _, id := range ids {
			var e *Err = &Err{Code: "INVALID_CROSS_REFERENCE_KEY", Msg: "invalid cross reference id"}
			var got string
			for _, obj := range o.objects {
				for _, rec := range obj.records {
					if rec["Id"] == id && rec["IsDeleted"] != true {
						got, _, e = o.apply("delete", obj, "", map[string]any{"Id": id})
					}
				}
			}
			out = append(out, resultOf(got, false, e))
		}
		writeJSON(w, 200, out)
		return
	}
	var body struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		sfError(w, 400, "JSON_PARSER_ERROR", err.Error())
		return
	}
	if len(body.Records) > 200 {
		sfError(w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	op, extID := "insert", ""
	switch {
	case r.Method == http.MethodPost && len(rest) == 0:
	case r.Method == http.MethodPatch && len(rest) == 0:
		op = "update"
	case r.Method == http.MethodPatch && len(rest) == 2:
		op, extID = "upsert", rest[1]
	default:
		sfError(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []map[string]any
	for _, rec := range body.Records {
		typ, _ := rec["attributes"].(map[string]any)["type"].(string)
		obj := o.objects[typ]
		if obj == nil || (len(rest) == 2 && rest[0] != typ) {
			out = append(out, resultOf("", false, &Err{Code: "INVALID_TYPE", Msg: "sObject type is not supported"}))
			continue
		}
		if op == "insert" {
			if _, ok := rec["Id"]; ok {
				out = append(out, resultOf("", false, &Err{Code: "INVALID_FIELD_FOR_INSERT_UPDATE", Msg: "cannot specify Id in an insert call", Fields: []string{"Id"}}))
				continue
			}
		}
		id, created, e := o.apply(op, obj, extID, rec)
		out = append(out, resultOf(id, created, e))
	}
	writeJSON(w, 200, out)
}

func (o *Org) jobsAPI(w http.ResponseWriter, r *http.Request, kind string, rest []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(rest) == 0 && r.Method == http.MethodPost {
		var spec map[string]string
		fakeapi.ReadJSON(r, &spec)
		j := &job{id: fmt.Sprintf("750%015d", o.next()), kind: kind, op: spec["operation"], object: spec["object"], extID: spec["externalIdFieldName"], query: spec["query"]}
		if kind == "query" {
			j.state = "UploadComplete"
			if sq, err := parseSOQL(j.query); err == nil {
				j.object = sq.object
			}
		} else {
			j.state = "Open"
			if o.objects[j.object] == nil {
				sfError(w, 400, "INVALIDENTITY", "Entity '"+j.object+"' is not supported by the Bulk API.")
				return
			}
		}
		o.jobs[j.id] = j
		writeJSON(w, 200, o.jobInfo(j))
		return
	}
	j := o.jobs[rest[0]]
	if j == nil || j.kind != kind {
		sfError(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	switch {
	case len(rest) == 1 && r.Method == http.MethodGet:
		// A job moves one state per look: UploadComplete -> InProgress -> JobComplete.
		j.polls++
		switch j.state {
		case "UploadComplete":
			j.state = "InProgress"
		case "InProgress":
			o.mu.Unlock()
			o.finish(j)
			o.mu.Lock()
		}
		writeJSON(w, 200, o.jobInfo(j))
	case len(rest) == 1 && r.Method == http.MethodPatch:
		var st map[string]string
		fakeapi.ReadJSON(r, &st)
		switch {
		case st["state"] == "UploadComplete" && j.kind == "ingest" && j.state == "Open":
			j.state = "UploadComplete"
		case st["state"] == "Aborted":
			j.state = "Aborted"
		default:
			sfError(w, 400, "INVALIDJOBSTATE", "the job state cannot be changed to "+st["state"])
			return
		}
		writeJSON(w, 200, o.jobInfo(j))
	case len(rest) == 1 && r.Method == http.MethodDelete:
		delete(o.jobs, j.id)
		w.WriteHeader(204)
	case len(rest) == 2 && rest[1] == "batches" && r.Method == http.MethodPut:
		if j.state != "Open" {
			sfError(w, 400, "INVALIDJOBSTATE", "the job is not open for data")
			return
		}
		j.data, _ = io.ReadAll(r.Body)
		w.WriteHeader(201)
	case len(rest) == 2 && rest[1] == "results" && kind == "query":
		o.queryResults(w, r, j)
	case len(rest) == 2 && rest[1] == "failedResults" && kind == "ingest":
		rows := append([][]string{append([]string{"sf__Id", "sf__Error"}, j.header...)}, j.failedRows...)
		b, _ := writeCSV(rows)
		w.Header().Set("Content-Type", "text/csv")
		w.Write(b)
	default:
		sfError(w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (o *Org) jobInfo(j *job) map[string]any {
	return map[string]any{"id": j.id, "operation": j.op, "object": j.object, "state": j.state, "contentType": "CSV",
		"APIVersion": 58.0, "lineEnding": "LF", "columnDelimiter": "COMMA", "concurrencyMode": "Parallel",
		"numberRecordsProcessed": j.processed, "numberRecordsFailed": j.failed, "externalIdFieldName": j.extID,
		"contentUrl": "services/data/" + APIVersion + "/jobs/ingest/" + j.id + "/batches"}
}

// finish runs a job's work, as Salesforce does while it is InProgress.
func (o *Org) finish(j *job) {
	if j.kind == "query" {
		sq, recs, ferr := o.runQuery(j.query, j.op == "queryAll")
		o.mu.Lock()
		defer o.mu.Unlock()
		if ferr != nil {
			j.state = "Failed"
			return
		}
		j.header = sq.fields
		for _, rec := range recs {
			row := make([]string, len(sq.fields))
			for i, f := range sq.fields {
				row[i] = CSVValue(rec[f])
			}
			j.rows = append(j.rows, row)
		}
		j.processed = int64(len(recs))
		j.state = "JobComplete"
		return
	}
	rows, err := parseCSV(j.data)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil || len(rows) == 0 {
		j.state = "Failed"
		return
	}
	obj := o.objects[j.object]
	j.header = rows[0]
	for _, row := range rows[1:] {
		rec := map[string]any{}
		for i, h := range j.header {
			switch v := row[i]; v {
			case "":
				// empty: leave the field as it is
			case "#N/A":
				rec[h] = nil
			default:
				rec[h] = v
			}
		}
		id, _, e := o.apply(j.op, obj, j.extID, rec)
		j.processed++
		if e != nil {
			j.failed++
			j.failedRows = append(j.failedRows, append([]string{id, e.Code + ":" + e.Msg + ":" + strings.Join(e.Fields, ",") + " --"}, row...))
		}
	}
	j.state = "JobComplete"
}

// queryResults pages CSV results by locator (Sforce-Locator "null" on the
// last set).
func (o *Org) queryResults(w http.ResponseWriter, r *http.Request, j *job) {
	if j.state != "JobComplete" {
		sfError(w, 400, "INVALIDJOBSTATE", "the job is not complete")
		return
	}
	off := 0
	if l := r.URL.Query().Get("locator"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			sfError(w, 400, "INVALID_LOCATOR", "invalid locator")
			return
		}
		off = n
	}
	max := 50000
	if m, err := strconv.Atoi(r.URL.Query().Get("maxRecords")); err == nil && m > 0 {
		max = m
	}
	end := min(off+max, len(j.rows))
	b, _ := writeCSV(append([][]string{j.header}, j.rows[off:end]...))
	loc := "null"
	if end < len(j.rows) {
		loc = strconv.Itoa(end)
	}
	w.Header().Set("Sforce-Locator", loc)
	w.Header().Set("Sforce-NumberOfRecords", strconv.Itoa(end-off))
	w.Header().Set("Content-Type", "text/csv")
	if o.objects[j.object] != nil && o.objects[j.object].malformed {
		io.WriteString(w, "a,b\n\"unterminated")
		return
	}
	w.Write(b)
}

// ---- a small SOQL parser: enough of the language the connector emits ----

type soqlQuery struct {
	fields []string
	count  bool
	object string
	where  *cond
}

type cond struct {
	op    string // AND, OR, NOT, or a comparison: =, !=, <, <=, >, >=, LIKE, IN, NOT IN
	kids  []*cond
	field string
	vals  []lit
}

type lit struct {
	kind string // str, num, bool, null, date, datetime
	raw  string // for strings: the text between quotes, escapes intact
}

func (c *cond) fieldsUsed() []string {
	if c == nil {
		return nil
	}
	out := []string{}
	if c.field != "" {
		out = append(out, c.field)
	}
	for _, k := range c.kids {
		out = append(out, k.fieldsUsed()...)
	}
	return out
}

var soqlToken = regexp.MustCompile(`^\s*('(?:[^'\\]|\\.)*'|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})|\d{4}-\d{2}-\d{2}|-?\d+(?:\.\d+)?|!=|<=|>=|[=<>(),]|[A-Za-z_][A-Za-z0-9_.]*)`)

func tokenize(q string) ([]string, error) {
	var toks []string
	for strings.TrimSpace(q) != "" {
		m := soqlToken.FindStringSubmatch(q)
		if m == nil {
			return nil, fmt.Errorf("unexpected token at %q", strings.TrimSpace(q))
		}
		toks = append(toks, m[1])
		q = q[len(m[0]):]
	}
	return toks, nil
}

type soqlParser struct {
	toks []string
	i    int
}

func (p *soqlParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}
func (p *soqlParser) take() string      { t := p.peek(); p.i++; return t }
func (p *soqlParser) is(kw string) bool { return strings.EqualFold(p.peek(), kw) }
func (p *soqlParser) expect(kw string) error {
	if !p.is(kw) {
		return fmt.Errorf("expecting %s, found %q", kw, p.peek())
	}
	p.i++
	return nil
}

func parseSOQL(q string) (*soqlQuery, error) {
	toks, err := tokenize(q)
	if err != nil {
		return nil, err
	}
	p := &soqlParser{toks: toks}
	if err := p.expect("SELECT"); err != nil {
		return nil, err
	}
	sq := &soqlQuery{}
	if p.is("COUNT") {
		p.take()
		if p.expect("(") != nil || p.expect(")") != nil {
			return nil, fmt.Errorf("malformed COUNT()")
		}
		sq.count = true
	} else {
		for {
			f := p.take()
			if f == "" || strings.ContainsAny(f[:1], "'(),=<>!0123456789") {
				return nil, fmt.Errorf("expecting a field, found %q", f)
			}
			sq.fields = append(sq.fields, f)
			if p.peek() != "," {
				break
			}
			p.take()
		}
	}
	if err := p.expect("FROM"); err != nil {
		return nil, err
	}
	sq.object = p.take()
	if p.is("WHERE") {
		p.take()
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		sq.where = c
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected token %q", p.peek())
	}
	return sq, nil
}

func (p *soqlParser) or() (*cond, error) {
	c, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.is("OR") {
		p.take()
		d, err := p.and()
		if err != nil {
			return nil, err
		}
		c = &cond{op: "OR", kids: []*cond{c, d}}
	}
	return c, nil
}

func (p *soqlParser) and() (*cond, error) {
	c, err := p.factor()
	if err != nil {
		return nil, err
	}
	for p.is("AND") {
		p.take()
		d, err := p.factor()
		if err != nil {
			return nil, err
		}
		c = &cond{op: "AND", kids: []*cond{c, d}}
	}
	return c, nil
}

func (p *soqlParser) factor() (*cond, error) {
	switch {
	case p.is("NOT"):
		p.take()
		c, err := p.factor()
		return &cond{op: "NOT", kids: []*cond{c}}, err
	case p.peek() == "(":
		p.take()
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		return c, p.expect(")")
	}
	field := p.take()
	c := &cond{field: field}
	switch op := strings.ToUpper(p.take()); op {
	case "=", "!=", "<", "<=", ">", ">=", "LIKE":
		c.op = op
		v, err := p.literal()
		if err != nil {
			return nil, err
		}
		c.vals = []lit{v}
	case "IN", "NOT":
		if op == "NOT" {
			if err := p.expect("IN"); err != nil {
				return nil, err
			}
			op = "NOT IN"
		}
		c.op = op
		if err := p.expect("("); err != nil {
			return nil, err
		}
		for {
			v, err := p.literal()
			if err != nil {
				return nil, err
			}
			c.vals = append(c.vals, v)
			if p.peek() == ")" {
				p.take()
				break
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("unknown operator %q", op)
	}
	return c, nil
}

var (
	reDate     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	reDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T`)
	reNum      = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
)

func (p *soqlParser) literal() (lit, error) {
	t := p.take()
	switch {
	case strings.HasPrefix(t, "'"):
		return lit{kind: "str", raw: t[1 : len(t)-1]}, nil
	case reDateTime.MatchString(t):
		return lit{kind: "datetime", raw: t}, nil
	case reDate.MatchString(t):
		return lit{kind: "date", raw: t}, nil
	case reNum.MatchString(t):
		return lit{kind: "num", raw: t}, nil
	case strings.EqualFold(t, "true"), strings.EqualFold(t, "false"):
		return lit{kind: "bool", raw: strings.ToLower(t)}, nil
	case strings.EqualFold(t, "null"):
		return lit{kind: "null"}, nil
	}
	return lit{}, fmt.Errorf("expecting a literal, found %q", t)
}

// unescape reads a SOQL string body's escapes.
func unescape(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' && i+1 < len(raw) {
			i++
			switch raw[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			default:
				b.WriteByte(raw[i])
			}
			continue
		}
		b.WriteByte(raw[i])
	}
	return b.String()
}

func likeRegexp(raw string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?is)^`)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw):
			i++
			b.WriteString(regexp.QuoteMeta(unescape(raw[i-1 : i+1])))
		case c == '%':
			b.WriteString(".*")
		case c == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func (c *cond) eval(rec map[string]any, desc *Describe) (bool, error) {
	if c == nil {
		return true, nil
	}
	switch c.op {
	case "AND", "OR":
		a, err := c.kids[0].eval(rec, desc)
		if err != nil {
			return false, err
		}
		b, err := c.kids[1].eval(rec, desc)
		if c.op == "AND" {
			return a && b, err
		}
		return a || b, err
	case "NOT":
		a, err := c.kids[0].eval(rec, desc)
		return !a, err
	}
	f := desc.field(c.field)
	v := rec[c.field]
	switch c.op {
	case "IN", "NOT IN":
		hit := false
		for _, l := range c.vals {
			r, err := compareLit(f, v, l)
			if err != nil {
				return false, err
			}
			hit = hit || r == 0
		}
		if v == nil {
			return false, nil
		}
		return hit == (c.op == "IN"), nil
	case "LIKE":
		if typeClass(f.Type) != classString || c.vals[0].kind != "str" {
			return false, fmt.Errorf("invalid operator on field %s: LIKE", c.field)
		}
		s, _ := v.(string)
		return v != nil && likeRegexp(c.vals[0].raw).MatchString(s), nil
	}
	l := c.vals[0]
	if l.kind == "null" {
		switch c.op {
		case "=":
			return v == nil, nil
		case "!=":
			return v != nil, nil
		}
		return false, fmt.Errorf("null with %s", c.op)
	}
	r, err := compareLit(f, v, l)
	if err != nil {
		return false, err
	}
	if v == nil {
		return c.op == "!=", nil
	}
	switch c.op {
	case "=":
		return r == 0, nil
	case "!=":
		return r != 0, nil
	case "<":
		return r < 0, nil
	case "<=":
		return r <= 0, nil
	case ">":
		return r > 0, nil
	}
	return r >= 0, nil
}

// compareLit compares a stored value with a literal of the field's type;
// a literal of the wrong type is an error, as in SOQL.
func compareLit(f *Field, v any, l lit) (int, error) {
	wrong := fmt.Errorf("value of filter criterion for field '%s' must be of type %s and should not be enclosed in quotes", f.Name, f.Type)
	switch typeClass(f.Type) {
	case classString:
		if l.kind != "str" {
			return 0, wrong
		}
		s, _ := v.(string)
		return strings.Compare(strings.ToLower(s), strings.ToLower(unescape(l.raw))), nil
	case classInt, classFloat:
		if l.kind != "num" {
			return 0, wrong
		}
		n, _ := strconv.ParseFloat(l.raw, 64)
		x, _ := v.(float64)
		return cmpF(x, n), nil
	case classBool:
		if l.kind != "bool" {
			return 0, wrong
		}
		x, _ := v.(bool)
		return strings.Compare(strconv.FormatBool(x), l.raw), nil
	case classDateTime:
		if l.kind != "datetime" {
			return 0, wrong
		}
		t, err := time.Parse(time.RFC3339, l.raw)
		if err != nil {
			return 0, wrong
		}
		x, _ := v.(time.Time)
		return x.Compare(t), nil
	case classDate:
		if l.kind != "date" {
			return 0, wrong
		}
		s, _ := v.(string)
		return strings.Compare(s, l.raw), nil
	}
	return 0, wrong
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type class int

const (
	classOther class = iota
	classString
	classInt
	classFloat
	classBool
	classDate
	classDateTime
)

// typeClass groups field types (SOAP API Developer Guide, Field Types) by
// how the org stores and compares their values.
func typeClass(t string) class {
	switch t {
	case "id", "reference", "string", "textarea", "picklist", "multipicklist", "combobox",
		"email", "phone", "url", "encryptedstring":
		return classString
	case "int", "long":
		return classInt
	case "double", "currency", "percent":
		return classFloat
	case "boolean":
		return classBool
	case "date":
		return classDate
	case "datetime":
		return classDateTime
	}
	return classOther
}

// parseCSV reads RFC 4180 CSV as Bulk API 2.0 takes it (comma, LF or CRLF
// line endings, quotes doubled inside quoted fields), keeping a CRLF inside
// a quoted field as sent (encoding/csv would turn it into LF).
func parseCSV(b []byte) ([][]string, error) {
	var rows [][]string
	var row []string
	var field bytes.Buffer
	i := 0
	for i < len(b) {
		field.Reset()
		if b[i] == '"' {
			i++
			for {
				if i >= len(b) {
					return nil, fmt.Errorf("quoted field never ends")
				}
				if b[i] == '"' {
					if i+1 < len(b) && b[i+1] == '"' {
						field.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				field.WriteByte(b[i])
				i++
			}
			if i < len(b) && b[i] != ',' && b[i] != '\n' && b[i] != '\r' {
				return nil, fmt.Errorf("unexpected %q after a quoted field", b[i])
			}
		} else {
			for i < len(b) && b[i] != ',' && b[i] != '\n' && !(b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n') {
				if b[i] == '"' {
					return nil, fmt.Errorf("bare quote in an unquoted field")
				}
				field.WriteByte(b[i])
				i++
			}
		}
		row = append(row, field.String())
		switch {
		case i >= len(b):
			rows, row = append(rows, row), nil
		case b[i] == ',':
			i++
			if i == len(b) {
				rows, row = append(rows, append(row, "")), nil
			}
		default: // \n or \r\n
			if b[i] == '\r' {
				i++
			}
			i++
			rows, row = append(rows, row), nil
		}
	}
	return rows, nil
}

// writeCSV writes rows with LF line endings, as Bulk API 2.0 answers with
// lineEnding LF.
func writeCSV(rows [][]string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
