// Package datadogconn is the Datadog source (connectors-saas-1 §5): metric
// timeseries read with GET /api/v1/query and logs read with POST
// /api/v2/logs/events/search, with the DD-API-KEY and DD-APPLICATION-KEY
// headers on every call, against the site root in the profile's
// instanceUrl (https://api.datadoghq.com, https://api.datadoghq.eu, …).
//
// Choices where AppFlow is silent:
//   - Entities are "metrics-timeseries" and "log-queries" (Glue's names),
//     flat under the group "Objects"; one split per flow, named after the
//     entity.
//   - The time range is the incremental window intersected with any BETWEEN
//     on the date pseudo-field (from_to_date for metrics, from for logs; a
//     BETWEEN on the logs' timestamp counts too). A read with no range is
//     refused (fault.Invalid): Datadog queries are always time-bounded.
//     BETWEEN is inclusive; the window is [start, end).
//   - The query is the EQUAL_TO on the pseudo-field "query" — a Datadog
//     search or metric expression, not an equality on data. Metrics need
//     one; logs default to "*".
//   - Pseudo-fields, when projected, carry the query and the range's lower
//     bound (a datetime).
//   - Metrics: the range is read in calls of at most MetricsChunk (1 h by
//     default, so 1-minute points keep their interval), from floored and to
//     ceiled to Unix seconds; pointlists of the same series (same
//     expression and scope) are concatenated and trimmed to the range, one
//     record per series. A series with no point in range is dropped.
//   - Logs: one record per log; id and type, then data.attributes
//     flattened one level (timestamp, host, service, status, message, tags,
//     attributes). A field not in that list is looked up in the custom
//     attributes (attributes.attributes), as Datadog's @facets are. Logs
//     outside the range are trimmed here, so Datadog's inclusive "to" never
//     leaks.
//   - Errors: 401/403 → fault.AuthFailed with Datadog's message; 429 is
//     retried after X-RateLimit-Reset seconds (else Retry-After), however
//     long, when the run's deadline leaves room, and 502, 503, 504 with
//     backoff, through internal/connector/httpconn; other answers →
//     fault.ConnectorServer.
//
// Not done: halving a logs window that answers meta.status "timeout".
package datadogconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// Type is the connector type this package registers.
const Type = "Datadog"

// Entities.
const (
	Metrics = "metrics-timeseries"
	Logs    = "log-queries"
)

// Options configure the driver beyond the profile.
type Options struct {
	// Retry is the backoff for throttled and unavailable responses.
	Retry retry.Policy
	// PageSize is the logs page.limit; 0 means 1000 (Datadog's maximum).
	PageSize int
	// MetricsChunk is the longest range one metrics call asks for; 0 means 1 h.
	MetricsChunk time.Duration
}

func init() { httpconn.Register(Type, httpconn.Source, Open) }

type profileCreds struct {
	APIKey         string `json:"apiKey"`
	ApplicationKey string `json:"applicationKey"`
}

// Driver is one opened Datadog profile.
type Driver struct {
	c        *httpconn.Client
	pageSize int
	chunk    time.Duration
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	base, creds, err := httpconn.InstanceProfile[profileCreds](p, "Datadog", "https://api.datadoghq.com")
	if err != nil {
		return nil, err
	}
	if err := httpconn.Need(p, "Datadog", "both apiKey and applicationKey", creds.APIKey, creds.ApplicationKey); err != nil {
		return nil, err
	}
	c := httpconn.New(deps, httpconn.Config{Name: "Datadog", Base: base, Retry: opts.Retry,
		Auth:   httpconn.Headers(http.Header{"DD-API-KEY": {creds.APIKey}, "DD-APPLICATION-KEY": {creds.ApplicationKey}}),
		Header: http.Header{"Accept": {"application/json"}},
		Check:  check})
	d := &Driver{c: c, pageSize: httpconn.Size(opts.PageSize, 1000, 1000), chunk: opts.MetricsChunk}
	if d.chunk <= 0 {
		d.chunk = time.Hour
	}
	return d, nil
}

// CheckProfile calls GET /api/v1/validate, which proves the API key only;
// a wrong application key surfaces at the first read.
func (d *Driver) CheckProfile(ctx context.Context) error {
	var out struct {
		Valid bool `json:"valid"`
	}
	if _, err := d.call(ctx, http.MethodGet, "/api/v1/validate", nil, nil, &out); err != nil {
		return err
	}
	if !out.Valid {
		return fault.New(fault.AuthFailed, "Datadog says the API key is not valid")
	}
	return nil
}

// APIError is a Datadog error answer.
type APIError struct {
	Path   string
	Status int
	Errors []string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("Datadog %s: HTTP %d", e.Path, e.Status)
	if len(e.Errors) > 0 {
		s += ": " + strings.Join(e.Errors, "; ")
	}
	return s
}

// rateLimitReset reads X-RateLimit-Reset (seconds until the period resets),
// falling back to Retry-After.
func rateLimitReset(r *httpconn.Response) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(r.Header.Get("X-RateLimit-Reset"))); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	return r.RetryAfter()
}

// check reads Datadog's {"errors":[...]}: 429 waits for the rate-limit
// period to reset (which the run's deadline bounds, not a fixed cap);
// 401/403 are keys refused, which cannot be renewed.
func check(r *httpconn.Response) error {
	if r.OK() {
		return nil
	}
	e := &APIError{Path: r.Request.Path, Status: r.Status}
	var eb struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(r.Body, &eb) == nil {
		e.Errors = eb.Errors
	}
	switch {
	case r.Status == http.StatusTooManyRequests:
		return httpconn.Retry(fault.Wrap(fault.Throttled, e, "Datadog rate limit %s", r.Header.Get("X-RateLimit-Name")), rateLimitReset(r))
	case retry.Status(r.Status):
		return httpconn.Retry(fault.Wrap(fault.ConnectorServer, e, "Datadog unavailable"), r.RetryAfter())
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		return fault.Wrap(fault.AuthFailed, e, "Datadog authentication failed")
	}
	return fault.Wrap(fault.ConnectorServer, e, "Datadog")
}

// call sends one request and decodes the body into out; it returns the
// body size. Every Datadog call here reads, so each may be resent.
func (d *Driver) call(ctx context.Context, method, path string, q url.Values, body any, out any) (int, error) {
	r := &httpconn.Request{Method: method, Path: path, Query: q, Idempotent: true}
	if body != nil {
		var err error
		if r.Body, err = json.Marshal(body); err != nil {
			return 0, fault.Wrap(fault.Internal, err, "encode Datadog %s request", path)
		}
	}
	res, err := d.c.Do(ctx, r)
	if err != nil {
		return 0, err
	}
	return len(res.Body), res.JSON(out)
}

// ---- catalog ----

// ListEntities lists the two entities.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	return httpconn.Flat("Datadog", path, []connector.Entity{
		{Name: Metrics, Label: "Metrics Timeseries"},
		{Name: Logs, Label: "Log Queries"},
	})
}

var (
	between = []string{"BETWEEN"}
	equalTo = []string{"EQUAL_TO"}
)

var metricFields = []connector.EntityField{
	{Name: "metric", Label: "Metric", Type: "string"},
	{Name: "display_name", Label: "Display name", Type: "string"},
	{Name: "expression", Label: "Expression", Type: "string"},
	{Name: "scope", Label: "Scope", Type: "string"},
	{Name: "tag_set", Label: "Tag set", Type: "array"},
	{Name: "aggr", Label: "Aggregation", Type: "string"},
	{Name: "unit", Label: "Unit", Type: "array"},
	{Name: "interval", Label: "Interval", Type: "integer"},
	{Name: "length", Label: "Length", Type: "integer"},
	{Name: "start", Label: "Start", Type: "datetime"},
	{Name: "end", Label: "End", Type: "datetime"},
	{Name: "query_index", Label: "Query index", Type: "integer"},
	{Name: "pointlist", Label: "Point list", Type: "array"},
	{Name: "from_to_date", Label: "From-to date", Type: "datetime", FilterOperators: between},
	{Name: "query", Label: "Query", Type: "string", FilterOperators: equalTo},
}

var logFields = []connector.EntityField{
	{Name: "id", Label: "ID", Type: "string", IsPrimaryKey: true},
	{Name: "type", Label: "Type", Type: "string"},
	{Name: "timestamp", Label: "Timestamp", Type: "datetime", IsTimestampForIncremental: true},
	{Name: "host", Label: "Host", Type: "string"},
	{Name: "service", Label: "Service", Type: "string"},
	{Name: "status", Label: "Status", Type: "string"},
	{Name: "message", Label: "Message", Type: "string"},
	{Name: "tags", Label: "Tags", Type: "array"},
	{Name: "attributes", Label: "Attributes", Type: "struct"},
	{Name: "from", Label: "From", Type: "datetime", FilterOperators: between},
	{Name: "query", Label: "Query", Type: "string", FilterOperators: equalTo},
}

func fieldsOf(entity string) ([]connector.EntityField, string, bool) {
	switch entity {
	case Metrics:
		return metricFields, "from_to_date", true
	case Logs:
		return logFields, "from", true
	}
	return nil, "", false
}

// DescribeEntity returns an entity's fields, pseudo-fields last.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	fs, _, ok := fieldsOf(name)
	if !ok {
		return nil, fault.New(fault.NotFound, "Datadog has no entity %q; use %s or %s", name, Metrics, Logs)
	}
	return httpconn.Described(fs), nil
}

// ---- source ----

// plan is what one read asks Datadog for.
type plan struct {
	entity, dateField string
	query             string
	lo, hi            int64 // [lo, hi) epoch ms
}

// Splits returns one split for the entity, after checking the range and
// query.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	p, err := planOf(req)
	if err != nil {
		return nil, err
	}
	return []connector.Split{{Name: req.Object, Opaque: p}}, nil
}

func planOf(req *connector.ReadRequest) (*plan, error) {
	_, dateField, ok := fieldsOf(req.Object)
	if !ok {
		return nil, fault.New(fault.Invalid, "Datadog has no entity %q; use %s or %s", req.Object, Metrics, Logs)
	}
	p := &plan{entity: req.Object, dateField: dateField, lo: math.MinInt64, hi: math.MaxInt64}
	ranged := false
	if w := req.Window; w != nil {
		p.lo, p.hi = max(p.lo, w.Start.UnixMilli()), min(p.hi, w.End.UnixMilli())
		ranged = true
	}
	for _, f := range req.Filters {
		switch {
		case f.Field == "query" && f.Operator == "EQUAL_TO":
			if len(f.Values) != 1 {
				return nil, fault.New(fault.Invalid, "Datadog %s: EQUAL_TO on query takes one value, got %d", req.Object, len(f.Values))
			}
			p.query = f.Values[0]
		case f.Operator == "BETWEEN" && (f.Field == dateField || req.Object == Logs && f.Field == "timestamp"):
			a, b, err := httpconn.Between(f, "Datadog "+req.Object, "datetimes", httpconn.ParseMillis)
			if err != nil {
				return nil, err
			}
			p.lo, p.hi = max(p.lo, a), min(p.hi, b+1)
			ranged = true
		}
	}
	if !ranged {
		return nil, fault.New(fault.Invalid, "Datadog %s needs a date range: a BETWEEN on %s or an incremental window", req.Object, dateField)
	}
	if p.query == "" {
		if req.Object == Metrics {
			return nil, fault.New(fault.Invalid, "Datadog %s needs a metric query: an EQUAL_TO filter on query", req.Object)
		}
		p.query = "*"
	}
	return p, nil
}

// ReadSplit reads the entity over the plan's range.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	p, err := httpconn.Plan[*plan](ctx, s, "Datadog")
	if err != nil {
		return err
	}
	fs, _, _ := fieldsOf(p.entity)
	fields := httpconn.Projection(req.Fields, fs)
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.lo >= p.hi {
		return emit(&record.Batch{Fields: fields, Split: s.Name, FirstLine: 1, Final: true})
	}
	if p.entity == Metrics {
		err = d.readMetrics(ctx, p, fields, s.Name, emit)
	} else {
		err = d.readLogs(ctx, p, fields, s.Name, emit)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", s.Name, err)
	}
	return nil
}

func (p *plan) pseudo(field string) (record.Value, bool) {
	switch field {
	case "query":
		return record.Str(p.query), true
	case p.dateField:
		if p.lo == math.MinInt64 {
			return record.NullVal(), true
		}
		return record.MillisVal(p.lo), true
	}
	return record.Value{}, false
}

func (d *Driver) readLogs(ctx context.Context, p *plan, fields []string, split string, emit func(*record.Batch) error) error {
	filter := map[string]any{"query": p.query, "indexes": []string{"*"},
		"from": formatMillis(max(p.lo, 0)), "to": formatMillis(p.hi - 1)}
	if p.hi == math.MaxInt64 {
		filter["to"] = "now"
	}
	line := int64(1)
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page := map[string]any{"limit": d.pageSize}
		if cursor != "" {
			page["cursor"] = cursor
		}
		var out struct {
			Data *[]struct {
				ID         string                     `json:"id"`
				Type       string                     `json:"type"`
				Attributes map[string]json.RawMessage `json:"attributes"`
			} `json:"data"`
			Meta struct {
				Page struct {
					After string `json:"after"`
				} `json:"page"`
				Status string `json:"status"`
			} `json:"meta"`
		}
		n, err := d.call(ctx, http.MethodPost, "/api/v2/logs/events/search", nil,
			map[string]any{"filter": filter, "sort": "timestamp", "page": page}, &out)
		if err != nil {
			return err
		}
		if out.Meta.Status == "timeout" {
			return fault.New(fault.ConnectorServer, "Datadog logs search timed out (partial result) for query %q", p.query)
		}
		if out.Data == nil {
			return fault.New(fault.ConnectorServer, "Datadog logs search for query %q answered no data", p.query)
		}
		if out.Meta.Page.After != "" && out.Meta.Page.After == cursor {
			return fault.New(fault.ConnectorServer, "Datadog logs search answered the same page cursor twice (%.80s)", cursor)
		}
		b := &record.Batch{Fields: fields, Split: split, FirstLine: line, SourceBytes: int64(n)}
		for i, l := range *out.Data {
			var ts string
			_ = json.Unmarshal(l.Attributes["timestamp"], &ts)
			ms, ok := httpconn.ParseMillis(ts)
			if !ok {
				return fault.New(fault.ConnectorServer, "log %d (id %s) has no valid timestamp (%s)", line+int64(i), l.ID, httpconn.Excerpt(l.Attributes["timestamp"]))
			}
			if ms < p.lo || ms >= p.hi {
				continue
			}
			var custom map[string]json.RawMessage
			if raw := l.Attributes["attributes"]; len(raw) > 0 && raw[0] == '{' {
				_ = json.Unmarshal(raw, &custom)
			}
			for _, f := range fields {
				switch f {
				case "id":
					b.Cells = append(b.Cells, record.Str(l.ID))
				case "type":
					b.Cells = append(b.Cells, record.Str(l.Type))
				case "timestamp":
					b.Cells = append(b.Cells, record.MillisVal(ms))
				default:
					if v, ok := p.pseudo(f); ok {
						b.Cells = append(b.Cells, v)
					} else if raw, ok := l.Attributes[f]; ok {
						b.Cells = append(b.Cells, httpconn.Value(raw))
					} else {
						b.Cells = append(b.Cells, httpconn.Value(custom[f]))
					}
				}
			}
		}
		line += int64(len(*out.Data))
		b.Final = out.Meta.Page.After == ""
		if err := emit(b); err != nil {
			return err
		}
		if b.Final {
			return nil
		}
		cursor = out.Meta.Page.After
	}
}

func formatMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

type series struct {
	fields map[string]json.RawMessage
	points []json.RawMessage
	start  int64
	end    int64
}

func (d *Driver) readMetrics(ctx context.Context, p *plan, fields []string, split string, emit func(*record.Batch) error) error {
	lo := p.lo
	if lo == math.MinInt64 {
		lo = 0
	}
	chunk := d.chunk.Milliseconds()
	byKey := map[string]*series{}
	var order []*series
	var total int64
	for from := lo; from < p.hi; {
		if err := ctx.Err(); err != nil {
			return err
		}
		to := p.hi
		if to-from > chunk {
			to = from + chunk
		}
		q := url.Values{"query": {p.query}, "from": {strconv.FormatInt(floorDiv(from, 1000), 10)},
			"to": {strconv.FormatInt(-floorDiv(-to, 1000), 10)}}
		var out struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Series []map[string]json.RawMessage
		}
		n, err := d.call(ctx, http.MethodGet, "/api/v1/query", q, nil, &out)
		if err != nil {
			return err
		}
		total += int64(n)
		if out.Status != "" && out.Status != "ok" {
			return fault.New(fault.ConnectorServer, "Datadog metrics query %q: status %s: %s", p.query, out.Status, out.Error)
		}
		for i, sr := range out.Series {
			var pts []json.RawMessage
			if err := json.Unmarshal(sr["pointlist"], &pts); err != nil && len(sr["pointlist"]) > 0 && string(sr["pointlist"]) != "null" {
				return fault.New(fault.ConnectorServer, "series %d has an unreadable pointlist", i)
			}
			key := string(sr["expression"]) + "\x00" + string(sr["scope"]) + "\x00" + string(sr["query_index"])
			cur := byKey[key]
			for _, pt := range pts {
				var pair []json.Number
				dec := json.NewDecoder(bytes.NewReader(pt))
				dec.UseNumber()
				if dec.Decode(&pair) != nil || len(pair) != 2 {
					return fault.New(fault.ConnectorServer, "series %d has an unreadable point %s", i, httpconn.Excerpt(pt))
				}
				t, err := pair[0].Float64()
				if err != nil {
					return fault.New(fault.ConnectorServer, "series %d has an unreadable point %s", i, httpconn.Excerpt(pt))
				}
				ms := int64(t)
				// Chunks overlap by the second rounding: keep each point in its own chunk.
				if ms < max(p.lo, from) || ms >= min(p.hi, to) {
					continue
				}
				if cur == nil {
					cur = &series{fields: sr, start: ms}
					byKey[key] = cur
					order = append(order, cur)
				}
				cur.points = append(cur.points, pt)
				cur.end = ms
			}
		}
		from = to
	}
	b := &record.Batch{Fields: fields, Split: split, FirstLine: 1, SourceBytes: total, Final: true}
	for _, sr := range order {
		for _, f := range fields {
			switch f {
			case "pointlist":
				var buf bytes.Buffer
				buf.WriteByte('[')
				for i, pt := range sr.points {
					if i > 0 {
						buf.WriteByte(',')
					}
					_ = json.Compact(&buf, pt)
				}
				buf.WriteByte(']')
				b.Cells = append(b.Cells, record.JSONVal(buf.String()))
			case "length":
				b.Cells = append(b.Cells, record.IntVal(int64(len(sr.points))))
			case "start":
				b.Cells = append(b.Cells, record.MillisVal(sr.start))
			case "end":
				var iv int64
				_ = json.Unmarshal(sr.fields["interval"], &iv)
				b.Cells = append(b.Cells, record.MillisVal(sr.end+max(iv*1000-1000, 0)))
			default:
				if v, ok := p.pseudo(f); ok {
					b.Cells = append(b.Cells, v)
				} else {
					b.Cells = append(b.Cells, httpconn.Value(sr.fields[f]))
				}
			}
		}
	}
	return emit(b)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
