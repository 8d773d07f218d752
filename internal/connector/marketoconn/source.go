package marketoconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/csvrec"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

var dateOps = []string{"LESS_THAN", "GREATER_THAN", "BETWEEN"}

// activityFields are the fields the Bulk Activity Extract documents, the
// only ones it takes; marketoGUID is an activity's key (there is no "id").
var activityFields = []string{"marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
	"primaryAttributeValueId", "primaryAttributeValue", "attributes", "actionResult"}

var activityTypes = map[string]record.FieldType{"leadId": httpconn.TypeInteger, "activityDate": httpconn.TypeDateTime,
	"activityTypeId": httpconn.TypeInteger, "campaignId": httpconn.TypeInteger, "primaryAttributeValueId": httpconn.TypeInteger}

// ListEntities offers leads and activities.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	if path != "" {
		return map[string][]connector.Entity{}, nil
	}
	return map[string][]connector.Entity{"Objects": {{Name: "leads", Label: "Leads"}, {Name: "activities", Label: "Activities"}}}, nil
}

type leadField struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	DataType    string `json:"dataType"`
	Updateable  *bool  `json:"updateable"`
}

func (d *Driver) leadFields(ctx context.Context) ([]leadField, error) {
	res, err := d.c.do(ctx, req{method: http.MethodGet, path: "/rest/v1/leads/describe2.json"})
	if err != nil {
		return nil, err
	}
	var out []struct {
		Fields []leadField `json:"fields"`
	}
	if err := json.Unmarshal(res, &out); err != nil || len(out) == 0 {
		return nil, fault.New(fault.ConnectorServer, "Marketo leads/describe2.json answered no field list")
	}
	return out[0].Fields, nil
}

func fieldType(dataType string) record.FieldType {
	switch dataType {
	case "integer", "reference":
		return httpconn.TypeInteger
	case "float", "currency":
		return httpconn.TypeDouble
	case "boolean":
		return httpconn.TypeBoolean
	case "datetime", "date":
		return httpconn.TypeDateTime
	}
	return httpconn.TypeString
}

// DescribeEntity describes leads from describe2.json, activities from the
// fixed list.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	switch name {
	case "leads":
		lf, err := d.leadFields(ctx)
		if err != nil {
			return nil, err
		}
		var out []connector.EntityField
		for _, f := range lf {
			ef := connector.EntityField{Name: f.Name, Label: f.DisplayName, Type: fieldType(f.DataType), Nullable: true,
				Queryable: true, Creatable: true, Updatable: f.Updateable == nil || *f.Updateable}
			if ef.Label == "" {
				ef.Label = f.Name
			}
			switch f.Name {
			case "id":
				ef.IsPrimaryKey, ef.Nullable = true, false
			case "email":
				ef.Upsertable = true
			case "createdAt", "updatedAt":
				ef.FilterOperators, ef.IsTimestampForIncremental = dateOps, true
			}
			out = append(out, ef)
		}
		return out, nil
	case "activities":
		var out []connector.EntityField
		for _, f := range activityFields {
			t, ok := activityTypes[f]
			if !ok {
				t = httpconn.TypeString
			}
			ef := connector.EntityField{Name: f, Label: f, Type: t, Nullable: f != "marketoGUID", IsPrimaryKey: f == "marketoGUID", Queryable: true}
			if f == "activityDate" {
				ef.FilterOperators, ef.IsTimestampForIncremental = dateOps, true
			}
			out = append(out, ef)
		}
		return out, nil
	}
	return nil, fault.New(fault.NotFound, "Marketo has no entity %q (leads, activities)", name)
}

// plan is the one split of a read.
type plan struct {
	object   string
	fields   []string // output columns
	types    []record.FieldType
	export   []string // columns asked of the export: fields plus the window field
	filter   string   // bulk filter name: createdAt or updatedAt
	from, to time.Time
	winField string // the column the window is enforced on, or ""
}

// maxRange is Marketo's longest bulk extract date range.
const maxRange = 31 * 24 * time.Hour

// batchRows is how many rows a batch carries.
const batchRows = 1000

// Splits checks the object, works out the date range and returns one split
// named after the object.
func (d *Driver) Splits(ctx context.Context, r *connector.ReadRequest) ([]connector.Split, error) {
	object, err := httpconn.SourceObject(r, "Marketo")
	if err != nil {
		return nil, err
	}
	p := &plan{object: object}
	types := map[string]record.FieldType{}
	var all []string
	switch object {
	case "leads":
		lf, err := d.leadFields(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", object, err)
		}
		for _, f := range lf {
			types[f.Name] = fieldType(f.DataType)
			all = append(all, f.Name)
		}
	case "activities":
		types, all = activityTypes, activityFields
	default:
		return nil, fault.New(fault.Invalid, "Marketo has no source object %q (leads, activities)", object)
	}
	p.fields = r.Fields
	if p.fields == nil {
		p.fields = all
	}
	if len(p.fields) == 0 {
		return nil, fault.New(fault.Invalid, "no fields to read from Marketo %s", object)
	}
	for _, f := range p.fields {
		t, ok := types[f]
		if !ok {
			t = httpconn.TypeString
		}
		p.types = append(p.types, t)
	}
	if err := d.dateRange(r, p); err != nil {
		return nil, err
	}
	p.export = append([]string(nil), p.fields...)
	if p.winField != "" && !contains(p.export, p.winField) {
		p.export = append(p.export, p.winField)
	}
	return []connector.Split{{Name: object, Opaque: p}}, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// dateRange picks the bulk filter and its range (see the package comment).
func (d *Driver) dateRange(r *connector.ReadRequest, p *plan) error {
	now := d.c.Now().UTC()
	p.from, p.to = d.opts.Earliest, now
	// exported maps a field name to the bulk filter that selects it.
	exported := map[string]string{"updatedAt": "updatedAt", "createdAt": "createdAt"}
	incr := "updatedAt"
	if p.object == "activities" {
		exported = map[string]string{"activityDate": "createdAt"}
		incr = "activityDate"
	}
	if w := r.Window; w != nil {
		field := w.Field
		if field == "" {
			field = incr
		}
		filter, ok := exported[field]
		if !ok {
			return fault.New(fault.Invalid, "Marketo %s cannot be read incrementally on %q (use %s)", p.object, field, incr)
		}
		p.filter, p.winField = filter, field
		if !w.Start.IsZero() {
			p.from = w.Start
		}
		if !w.End.IsZero() {
			p.to = w.End
		}
		return nil
	}
	// No window: the first date filter the export can express narrows the
	// range (updatedAt first, as for the window).
	for _, field := range []string{"updatedAt", "createdAt", "activityDate"} {
		filter, ok := exported[field]
		if !ok {
			continue
		}
		for _, f := range r.Filters {
			if f.Field != field {
				continue
			}
			var lo, hi int64
			var okLo, okHi bool
			switch {
			case f.Operator == "GREATER_THAN" && len(f.Values) == 1:
				lo, okLo = httpconn.ParseMillis(f.Values[0])
			case f.Operator == "LESS_THAN" && len(f.Values) == 1:
				hi, okHi = httpconn.ParseMillis(f.Values[0])
			case f.Operator == "BETWEEN" && len(f.Values) == 2:
				lo, okLo = httpconn.ParseMillis(f.Values[0])
				hi, okHi = httpconn.ParseMillis(f.Values[1])
			}
			if !okLo && !okHi {
				continue
			}
			p.filter = filter
			if okLo && time.UnixMilli(lo).After(p.from) {
				p.from = time.UnixMilli(lo).UTC()
			}
			if okHi && time.UnixMilli(hi).Before(p.to) {
				p.to = time.UnixMilli(hi).UTC()
			}
		}
		if p.filter != "" {
			return nil
		}
	}
	p.filter = "createdAt"
	d.c.log.Info("marketo: no date bound on the read, exporting every record by createdAt", "object", p.object, "from", p.from)
	return nil
}

// ReadSplit runs one export job per ≤31-day chunk of the range, in order.
func (d *Driver) ReadSplit(ctx context.Context, r *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	rd, err := httpconn.NewReader[*plan](ctx, "Marketo", r, s, emit)
	if err != nil {
		return err
	}
	p := rd.Plan
	// Whole seconds, widened: Marketo takes ISO-8601 without milliseconds.
	from := p.from.UTC().Truncate(time.Second)
	to := p.to.UTC()
	if t := to.Truncate(time.Second); t.Before(to) {
		to = t.Add(time.Second)
	}
	if !from.Before(to) {
		return flush(rd, nil, true, 0)
	}
	for start := from; start.Before(to); start = start.Add(maxRange) {
		end := start.Add(maxRange)
		if end.After(to) {
			end = to
		}
		if err := d.chunk(ctx, rd, start, end, !end.Before(to)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s [%s, %s]: %w", s.Name, start.Format(time.RFC3339), end.Format(time.RFC3339), err)
		}
	}
	return nil
}

type reader = httpconn.Reader[*plan]

// chunk runs one export job over [start, end] and emits its rows.
func (d *Driver) chunk(ctx context.Context, rd *reader, start, end time.Time, last bool) error {
	base := "/bulk/v1/" + rd.Plan.object + "/export"
	body, _ := json.Marshal(map[string]any{"fields": rd.Plan.export, "format": "CSV",
		"filter": map[string]any{rd.Plan.filter: map[string]string{
			"startAt": start.Format("2006-01-02T15:04:05Z"), "endAt": end.Format("2006-01-02T15:04:05Z")}}})
	res, err := d.c.do(ctx, req{method: http.MethodPost, path: base + "/create.json", body: body})
	if err != nil {
		return err
	}
	var jobs []struct {
		ExportID string `json:"exportId"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal(res, &jobs); err != nil || len(jobs) == 0 || jobs[0].ExportID == "" {
		return fault.New(fault.ConnectorServer, "Marketo create.json answered no exportId")
	}
	id := jobs[0].ExportID
	if _, err := d.c.do(ctx, req{method: http.MethodPost, path: base + "/" + id + "/enqueue.json"}); err != nil {
		return err
	}
	for n := 0; ; n++ {
		if err := d.pollWait(ctx, n); err != nil {
			return err
		}
		res, err := d.c.do(ctx, req{method: http.MethodGet, path: base + "/" + id + "/status.json"})
		if err != nil {
			return err
		}
		var st []struct {
			Status       string `json:"status"`
			ErrorMessage string `json:"errorMsg"`
		}
		if err := json.Unmarshal(res, &st); err != nil || len(st) == 0 {
			return fault.New(fault.ConnectorServer, "Marketo status.json answered no status for export %s", id)
		}
		switch st[0].Status {
		case "Completed":
			file, err := d.c.do(ctx, req{method: http.MethodGet, path: base + "/" + id + "/file.json", raw: true})
			if err != nil {
				return err
			}
			return parse(ctx, rd, file, last)
		case "Failed", "Canceled", "Cancelled": // the enum says Canceled, an example Cancelled
			return fault.New(fault.ConnectorServer, "Marketo export %s ended %s: %s", id, st[0].Status, st[0].ErrorMessage)
		}
	}
}

func (d *Driver) pollWait(ctx context.Context, n int) error {
	if d.opts.PollWait != nil {
		return d.opts.PollWait(ctx, n)
	}
	return httpconn.Pause(ctx, n, 2*time.Second, 30*time.Second)
}

// parse reads the export CSV, whose header names the exported columns.
func parse(ctx context.Context, rd *reader, file []byte, last bool) error {
	cr := csvrec.NewReader(file)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return flush(rd, nil, last, len(file))
	}
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "parse the Marketo export file")
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	win := -1
	if rd.Plan.winField != "" {
		i, ok := col[rd.Plan.winField]
		if !ok {
			return fault.New(fault.ConnectorServer, "the Marketo export file has no %s column", rd.Plan.winField)
		}
		win = i
	}
	var rows [][]record.Value
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fault.Wrap(fault.ConnectorServer, err, "parse the Marketo export file")
		}
		if len(rec) == 1 && rec[0] == "" && len(header) > 1 {
			continue // a blank line; with one column it is a null
		}
		if len(rec) != len(header) {
			return fault.New(fault.ConnectorServer, "the Marketo export file has a record of %d cells under %d columns", len(rec), len(header))
		}
		if win >= 0 && !inWindow(rd, cell(rec, win)) {
			continue
		}
		row := make([]record.Value, len(rd.Plan.fields))
		for i, f := range rd.Plan.fields {
			j, ok := col[f]
			if !ok {
				row[i] = record.NullVal()
				continue
			}
			row[i] = value(rd.Plan.types[i], cell(rec, j))
		}
		rows = append(rows, row)
		if len(rows) == batchRows {
			if err := flush(rd, rows, false, 0); err != nil {
				return err
			}
			rows = nil
		}
	}
	return flush(rd, rows, last, len(file))
}

func cell(rec []string, i int) string {
	if i < len(rec) {
		return rec[i]
	}
	return ""
}

func flush(rd *reader, rows [][]record.Value, final bool, size int) error {
	if len(rows) == 0 && !final && size == 0 {
		return nil
	}
	b := &record.Batch{Fields: rd.Plan.fields, Final: final, SourceBytes: int64(size)}
	for _, row := range rows {
		b.AppendRow(row)
	}
	return rd.Send(b, len(rows))
}

func inWindow(rd *reader, s string) bool {
	w := rd.Req.Window
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return false
	}
	return !t.Before(w.Start) && (w.End.IsZero() || t.Before(w.End))
}

// value converts one CSV cell; Marketo writes null as an empty cell.
func value(t record.FieldType, s string) record.Value {
	if s == "" {
		return record.NullVal()
	}
	switch t {
	case httpconn.TypeInteger:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return record.IntVal(i)
		}
	case httpconn.TypeDouble:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return record.FloatVal(f)
		}
	case httpconn.TypeBoolean:
		if b, err := strconv.ParseBool(s); err == nil {
			return record.BoolVal(b)
		}
	case httpconn.TypeDateTime:
		if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return record.TimeVal(tm)
		}
	}
	return record.Str(s)
}
