// Package dynatraceconn is the Dynatrace source (connectors-saas-1 §6):
// problems, events and metric data points read through the environment API
// v2 ({instanceUrl}/api/v2/…) with "Authorization: Api-Token <token>".
//
// Choices where AppFlow is silent:
//   - instanceUrl is the environment root (https://<env>.live.dynatrace.com,
//     https://<domain>/e/<env>, an ActiveGate); /api/v2 is appended, the
//     URL is never rebuilt from a subdomain.
//   - Entities are "problems", "events" and "metrics", flat under
//     "Objects"; one split per flow, named after the entity.
//   - The range is the incremental window intersected with a BETWEEN on
//     the pseudo-field from_to_date (or on startTime), sent as epoch-ms
//     from/to. A range is required (fault.Invalid otherwise). A BETWEEN
//     spanning more than 30 days is refused (fault.Invalid, AppFlow's
//     limit); a longer window (a first scheduled run) is clamped to its
//     last 30 days.
//   - Selectors are EQUAL_TO filters on pseudo-fields: problemSelector,
//     eventSelector, entitySelector, metricSelector (required for metrics)
//     and resolution; they are passed through verbatim. Projected
//     pseudo-fields carry the value used (from_to_date: the range's start).
//   - Problems and events are passed through as Dynatrace matches them (a
//     problem is returned when its start or end falls in the timeframe), so
//     a long-running problem may appear in consecutive runs. Nested arrays
//     and objects are JSON; startTime/endTime are datetimes, endTime -1
//     (open) is null.
//   - Metrics are flattened to one record per (metric, dimension set,
//     timestamp): metricId, timestamp, value, dimensions, dimensionMap, and
//     any other projected field is read from dimensionMap (the dimension
//     keys, e.g. dt.entity.host). Null values are kept as null.
//   - nextPageKey requests carry nothing else, as Dynatrace requires.
//   - 401/403 → fault.AuthFailed with Dynatrace's message; a bare 429 (no
//     rate headers since 1.210) is retried with backoff, honouring
//     Retry-After if present, as are 502/503/504; other answers →
//     fault.ConnectorServer.
//
// Not done: the metric descriptor (GET /api/v2/metrics/{key}) for
// per-metric dimension columns in the catalog.
package dynatraceconn

import (
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
const Type = "Dynatrace"

// Entities.
const (
	Problems = "problems"
	Events   = "events"
	Metrics  = "metrics"
)

// MaxRange is AppFlow's limit on a Dynatrace flow's date range.
const MaxRange = 30 * 24 * time.Hour

// Options configure the driver beyond the profile; its PageSize is the
// pageSize of problems (≤500) and events (≤1000); 0 means the maximum.
type Options = httpconn.Options

func init() { httpconn.Register(Type, httpconn.Source, Open) }

// Driver is one opened Dynatrace profile.
type Driver struct {
	c        *httpconn.Client
	pageSize int
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	base, creds, err := httpconn.InstanceProfile[struct {
		APIToken string `json:"apiToken"`
	}](p, "Dynatrace", "https://<environment-id>.live.dynatrace.com")
	if err != nil {
		return nil, err
	}
	if err := httpconn.Need(p, "Dynatrace", "an apiToken", creds.APIToken); err != nil {
		return nil, err
	}
	c := httpconn.New(deps, httpconn.Config{Name: "Dynatrace", Base: base + "/api/v2", Retry: opts.Retry,
		Auth:   httpconn.Header("Authorization", "Api-Token "+creds.APIToken),
		Header: http.Header{"Accept": {"application/json"}},
		Check:  httpconn.StatusCheck(apiError)})
	return &Driver{c: c, pageSize: opts.PageSize}, nil
}

// CheckProfile lists one problem of the last hour: 401 is a bad token, 403
// a token without problems.read.
func (d *Driver) CheckProfile(ctx context.Context) error {
	q := url.Values{"pageSize": {"1"}}
	var out struct{}
	_, err := d.call(ctx, "/problems", q, &out)
	return err
}

// APIError is a Dynatrace error answer.
type APIError struct {
	Path    string
	Status  int
	Message string
	Details []string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("Dynatrace %s: HTTP %d", e.Path, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if len(e.Details) > 0 {
		s += " (" + strings.Join(e.Details, "; ") + ")"
	}
	return s
}

// apiError reads Dynatrace's {"error":{"message","constraintViolations"}}:
// 429 is throttling, 401/403 a token refused or lacking a scope.
func apiError(r *httpconn.Response) error {
	e := &APIError{Path: r.Request.Path, Status: r.Status}
	var eb struct {
		Error struct {
			Message     string `json:"message"`
			Constraints []struct {
				Path    string `json:"path"`
				Message string `json:"message"`
			} `json:"constraintViolations"`
		} `json:"error"`
	}
	if json.Unmarshal(r.Body, &eb) == nil {
		e.Message = eb.Error.Message
		for _, c := range eb.Error.Constraints {
			e.Details = append(e.Details, c.Path+": "+c.Message)
		}
	}
	switch {
	case r.Status == http.StatusTooManyRequests:
		return fault.Wrap(fault.Throttled, e, "Dynatrace throttled")
	case retry.Status(r.Status):
		return fault.Wrap(fault.ConnectorServer, e, "Dynatrace unavailable")
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		return fault.Wrap(fault.AuthFailed, e, "Dynatrace authentication failed")
	}
	return fault.Wrap(fault.ConnectorServer, e, "Dynatrace")
}

// call GETs path and decodes the answer into out; it returns the body size.
func (d *Driver) call(ctx context.Context, path string, q url.Values, out any) (int, error) {
	res, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: path, Query: q, Idempotent: true})
	if err != nil {
		return 0, err
	}
	return len(res.Body), res.JSON(out)
}

// ---- catalog ----

// ListEntities lists the three entities.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	return httpconn.Flat("Dynatrace", path, []connector.Entity{
		{Name: Problems, Label: "Problems"}, {Name: Events, Label: "Events"}, {Name: Metrics, Label: "Metrics"},
	})
}

var (
	between = []string{"BETWEEN"}
	equalTo = []string{"EQUAL_TO"}
	rangeF  = connector.EntityField{Name: "from_to_date", Label: "From-to date", Type: "datetime", FilterOperators: between}
)

func sel(name, label string) connector.EntityField {
	return connector.EntityField{Name: name, Label: label, Type: "string", FilterOperators: equalTo}
}

var entityFields = map[string][]connector.EntityField{
	Problems: {
		{Name: "problemId", Label: "Problem ID", Type: "string", IsPrimaryKey: true},
		{Name: "displayId", Label: "Display ID", Type: "string"},
		{Name: "title", Label: "Title", Type: "string"},
		{Name: "impactLevel", Label: "Impact level", Type: "string"},
		{Name: "severityLevel", Label: "Severity level", Type: "string"},
		{Name: "status", Label: "Status", Type: "string"},
		{Name: "affectedEntities", Label: "Affected entities", Type: "array"},
		{Name: "impactedEntities", Label: "Impacted entities", Type: "array"},
		{Name: "rootCauseEntity", Label: "Root cause entity", Type: "struct"},
		{Name: "managementZones", Label: "Management zones", Type: "array"},
		{Name: "entityTags", Label: "Entity tags", Type: "array"},
		{Name: "problemFilters", Label: "Problem filters", Type: "array"},
		{Name: "startTime", Label: "Start time", Type: "datetime", IsTimestampForIncremental: true},
		{Name: "endTime", Label: "End time", Type: "datetime"},
		rangeF, sel("problemSelector", "Problem selector"), sel("entitySelector", "Entity selector"),
	},
	Events: {
		{Name: "eventId", Label: "Event ID", Type: "string", IsPrimaryKey: true},
		{Name: "eventType", Label: "Event type", Type: "string"},
		{Name: "title", Label: "Title", Type: "string"},
		{Name: "startTime", Label: "Start time", Type: "datetime", IsTimestampForIncremental: true},
		{Name: "endTime", Label: "End time", Type: "datetime"},
		{Name: "status", Label: "Status", Type: "string"},
		{Name: "entityId", Label: "Entity ID", Type: "struct"},
		{Name: "properties", Label: "Properties", Type: "array"},
		rangeF, sel("eventSelector", "Event selector"), sel("entitySelector", "Entity selector"),
	},
	Metrics: {
		{Name: "metricId", Label: "Metric ID", Type: "string"},
		{Name: "timestamp", Label: "Timestamp", Type: "datetime", IsTimestampForIncremental: true},
		{Name: "value", Label: "Value", Type: "double"},
		{Name: "dimensions", Label: "Dimensions", Type: "array"},
		{Name: "dimensionMap", Label: "Dimension map", Type: "struct"},
		rangeF, sel("metricSelector", "Metric selector"), sel("entitySelector", "Entity selector"), sel("resolution", "Resolution"),
	},
}

// DescribeEntity returns an entity's fields, pseudo-fields last.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	fs, ok := entityFields[name]
	if !ok {
		return nil, fault.New(fault.NotFound, "Dynatrace has no entity %q; use problems, events or metrics", name)
	}
	return httpconn.Described(fs), nil
}

// ---- source ----

type plan struct {
	entity    string
	lo, hi    int64 // [lo, hi) epoch ms
	selectors map[string]string
}

// Splits returns one split for the entity after checking the range.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	fs, ok := entityFields[req.Object]
	if !ok {
		return nil, fault.New(fault.Invalid, "Dynatrace has no entity %q; use problems, events or metrics", req.Object)
	}
	p := &plan{entity: req.Object, lo: math.MinInt64, hi: math.MaxInt64, selectors: map[string]string{}}
	isSel := map[string]bool{}
	for _, f := range fs {
		if len(f.FilterOperators) == 1 && f.FilterOperators[0] == "EQUAL_TO" {
			isSel[f.Name] = true
		}
	}
	windowed := false
	if w := req.Window; w != nil {
		p.lo, p.hi = w.Start.UnixMilli(), w.End.UnixMilli()
		windowed = true
	}
	betweened := false
	for _, f := range req.Filters {
		switch {
		case f.Operator == "EQUAL_TO" && isSel[f.Field]:
			if len(f.Values) != 1 {
				return nil, fault.New(fault.Invalid, "Dynatrace %s: EQUAL_TO on %s takes one value", req.Object, f.Field)
			}
			p.selectors[f.Field] = f.Values[0]
		case f.Operator == "BETWEEN" && (f.Field == "from_to_date" || f.Field == "startTime"):
			a, b, err := httpconn.Between(f, "Dynatrace "+req.Object, "datetimes", httpconn.ParseMillis)
			if err != nil {
				return nil, err
			}
			if time.Duration(b-a)*time.Millisecond > MaxRange {
				return nil, fault.New(fault.Invalid, "Dynatrace %s: the date range %s..%s is longer than 30 days", req.Object, f.Values[0], f.Values[1])
			}
			p.lo, p.hi = max(p.lo, a), min(p.hi, b+1)
			betweened = true
		}
	}
	if !windowed && !betweened {
		return nil, fault.New(fault.Invalid, "Dynatrace %s needs a date range: a BETWEEN on from_to_date or an incremental window", req.Object)
	}
	if p.hi-p.lo > MaxRange.Milliseconds() {
		p.lo = p.hi - MaxRange.Milliseconds() // a first scheduled run's look-back
	}
	if req.Object == Metrics && p.selectors["metricSelector"] == "" {
		return nil, fault.New(fault.Invalid, "Dynatrace metrics needs a metricSelector: an EQUAL_TO filter on metricSelector")
	}
	return []connector.Split{{Name: req.Object, Opaque: p}}, nil
}

func (p *plan) pseudo(field string) (record.Value, bool) {
	if field == "from_to_date" {
		return record.MillisVal(p.lo), true
	}
	if fs, ok := entityFields[p.entity]; ok {
		for _, f := range fs {
			if f.Name == field && f.FilterOperators != nil {
				if v, ok := p.selectors[field]; ok {
					return record.Str(v), true
				}
				return record.NullVal(), true
			}
		}
	}
	return record.Value{}, false
}

// ReadSplit pages through the entity's list.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	p, err := httpconn.Plan[*plan](ctx, s, "Dynatrace")
	if err != nil {
		return err
	}
	fields := httpconn.Projection(req.Fields, entityFields[p.entity])
	if p.lo >= p.hi {
		return emit(&record.Batch{Fields: fields, Split: s.Name, FirstLine: 1, Final: true})
	}
	if err := d.read(ctx, p, fields, s.Name, emit); err != nil {
		return fmt.Errorf("read %s: %w", s.Name, err)
	}
	return nil
}

func (d *Driver) read(ctx context.Context, p *plan, fields []string, split string, emit func(*record.Batch) error) error {
	path := "/" + p.entity
	maxPage := 500
	if p.entity == Events {
		maxPage = 1000
	}
	if p.entity == Metrics {
		path = "/metrics/query"
	}
	q := url.Values{"from": {strconv.FormatInt(p.lo, 10)}, "to": {strconv.FormatInt(p.hi-1, 10)}}
	for k, v := range p.selectors {
		q.Set(k, v)
	}
	if p.entity != Metrics {
		ps := d.pageSize
		if ps <= 0 || ps > maxPage {
			ps = maxPage
		}
		q.Set("pageSize", strconv.Itoa(ps))
	}
	line := int64(1)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var out struct {
			NextPageKey string                        `json:"nextPageKey"`
			Problems    *[]map[string]json.RawMessage `json:"problems"`
			Events      *[]map[string]json.RawMessage `json:"events"`
			Result      *[]struct {
				MetricID string `json:"metricId"`
				Data     []struct {
					Dimensions   json.RawMessage            `json:"dimensions"`
					DimensionMap map[string]json.RawMessage `json:"dimensionMap"`
					Timestamps   []int64                    `json:"timestamps"`
					Values       []json.RawMessage          `json:"values"`
				} `json:"data"`
			} `json:"result"`
		}
		n, err := d.call(ctx, path, q, &out)
		if err != nil {
			return err
		}
		// An answer without the entity's list is broken, not empty.
		if p.entity == Problems && out.Problems == nil || p.entity == Events && out.Events == nil || p.entity == Metrics && out.Result == nil {
			return fault.New(fault.ConnectorServer, "Dynatrace answered no %s list", p.entity)
		}
		if out.NextPageKey != "" && out.NextPageKey == q.Get("nextPageKey") {
			return fault.New(fault.ConnectorServer, "Dynatrace answered the same nextPageKey twice")
		}
		b := &record.Batch{Fields: fields, Split: split, FirstLine: line, SourceBytes: int64(n)}
		var items []map[string]json.RawMessage
		switch p.entity {
		case Problems:
			items = *out.Problems
		case Events:
			items = *out.Events
		}
		for _, it := range items {
			for _, f := range fields {
				if v, ok := p.pseudo(f); ok {
					b.Cells = append(b.Cells, v)
				} else if f == "startTime" || f == "endTime" {
					b.Cells = append(b.Cells, timeValue(it[f]))
				} else {
					b.Cells = append(b.Cells, httpconn.Value(it[f]))
				}
			}
			line++
		}
		for _, r := range deref(out.Result) {
			for _, dt := range r.Data {
				if len(dt.Values) != len(dt.Timestamps) {
					return fault.New(fault.ConnectorServer, "metric %s (record %d): %d timestamps but %d values", r.MetricID, line, len(dt.Timestamps), len(dt.Values))
				}
				for i, ts := range dt.Timestamps {
					for _, f := range fields {
						switch f {
						case "metricId":
							b.Cells = append(b.Cells, record.Str(r.MetricID))
						case "timestamp":
							b.Cells = append(b.Cells, record.MillisVal(ts))
						case "value":
							b.Cells = append(b.Cells, httpconn.Value(dt.Values[i]))
						case "dimensions":
							b.Cells = append(b.Cells, httpconn.Value(dt.Dimensions))
						case "dimensionMap":
							raw, _ := json.Marshal(dt.DimensionMap)
							b.Cells = append(b.Cells, httpconn.Value(raw))
						default:
							if v, ok := p.pseudo(f); ok {
								b.Cells = append(b.Cells, v)
							} else {
								b.Cells = append(b.Cells, httpconn.Value(dt.DimensionMap[f]))
							}
						}
					}
					line++
				}
			}
		}
		b.Final = out.NextPageKey == ""
		if err := emit(b); err != nil {
			return err
		}
		if b.Final {
			return nil
		}
		q = url.Values{"nextPageKey": {out.NextPageKey}}
	}
}

func timeValue(raw json.RawMessage) record.Value {
	var ms int64
	if json.Unmarshal(raw, &ms) != nil {
		return httpconn.Value(raw)
	}
	if ms < 0 {
		return record.NullVal()
	}
	return record.MillisVal(ms)
}

func deref[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}
