package sapodataconn

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// File names under {bucketPrefix}/{flow}/{execution}/.
const (
	rejectsFile   = "sapodata-rejected-records.jsonl"
	successesFile = "sapodata-success-responses.jsonl"
)

type bucketConfig struct {
	BucketName   string `json:"bucketName"`
	BucketPrefix string `json:"bucketPrefix"`
}

type destProps struct {
	ObjectPath string `json:"objectPath"`
	httpconn.WriteProps
	SuccessResponse *bucketConfig `json:"successResponseHandlingConfig"`
}

// OpenWriter checks the object path and the operation against the
// service's $metadata; records are buffered until Commit.
func (d *Driver) OpenWriter(ctx context.Context, r *connector.WriteRequest) (connector.Writer, error) {
	props, err := connector.DecodeProperties[destProps](r.Properties, "SAP OData", "destination")
	if err != nil {
		return nil, err
	}
	path := cmp.Or(props.ObjectPath, r.Object)
	if path == "" {
		return nil, fault.New(fault.Invalid, "the SAP OData destination has no objectPath")
	}
	op := props.Operation(r)
	if op != "INSERT" && op != "UPDATE" && op != "UPSERT" {
		return nil, fault.New(fault.Invalid, "the SAP OData destination does not support the %s write operation (INSERT, UPDATE and UPSERT only)", op)
	}
	ent, svc, err := d.entity(ctx, path)
	if err != nil {
		return nil, err
	}
	if (op == "INSERT" || op == "UPSERT") && !ent.Creatable {
		return nil, fault.New(fault.Invalid, "the SAP OData entity set %s is not creatable (sap:creatable=false)", path)
	}
	if (op == "UPDATE" || op == "UPSERT") && !ent.Updatable {
		return nil, fault.New(fault.Invalid, "the SAP OData entity set %s is not updatable (sap:updatable=false)", path)
	}
	w := &writer{d: d, ent: ent, svc: svc, objectPath: svc + "/" + ent.Name, op: op,
		req:    r,
		Buffer: httpconn.Buffer[*pending]{Vendor: "SAP OData", FailFast: r.ErrorHandling != nil && r.ErrorHandling.FailOnFirstError},
		sess:   &csrfSession{c: d.c, svc: svc}}
	if sc := props.SuccessResponse; sc != nil && sc.BucketName != "" {
		w.success = sc
	}
	if op != "INSERT" {
		ids := props.IDFields(r)
		if len(ids) == 0 {
			for i := range ent.Props {
				if ent.Props[i].Key {
					ids = append(ids, ent.Props[i].Name)
				}
			}
		}
		if len(ids) == 0 {
			return nil, fault.New(fault.Invalid, "%s into SAP OData %s needs idFieldNames", op, path)
		}
		for _, id := range ids {
			p := ent.byName[id]
			if p == nil || p.Nav {
				return nil, fault.New(fault.Invalid, "the idFieldNames entry %q is not a property of SAP OData %s", id, path)
			}
			w.ids = append(w.ids, p)
		}
	}
	return w, nil
}

type writer struct {
	d          *Driver
	ent        *entitySet
	svc        string
	objectPath string
	op         string
	ids        []*property
	sess       *csrfSession

	req     *connector.WriteRequest
	success *bucketConfig

	created bytes.Buffer // JSON Lines of SAP's answers to creates
	httpconn.Buffer[*pending]
}

// pending is one buffered record.
type pending = httpconn.Pending

var _ connector.FailureRecorder = (*writer)(nil)

// Write buffers the batch, each field encoded for its property.
func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	return w.Keep(ctx, b, func(p *pending, name string, v record.Value) {
		p.Body[name] = encode(w.ent.byName[name], v)
	}, func(p *pending) *pending { return p })
}

// encode turns a value into SAP OData v2 JSON for the property's Edm type:
// Int64 and Decimal as strings, DateTime as "/Date(ms)/", numbers and
// booleans native. A value that does not convert is sent as text, for SAP
// to refuse with its own message. JSON values (deep insert under a
// navigation property) are sent as they are.
func encode(p *property, v record.Value) any {
	if v.K == record.Null {
		return nil
	}
	if v.K == record.JSON {
		return json.RawMessage(v.S)
	}
	if p == nil || p.Nav {
		if v.K == record.Decimal {
			return v.Text() // OData v2 JSON writes decimals as strings
		}
		return httpconn.JSONValue(v)
	}
	t := strings.TrimSpace(v.Text())
	switch p.Edm {
	case "Edm.Boolean":
		if v.K == record.Bool {
			return v.Bool()
		}
		if b, err := strconv.ParseBool(t); err == nil {
			return b
		}
	case "Edm.Int16", "Edm.Int32", "Edm.Byte", "Edm.SByte":
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return n
		}
	case "Edm.Double", "Edm.Single":
		if v.K == record.Float {
			return v.Float()
		}
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return f
		}
	case "Edm.Int64", "Edm.Decimal":
		if v.K == record.Float {
			return strconv.FormatFloat(v.Float(), 'f', -1, 64)
		}
		return t
	case "Edm.DateTime", "Edm.DateTimeOffset":
		if v.K == record.Time || v.K == record.Int {
			return "/Date(" + strconv.FormatInt(v.Millis(), 10) + ")/"
		}
		if ms, ok := httpconn.ParseMillis(t); ok {
			return "/Date(" + strconv.FormatInt(ms, 10) + ")/"
		}
	}
	return v.Text()
}

func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if err := w.Begin(ctx); err != nil {
		return nil, err
	}
	var err error
	for _, p := range w.Recs {
		if err = ctx.Err(); err != nil {
			break
		}
		if err = w.send(ctx, p); err != nil {
			break
		}
	}
	w.Recs = nil
	if w.Result.RecordsWritten > 0 {
		w.Result.Objects = []string{w.objectPath}
	}
	_, _, ferr := rejects.Write(ctx, w.d.deps, w.req, rejectsFile, w.Result.Failures)
	serr := w.writeSuccesses(ctx)
	if err = errors.Join(err, ferr, serr); err != nil {
		return nil, err
	}
	return &w.Result, nil
}

// send writes one record: INSERT posts it, UPDATE merges it into the
// entity its id fields name, UPSERT merges and posts when SAP answers 404.
func (w *writer) send(ctx context.Context, p *pending) error {
	if w.op == "INSERT" {
		return w.insert(ctx, p)
	}
	pred, reason := w.keyPredicate(p)
	if reason != "" {
		return w.fail(p, reason)
	}
	body := map[string]any{}
	for k, v := range p.Body {
		if !w.isID(k) {
			body[k] = v
		}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return w.fail(p, "encode the record: "+err.Error())
	}
	res, err := w.sess.send(ctx, "MERGE", w.objectPath+pred, raw)
	if err != nil {
		return err
	}
	switch {
	case res.Status >= 200 && res.Status < 300:
		w.Result.RecordsWritten++
		w.Result.BytesWritten += int64(len(raw))
		return nil
	case res.Status == http.StatusNotFound && w.op == "UPSERT":
		return w.insert(ctx, p)
	}
	return w.refused(p, res)
}

func (w *writer) insert(ctx context.Context, p *pending) error {
	raw, err := json.Marshal(p.Body)
	if err != nil {
		return w.fail(p, "encode the record: "+err.Error())
	}
	res, err := w.sess.send(ctx, http.MethodPost, w.objectPath, raw)
	if err != nil {
		return err
	}
	if res.Status < 200 || res.Status >= 300 {
		return w.refused(p, res)
	}
	w.Result.RecordsWritten++
	w.Result.BytesWritten += int64(len(raw))
	if w.success != nil {
		var v struct {
			D json.RawMessage `json:"d"`
		}
		line := bytes.TrimSpace(res.Body)
		if json.Unmarshal(res.Body, &v) == nil && len(v.D) > 0 {
			line = v.D
		}
		var c bytes.Buffer
		if len(line) == 0 || json.Compact(&c, line) != nil {
			c.Reset()
			c.WriteString("{}")
		}
		w.created.Write(c.Bytes())
		w.created.WriteByte('\n')
	}
	return nil
}

// refused turns a non-2xx answer into a record failure (4xx: SAP refused
// this record) or a run error (anything else).
func (w *writer) refused(p *pending, res *httpconn.Response) error {
	e := parseAPIError(res.Status, res.Body)
	switch res.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusRequestTimeout:
		return classify(e)
	}
	if res.Status >= 400 && res.Status < 500 {
		return w.fail(p, e.Error())
	}
	return classify(e)
}

func (w *writer) isID(name string) bool {
	for _, id := range w.ids {
		if id.Name == name {
			return true
		}
	}
	return false
}

// keyPredicate writes ('v') for one id field and (K1='a',K2=5) for
// several, with literals typed per the property (connectors-saas-2 §8.4).
func (w *writer) keyPredicate(p *pending) (string, string) {
	var parts []string
	for _, id := range w.ids {
		v, ok := p.Text[id.Name]
		if !ok || v == "" {
			return "", fmt.Sprintf("the record has no value for the id field %s", id.Name)
		}
		lit, ok := literal(id.Edm, v)
		if !ok {
			return "", fmt.Sprintf("the id field %s value %q is not a valid %s", id.Name, v, id.Edm)
		}
		if len(w.ids) > 1 {
			lit = id.Name + "=" + lit
		}
		parts = append(parts, pathEscape(lit))
	}
	return "(" + strings.Join(parts, ",") + ")", ""
}

// pathEscape percent-encodes a key literal for a URL path, keeping the
// characters OData key predicates use.
func pathEscape(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9',
			strings.IndexByte("-._~'=:", b) >= 0:
			sb.WriteByte(b)
		default:
			fmt.Fprintf(&sb, "%%%02X", b)
		}
	}
	return sb.String()
}

func (w *writer) fail(p *pending, reason string) error {
	return w.Fail(p.Split, p.Line, p.Text, reason)
}

// writeSuccesses puts SAP's answers to created records, one JSON object a
// line, at s3://{bucketName}/{bucketPrefix}/{flow}/{execution}/sapodata-success-responses.jsonl.
func (w *writer) writeSuccesses(ctx context.Context) error {
	if w.success == nil || w.created.Len() == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx) // the records were created
	key := rejects.JoinKey(w.success.BucketPrefix, w.req.FlowName, w.req.ExecutionID, successesFile)
	b, err := awsconfig.OpenFolder(ctx, w.d.deps, w.success.BucketName, path.Dir(key))
	if err != nil {
		return fault.Wrap(fault.CodeOf(err), err, "success response bucket")
	}
	defer b.Close()
	if err := b.WriteAll(ctx, key, w.created.Bytes(), awsconfig.SSEKMS(w.req.KMSKeyArn, nil)); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "write SAP success responses to s3://%s/%s", w.success.BucketName, key)
	}
	return nil
}

// csrfSession holds one writer's CSRF token and SAP session cookies.
type csrfSession struct {
	c       *client
	svc     string
	token   string
	cookies []*http.Cookie
}

// fetch asks the service root for a token (X-CSRF-Token: Fetch).
func (s *csrfSession) fetch(ctx context.Context) error {
	res, err := s.c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: s.c.url(s.svc+"/", query{{"$format", "json"}}),
		Header: http.Header{"X-CSRF-Token": {"Fetch"}}, Idempotent: true})
	if err != nil {
		return err
	}
	tok := res.Header.Get("X-CSRF-Token")
	if tok == "" || strings.EqualFold(tok, "Required") {
		return fault.New(fault.AccessDenied, "SAP OData returned no CSRF token for %s/ (is CSRF protection configured for the service?)", s.svc)
	}
	s.token = tok
	s.absorb(res.Header)
	return nil
}

// absorb keeps the cookies an answer sets.
func (s *csrfSession) absorb(h http.Header) {
	for _, nc := range (&http.Response{Header: h}).Cookies() {
		kept := s.cookies[:0]
		for _, c := range s.cookies {
			if c.Name != nc.Name {
				kept = append(kept, c)
			}
		}
		s.cookies = append(kept, &http.Cookie{Name: nc.Name, Value: nc.Value})
	}
}

// send makes one modifying request with the token and cookies, fetching a
// token first when there is none and once more when SAP answers 403 with
// X-CSRF-Token: Required. 429 and 503 (the request was not processed) are
// retried with backoff; other 5xx are retried only for MERGE, whose
// repetition is harmless. A POST whose outcome is unknown (a transport
// error) is not sent again: it fails the run rather than risk a duplicate.
// Any other answer is returned.
func (s *csrfSession) send(ctx context.Context, method, path string, body []byte) (*httpconn.Response, error) {
	check := func(r *httpconn.Response) error {
		s.absorb(r.Header)
		switch {
		case r.Status == http.StatusUnauthorized:
			return httpconn.Reauth(classify(parseAPIError(r.Status, r.Body)))
		case r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable ||
			method != http.MethodPost && (retry.Status(r.Status) || r.Status == http.StatusInternalServerError):
			return httpconn.Retry(classify(parseAPIError(r.Status, r.Body)), r.RetryAfter())
		}
		return nil
	}
	for refetched := false; ; refetched = true {
		if s.token == "" {
			if err := s.fetch(ctx); err != nil {
				return nil, err
			}
		}
		h := http.Header{"X-CSRF-Token": {s.token}}
		if method != http.MethodPost {
			// The entity was not read, so its ETag is unknown: * lets an
			// ETag-protected service apply the change instead of 428.
			h.Set("If-Match", "*")
		}
		if len(s.cookies) > 0 {
			cs := make([]string, len(s.cookies))
			for i, c := range s.cookies {
				cs[i] = c.String()
			}
			h.Set("Cookie", strings.Join(cs, "; "))
		}
		res, err := s.c.Do(ctx, &httpconn.Request{Method: method, Path: s.c.url(path, nil), Body: body, Header: h,
			Idempotent: method != http.MethodPost, Check: check})
		if err != nil {
			return nil, err
		}
		if res.Status != http.StatusForbidden || !strings.EqualFold(res.Header.Get("X-CSRF-Token"), "Required") {
			return res, nil
		}
		if refetched {
			return nil, fault.New(fault.AccessDenied, "SAP OData refused a freshly fetched CSRF token for %s %s", method, path)
		}
		s.c.log.Info("sapodata: CSRF token refused, fetching a new one")
		s.token = ""
	}
}
