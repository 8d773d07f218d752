// Package googleanalyticsconn is the Google Analytics source
// (connectors-saas-2 §2): Universal Analytics reports read through the
// Reporting API v4 (POST {reporting}/v4/reports:batchGet, paged by
// nextPageToken), views listed from the Management API v3 account
// summaries and fields from the Metadata API v3 columns, with OAuth 2.0
// bearer tokens from the profile's client (clientId/clientSecret), its
// tokens or authorization code, refreshed when refused (401). Hosts:
// analyticsreporting.googleapis.com and www.googleapis.com, or both at
// --endpoint googleanalytics=URL; tokens at oauth2.googleapis.com/token,
// or --endpoint googleoauth=URL (+ /token).
//
// Google shut Universal Analytics down (standard properties stopped
// processing on 2023-07-01, 360 properties on 2024-07-01); the driver is
// built faithfully for any endpoint still serving these APIs.
//
// Choices where AppFlow is silent:
//   - The entity is a view id (what viewId takes); ListConnectorEntities
//     walks account → web property → view: "" lists accounts ("1001"),
//     an account lists its properties ("1001/UA-1001-1"), a property its
//     views ("2002").
//   - Fields are "<column>|DIMENSION" and "<column>|METRIC" (the user
//     guide's "ga:dimension24|DIMENSION"); DEPRECATED and templated
//     columns are not listed, though "ga:dimensionXX|DIMENSION" is read.
//     A bare name is a dimension. At most 9 dimensions and 10 metrics,
//     and at least one metric, as the Reporting API requires (Invalid).
//   - Records are batchGet's rows as received ({"dimensions":[...],
//     "metrics":[{"values":[...]}]}), which a flow with a PROJECTION and
//     no Map task writes as they are (the capability
//     ProjectionWritesRecords); each projected field is also given by
//     name for Map tasks and filters, ga:date as a date (UTC midnight).
//   - The date range: a BETWEEN on ga:date|DIMENSION (inclusive days) and
//     the incremental window (the days whose midnight falls in it, so
//     ga:date puts each day in exactly one daily run), intersected;
//     neither gives the API's default, the last 7 days to yesterday.
//   - One report request per run, pageSize 10,000.
//   - 401 renews the token once; 429, 5xx and 403 quota reasons
//     (rateLimitExceeded, userRateLimitExceeded, quotaExceeded) are
//     retried after Retry-After; other refusals carry Google's message.
package googleanalyticsconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
const Type = "Googleanalytics"

// Default hosts.
const (
	DefaultReporting  = "https://analyticsreporting.googleapis.com"
	DefaultManagement = "https://www.googleapis.com"
	DefaultOAuth      = "https://oauth2.googleapis.com"
)

// DateField is the date dimension, the one BETWEEN and incremental field.
const DateField = "ga:date|DIMENSION"

// Raw record fields: a batchGet row as received.
const (
	RawDimensions = "dimensions"
	RawMetrics    = "metrics"
)

// Options configure the driver beyond the profile; its PageSize is the
// report's pageSize; 0 means 10,000.
type Options = httpconn.Options

func init() { connector.Register(Spec(Options{})) }

// Spec registers the driver; the catalog supplies the rest.
func Spec(opts Options) connector.Spec {
	s := httpconn.Spec(Type, httpconn.Source, opts, Open)
	s.Capabilities.ProjectionWritesRecords = true
	return s
}

// Driver is one opened Google Analytics profile.
type Driver struct {
	c                     *httpconn.Client
	reporting, management string
	pageSize              int
	now                   func() time.Time
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	creds, err := connector.Credentials[httpconn.OAuthCredentials](p, "Google Analytics")
	if err != nil {
		return nil, err
	}
	if !creds.Usable() {
		return nil, fault.New(fault.AuthFailed, "the Google Analytics profile %s has no accessToken, refreshToken or oAuthRequest", p.Name)
	}
	o := creds.OAuth2(deps.Endpoints.Or(connector.EndpointGoogleOAuth, DefaultOAuth) + "/token")
	o.Saved = httpconn.SaveTokens(p.SaveCredentials, p.Credentials, "")
	d := &Driver{pageSize: httpconn.Size(opts.PageSize, 10000, 0), now: deps.Clock(),
		reporting:  deps.Endpoints.Or(connector.EndpointGoogleAnalytics, DefaultReporting),
		management: deps.Endpoints.Or(connector.EndpointGoogleAnalytics, DefaultManagement)}
	d.c = httpconn.New(deps, httpconn.Config{Name: "Google Analytics", Auth: httpconn.NewOAuth2(o), Retry: opts.Retry,
		Header: http.Header{"Accept": {"application/json"}}, Check: check})
	return d, nil
}

// check reads Google's {"error":{"code","message","status","errors"}}.
func check(r *httpconn.Response) error {
	if r.OK() {
		return nil
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
			Errors  []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	msg := strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)]))
	if json.Unmarshal(r.Body, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
		if e.Error.Status != "" {
			msg = e.Error.Status + ": " + msg
		}
	}
	quota := false
	for _, x := range e.Error.Errors {
		quota = quota || x.Reason == "rateLimitExceeded" || x.Reason == "userRateLimitExceeded" || x.Reason == "quotaExceeded"
	}
	switch {
	case r.Status == http.StatusUnauthorized:
		return httpconn.Reauth(fault.New(fault.AuthFailed, "Google Analytics refused the token: %s", msg))
	case r.Status == http.StatusTooManyRequests || quota:
		return httpconn.Retry(fault.New(fault.Throttled, "Google Analytics quota: %s", msg), r.RetryAfter())
	case retry.Status(r.Status) || r.Status == http.StatusInternalServerError:
		return httpconn.Retry(fault.New(fault.ConnectorServer, "Google Analytics unavailable: HTTP %d: %s", r.Status, msg), r.RetryAfter())
	case r.Status == http.StatusForbidden:
		return fault.New(fault.AccessDenied, "Google Analytics: %s", msg)
	case r.Status == http.StatusBadRequest:
		return fault.New(fault.Invalid, "Google Analytics refused the request: %s", msg)
	}
	return fault.New(fault.ConnectorServer, "Google Analytics: HTTP %d: %s", r.Status, msg)
}

func (d *Driver) getJSON(ctx context.Context, u string, out any) error {
	res, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: u, Idempotent: true})
	if err != nil {
		return err
	}
	return res.JSON(out)
}

// CheckProfile reads one account summary (exchanging the code first).
func (d *Driver) CheckProfile(ctx context.Context) error {
	var v json.RawMessage
	return d.getJSON(ctx, d.management+"/analytics/v3/management/accountSummaries?max-results=1", &v)
}

// ---- catalog ----

type summary struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	WebProperties []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Profiles []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"profiles"`
	} `json:"webProperties"`
}

func (d *Driver) summaries(ctx context.Context) ([]summary, error) {
	var all []summary
	err := httpconn.Cursor(ctx, func(ctx context.Context, next string) (string, error) {
		if next == "" {
			next = d.management + "/analytics/v3/management/accountSummaries?max-results=1000"
		}
		var page struct {
			Items    []summary `json:"items"`
			NextLink string    `json:"nextLink"`
		}
		if err := d.getJSON(ctx, next, &page); err != nil {
			return "", err
		}
		all = append(all, page.Items...)
		return page.NextLink, nil
	})
	return all, err
}

// ListEntities walks accounts, web properties and views.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	path = strings.Trim(path, "/")
	sums, err := d.summaries(ctx)
	if err != nil {
		return nil, err
	}
	account, property, _ := strings.Cut(path, "/")
	var out []connector.Entity
	group := "Accounts"
	for _, a := range sums {
		if path == "" {
			out = append(out, connector.Entity{Name: a.ID, Label: a.Name, HasNestedEntities: true})
			continue
		}
		if a.ID != account {
			continue
		}
		for _, w := range a.WebProperties {
			if property == "" {
				group = "Properties"
				out = append(out, connector.Entity{Name: a.ID + "/" + w.ID, Label: w.Name, HasNestedEntities: true})
				continue
			}
			if w.ID != property {
				continue
			}
			group = "Views"
			for _, v := range w.Profiles {
				out = append(out, connector.Entity{Name: v.ID, Label: v.Name})
			}
			return map[string][]connector.Entity{group: out}, nil
		}
		if property == "" {
			return map[string][]connector.Entity{group: out}, nil
		}
	}
	if path != "" {
		return nil, fault.New(fault.NotFound, "Google Analytics has no account or web property %q", path)
	}
	return map[string][]connector.Entity{group: out}, nil
}

// DescribeEntity lists the Metadata API's public columns; they are the
// same for every view.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fault.New(fault.NotFound, "Google Analytics entities are view ids")
	}
	var cols struct {
		Items []struct {
			ID         string `json:"id"`
			Attributes struct {
				Type             string `json:"type"`
				DataType         string `json:"dataType"`
				Status           string `json:"status"`
				UIName           string `json:"uiName"`
				Description      string `json:"description"`
				MinTemplateIndex string `json:"minTemplateIndex"`
			} `json:"attributes"`
		} `json:"items"`
	}
	if err := d.getJSON(ctx, d.management+"/analytics/v3/metadata/ga/columns", &cols); err != nil {
		return nil, err
	}
	types := map[string]record.FieldType{"STRING": "string", "INTEGER": "long", "FLOAT": "double", "PERCENT": "double", "TIME": "double", "CURRENCY": "double"}
	var out []connector.EntityField
	for _, c := range cols.Items {
		a := c.Attributes
		if a.Status == "DEPRECATED" || a.MinTemplateIndex != "" || (a.Type != "DIMENSION" && a.Type != "METRIC") {
			continue
		}
		f := connector.EntityField{Name: c.ID + "|" + a.Type, Label: a.UIName, Type: types[a.DataType], Nullable: true, Queryable: true}
		if f.Type == "" {
			f.Type = "string"
		}
		if f.Name == DateField {
			f.Type, f.FilterOperators, f.IsTimestampForIncremental = "date", []string{"BETWEEN"}, true
		}
		out = append(out, f)
	}
	return out, nil
}

// ---- source ----

type column struct {
	field  string // as projected
	name   string // ga:...
	metric bool
	index  int // among the dimensions or the metrics
}

type plan struct {
	view       string
	from, to   time.Time // days, inclusive
	dimensions []string
	metrics    []string
	columns    []column
}

func parseDay(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 8 {
		if t, err := time.Parse("20060102", s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(n).UTC().Truncate(24 * time.Hour), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(24 * time.Hour), true
		}
	}
	return time.Time{}, false
}

// Splits plans the view's one report.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	view := strings.TrimSpace(req.Object)
	if view == "" {
		return nil, fault.New(fault.Invalid, "a Google Analytics flow's object is a view id")
	}
	p := &plan{view: view}
	for _, f := range req.Fields {
		if f == RawDimensions || f == RawMetrics {
			continue
		}
		name, kind, ok := strings.Cut(f, "|")
		if !ok {
			kind = "DIMENSION"
		}
		switch kind {
		case "DIMENSION":
			p.columns = append(p.columns, column{field: f, name: name, index: len(p.dimensions)})
			p.dimensions = append(p.dimensions, name)
		case "METRIC":
			p.columns = append(p.columns, column{field: f, name: name, metric: true, index: len(p.metrics)})
			p.metrics = append(p.metrics, name)
		default:
			return nil, fault.New(fault.Invalid, "Google Analytics field %q: want <name>|DIMENSION or <name>|METRIC", f)
		}
	}
	switch {
	case len(p.metrics) == 0:
		return nil, fault.New(fault.Invalid, "a Google Analytics flow projects at least one metric (<name>|METRIC), as the Reporting API requires")
	case len(p.dimensions) > 9 || len(p.metrics) > 10:
		return nil, fault.New(fault.Invalid, "a Google Analytics flow projects at most 9 dimensions and 10 metrics; this one has %d and %d", len(p.dimensions), len(p.metrics))
	}
	today := d.now().UTC().Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -7), today.AddDate(0, 0, -1) // the API's default
	ranged := false
	if w := req.Window; w != nil {
		first := w.Start.UTC().Truncate(24 * time.Hour)
		if first.Before(w.Start) {
			first = first.AddDate(0, 0, 1)
		}
		last := w.End.UTC().Add(-time.Millisecond).Truncate(24 * time.Hour)
		from, to, ranged = first, last, true
	}
	for _, f := range req.Filters {
		if f.Operator != "BETWEEN" {
			continue
		}
		if f.Field != DateField && f.Field != "ga:date" {
			return nil, fault.New(fault.Invalid, "Google Analytics takes BETWEEN on %s only, not %s", DateField, f.Field)
		}
		a, b, err := httpconn.Between(f, "Google Analytics", "dates", parseDay)
		if err != nil {
			return nil, err
		}
		if !ranged {
			from, to, ranged = a, b, true
			continue
		}
		if a.After(from) {
			from = a
		}
		if b.Before(to) {
			to = b
		}
	}
	if to.Before(from) {
		return []connector.Split{{Name: "view " + view, Opaque: (*plan)(nil)}}, nil
	}
	p.from, p.to = from, to
	return []connector.Split{{Name: "view " + view, Opaque: p}}, nil
}

// ReadSplit pages through the report.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	p, err := httpconn.Plan[*plan](ctx, s, "Google Analytics")
	if err != nil {
		return err
	}
	fields := []string{RawDimensions, RawMetrics}
	if p != nil {
		for _, c := range p.columns {
			fields = append(fields, c.field)
		}
	}
	if p == nil {
		return emit(&record.Batch{Fields: fields, Split: s.Name, FirstLine: 1, Final: true})
	}
	line := int64(1)
	err = httpconn.Cursor(ctx, func(ctx context.Context, token string) (string, error) {
		rr := map[string]any{"viewId": p.view, "pageSize": d.pageSize,
			"dateRanges": []any{map[string]string{"startDate": p.from.Format("2006-01-02"), "endDate": p.to.Format("2006-01-02")}}}
		var dims, mets []any
		for _, n := range p.dimensions {
			dims = append(dims, map[string]string{"name": n})
		}
		for _, n := range p.metrics {
			mets = append(mets, map[string]string{"expression": n})
		}
		rr["dimensions"], rr["metrics"] = dims, mets
		if token != "" {
			rr["pageToken"] = token
		}
		body, _ := json.Marshal(map[string]any{"reportRequests": []any{rr}})
		// batchGet reads only: resending it is safe.
		res, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodPost, Path: d.reporting + "/v4/reports:batchGet", Body: body, Idempotent: true})
		if err != nil {
			return "", err
		}
		var out struct {
			Reports []struct {
				Data struct {
					Rows []struct {
						Dimensions json.RawMessage `json:"dimensions"`
						Metrics    json.RawMessage `json:"metrics"`
					} `json:"rows"`
				} `json:"data"`
				NextPageToken string `json:"nextPageToken"`
			} `json:"reports"`
		}
		if err := res.JSON(&out); err != nil {
			return "", err
		}
		if len(out.Reports) != 1 {
			return "", fault.New(fault.ConnectorServer, "Google Analytics answered %d reports for one request", len(out.Reports))
		}
		rep := out.Reports[0]
		b := &record.Batch{Fields: fields, Split: s.Name, FirstLine: line, SourceBytes: int64(len(res.Body)), Final: rep.NextPageToken == ""}
		b.Cells = make([]record.Value, 0, len(fields)*len(rep.Data.Rows))
		for _, row := range rep.Data.Rows {
			var dv []string
			var mv []struct {
				Values []string `json:"values"`
			}
			if json.Unmarshal(row.Dimensions, &dv) != nil || (len(row.Metrics) > 0 && json.Unmarshal(row.Metrics, &mv) != nil) {
				return "", fault.New(fault.ConnectorServer, "Google Analytics row %d is not a report row: %s", line, httpconn.Excerpt(row.Dimensions))
			}
			// A row answers every dimension and metric asked, or it is broken.
			if len(dv) != len(p.dimensions) || len(p.metrics) > 0 && (len(mv) == 0 || len(mv[0].Values) != len(p.metrics)) {
				return "", fault.New(fault.ConnectorServer, "Google Analytics row %d does not hold the %d dimensions and %d metrics asked: %s %s",
					line, len(p.dimensions), len(p.metrics), httpconn.Excerpt(row.Dimensions), httpconn.Excerpt(row.Metrics))
			}
			b.Cells = append(b.Cells, jsonValue(row.Dimensions), jsonValue(row.Metrics))
			for _, c := range p.columns {
				switch {
				case c.metric && len(mv) > 0 && c.index < len(mv[0].Values):
					b.Cells = append(b.Cells, number(mv[0].Values[c.index]))
				case !c.metric && c.index < len(dv):
					if c.name == "ga:date" {
						if t, err := time.Parse("20060102", dv[c.index]); err == nil {
							b.Cells = append(b.Cells, record.TimeVal(t))
							continue
						}
					}
					b.Cells = append(b.Cells, record.Str(dv[c.index]))
				default:
					b.Cells = append(b.Cells, record.NullVal())
				}
			}
			line++
		}
		if err := emit(b); err != nil {
			return "", err
		}
		return rep.NextPageToken, nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", s.Name, err)
	}
	return nil
}

func jsonValue(raw json.RawMessage) record.Value {
	if len(bytes.TrimSpace(raw)) == 0 {
		return record.NullVal()
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return record.JSONVal(string(raw))
	}
	return record.JSONVal(buf.String())
}

// number keeps a metric's text, typed when it is a number.
func number(s string) record.Value {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return record.IntVal(n)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return record.DecimalVal(s)
	}
	return record.Str(s)
}
