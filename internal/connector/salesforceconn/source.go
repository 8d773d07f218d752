package salesforceconn

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

type sourceProps struct {
	Object                string `json:"object"`
	DataTransferAPI       string `json:"dataTransferApi"`
	IncludeDeletedRecords bool   `json:"includeDeletedRecords"`
}

// plan is a split: one SOQL query and the API that runs it.
type plan struct {
	soql   string
	all    bool // queryAll: soft-deleted records too
	bulk   bool
	fields []string // output fields, in SELECT order
	types  []string // Salesforce type per field; "" for relationship paths
}

// Splits describes the object, builds the SOQL and picks the API: REST
// query for REST_SYNC, a Bulk API 2.0 query job for BULKV2, and for
// AUTOMATIC whichever AppFlow's threshold says after counting the records.
func (d *Driver) Splits(ctx context.Context, r *connector.ReadRequest) ([]connector.Split, error) {
	props, err := connector.DecodeProperties[sourceProps](r.Properties, "Salesforce", "source")
	if err != nil {
		return nil, err
	}
	object := cmp.Or(r.Object, props.Object)
	desc, err := d.describe(ctx, object)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", object, err)
	}
	p := &plan{all: props.IncludeDeletedRecords}
	if r.Fields == nil {
		for _, f := range desc.Fields {
			// Compound fields repeat their components and Bulk API 2.0
			// cannot read them; base64 bodies cannot be read in bulk either.
			if c := typeClass(f.Type); c == classCompound || f.Type == "base64" {
				continue
			}
			p.fields, p.types = append(p.fields, f.Name), append(p.types, f.Type)
		}
	}
	for _, name := range r.Fields {
		f := desc.field(name)
		if f == nil {
			f = desc.fieldFold(name)
		}
		switch {
		case f != nil:
			p.fields, p.types = append(p.fields, f.Name), append(p.types, f.Type)
		case strings.Contains(name, "."): // a relationship path such as Owner.Name
			p.fields, p.types = append(p.fields, name), append(p.types, "")
		default:
			return nil, fault.New(fault.Invalid, "%s has no field %s", object, name)
		}
	}
	if len(p.fields) == 0 {
		return nil, fault.New(fault.Invalid, "no fields to read from %s", object)
	}
	where := buildWhere(desc, r.Filters, r.Window)
	p.soql = buildSOQL(p.fields, desc.Name, where)
	switch strings.ToUpper(props.DataTransferAPI) {
	case "BULKV2":
		p.bulk = true
	case "REST_SYNC":
	default:
		n, err := d.count(ctx, desc.Name, where, p.all)
		if err != nil {
			return nil, fmt.Errorf("%s: count records: %w", object, err)
		}
		p.bulk = n >= bulkReadThreshold
	}
	if p.bulk {
		for i, t := range p.types {
			if typeClass(t) == classCompound {
				return nil, fault.New(fault.Invalid, "Bulk API 2.0 cannot read the compound field %s.%s; select its component fields", object, p.fields[i])
			}
		}
	}
	return []connector.Split{{Name: desc.Name, Opaque: p}}, nil
}

func (d *sobjectDescribe) fieldFold(name string) *sobjectField {
	for i := range d.Fields {
		if strings.EqualFold(d.Fields[i].Name, name) {
			return &d.Fields[i]
		}
	}
	return nil
}

// count runs SELECT COUNT() with the same WHERE clause.
func (d *Driver) count(ctx context.Context, object, where string, all bool) (int64, error) {
	path := "/query"
	if all {
		path = "/queryAll"
	}
	q := "SELECT COUNT() FROM " + object
	if where != "" {
		q += " WHERE " + where
	}
	r, err := d.c.do(ctx, req{method: http.MethodGet, path: path, query: url.Values{"q": {q}}, idempotent: true})
	if err != nil {
		return 0, err
	}
	var res struct {
		TotalSize int64 `json:"totalSize"`
	}
	return res.TotalSize, decodeJSON(r.Body, &res, "count query")
}

// ReadSplit runs the split's query and emits one batch per result page.
func (d *Driver) ReadSplit(ctx context.Context, r *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	p, err := httpconn.Plan[*plan](ctx, s, "Salesforce")
	if err != nil {
		return err
	}
	if p.bulk {
		err = d.readBulk(ctx, p, s.Name, emit)
	} else {
		err = d.readREST(ctx, p, s.Name, emit)
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

type pageEmitter struct {
	p     *plan
	split string
	line  int64
	emit  func(*record.Batch) error
}

func (e *pageEmitter) batch() *record.Batch {
	return &record.Batch{Fields: append([]string(nil), e.p.fields...), Split: e.split, FirstLine: e.line}
}

func (e *pageEmitter) send(b *record.Batch, final bool, size int) error {
	b.Final, b.SourceBytes = final, int64(size)
	e.line += int64(b.Len())
	return e.emit(b)
}

// readREST pages through query (or queryAll) results by nextRecordsUrl. A
// page is emitted only once it is read whole, and a retried page is the
// same URL again, so no record is lost or repeated.
func (d *Driver) readREST(ctx context.Context, p *plan, split string, emit func(*record.Batch) error) error {
	e := &pageEmitter{p: p, split: split, line: 1, emit: emit}
	path := "/query"
	if p.all {
		path = "/queryAll"
	}
	rq := req{method: http.MethodGet, path: path, query: url.Values{"q": {p.soql}}, idempotent: true}
	if n := d.opts.PageSize; n >= 200 { // Sforce-Query-Options batchSize takes 200 to 2,000
		rq.header = map[string]string{"Sforce-Query-Options": "batchSize=" + strconv.Itoa(min(n, 2000))}
	}
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := d.c.do(ctx, rq)
		if err != nil {
			return fmt.Errorf("split %s: query page %d: %w", split, page, err)
		}
		var qr struct {
			Done           bool               `json:"done"`
			NextRecordsURL string             `json:"nextRecordsUrl"`
			Records        *[]json.RawMessage `json:"records"`
		}
		dec := json.NewDecoder(bytes.NewReader(res.Body))
		if err := dec.Decode(&qr); err != nil {
			return fault.Wrap(fault.ConnectorServer, err, "split %s: query page %d: decode response", split, page)
		}
		if qr.Records == nil {
			return fault.New(fault.ConnectorServer, "split %s: query page %d has no records: %s", split, page, httpconn.Excerpt(res.Body))
		}
		b := e.batch()
		row := make([]record.Value, len(p.fields))
		for i, raw := range *qr.Records {
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil {
				return fault.Wrap(fault.ConnectorServer, err, "split %s: record %d: decode", split, e.line+int64(i))
			}
			for j, f := range p.fields {
				row[j] = jsonValue(p.types[j], lookup(m, f))
			}
			b.AppendRow(row)
		}
		done := qr.Done || qr.NextRecordsURL == ""
		if err := e.send(b, done, len(res.Body)); err != nil {
			return err
		}
		if done {
			return nil
		}
		if qr.NextRecordsURL == rq.path {
			return fault.New(fault.ConnectorServer, "split %s: query page %d names itself as the next (%.80s)", split, page, qr.NextRecordsURL)
		}
		rq = req{method: http.MethodGet, path: qr.NextRecordsURL, idempotent: true, header: rq.header}
	}
}

// lookup finds a field, or a dotted relationship path, in a REST record.
func lookup(m map[string]any, path string) any {
	var cur any = m
	for part := range strings.SplitSeq(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		v, ok := mm[part]
		if !ok {
			for k, x := range mm {
				if strings.EqualFold(k, part) {
					v, ok = x, true
					break
				}
			}
		}
		if !ok {
			return nil
		}
		cur = v
	}
	return cur
}

// jsonValue converts a REST value through the same text form the Bulk API
// gives, so both APIs produce identical records.
func jsonValue(sfType string, v any) record.Value {
	switch x := v.(type) {
	case nil:
		return record.NullVal()
	case string:
		return textValue(sfType, x)
	case json.Number:
		return textValue(sfType, x.String())
	case bool:
		return textValue(sfType, strconv.FormatBool(x))
	case map[string]any:
		delete(x, "attributes")
		b, _ := json.Marshal(x)
		return record.JSONVal(string(b))
	default:
		b, _ := json.Marshal(x)
		return record.JSONVal(string(b))
	}
}

// textValue types a value given as text. Empty text is null: Salesforce
// stores no empty strings, and Bulk API CSV cannot tell them apart. Text
// that does not parse as its declared type is kept as a string.
func textValue(sfType string, s string) record.Value {
	if s == "" {
		return record.NullVal()
	}
	switch typeClass(sfType) {
	case classInt:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return record.IntVal(i)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int64(f)) {
			return record.IntVal(int64(f))
		}
	case classFloat:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return record.FloatVal(f)
		}
	case classBool:
		if b, err := strconv.ParseBool(s); err == nil {
			return record.BoolVal(b)
		}
	case classDateTime:
		for _, layout := range []string{"2006-01-02T15:04:05.000Z0700", time.RFC3339Nano} {
			if t, err := time.Parse(layout, s); err == nil {
				return record.TimeVal(t)
			}
		}
	}
	return record.Str(s)
}

// readBulk runs a Bulk API 2.0 query job: create it, poll until
// JobComplete, then read CSV result sets by Sforce-Locator. A result set is
// emitted only once read whole, and locators are stable, so a retried set
// is the same records again. The job is deleted afterwards, or aborted on
// failure.
func (d *Driver) readBulk(ctx context.Context, p *plan, split string, emit func(*record.Batch) error) (err error) {
	op := "query"
	if p.all {
		op = "queryAll"
	}
	body, _ := json.Marshal(map[string]string{"operation": op, "query": p.soql, "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"})
	res, err := d.c.do(ctx, req{method: http.MethodPost, path: "/jobs/query", body: body})
	if err != nil {
		return fmt.Errorf("split %s: create Bulk API 2.0 query job: %w", split, err)
	}
	var job jobInfo
	if err := decodeJSON(res.Body, &job, "create query job"); err != nil {
		return fmt.Errorf("split %s: %w", split, err)
	}
	jobPath := "/jobs/query/" + url.PathEscape(job.ID)
	defer func() { d.closeJob(ctx, jobPath, job.State, err) }()
	if job, err = d.waitJob(ctx, jobPath, job); err != nil {
		return fmt.Errorf("split %s: Bulk API 2.0 query job %s: %w", split, job.ID, err)
	}
	e := &pageEmitter{p: p, split: split, line: 1, emit: emit}
	locator := ""
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		q := url.Values{}
		if d.opts.PageSize > 0 {
			q.Set("maxRecords", strconv.Itoa(d.opts.PageSize))
		}
		if locator != "" {
			q.Set("locator", locator)
		}
		res, err := d.c.do(ctx, req{method: http.MethodGet, path: jobPath + "/results", query: q, accept: "text/csv", idempotent: true})
		if err != nil {
			return fmt.Errorf("split %s: query job %s results %d: %w", split, job.ID, page, err)
		}
		rows, err := parseCSV(res.Body)
		if err != nil {
			return fault.Wrap(fault.ConnectorServer, err, "split %s: query job %s results %d", split, job.ID, page)
		}
		b := e.batch()
		if len(rows) > 0 {
			cols := make([]int, len(p.fields))
			for j, f := range p.fields {
				cols[j] = -1
				for k, h := range rows[0] {
					if strings.EqualFold(h, f) {
						cols[j] = k
					}
				}
				if cols[j] < 0 {
					return fault.New(fault.ConnectorServer, "split %s: query job %s results %d have no column %s", split, job.ID, page, f)
				}
			}
			row := make([]record.Value, len(p.fields))
			for n, rec := range rows[1:] {
				if len(rec) != len(rows[0]) {
					return fault.New(fault.ConnectorServer, "split %s: query job %s results %d: record %d has %d columns, the header %d",
						split, job.ID, page, e.line+int64(n), len(rec), len(rows[0]))
				}
				for j, k := range cols {
					if k < 0 {
						row[j] = record.NullVal()
					} else {
						row[j] = textValue(p.types[j], rec[k])
					}
				}
				b.AppendRow(row)
			}
		}
		prev := locator
		locator = res.Header.Get("Sforce-Locator")
		done := locator == "" || locator == "null"
		if !done && locator == prev {
			return fault.New(fault.ConnectorServer, "split %s: query job %s results %d name themselves as the next (locator %.80s)", split, job.ID, page, locator)
		}
		if err := e.send(b, done, len(res.Body)); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// jobInfo is the Bulk API 2.0 job description both job kinds share.
type jobInfo struct {
	ID                     string `json:"id"`
	State                  string `json:"state"`
	ErrorMessage           string `json:"errorMessage"`
	NumberRecordsProcessed int64  `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int64  `json:"numberRecordsFailed"`
}

// waitJob polls a job until JobComplete (Bulk API 2.0 job states: Open,
// UploadComplete, InProgress, JobComplete, Failed, Aborted).
func (d *Driver) waitJob(ctx context.Context, path string, job jobInfo) (jobInfo, error) {
	for n := 0; ; n++ {
		switch job.State {
		case "JobComplete":
			return job, nil
		case "Failed", "Aborted":
			return job, fault.New(fault.ConnectorServer, "job %s: %s", job.State, job.ErrorMessage)
		}
		if err := d.pollWait(ctx, n); err != nil {
			return job, err
		}
		res, err := d.c.do(ctx, req{method: http.MethodGet, path: path, idempotent: true})
		if err != nil {
			return job, err
		}
		if err := decodeJSON(res.Body, &job, "job info"); err != nil {
			return job, err
		}
	}
}

func (d *Driver) pollWait(ctx context.Context, n int) error {
	if d.opts.PollWait != nil {
		return d.opts.PollWait(ctx, n)
	}
	return httpconn.Pause(ctx, n, 250*time.Millisecond, 5*time.Second)
}

// closeJob deletes a finished job (its results are read) or aborts one
// that failed part-way; cleanup outlives a canceled context.
func (d *Driver) closeJob(ctx context.Context, path, state string, failed error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if failed != nil && state != "JobComplete" && state != "Failed" && state != "Aborted" {
		body, _ := json.Marshal(map[string]string{"state": "Aborted"})
		if _, err := d.c.do(ctx, req{method: http.MethodPatch, path: path, body: body, idempotent: true}); err != nil {
			d.log.Warn("salesforce: abort Bulk API job", "job", path, "err", err)
		}
		return
	}
	if _, err := d.c.do(ctx, req{method: http.MethodDelete, path: path, idempotent: true}); err != nil {
		d.log.Warn("salesforce: delete Bulk API job", "job", path, "err", err)
	}
}
