// Package veevaconn is the Veeva Vault source (connectors-saas-2 §5):
// Vault objects and documents read with VQL through the Vault REST API at
// the profile's instanceUrl (a bare Vault DNS name means https://<name>).
//
// A session comes from POST /api/{version}/auth with the profile's
// username and password and goes, as is, in the Authorization header; a
// refused session (INVALID_SESSION_ID, which Vault answers with HTTP 200)
// logs in again once. Vault reports failures in the body: every answer's
// responseStatus is read, and FAILURE is an error carrying Vault's error
// type and message. API_LIMIT_EXCEEDED (older Vaults' burst limit) and
// HTTP 429/5xx are retried after a pause.
//
// A read is one VQL query, POST /api/{version}/query (form q=...), then
// each answer's responseDetails.next_page, fetched with POST as Vault's
// pagination guide says, until an answer has none. Targets Vault answers
// without next_page (users, events, legacy workflows) are paged by
// re-running the query with PAGEOFFSET until responseDetails.total.
//
// Choices where AppFlow is silent:
//   - Entities: "documents" and every Vault object of
//     GET /metadata/vobjects, flat under "Objects"; fields from
//     /metadata/objects/documents/properties (queryable ones) and
//     /metadata/vobjects/{name}. Types: Number as double, Boolean, Date,
//     DateTime, everything else (ID, String, Picklist, Object references,
//     text) as string; multi-value answers are JSON.
//   - Filters go into the WHERE clause where VQL says the same thing on the
//     field's type: comparisons on numbers, dates, datetimes and strings,
//     EQUAL_TO values as IN, BETWEEN as >= and <=, CONTAINS on strings as
//     LIKE '%x%'; the rest, and every filter again, is the engine's. The
//     incremental window is "field >= start AND field < end" in UTC
//     ('2006-01-02T15:04:05.000Z'). Strings are quoted with ' and \'.
//   - Documents: documentType adds TONAME(type__v) = '<type>',
//     includeAllVersions reads FROM ALLVERSIONS documents. Source files
//     and renditions (includeSourceFiles, includeRenditions) are not
//     extracted: such a flow is refused at its run with a clear error.
//   - Once an answer says less than a tenth of the Vault's burst limit is
//     left (X-VaultAPI-BurstLimit, X-VaultAPI-BurstLimitRemaining), each
//     next page waits 2 s first.
package veevaconn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// Type is the connector type this package registers.
const Type = "Veeva"

// APIVersion is the Vault API version the driver speaks.
const APIVersion = "v23.1"

// ClientID goes in X-VaultAPI-ClientID, as Vault asks integrations to.
const ClientID = "appflowd"

// Documents is the entity of Vault documents.
const Documents = "documents"

// Options configure the driver beyond the profile.
type Options struct {
	Retry retry.Policy
	// PageSize adds PAGESIZE to queries; 0 keeps Vault's (1000).
	PageSize int
	// Busy is the least pause before retrying API_LIMIT_EXCEEDED; 0 means 5 s.
	Busy time.Duration
	// Slow waits before a page once less than a tenth of the Vault's
	// burst limit is left (X-VaultAPI-BurstLimitRemaining); nil waits 2 s.
	Slow func(ctx context.Context) error
}

func init() { httpconn.Register(Type, httpconn.Source, Open) }

// Driver is one opened Vault profile.
type Driver struct {
	c        *httpconn.Client
	session  *httpconn.Session
	pageSize int
	slow     func(ctx context.Context) error

	// burstLeft is -1 or whether the last answer's burst budget was
	// nearly spent (1) or not (0).
	burstLeft atomic.Int32
}

// observe notes when the 5-minute burst budget is nearly spent, so that
// reads slow down before Vault delays or refuses calls.
func (d *Driver) observe(r *httpconn.Response) {
	limit, err1 := strconv.Atoi(r.Header.Get("X-VaultAPI-BurstLimit"))
	left, err2 := strconv.Atoi(r.Header.Get("X-VaultAPI-BurstLimitRemaining"))
	if err1 != nil || err2 != nil || limit <= 0 {
		return
	}
	low := int32(0)
	if left*10 < limit {
		low = 1
	}
	d.burstLeft.Store(low)
}

func api(path string) string { return "/api/" + APIVersion + path }

// Open builds a driver for a profile; it logs in at the first call.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	host, creds, err := httpconn.InstanceProfile[struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}](p, "Veeva", "https://myvault.veevavault.com")
	if err != nil {
		return nil, err
	}
	if err := httpconn.Need(p, "Veeva", "a username and a password", creds.Username, creds.Password); err != nil {
		return nil, err
	}
	busy := opts.Busy
	if busy <= 0 {
		busy = 5 * time.Second
	}
	d := &Driver{pageSize: opts.PageSize, slow: opts.Slow}
	if d.slow == nil {
		d.slow = func(ctx context.Context) error { return httpconn.Pause(ctx, 0, 2*time.Second, 2*time.Second) }
	}
	d.burstLeft.Store(-1)
	d.session = httpconn.NewSession("", "", func(ctx context.Context) (string, time.Time, error) {
		return d.login(ctx, creds.Username, creds.Password)
	})
	d.c = httpconn.New(deps, httpconn.Config{Name: "Veeva Vault", Base: host, Auth: d.session, Retry: opts.Retry,
		Header: http.Header{"Accept": {"application/json"}, "X-Vaultapi-Clientid": {ClientID}},
		Check:  func(r *httpconn.Response) error { return check(r, busy) }, Observe: d.observe})
	return d, nil
}

// envelope is what every Vault answer carries.
type envelope struct {
	ResponseStatus  string `json:"responseStatus"`
	ResponseMessage string `json:"responseMessage"`
	Errors          []struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (e *envelope) reason() (typ, msg string) {
	if len(e.Errors) > 0 {
		return e.Errors[0].Type, e.Errors[0].Message
	}
	return "", e.ResponseMessage
}

// check reads responseStatus whatever the HTTP status.
func check(r *httpconn.Response, busy time.Duration) error {
	var env envelope
	parsed := json.Unmarshal(r.Body, &env) == nil && env.ResponseStatus != ""
	if r.OK() && (!parsed || env.ResponseStatus != "FAILURE") {
		return nil
	}
	typ, msg := env.reason()
	if !parsed {
		msg = strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)]))
	}
	text := fmt.Sprintf("Veeva Vault: %s: %s", typ, msg)
	if typ == "" {
		text = fmt.Sprintf("Veeva Vault: HTTP %d: %s", r.Status, msg)
	}
	switch {
	case typ == "INVALID_SESSION_ID" || r.Status == http.StatusUnauthorized:
		return httpconn.Reauth(fault.New(fault.AuthFailed, "%s", text))
	case typ == "API_LIMIT_EXCEEDED" || r.Status == http.StatusTooManyRequests:
		return httpconn.Retry(fault.New(fault.Throttled, "%s", text), max(busy, r.RetryAfter()))
	case retry.Status(r.Status) || r.Status == http.StatusInternalServerError:
		return httpconn.Retry(fault.New(fault.ConnectorServer, "%s", text), r.RetryAfter())
	case typ == "INSUFFICIENT_ACCESS" || r.Status == http.StatusForbidden:
		return fault.New(fault.AccessDenied, "%s", text)
	case typ == "INVALID_DATA" || typ == "PARAMETER_REQUIRED" || typ == "MALFORMED_URL":
		return fault.New(fault.Invalid, "%s", text)
	}
	return fault.New(fault.ConnectorServer, "%s", text)
}

// login asks for a session; Vault's refusal is the profile's error.
func (d *Driver) login(ctx context.Context, user, password string) (string, time.Time, error) {
	form := url.Values{"username": {user}, "password": {password}}
	res, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodPost, Path: api("/auth"), NoAuth: true,
		Body: []byte(form.Encode()), ContentType: "application/x-www-form-urlencoded",
		Check: func(r *httpconn.Response) error {
			err := check(r, time.Second)
			if err != nil && !retry.IsRetryable(err) {
				var env envelope
				_ = json.Unmarshal(r.Body, &env)
				typ, msg := env.reason()
				if typ == "" {
					typ = fmt.Sprintf("HTTP %d", r.Status)
				}
				return fault.New(fault.AuthFailed, "Veeva Vault refused the login: %s: %s", typ, msg)
			}
			return err
		}})
	if err != nil {
		return "", time.Time{}, err
	}
	var v struct {
		SessionID string `json:"sessionId"`
	}
	if err := res.JSON(&v); err != nil {
		return "", time.Time{}, err
	}
	if v.SessionID == "" {
		return "", time.Time{}, fault.New(fault.AuthFailed, "Veeva Vault answered the login without a sessionId")
	}
	return v.SessionID, time.Time{}, nil
}

// CheckProfile logs in, as AppFlow's connection test does.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, _, err := d.session.Token(ctx)
	return err
}

func (d *Driver) get(ctx context.Context, path string, out any) error {
	res, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: api(path), Idempotent: true})
	if err != nil {
		return err
	}
	return res.JSON(out)
}

// ---- catalog ----

func (d *Driver) objects(ctx context.Context) ([]connector.Entity, error) {
	var v struct {
		Objects []struct {
			Name  string `json:"name"`
			Label string `json:"label"`
		} `json:"objects"`
	}
	if err := d.get(ctx, "/metadata/vobjects", &v); err != nil {
		return nil, err
	}
	out := []connector.Entity{{Name: Documents, Label: "Documents"}}
	for _, o := range v.Objects {
		out = append(out, connector.Entity{Name: o.Name, Label: o.Label})
	}
	return out, nil
}

// ListEntities lists documents and the Vault's objects.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	if strings.Trim(path, "/") != "" {
		return nil, fault.New(fault.NotFound, "Veeva has no nested entities under %q", path)
	}
	ents, err := d.objects(ctx)
	if err != nil {
		return nil, err
	}
	return map[string][]connector.Entity{"Objects": ents}, nil
}

// vaultField is a field or document property as Vault describes it.
type vaultField struct {
	Name      string `json:"name"`
	Label     string `json:"label"`
	Type      string `json:"type"`
	Required  bool   `json:"required"`
	Queryable *bool  `json:"queryable"`
}

func (d *Driver) fields(ctx context.Context, entity string) ([]vaultField, error) {
	if entity == Documents {
		var v struct {
			Properties []vaultField `json:"properties"`
		}
		if err := d.get(ctx, "/metadata/objects/documents/properties", &v); err != nil {
			return nil, err
		}
		var out []vaultField
		for _, p := range v.Properties {
			if p.Queryable == nil || *p.Queryable {
				out = append(out, p)
			}
		}
		return out, nil
	}
	if entity == "" || strings.ContainsAny(entity, "/?#% ") {
		return nil, fault.New(fault.NotFound, "Veeva has no object %q", entity)
	}
	var v struct {
		Object struct {
			Fields []vaultField `json:"fields"`
		} `json:"object"`
	}
	if err := d.get(ctx, "/metadata/vobjects/"+entity, &v); err != nil {
		return nil, err
	}
	return v.Object.Fields, nil
}

// kind is how VQL compares a field.
func kind(vaultType string) record.FieldType {
	switch strings.ToLower(vaultType) {
	case "number", "currency":
		return httpconn.TypeDouble
	case "boolean":
		return httpconn.TypeBoolean
	case "date":
		return "date"
	case "datetime":
		return httpconn.TypeDateTime
	}
	return httpconn.TypeString
}

// DescribeEntity is the object's fields or the documents' properties.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	fs, err := d.fields(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []connector.EntityField
	for _, f := range fs {
		t := kind(f.Type)
		ops := []string{"EQUAL_TO", "NOT_EQUAL_TO"}
		switch t {
		case httpconn.TypeString:
			ops = append(ops, "CONTAINS")
		case httpconn.TypeDouble, "date", httpconn.TypeDateTime:
			ops = append(ops, "LESS_THAN", "GREATER_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN_OR_EQUAL_TO", "BETWEEN")
		}
		label := f.Label
		if label == "" {
			label = f.Name
		}
		out = append(out, connector.EntityField{Name: f.Name, Label: label, Type: t, IsPrimaryKey: f.Name == "id",
			Nullable: !f.Required, Queryable: true, FilterOperators: ops, IsTimestampForIncremental: t == httpconn.TypeDateTime})
	}
	return out, nil
}

// ---- source ----

type sourceProps struct {
	Object             string `json:"object"`
	DocumentType       string `json:"documentType"`
	IncludeSourceFiles bool   `json:"includeSourceFiles"`
	IncludeRenditions  bool   `json:"includeRenditions"`
	IncludeAllVersions bool   `json:"includeAllVersions"`
}

type plan struct {
	fields []string
	vql    string
}

// Splits builds the one query of the run.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	sp, err := connector.DecodeProperties[sourceProps](req.Properties, "Veeva", "source")
	if err != nil {
		return nil, err
	}
	if sp.IncludeSourceFiles || sp.IncludeRenditions {
		return nil, fault.New(fault.Invalid, "Veeva: this appflowd reads document metadata only; source files and renditions (includeSourceFiles, includeRenditions) are not extracted")
	}
	vf, err := d.fields(ctx, req.Object)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", req.Object, err)
	}
	types := map[string]record.FieldType{}
	for _, f := range vf {
		types[f.Name] = kind(f.Type)
	}
	fields := req.Fields
	if fields == nil {
		for _, f := range vf {
			fields = append(fields, f.Name)
		}
	}
	if len(fields) == 0 {
		return nil, fault.New(fault.Invalid, "Veeva %s has no fields to select", req.Object)
	}
	from := req.Object
	if req.Object == Documents && sp.IncludeAllVersions {
		from = "ALLVERSIONS documents"
	}
	var where []string
	if req.Object == Documents && sp.DocumentType != "" {
		where = append(where, "TONAME(type__v) = "+quote(sp.DocumentType))
	}
	for _, f := range req.Filters {
		if c := condition(f, types[f.Field]); c != "" {
			where = append(where, c)
		}
	}
	if w := req.Window; w != nil {
		if t, ok := types[w.Field]; ok && t == httpconn.TypeDateTime {
			where = append(where, w.Field+" >= "+quote(stamp(w.Start)), w.Field+" < "+quote(stamp(w.End)))
		}
	}
	vql := "SELECT " + strings.Join(fields, ", ") + " FROM " + from
	if len(where) > 0 {
		vql += " WHERE " + strings.Join(where, " AND ")
	}
	if d.pageSize > 0 {
		vql += " PAGESIZE " + strconv.Itoa(d.pageSize)
	}
	return []connector.Split{{Name: req.Object, Opaque: &plan{fields: fields, vql: vql}}}, nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// quote is a VQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

var comparisons = map[string]string{"LESS_THAN": "<", "GREATER_THAN": ">", "LESS_THAN_OR_EQUAL_TO": "<=",
	"GREATER_THAN_OR_EQUAL_TO": ">=", "EQUAL_TO": "=", "NOT_EQUAL_TO": "!="}

// literal writes a filter value for a field of type t; ok is false when
// it cannot be said in VQL.
func literal(v, dataType string, t record.FieldType) (string, bool) {
	switch t {
	case httpconn.TypeDouble:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "", false
		}
		return v, true
	case httpconn.TypeDateTime, "date":
		ms, ok := httpconn.ParseMillis(v)
		if !ok || dataType != "datetime" && dataType != "date" && dataType != "" {
			return "", false
		}
		at := time.UnixMilli(ms).UTC()
		if t == "date" {
			return quote(at.Format("2006-01-02")), at.Equal(at.Truncate(24 * time.Hour))
		}
		return quote(stamp(at)), true
	case httpconn.TypeString:
		return quote(v), true
	}
	return "", false
}

// condition is a filter as VQL, "" when it stays the engine's.
func condition(f connector.Filter, t record.FieldType) string {
	if t == "" || len(f.Values) == 0 {
		return ""
	}
	lits := make([]string, len(f.Values))
	for i, v := range f.Values {
		l, ok := literal(v, f.DataType, t)
		if !ok {
			return ""
		}
		lits[i] = l
	}
	switch op := f.Operator; {
	case op == "EQUAL_TO" && len(lits) > 1:
		return f.Field + " IN (" + strings.Join(lits, ", ") + ")"
	case op == "BETWEEN" && len(lits) == 2 && t != httpconn.TypeString:
		return f.Field + " >= " + lits[0] + " AND " + f.Field + " <= " + lits[1]
	case op == "CONTAINS" && t == httpconn.TypeString && len(lits) == 1:
		return f.Field + " LIKE " + quote("%"+f.Values[0]+"%")
	case comparisons[op] != "" && len(lits) == 1 && (t != httpconn.TypeString || op == "EQUAL_TO" || op == "NOT_EQUAL_TO"):
		return f.Field + " " + comparisons[op] + " " + lits[0]
	}
	return ""
}

// ReadSplit runs the query and follows next_page, one batch per page.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	p, err := httpconn.Plan[*plan](ctx, s, "Veeva")
	if err != nil {
		return err
	}
	line := int64(1)
	err = httpconn.Cursor(ctx, func(ctx context.Context, next string) (string, error) {
		if next != "" && d.burstLeft.Load() == 1 {
			if err := d.slow(ctx); err != nil {
				return "", err
			}
		}
		vql := p.vql
		if off, ok := strings.CutPrefix(next, "offset:"); ok {
			// Targets answered without next_page (users, events, legacy
			// workflows) are paged with PAGEOFFSET, as Vault says.
			vql, next = vql+" PAGEOFFSET "+off, ""
		}
		r := &httpconn.Request{Method: http.MethodPost, Path: api("/query"), Idempotent: true,
			Body: []byte(url.Values{"q": {vql}}.Encode()), ContentType: "application/x-www-form-urlencoded"}
		if next != "" {
			// Vault's pagination guide: call next_page with POST.
			r = &httpconn.Request{Method: http.MethodPost, Path: next, Idempotent: true}
		}
		res, err := d.c.Do(ctx, r)
		if err != nil {
			return "", err
		}
		var page struct {
			ResponseDetails struct {
				NextPage   string `json:"next_page"`
				PageOffset int    `json:"pageoffset"`
				Size       int    `json:"size"`
				Total      int    `json:"total"`
			} `json:"responseDetails"`
			Data *[]map[string]json.RawMessage `json:"data"`
		}
		if err := res.JSON(&page); err != nil {
			return "", err
		}
		if page.Data == nil { // a broken answer, not an empty page
			return "", fault.New(fault.ConnectorServer, "the query answered no data: %s", httpconn.Excerpt(res.Body))
		}
		data := *page.Data
		rd := page.ResponseDetails
		following := rd.NextPage
		if following == "" && rd.Size > 0 && len(data) > 0 && rd.PageOffset+rd.Size < rd.Total {
			following = "offset:" + strconv.Itoa(rd.PageOffset+rd.Size)
		}
		b := &record.Batch{Fields: p.fields, Split: s.Name, FirstLine: line, Final: following == "",
			SourceBytes: int64(len(res.Body)), Cells: make([]record.Value, 0, len(p.fields)*len(data))}
		for _, row := range data {
			for _, f := range p.fields {
				b.Cells = append(b.Cells, httpconn.Value(row[f]))
			}
		}
		line += int64(len(data))
		if err := emit(b); err != nil {
			return "", err
		}
		return following, nil
	})
	if err != nil {
		return fmt.Errorf("read Veeva %s: %w", s.Name, err)
	}
	return nil
}
