// Package amplitudeconn is the Amplitude source (connectors-saas-1 §7):
// raw events read through the Export API (GET {base}/api/2/export?start=
// YYYYMMDDTHH&end=YYYYMMDDTHH, HTTP Basic apiKey:secretKey), whose answer
// is a ZIP archive of gzipped JSON Lines files, one or more per hour of
// data. The base is https://amplitude.com, or --endpoint amplitude=URL
// (an EU project: https://analytics.eu.amplitude.com).
//
// Choices where AppFlow is silent:
//   - One entity, "events", with a fixed schema (Amplitude has no schema
//     endpoint for raw events); keys an event carries beyond it are kept
//     when the flow maps every field (Map_all without a projection).
//   - The range is a BETWEEN on server_upload_time (the field the Export
//     API selects on), intersected with the incremental window; one of
//     them is required (fault.Invalid). It is sent as whole UTC hours,
//     both inclusive, and events outside it are dropped here, exactly.
//   - Ranges over 365 days are read as consecutive splits of at most 365
//     days; a 400 (the 4 GB export limit) halves the hours and asks again,
//     down to one hour, which then fails telling to use the S3 export.
//   - 404 is "no data in the range": an empty read.
//   - AppFlow processes at most 25 MB per Amplitude run: the run fails
//     (fault.QuotaExceeded) once the decompressed events pass
//     APPFLOWD_AMPLITUDE_MAX_RUN_BYTES (default 26214400; 0: no limit).
//   - 401/403 are refused keys (a 403 may be an EU project asked on the US
//     host); 429 and 5xx are retried by httpconn after Retry-After.
//   - Timestamps stay as Amplitude writes them ("2024-01-01 00:05:03.120000",
//     UTC); the engine reads them as datetimes.
//
// The export is read whole into memory (httpconn reads answers whole);
// the per-run limit bounds it.
package amplitudeconn

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
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
const Type = "Amplitude"

// Events is the one entity.
const Events = "events"

// DefaultBase is Amplitude's standard (US) API host.
const DefaultBase = "https://amplitude.com"

// DefaultMaxRunBytes is AppFlow's 25 MB per run.
const DefaultMaxRunBytes = 25 << 20

// EnvMaxRunBytes overrides it (0: no limit).
const EnvMaxRunBytes = "APPFLOWD_AMPLITUDE_MAX_RUN_BYTES"

// maxCall is the longest range one export may ask for.
const maxCall = 365 * 24 * time.Hour

// Options configure the driver beyond the profile.
type Options struct {
	Retry retry.Policy
	// MaxRunBytes bounds the decompressed events of a run; 0: the
	// setting or DefaultMaxRunBytes; negative: no limit.
	MaxRunBytes int64
	// BatchRows is the most events per batch; 0 means 5000.
	BatchRows int
}

func init() { httpconn.Register(Type, httpconn.Source, Open) }

// Driver is one opened Amplitude profile.
type Driver struct {
	c         *httpconn.Client
	maxBytes  int64 // <= 0: none
	batchRows int
	now       func() time.Time
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	creds, err := connector.Credentials[struct {
		APIKey    string `json:"apiKey"`
		SecretKey string `json:"secretKey"`
	}](p, "Amplitude")
	if err != nil {
		return nil, err
	}
	if err := httpconn.Need(p, "Amplitude", "an apiKey and a secretKey", creds.APIKey, creds.SecretKey); err != nil {
		return nil, err
	}
	max := opts.MaxRunBytes
	if max == 0 {
		max = DefaultMaxRunBytes
		if deps.Env != nil {
			if v := strings.TrimSpace(deps.Env(EnvMaxRunBytes)); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 {
					return nil, fault.New(fault.Invalid, "%s=%q: want a number of bytes (0: no limit)", EnvMaxRunBytes, v)
				}
				max = n
			}
		}
	}
	rows := opts.BatchRows
	if rows <= 0 {
		rows = 5000
	}
	now := deps.Clock()
	c := httpconn.New(deps, httpconn.Config{Name: "Amplitude", Base: deps.Endpoints.Or(connector.EndpointAmplitude, DefaultBase),
		Auth: httpconn.Basic(creds.APIKey, creds.SecretKey), Retry: opts.Retry, Check: check})
	return &Driver{c: c, maxBytes: max, batchRows: rows, now: now}, nil
}

// check accepts 2xx and 404 (no data in the range); a 400 is returned
// unmarked for the caller to halve the range.
func check(r *httpconn.Response) error {
	if r.OK() || r.Status == http.StatusNotFound {
		return nil
	}
	msg := strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)]))
	switch {
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		hint := ""
		if r.Status == http.StatusForbidden {
			hint = " (an EU project answers only on its own host, https://analytics.eu.amplitude.com)"
		}
		return fault.New(fault.AuthFailed, "Amplitude refused the API key and secret key: HTTP %d: %s%s", r.Status, msg, hint)
	case r.Status == http.StatusTooManyRequests:
		return httpconn.Retry(fault.New(fault.Throttled, "Amplitude throttled the export: %s", msg), r.RetryAfter())
	case retry.Status(r.Status):
		return httpconn.Retry(fault.New(fault.ConnectorServer, "Amplitude export unavailable: HTTP %d: %s", r.Status, msg), r.RetryAfter())
	case r.Status == http.StatusBadRequest:
		return &tooLarge{msg: msg}
	}
	return fault.New(fault.ConnectorServer, "Amplitude export: HTTP %d: %s", r.Status, msg)
}

type tooLarge struct{ msg string }

func (e *tooLarge) Error() string { return "Amplitude refused the export (HTTP 400): " + e.msg }

const hourLayout = "20060102T15"

// export asks for the hours [from, to]; nil body: no data.
func (d *Driver) export(ctx context.Context, from, to time.Time) ([]byte, error) {
	q := url.Values{"start": {from.Format(hourLayout)}, "end": {to.Format(hourLayout)}}
	res, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: "/api/2/export", Query: q, Idempotent: true})
	if err != nil {
		return nil, err
	}
	if res.Status == http.StatusNotFound {
		return nil, nil
	}
	return res.Body, nil
}

// CheckProfile exports the hour three hours ago: 200 or 404 prove the keys
// (the Export API has no other probe).
func (d *Driver) CheckProfile(ctx context.Context) error {
	h := d.now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	_, err := d.export(ctx, h, h)
	var tl *tooLarge
	if errorsAs(err, &tl) {
		return nil // the keys worked; the hour is just big
	}
	return err
}

// ---- catalog ----

// ListEntities lists the one entity.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	return httpconn.Flat("Amplitude", path, []connector.Entity{{Name: Events, Label: "Events"}})
}

// fields is the raw event schema of the Export API, in its order.
var fields = []struct {
	name, label string
	typ         record.FieldType
}{
	{"uuid", "UUID", "string"},
	{"event_type", "Event type", "string"},
	{"event_time", "Event time", "datetime"},
	{"server_upload_time", "Server upload time", "datetime"},
	{"server_received_time", "Server received time", "datetime"},
	{"client_event_time", "Client event time", "datetime"},
	{"client_upload_time", "Client upload time", "datetime"},
	{"processed_time", "Processed time", "datetime"},
	{"user_id", "User ID", "string"},
	{"device_id", "Device ID", "string"},
	{"amplitude_id", "Amplitude ID", "long"},
	{"event_id", "Event ID", "long"},
	{"session_id", "Session ID", "long"},
	{"$insert_id", "Insert ID", "string"},
	{"event_properties", "Event properties", "struct"},
	{"user_properties", "User properties", "struct"},
	{"group_properties", "Group properties", "struct"},
	{"groups", "Groups", "struct"},
	{"data", "Data", "struct"},
	{"app", "App", "long"},
	{"platform", "Platform", "string"},
	{"os_name", "OS name", "string"},
	{"os_version", "OS version", "string"},
	{"device_type", "Device type", "string"},
	{"device_family", "Device family", "string"},
	{"device_brand", "Device brand", "string"},
	{"device_manufacturer", "Device manufacturer", "string"},
	{"device_model", "Device model", "string"},
	{"device_carrier", "Device carrier", "string"},
	{"version_name", "Version name", "string"},
	{"start_version", "Start version", "string"},
	{"country", "Country", "string"},
	{"region", "Region", "string"},
	{"city", "City", "string"},
	{"dma", "DMA", "string"},
	{"language", "Language", "string"},
	{"location_lat", "Latitude", "double"},
	{"location_lng", "Longitude", "double"},
	{"ip_address", "IP address", "string"},
	{"library", "Library", "string"},
	{"paying", "Paying", "boolean"},
	{"user_creation_time", "User creation time", "datetime"},
	{"idfa", "IDFA", "string"},
	{"adid", "ADID", "string"},
	{"is_attribution_event", "Is attribution event", "boolean"},
	{"amplitude_event_type", "Amplitude event type", "string"},
	{"event_type_id", "Event type ID", "long"},
}

// UploadTime is the field the Export API selects on.
const UploadTime = "server_upload_time"

// DescribeEntity returns the event schema: BETWEEN on server_upload_time,
// the incremental field.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	if name != Events {
		return nil, fault.New(fault.NotFound, "Amplitude has no entity %q; use events", name)
	}
	out := make([]connector.EntityField, 0, len(fields))
	for _, f := range fields {
		ef := connector.EntityField{Name: f.name, Label: f.label, Type: f.typ, Nullable: f.name != "uuid", Queryable: true, IsPrimaryKey: f.name == "uuid"}
		if f.name == UploadTime {
			ef.FilterOperators = []string{"BETWEEN"}
			ef.IsTimestampForIncremental = true
		}
		out = append(out, ef)
	}
	return out, nil
}

var schemaNames = func() []string {
	var s []string
	for _, f := range fields {
		s = append(s, f.name)
	}
	return s
}()

// ---- source ----

// plan is one export call's range: whole hours [from, to] asked, events
// kept when lo <= server_upload_time (ms) <= hi.
type plan struct {
	from, to time.Time
	lo, hi   int64
	used     *atomic.Int64 // decompressed bytes of the run, shared by its splits
}

// Splits turns the range into exports of at most 365 days.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	if req.Object != Events {
		return nil, fault.New(fault.Invalid, "Amplitude has no entity %q; use events", req.Object)
	}
	lo, hi := int64(-1<<63), int64(1<<63-1)
	ranged := false
	if w := req.Window; w != nil {
		lo, hi, ranged = w.Start.UnixMilli(), w.End.UnixMilli()-1, true
	}
	for _, f := range req.Filters {
		if f.Operator != "BETWEEN" {
			continue
		}
		if f.Field != UploadTime {
			return nil, fault.New(fault.Invalid, "Amplitude filters on %s only (the Export API selects by upload time), not %s", UploadTime, f.Field)
		}
		a, b, err := httpconn.Between(f, "Amplitude", "datetimes", httpconn.ParseMillis)
		if err != nil {
			return nil, err
		}
		lo, hi, ranged = max(lo, a), min(hi, b), true
	}
	if !ranged {
		return nil, fault.New(fault.Invalid, "Amplitude events needs a range: a BETWEEN on %s or a scheduled incremental window", UploadTime)
	}
	used := new(atomic.Int64)
	if lo > hi {
		return []connector.Split{{Name: Events, Opaque: &plan{lo: lo, hi: hi, used: used}}}, nil
	}
	first := time.UnixMilli(lo).UTC().Truncate(time.Hour)
	last := time.UnixMilli(hi).UTC().Truncate(time.Hour)
	var out []connector.Split
	for from := first; !from.After(last); {
		to := from.Add(maxCall - time.Hour)
		if to.After(last) {
			to = last
		}
		name := Events
		if !to.Equal(last) || len(out) > 0 {
			name = fmt.Sprintf("%s %s..%s", Events, from.Format(hourLayout), to.Format(hourLayout))
		}
		out = append(out, connector.Split{Name: name, Opaque: &plan{from: from, to: to, lo: lo, hi: hi, used: used}})
		from = to.Add(time.Hour)
	}
	return out, nil
}

// reader emits batches one behind, so the last can be marked Final.
type reader struct {
	*httpconn.Reader[*plan]
	d       *Driver
	pending *record.Batch
}

func (r *reader) push(b *record.Batch) error {
	if r.pending != nil {
		if err := r.Emit(r.pending); err != nil {
			return err
		}
	}
	r.pending = b
	return nil
}

// ReadSplit exports the split's hours and emits the events in range.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	rr, err := httpconn.NewReader[*plan](ctx, "Amplitude", req, s, emit)
	if err != nil {
		return err
	}
	r := &reader{Reader: rr, d: d}
	if p := r.Plan; p.lo <= p.hi {
		if err := r.hours(ctx, p.from, p.to); err != nil {
			return fmt.Errorf("read %s: %w", s.Name, err)
		}
	}
	if r.pending == nil {
		r.pending = r.Number(&record.Batch{Fields: req.Fields}, 0)
	}
	r.pending.Final = true
	return r.Emit(r.pending)
}

// hours reads [from, to], halving on a 400 (too large to export at once).
func (r *reader) hours(ctx context.Context, from, to time.Time) error {
	body, err := r.d.export(ctx, from, to)
	var tl *tooLarge
	if errorsAs(err, &tl) {
		if !from.Before(to) {
			return fault.New(fault.ConnectorServer, "%v; the hour %s alone is too large for the Export API: use Amplitude's Amazon S3 export",
				tl, from.Format(hourLayout))
		}
		n := int(to.Sub(from)/time.Hour) + 1
		mid := from.Add(time.Duration(n/2-1) * time.Hour)
		if err := r.hours(ctx, from, mid); err != nil {
			return err
		}
		return r.hours(ctx, mid.Add(time.Hour), to)
	}
	if err != nil || body == nil {
		return err
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "Amplitude export %s..%s is not a ZIP archive", from.Format(hourLayout), to.Format(hourLayout))
	}
	files := slices.Clone(zr.File)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, f := range files {
		if f.FileInfo().IsDir() {
			continue
		}
		if err := r.file(ctx, f); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return nil
}

// file reads one gzipped JSON Lines entry.
func (r *reader) file(ctx context.Context, f *zip.File) error {
	rc, err := f.Open()
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "open")
	}
	defer rc.Close()
	gz, err := gzip.NewReader(rc)
	if err == io.EOF {
		return nil // an empty file
	}
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "not gzip")
	}
	defer gz.Close()
	sc := bufio.NewScanner(gz)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var events []map[string]json.RawMessage
	var size int64
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		b := r.batch(events, size)
		events, size = nil, 0
		return r.push(b)
	}
	for n := 1; sc.Scan(); n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if r.Plan.used != nil {
			if u := r.Plan.used.Add(int64(len(line) + 1)); r.d.maxBytes > 0 && u > r.d.maxBytes {
				return fault.New(fault.QuotaExceeded, "the run passed %d bytes of Amplitude events, the per-run limit (AppFlow processes at most 25 MB per Amplitude run; %s sets it): narrow the range",
					r.d.maxBytes, EnvMaxRunBytes)
			}
		}
		var ev map[string]json.RawMessage
		if err := json.Unmarshal(line, &ev); err != nil {
			return fault.Wrap(fault.ConnectorServer, err, "line %d is not a JSON event", n)
		}
		if ev == nil {
			return fault.New(fault.ConnectorServer, "line %d is null, not a JSON event", n)
		}
		if ms, ok := uploadMillis(ev); ok && (ms < r.Plan.lo || ms > r.Plan.hi) {
			continue
		}
		events = append(events, ev)
		size += int64(len(line) + 1)
		if len(events) >= r.d.batchRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "read")
	}
	return flush()
}

func uploadMillis(ev map[string]json.RawMessage) (int64, bool) {
	var s string
	if json.Unmarshal(ev[UploadTime], &s) != nil {
		return 0, false
	}
	return httpconn.ParseMillis(s)
}

// batch builds a batch of the projection, or of the schema and whatever
// else these events carry.
func (r *reader) batch(events []map[string]json.RawMessage, size int64) *record.Batch {
	b := httpconn.Rows(r.Req.Fields, schemaNames, events)
	b.SourceBytes = size
	return r.Number(b, len(events))
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }
