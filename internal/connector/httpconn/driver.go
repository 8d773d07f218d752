package httpconn

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// What the rest of a SaaS driver shares beyond HTTP: its registration,
// its profile, its errors, its values and the life of a buffered writer.

// AppFlow's field types, as a driver's catalog and records name them.
const (
	TypeString   record.FieldType = "string"
	TypeInteger  record.FieldType = "integer"
	TypeLong     record.FieldType = "long"
	TypeDecimal  record.FieldType = "decimal"
	TypeDouble   record.FieldType = "double"
	TypeBoolean  record.FieldType = "boolean"
	TypeDateTime record.FieldType = "datetime"
	TypeArray    record.FieldType = "array"
	TypeStruct   record.FieldType = "struct"
)

// Options configure a driver that needs no more than a retry policy and
// a page size beyond its profile.
type Options struct {
	// Retry is the backoff for throttled and unavailable responses.
	Retry retry.Policy
	// PageSize is the records asked for per call; 0 means the driver's
	// default.
	PageSize int
}

// Roles say what a driver can be in a flow.
type Roles int

const (
	Source Roles = 1 << iota
	Destination
)

// Driver is what every SaaS driver is: it lists and describes its
// entities and checks a profile.
type Driver interface {
	connector.CatalogDriver
	connector.ProfileChecker
}

// Spec is the registration of a driver that needs a profile, opened with
// opts; the catalog entry supplies the rest of the capabilities. A D that
// cannot read (Source) or write (Destination) as roles say is a mistake of
// the driver's, and panics when its package registers.
func Spec[O any, D Driver](typ string, roles Roles, opts O, open func(connector.Deps, connector.Profile, O) (D, error)) connector.Spec {
	var d D
	if _, ok := any(d).(connector.SourceDriver); roles&Source != 0 && !ok {
		panic(fmt.Sprintf("httpconn: the %s driver %T is not a connector.SourceDriver", typ, d))
	}
	if _, ok := any(d).(connector.DestinationDriver); roles&Destination != 0 && !ok {
		panic(fmt.Sprintf("httpconn: the %s driver %T is not a connector.DestinationDriver", typ, d))
	}
	return connector.Spec{
		Capabilities: connector.Capabilities{Type: typ, NeedsProfile: true,
			CanUseAsSource: roles&Source != 0, CanUseAsDestination: roles&Destination != 0},
		Open: func(ctx context.Context, deps connector.Deps, p connector.Profile) (connector.Driver, error) {
			return open(deps, p, opts)
		},
	}
}

// Register registers a driver with its zero options, as its init does.
func Register[O any, D Driver](typ string, roles Roles, open func(connector.Deps, connector.Profile, O) (D, error)) {
	var opts O
	connector.Register(Spec(typ, roles, opts, open))
}

// Need refuses a profile whose credentials lack any of vals
// (fault.AuthFailed); what names them for the user.
func Need(p connector.Profile, vendor, what string, vals ...string) error {
	if slices.Contains(vals, "") {
		return fault.New(fault.AuthFailed, "the %s profile %s needs %s", vendor, p.Name, what)
	}
	return nil
}

// InstanceURL is a profile's instanceUrl as a base URL: trimmed, without
// a trailing slash, https:// unless it names a scheme. One that is empty
// or not an http(s) URL with a host is refused with an example of the
// vendor's.
func InstanceURL(p connector.Profile, raw, vendor, example string) (string, error) {
	base := strings.TrimRight(strings.TrimSpace(raw), "/")
	if base == "" {
		return "", fault.New(fault.Invalid, "the %s profile %s has no instanceUrl (e.g. %s)", vendor, p.Name, example)
	}
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	if u, err := url.Parse(base); err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
		return "", fault.New(fault.Invalid, "the %s profile's instanceUrl %q is not an http(s) URL such as %s", vendor, raw, example)
	}
	return base, nil
}

// InstanceProfile reads a profile whose properties name only its
// instance: the base URL InstanceURL makes of it, and the credentials.
func InstanceProfile[Creds any](p connector.Profile, vendor, example string) (base string, creds Creds, err error) {
	props, creds, err := connector.DecodeProfile[Instance, Creds](p, vendor)
	if err != nil {
		return "", creds, err
	}
	base, err = InstanceURL(p, props.InstanceURL, vendor, example)
	return base, creds, err
}

// Size is a page or batch size: n, or def when n is not in 1..most
// (most 0: no bound).
func Size(n, def, most int) int {
	if n <= 0 || most > 0 && n > most {
		return def
	}
	return n
}

// WriteProps are the destination properties of AppFlow's SaaS
// destinations that say how records are written; a driver embeds them in
// its own.
type WriteProps struct {
	WriteOperationType string   `json:"writeOperationType"`
	IDFieldNames       []string `json:"idFieldNames"`
}

// Operation is the write operation in upper case: the request's, else the
// properties', else INSERT.
func (p WriteProps) Operation(r *connector.WriteRequest) string {
	return strings.ToUpper(cmp.Or(r.WriteOperation, p.WriteOperationType, "INSERT"))
}

// IDFields are the fields records are matched on: the request's, else the
// properties'.
func (p WriteProps) IDFields(r *connector.WriteRequest) []string {
	if len(r.IDFields) > 0 {
		return r.IDFields
	}
	return p.IDFieldNames
}

// SourceObject is the object a read names: the request's, else its source
// properties' object (the whole of some vendors' source properties).
func SourceObject(r *connector.ReadRequest, vendor string) (string, error) {
	props, err := connector.DecodeProperties[struct {
		Object string `json:"object"`
	}](r.Properties, vendor, "source")
	return cmp.Or(r.Object, props.Object), err
}

// Plan is the driver's own plan a split carries (connector.Split.Opaque),
// once the read may start (ctx has not ended).
func Plan[P any](ctx context.Context, s connector.Split, vendor string) (P, error) {
	p, ok := s.Opaque.(P)
	if !ok {
		return p, fault.New(fault.Internal, "split %s was not made by the %s driver", s.Name, vendor)
	}
	return p, ctx.Err()
}

// Instance is the profile properties of a vendor that only names its
// instance.
type Instance struct {
	InstanceURL string `json:"instanceUrl"`
}

// OAuthCredentials is AppFlow's OAuth credentials member of a profile.
type OAuthCredentials struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	OAuthRequest *struct {
		AuthCode    string `json:"authCode"`
		RedirectURI string `json:"redirectUri"`
	} `json:"oAuthRequest"`
}

// Usable says the member holds a token, or a code or refresh token to get
// one.
func (o *OAuthCredentials) Usable() bool {
	return o != nil && (o.AccessToken != "" || o.RefreshToken != "" || o.OAuthRequest != nil && o.OAuthRequest.AuthCode != "")
}

// OAuth2 is the token configuration the member starts: its code is
// exchanged only when it holds no access token.
func (o *OAuthCredentials) OAuth2(tokenURL string) OAuth2 {
	c := OAuth2{TokenURL: tokenURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret, AccessToken: o.AccessToken, RefreshToken: o.RefreshToken}
	if r := o.OAuthRequest; r != nil && o.AccessToken == "" {
		c.Code, c.RedirectURI = r.AuthCode, r.RedirectURI
	}
	return c
}

// Error is a vendor's refusal as its answer explains it.
type Error struct {
	Vendor  string
	Status  int    // the HTTP status
	Code    string // the vendor's own error code, if any
	Message string
	Detail  string // more: field errors, a transaction id
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s responded %d", e.Vendor, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// ParseError reads a refusal: in the vendor's own shape when own, given
// the body, fills e and says so; else as an OAuth 2.0 error (RFC 6749
// §5.2: error, error_description); else the start of the body (an HTML
// page, plain text) is the message.
func ParseError(vendor string, status int, body []byte, own func(body []byte, e *Error) bool) *Error {
	e := &Error{Vendor: vendor, Status: status}
	if own != nil && own(body, e) {
		return e
	}
	var o struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &o) == nil && o.Error != "" {
		e.Code, e.Message = o.Error, o.Description
		return e
	}
	e.Message = strings.TrimSpace(string(body[:min(len(body), 300)]))
	return e
}

// ParseMillis reads a filter value that is a point in time: epoch
// milliseconds, RFC 3339, or a date and time without a zone (UTC).
func ParseMillis(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

// Between reads a BETWEEN filter's two bounds with parse, refusing
// another number of values or one parse cannot read (fault.Invalid; what
// names the read, "Datadog logs", and kind the values, "datetimes").
func Between[T any](f connector.Filter, what, kind string, parse func(string) (T, bool)) (lo, hi T, err error) {
	if len(f.Values) != 2 {
		return lo, hi, fault.New(fault.Invalid, "%s: BETWEEN on %s takes two values", what, f.Field)
	}
	lo, ok1 := parse(f.Values[0])
	hi, ok2 := parse(f.Values[1])
	if !ok1 || !ok2 {
		return lo, hi, fault.New(fault.Invalid, "%s: BETWEEN on %s needs %s, got %q", what, f.Field, kind, f.Values)
	}
	return lo, hi, nil
}

// Pause waits before poll number n of a vendor's job: first, doubling up
// to most; or until ctx ends.
func Pause(ctx context.Context, n int, first, most time.Duration) error {
	wait := first
	for range n {
		if wait >= most {
			break
		}
		wait *= 2
	}
	t := time.NewTimer(min(wait, most))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Value is a JSON value of a vendor's answer as a record value: strings,
// booleans and null as such, integers as Int, other numbers as Decimal
// (exact), objects and arrays as compact JSON.
func Value(raw json.RawMessage) record.Value {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return record.Value{}
	}
	switch raw[0] {
	case 'n':
		return record.NullVal()
	case 't':
		return record.BoolVal(true)
	case 'f':
		return record.BoolVal(false)
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return record.Str(string(raw))
		}
		return record.Str(s)
	case '{', '[':
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return record.JSONVal(buf.String())
		}
		return record.JSONVal(string(raw))
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return record.IntVal(n)
	}
	return record.DecimalVal(string(raw))
}

// Buffer is the life of a destination writer that keeps records until
// Commit and sends them then: Write and RecordFailures until Commit or
// Abort, each at most once. Result gathers what tasks and the vendor
// rejected. Embed it in the writer.
type Buffer[P any] struct {
	Vendor   string
	FailFast bool // failOnFirstDestinationError
	Recs     []P
	Result   connector.WriteResult

	done, aborted bool
}

// Usable refuses a write after Commit or Abort, or once ctx has ended.
func (b *Buffer[P]) Usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.done {
		return fault.New(fault.Internal, "%s writer used after Commit or Abort", b.Vendor)
	}
	return nil
}

// RecordFailures keeps records a task rejected before they reached the
// writer (a Map task's DESTINATION_DATA_TYPE), so that they reach the
// error bucket with the vendor's rejections and WriteResult.Failures.
func (b *Buffer[P]) RecordFailures(ctx context.Context, f []connector.RecordFailure) error {
	if b.done {
		return fault.New(fault.Internal, "%s writer used after Commit or Abort", b.Vendor)
	}
	b.Result.Failures = append(b.Result.Failures, f...)
	return nil
}

// Abort drops the buffered records; nothing was sent.
func (b *Buffer[P]) Abort(ctx context.Context) error {
	if !b.done {
		b.done, b.aborted = true, true
		b.Recs = nil
	}
	return nil
}

// Begin starts the one Commit.
func (b *Buffer[P]) Begin(ctx context.Context) error {
	if b.done {
		if b.aborted {
			return fault.New(fault.Internal, "%s writer committed after Abort", b.Vendor)
		}
		return fault.New(fault.Internal, "%s writer committed twice", b.Vendor)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.done = true
	return nil
}

// Pending is a record a Buffer keeps until Commit: where it stands in the
// source, its present fields as text (what a rejection reports) and the
// body the vendor is sent.
type Pending struct {
	Split string
	Line  int64
	Text  map[string]string
	Body  map[string]any
}

// Keep buffers batch's records, once Usable: each starts as a Pending of
// its place and its present fields' text, set adds each present field to
// its body, and keep makes it the P buffered.
func (b *Buffer[P]) Keep(ctx context.Context, batch *record.Batch, set func(p *Pending, field string, v record.Value), keep func(*Pending) P) error {
	if err := b.Usable(ctx); err != nil {
		return err
	}
	for i := range batch.Len() {
		p := &Pending{Split: batch.Split, Line: batch.FirstLine + int64(i), Text: map[string]string{}, Body: map[string]any{}}
		for j, v := range batch.Row(i) {
			if v.K == record.Missing {
				continue
			}
			p.Text[batch.Fields[j]] = v.Text()
			set(p, batch.Fields[j], v)
		}
		b.Recs = append(b.Recs, keep(p))
	}
	return nil
}

// Fail records one record the vendor rejected; with FailFast it ends the
// write.
func (b *Buffer[P]) Fail(split string, line int64, rec map[string]string, reason string) error {
	b.Result.Failures = append(b.Result.Failures, connector.RecordFailure{Split: split, Line: line, Reason: reason, Record: rec})
	if b.FailFast {
		return fault.New(fault.ConnectorServer, "%s rejected the record at %s line %d: %s", b.Vendor, split, line, reason)
	}
	return nil
}

// JSONValue is a record value as a vendor's JSON body carries it: null,
// numbers and booleans native, decimals as exact numbers, JSON as it is,
// anything else as text.
func JSONValue(v record.Value) any {
	switch v.K {
	case record.Null:
		return nil
	case record.Int:
		return v.Int()
	case record.Float:
		return v.Float()
	case record.Bool:
		return v.Bool()
	case record.Decimal:
		return json.Number(v.S)
	case record.JSON:
		return json.RawMessage(v.S)
	}
	return v.Text()
}

// Rows is a batch of a vendor's JSON objects, one record each: the
// projection's fields, or with none the schema's names and then whatever
// other members the objects carry, sorted so that batches are stable. A
// member an object lacks is Missing.
func Rows(fields, schema []string, objs []map[string]json.RawMessage) *record.Batch {
	if fields == nil {
		fields = slices.Clone(schema)
		var extra []string
		for _, o := range objs {
			for k := range o {
				if !slices.Contains(fields, k) && !slices.Contains(extra, k) {
					extra = append(extra, k)
				}
			}
		}
		slices.Sort(extra)
		fields = append(fields, extra...)
	}
	b := &record.Batch{Fields: fields, Cells: make([]record.Value, 0, len(fields)*len(objs))}
	for _, o := range objs {
		for _, f := range fields {
			b.Cells = append(b.Cells, Value(o[f]))
		}
	}
	return b
}
