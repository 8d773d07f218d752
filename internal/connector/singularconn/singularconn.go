// Package singularconn is the Singular source (connectors-saas-2 §3):
// aggregated marketing statistics read through Singular's asynchronous
// Reporting API ({base}/api/v2.0/create_async_report, get_report_status,
// then the report's download URL), with the profile's API key in the
// Authorization header. The base is https://api.singular.net, or
// --endpoint singular=URL.
//
// Choices where AppFlow is silent:
//   - One entity, "reporting". Its fields are the dimensions Singular's
//     filters endpoint lists, Singular's built-in dimensions, the
//     account's custom dimensions (by id), the metrics and discrepancy
//     metrics of the Reporting API, and start_date/end_date. Cohort
//     metrics are not offered.
//   - The projection picks the report's dimensions and metrics (a field
//     is a metric when Singular names it one, else a dimension); without
//     one, the Reporting API's defaults (app, os, source; adn_cost,
//     adn_impressions; adn_clicks, adn_installs).
//   - One report per run over its days, broken down by day
//     (time_breakdown=day): every row carries its day in
//     start_date/end_date.
//   - The days: a scheduled run's window reads the days whose midnight
//     (UTC) falls in it, so that start_date, the incremental field, puts
//     each day in exactly one window; an on-demand run reads the last 30
//     days up to today. At most 30 days per run (AppFlow's limit): a
//     longer window keeps its last 30 days.
//   - EQUAL_TO on a dimension becomes a report filter {"dimension","in",
//     values}; on anything else it is left to the engine.
//   - A run past 100,000 rows fails (AppFlow's limit, fault.QuotaExceeded).
//   - Reports are polled at once, then with a capped backoff (1 s doubling to 30 s) until
//     DONE or FAILED (the run fails with Singular's error_message); the
//     download URL is pre-signed and gets no key.
//   - An answer whose status is not 0 is refused with Singular's value as
//     the message; 401 is a refused key (fault.AuthFailed); 429 and 5xx
//     are retried by httpconn after Retry-After.
package singularconn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
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
const Type = "Singular"

// Reporting is the one entity.
const Reporting = "reporting"

// DefaultBase is Singular's API host.
const DefaultBase = "https://api.singular.net"

// Limits AppFlow sets on Singular flows.
const (
	MaxDays = 30
	MaxRows = 100000
)

// Options configure the driver beyond the profile.
type Options struct {
	Retry retry.Policy
	// Wait sleeps before status poll n (0-based); nil: 1 s doubling to 30 s.
	Wait func(ctx context.Context, n int) error
	// MaxPolls bounds the status calls of one report; 0 means 720.
	MaxPolls int
}

func init() { httpconn.Register(Type, httpconn.Source, Open) }

// Driver is one opened Singular profile.
type Driver struct {
	c        *httpconn.Client
	wait     func(ctx context.Context, n int) error
	maxPolls int
	now      func() time.Time
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	creds, err := connector.Credentials[struct {
		APIKey string `json:"apiKey"`
	}](p, "Singular")
	if err != nil {
		return nil, err
	}
	if err := httpconn.Need(p, "Singular", "an apiKey", creds.APIKey); err != nil {
		return nil, err
	}
	d := &Driver{wait: opts.Wait, maxPolls: opts.MaxPolls, now: deps.Clock()}
	if d.wait == nil {
		d.wait = backoff
	}
	if d.maxPolls <= 0 {
		d.maxPolls = 720
	}
	base := strings.TrimSuffix(deps.Endpoints.Or(connector.EndpointSingular, DefaultBase), "/api") // a URL given with /api
	d.c = httpconn.New(deps, httpconn.Config{Name: "Singular", Base: base + "/api",
		Auth: httpconn.Header("Authorization", creds.APIKey), Retry: opts.Retry, Check: check,
		Header: http.Header{"Accept": {"application/json"}}})
	return d, nil
}

func backoff(ctx context.Context, n int) error {
	if n == 0 {
		return nil // a small report may be done at once
	}
	return httpconn.Pause(ctx, n-1, time.Second, 30*time.Second)
}

// envelope is every API answer.
type envelope struct {
	Status int             `json:"status"`
	Value  json.RawMessage `json:"value"`
}

func (e envelope) message() string {
	var s string
	if json.Unmarshal(e.Value, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(e.Value))
}

// check reads Singular's envelope: status != 0 is a failure whose value
// says why, whatever the HTTP status.
func check(r *httpconn.Response) error {
	var env envelope
	parsed := json.Unmarshal(r.Body, &env) == nil && env.Value != nil
	if r.OK() && (!parsed || env.Status == 0) {
		return nil
	}
	msg := strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)]))
	if parsed {
		msg = env.message()
	}
	switch {
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		return fault.New(fault.AuthFailed, "Singular refused the API key: %s", msg)
	case r.Status == http.StatusTooManyRequests:
		return httpconn.Retry(fault.New(fault.Throttled, "Singular throttled the request: %s", msg), r.RetryAfter())
	case retry.Status(r.Status) || r.Status == http.StatusInternalServerError:
		return httpconn.Retry(fault.New(fault.ConnectorServer, "Singular unavailable: HTTP %d: %s", r.Status, msg), r.RetryAfter())
	case r.OK():
		return fault.New(fault.ConnectorServer, "Singular: %s", msg)
	}
	return fault.New(fault.ConnectorServer, "Singular: HTTP %d: %s", r.Status, msg)
}

func (d *Driver) get(ctx context.Context, path string, q url.Values, out any) error {
	res, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: path, Query: q, Idempotent: true})
	if err != nil {
		return err
	}
	var env envelope
	if err := res.JSON(&env); err != nil {
		return err
	}
	if err := json.Unmarshal(env.Value, out); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "decode Singular %s: %s", path, httpconn.Excerpt(env.Value))
	}
	return nil
}

// CheckProfile reads the reporting filters, as the reference's first call.
func (d *Driver) CheckProfile(ctx context.Context) error {
	var v json.RawMessage
	return d.get(ctx, "/v2.0/reporting/filters", nil, &v)
}

// ---- catalog ----

// ListEntities lists the one entity.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	return httpconn.Flat("Singular", path, []connector.Entity{{Name: Reporting, Label: "Reporting"}})
}

// The Reporting API's built-in dimensions and metrics (Singular's client
// and Metrics and Dimensions Glossary).
var (
	builtinDimensions = []string{"app", "source", "os", "site_public_id", "platform", "country_field", "adn_campaign_name",
		"unified_campaign_name", "adn_campaign_id", "singular_campaign_id", "adn_sub_campaign_name", "adn_sub_campaign_id",
		"adn_sub_adnetwork_name", "adn_original_currency", "organization_currency", "adn_timezone", "adn_utc_offset",
		"adn_account_id", "adn_campaign_url", "adn_status", "adn_click_type", "keyword", "keyword_id", "publisher_id",
		"publisher_site_id", "publisher_site_name", "adn_publisher_id", "adn_creative_name", "adn_creative_id",
		"singular_creative_id", "creative_hash", "creative_image_hash", "creative_image", "creative_text", "creative_url",
		"creative_width", "creative_height", "creative_is_video", "campaign_status", "tracker_name", "retention"}
	metrics = []string{"adn_impressions", "adn_cost", "adn_original_cost", "adn_estimated_total_conversions", "custom_clicks",
		"custom_installs", "unified_installs", "unified_ecpi", "unified_cvr", "unified_ocvr", "ctr", "cvr", "ecpi", "ocvr", "ecpm", "ecpc"}
	discrepancyMetrics = []string{"adn_clicks", "adn_installs", "tracker_clicks", "tracker_installs"}

	defaultDimensions = []string{"app", "os", "source"}
	defaultMetrics    = []string{"adn_cost", "adn_impressions", "adn_clicks", "adn_installs"}
)

func isMetric(f string) bool {
	return slices.Contains(metrics, f) || slices.Contains(discrepancyMetrics, f)
}

func isDate(f string) bool { return f == "start_date" || f == "end_date" }

// DescribeEntity asks Singular for the account's filterable and custom
// dimensions and adds the built-in lists.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	if name != Reporting {
		return nil, fault.New(fault.NotFound, "Singular has no entity %q; use reporting", name)
	}
	var filters struct {
		Dimensions []struct {
			Name        string `json:"name"`
			DisplayName string `json:"display_name"`
		} `json:"dimensions"`
	}
	if err := d.get(ctx, "/v2.0/reporting/filters", nil, &filters); err != nil {
		return nil, err
	}
	var custom struct {
		CustomDimensions []struct {
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
		} `json:"custom_dimensions"`
	}
	if err := d.get(ctx, "/custom_dimensions", nil, &custom); err != nil {
		return nil, err
	}
	eq := []string{"EQUAL_TO"}
	out := []connector.EntityField{
		{Name: "start_date", Label: "Start date", Type: "date", IsTimestampForIncremental: true, Queryable: true},
		{Name: "end_date", Label: "End date", Type: "date", Queryable: true},
	}
	seen := map[string]bool{}
	dim := func(n, label string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, connector.EntityField{Name: n, Label: label, Type: "string", Nullable: true, Queryable: true, FilterOperators: eq})
		}
	}
	for _, f := range filters.Dimensions {
		dim(f.Name, f.DisplayName)
	}
	for _, n := range builtinDimensions {
		dim(n, n)
	}
	for _, c := range custom.CustomDimensions {
		dim(c.ID, c.DisplayName)
	}
	for _, m := range append(slices.Clone(metrics), discrepancyMetrics...) {
		out = append(out, connector.EntityField{Name: m, Label: m, Type: "double", Nullable: true, Queryable: true})
	}
	return out, nil
}

// ---- source ----

type plan struct {
	from, to   string // days, inclusive
	dimensions []string
	metrics    []string
	discrep    []string
	filters    []map[string]any
	rows       *atomic.Int64 // rows of the run, shared by its splits
}

// Splits plans the run's one report.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	if req.Object != Reporting {
		return nil, fault.New(fault.Invalid, "Singular has no entity %q; use reporting", req.Object)
	}
	var days []time.Time
	if w := req.Window; w != nil {
		// The days whose midnight falls in [start, end).
		first := w.Start.UTC().Truncate(24 * time.Hour)
		if first.Before(w.Start) {
			first = first.Add(24 * time.Hour)
		}
		for day := first; day.Before(w.End); day = day.Add(24 * time.Hour) {
			days = append(days, day)
		}
		if len(days) > MaxDays {
			days = days[len(days)-MaxDays:]
		}
	} else {
		today := d.now().UTC().Truncate(24 * time.Hour)
		for i := MaxDays - 1; i >= 0; i-- {
			days = append(days, today.Add(-time.Duration(i)*24*time.Hour))
		}
	}
	fields := req.Fields
	var dims, mets, disc []string
	if fields == nil {
		dims, mets, disc = defaultDimensions, []string{"adn_cost", "adn_impressions"}, []string{"adn_clicks", "adn_installs"}
	}
	for _, f := range fields {
		switch {
		case isDate(f):
		case slices.Contains(discrepancyMetrics, f):
			disc = append(disc, f)
		case isMetric(f):
			mets = append(mets, f)
		default:
			dims = append(dims, f)
		}
	}
	var filters []map[string]any
	for _, f := range req.Filters {
		if f.Operator != "EQUAL_TO" || isDate(f.Field) || isMetric(f.Field) {
			continue
		}
		if len(f.Values) == 0 {
			return nil, fault.New(fault.Invalid, "Singular: EQUAL_TO on %s needs a value", f.Field)
		}
		filters = append(filters, map[string]any{"dimension": f.Field, "operator": "in", "values": f.Values})
	}
	rows := new(atomic.Int64)
	if len(days) == 0 {
		// A window holding no midnight reads nothing.
		return []connector.Split{{Name: Reporting, Opaque: (*plan)(nil)}}, nil
	}
	from, to := days[0].Format("2006-01-02"), days[len(days)-1].Format("2006-01-02")
	return []connector.Split{{Name: Reporting + " " + from + ".." + to,
		Opaque: &plan{from: from, to: to, dimensions: dims, metrics: mets, discrep: disc, filters: filters, rows: rows}}}, nil
}

// ReadSplit creates the report, waits for it and reads it.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	p, err := httpconn.Plan[*plan](ctx, s, "Singular")
	if err != nil {
		return err
	}
	fields := req.Fields
	if fields == nil {
		fields = append(append([]string{"start_date", "end_date"}, defaultDimensions...), defaultMetrics...)
	}
	b := &record.Batch{Fields: fields, Split: s.Name, FirstLine: 1, Final: true}
	if p != nil {
		if err := d.read(ctx, p, b); err != nil {
			return fmt.Errorf("read %s: %w", s.Name, err)
		}
	}
	return emit(b)
}

func (d *Driver) read(ctx context.Context, p *plan, b *record.Batch) error {
	form := url.Values{"start_date": {p.from}, "end_date": {p.to}, "format": {"json"}, "time_breakdown": {"day"},
		"dimensions": {strings.Join(p.dimensions, ",")}, "metrics": {strings.Join(p.metrics, ",")},
		"discrepancy_metrics": {strings.Join(p.discrep, ",")}, "country_code_format": {"iso3"}}
	if len(p.filters) > 0 {
		f, _ := json.Marshal(p.filters)
		form.Set("filters", string(f))
	}
	res, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodPost, Path: "/v2.0/create_async_report",
		Body: []byte(form.Encode()), ContentType: "application/x-www-form-urlencoded"})
	if err != nil {
		return err
	}
	var created struct {
		Value struct {
			ReportID string `json:"report_id"`
		} `json:"value"`
	}
	if err := res.JSON(&created); err != nil {
		return err
	}
	if created.Value.ReportID == "" {
		return fault.New(fault.ConnectorServer, "Singular created a report without a report_id: %s", httpconn.Excerpt(res.Body))
	}
	download, err := d.await(ctx, created.Value.ReportID)
	if err != nil {
		return err
	}
	// A pre-signed URL: the key stays with Singular.
	res, err = d.c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: download, NoAuth: true, Idempotent: true,
		Check: httpconn.StatusCheck(func(r *httpconn.Response) error {
			return fault.New(fault.ConnectorServer, "Singular report %s download: HTTP %d: %s", created.Value.ReportID, r.Status, httpconn.Excerpt(r.Body))
		})})
	if err != nil {
		return err
	}
	var body struct {
		Results *[]map[string]json.RawMessage `json:"results"`
	}
	if err := res.JSON(&body); err != nil {
		return fmt.Errorf("report %s: %w", created.Value.ReportID, err)
	}
	if body.Results == nil { // a broken download, not an empty report
		return fault.New(fault.ConnectorServer, "Singular report %s download has no results: %s", created.Value.ReportID, httpconn.Excerpt(res.Body))
	}
	results := *body.Results
	if n := p.rows.Add(int64(len(results))); n > MaxRows {
		return fault.New(fault.QuotaExceeded, "the run read more than %d Singular rows, AppFlow's limit per flow run: narrow the dimensions or the filters", MaxRows)
	}
	b.SourceBytes = int64(len(res.Body))
	b.Cells = make([]record.Value, 0, len(b.Fields)*len(results))
	for _, row := range results {
		for _, f := range b.Fields {
			b.Cells = append(b.Cells, value(row[f]))
		}
	}
	return nil
}

// await polls the report until it is done and returns its download URL.
func (d *Driver) await(ctx context.Context, id string) (string, error) {
	for n := 0; n < d.maxPolls; n++ {
		if err := d.wait(ctx, n); err != nil {
			return "", err
		}
		var st struct {
			Status       string `json:"status"`
			DownloadURL  string `json:"download_url"`
			ErrorMessage string `json:"error_message"`
		}
		if err := d.get(ctx, "/v2.0/get_report_status", url.Values{"report_id": {id}}, &st); err != nil {
			return "", err
		}
		switch st.Status {
		case "DONE":
			if st.DownloadURL == "" {
				return "", fault.New(fault.ConnectorServer, "Singular report %s is DONE without a download_url", id)
			}
			return st.DownloadURL, nil
		case "FAILED":
			return "", fault.New(fault.ConnectorServer, "Singular report %s failed: %s", id, st.ErrorMessage)
		}
	}
	return "", fault.New(fault.ConnectorServer, "Singular report %s was not done after %d status checks", id, d.maxPolls)
}

// value converts one JSON value; absent is null.
func value(raw json.RawMessage) record.Value {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null":
		return record.NullVal()
	case s == "true" || s == "false":
		return record.BoolVal(s == "true")
	case s[0] == '"':
		var v string
		if json.Unmarshal(raw, &v) == nil {
			return record.Str(v)
		}
		return record.Str(s)
	case s[0] == '{' || s[0] == '[':
		return record.JSONVal(s)
	}
	return record.DecimalVal(s)
}
