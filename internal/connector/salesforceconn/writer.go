package salesforceconn

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

type destProps struct {
	Object          string `json:"object"`
	DataTransferAPI string `json:"dataTransferApi"`
	httpconn.WriteProps
}

// bulkUploadBytes keeps each Bulk API 2.0 upload under the documented
// 150 MB per job (base64 growth included), starting a new job past it.
const bulkUploadBytes = 100 << 20

// OpenWriter spools records to a local file until Commit: Salesforce has no
// transaction to hold them in, so nothing is sent before Commit and Abort
// only deletes the spool.
func (d *Driver) OpenWriter(ctx context.Context, r *connector.WriteRequest) (connector.Writer, error) {
	props, err := connector.DecodeProperties[destProps](r.Properties, "Salesforce", "destination")
	if err != nil {
		return nil, err
	}
	object := cmp.Or(r.Object, props.Object)
	op := props.Operation(r)
	ids := props.IDFields(r)
	w := &writer{d: d, object: object, op: op, api: strings.ToUpper(props.DataTransferAPI), Buffer: httpconn.Buffer[struct{}]{Vendor: "Salesforce", FailFast: r.ErrorHandling != nil && r.ErrorHandling.FailOnFirstError},
		req: r}
	switch op {
	case "INSERT":
	case "UPSERT":
		if len(ids) == 0 {
			return nil, fault.New(fault.Invalid, "UPSERT into Salesforce needs idFieldNames naming an external ID field of %s", object)
		}
		w.idField = ids[0]
	case "UPDATE", "DELETE":
		w.idField = "Id" // UPDATE and DELETE match on the record Id (data-plane §9.4)
		if len(ids) > 0 {
			w.idField = ids[0]
		}
	default:
		return nil, fault.New(fault.Invalid, "unknown write operation %s for Salesforce", op)
	}
	desc, err := d.describe(ctx, object)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", object, err)
	}
	w.object = desc.Name
	w.types = map[string]string{}
	for _, f := range desc.Fields {
		w.types[f.Name] = f.Type
	}
	if op == "UPSERT" {
		if f := desc.field(w.idField); f == nil || !(f.ExternalID || f.IDLookup) {
			return nil, fault.New(fault.Invalid, "UPSERT needs an external ID field: %s.%s is not one", desc.Name, w.idField)
		}
	}
	if err := rejects.Check(ctx, d.deps, r.ErrorHandling); err != nil {
		return nil, fmt.Errorf("salesforce: %w", err)
	}
	w.spool, err = os.CreateTemp("", "appflowd-salesforce-*.jsonl")
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "create the Salesforce write spool")
	}
	w.enc = bufio.NewWriter(w.spool)
	return w, nil
}

type writer struct {
	d       *Driver
	object  string
	op      string
	api     string
	idField string
	types   map[string]string // field name -> Salesforce type

	req *connector.WriteRequest // its error location gets the rejected records

	spool *os.File
	enc   *bufio.Writer
	cols  record.Union // the fields of the batches written
	n     int64

	httpconn.Buffer[struct{}] // records are spooled, not buffered here
}

// spooled is one record as spooled and sent: cells by field index.
type spooled struct {
	Split string `json:"s"`
	Line  int64  `json:"l"`
	Cells []cell `json:"c"`
}

// cell is one value: I indexes writer.fields; K is 's' string, 'n' number,
// 'b' boolean, '0' null.
type cell struct {
	I int    `json:"i"`
	K byte   `json:"k"`
	S string `json:"v,omitempty"`
}

var _ connector.FailureRecorder = (*writer)(nil)

func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	if err := w.Usable(ctx); err != nil {
		return err
	}
	idx := w.cols.Columns(b.Fields)
	for r := range b.Len() {
		s := spooled{Split: b.Split, Line: b.FirstLine + int64(r)}
		for j, v := range b.Row(r) {
			if c, ok := w.cell(b.Fields[j], v); ok {
				c.I = idx[j]
				s.Cells = append(s.Cells, c)
			}
		}
		enc, err := json.Marshal(&s)
		if err != nil {
			return fault.Wrap(fault.Internal, err, "spool a record")
		}
		w.enc.Write(enc)
		if err := w.enc.WriteByte('\n'); err != nil {
			return fault.Wrap(fault.Internal, err, "spool a record")
		}
		w.n++
	}
	return nil
}

// cell renders a value as Salesforce takes it: dates and datetimes in the
// field's own format, numbers and booleans as such. An empty string is
// null: Salesforce keeps no empty strings, "" is no value of a number,
// date or boolean field, and so REST (which would clear the field) and
// Bulk API 2.0 (where an empty cell leaves it unchanged) write the same.
func (w *writer) cell(field string, v record.Value) (cell, bool) {
	switch v.K {
	case record.Missing:
		return cell{}, false
	case record.Null:
		return cell{K: '0'}, true
	case record.String:
		if v.S == "" {
			return cell{K: '0'}, true
		}
	case record.Int, record.Float, record.Decimal:
		return cell{K: 'n', S: v.Text()}, true
	case record.Bool:
		return cell{K: 'b', S: v.Text()}, true
	case record.Time:
		switch w.types[field] {
		case "date":
			return cell{K: 's', S: v.Time().Format("2006-01-02")}, true
		case "time":
			return cell{K: 's', S: v.Time().Format("15:04:05.000Z")}, true
		}
		return cell{K: 's', S: v.Time().Format("2006-01-02T15:04:05.000Z")}, true
	}
	return cell{K: 's', S: v.Text()}, true
}

func (w *writer) Abort(ctx context.Context) error {
	_ = w.Buffer.Abort(ctx)
	return w.dropSpool()
}

func (w *writer) dropSpool() error {
	if w.spool == nil {
		return nil
	}
	name := w.spool.Name()
	w.spool.Close()
	w.spool = nil
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if err := w.Begin(ctx); err != nil {
		return nil, err
	}
	defer w.dropSpool()
	if err := w.enc.Flush(); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "flush the Salesforce write spool")
	}
	if _, err := w.spool.Seek(0, io.SeekStart); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "rewind the Salesforce write spool")
	}
	bulk := w.api == "BULKV2" || (w.api != "REST_SYNC" && w.n >= bulkWriteThreshold)
	var err error
	if w.n > 0 {
		if bulk {
			err = w.commitBulk(ctx)
		} else {
			err = w.commitREST(ctx)
		}
	}
	if w.Result.RecordsWritten > 0 {
		w.Result.Objects = []string{w.object}
	}
	// The rejected records go to the error bucket either way: with
	// failOnFirstDestinationError, the one that stopped the run.
	if _, _, ferr := rejects.Write(ctx, w.d.deps, w.req, "salesforce-rejected-records.jsonl", w.Result.Failures); ferr != nil {
		return nil, errors.Join(err, ferr)
	}
	if err != nil {
		return nil, err
	}
	return &w.Result, nil
}

// records reads the spool back.
func (w *writer) records(fn func(*spooled) error) error {
	sc := bufio.NewScanner(w.spool)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var s spooled
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return fault.Wrap(fault.Internal, err, "read the Salesforce write spool")
		}
		if err := fn(&s); err != nil {
			return err
		}
	}
	return sc.Err()
}

// column is the name a field is sent under: the id field of UPDATE and
// DELETE is the record's Id.
func (w *writer) column(i int) string {
	if (w.op == "UPDATE" || w.op == "DELETE") && w.cols.Fields[i] == w.idField {
		return "Id"
	}
	return w.cols.Fields[i]
}

func (w *writer) textMap(s *spooled) map[string]string {
	m := map[string]string{}
	for _, c := range s.Cells {
		m[w.cols.Fields[c.I]] = c.S
	}
	return m
}

func (w *writer) idOf(s *spooled) string {
	for _, c := range s.Cells {
		if w.column(c.I) == "Id" {
			return c.S
		}
	}
	return ""
}

// collectionResult is one entry of an sObject Collections response (REST
// API Developer Guide, sObject Collections), in request order.
type collectionResult struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
	Created bool   `json:"created"`
	Errors  []struct {
		StatusCode string   `json:"statusCode"`
		Message    string   `json:"message"`
		Fields     []string `json:"fields"`
	} `json:"errors"`
}

func (r *collectionResult) reason() string {
	var parts []string
	for _, e := range r.Errors {
		p := e.StatusCode + ": " + e.Message
		if len(e.Fields) > 0 {
			p += " (fields: " + strings.Join(e.Fields, ", ") + ")"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "UNKNOWN_EXCEPTION: Salesforce reported no error"
	}
	return strings.Join(parts, "; ")
}

// commitREST sends sObject Collections requests of up to 200 records with
// allOrNone false, so each record succeeds or fails alone.
func (w *writer) commitREST(ctx context.Context) error {
	chunk := make([]*spooled, 0, collectionSize)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := w.sendCollection(ctx, chunk)
		chunk = chunk[:0]
		return err
	}
	err := w.records(func(s *spooled) error {
		if w.op == "DELETE" || w.op == "UPDATE" {
			if w.idOf(s) == "" {
				return w.Fail(s.Split, s.Line, w.textMap(s), "MISSING_ARGUMENT: the record has no value in its id field "+w.idField)
			}
		}
		chunk = append(chunk, s)
		if len(chunk) == collectionSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func (w *writer) sendCollection(ctx context.Context, chunk []*spooled) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var rq req
	switch w.op {
	case "DELETE":
		ids := make([]string, len(chunk))
		for i, s := range chunk {
			ids[i] = w.idOf(s)
		}
		rq = req{method: http.MethodDelete, path: "/composite/sobjects", query: url.Values{"ids": {strings.Join(ids, ",")}, "allOrNone": {"false"}}, idempotent: true}
	default:
		recs := make([]map[string]any, len(chunk))
		for i, s := range chunk {
			m := map[string]any{"attributes": map[string]string{"type": w.object}}
			for _, c := range s.Cells {
				name := w.column(c.I)
				switch c.K {
				case '0':
					if w.op == "INSERT" {
						continue // a new record's fields start empty
					}
					m[name] = nil
				case 'n':
					m[name] = json.Number(c.S)
				case 'b':
					m[name] = c.S == "true"
				default:
					m[name] = c.S
				}
			}
			recs[i] = m
		}
		body, err := json.Marshal(map[string]any{"allOrNone": false, "records": recs})
		if err != nil {
			return fault.Wrap(fault.Internal, err, "encode an sObject Collections request")
		}
		switch w.op {
		case "INSERT":
			// Not idempotent: a transport error is not retried, lest records be created twice.
			rq = req{method: http.MethodPost, path: "/composite/sobjects", body: body}
		case "UPDATE":
			rq = req{method: http.MethodPatch, path: "/composite/sobjects", body: body, idempotent: true}
		case "UPSERT":
			rq = req{method: http.MethodPatch, path: "/composite/sobjects/" + url.PathEscape(w.object) + "/" + url.PathEscape(w.idField), body: body, idempotent: true}
		}
	}
	res, err := w.d.c.do(ctx, rq)
	if err != nil {
		return fmt.Errorf("%s %s of %d records: %w", w.op, w.object, len(chunk), err)
	}
	var results []collectionResult
	if err := decodeJSON(res.Body, &results, "sObject Collections"); err != nil {
		return err
	}
	if len(results) != len(chunk) {
		return fault.New(fault.ConnectorServer, "Salesforce answered %d results for %d records", len(results), len(chunk))
	}
	w.Result.BytesWritten += int64(len(rq.body))
	for i, r := range results {
		if r.Success {
			w.Result.RecordsWritten++
			continue
		}
		if err := w.Fail(chunk[i].Split, chunk[i].Line, w.textMap(chunk[i]), r.reason()); err != nil {
			return err
		}
	}
	return nil
}

// srcPos is where a record came from.
type srcPos struct {
	split string
	line  int64
}

// commitBulk runs Bulk API 2.0 ingest jobs: create, upload CSV, close with
// UploadComplete, poll, then read failedResults for per-record errors.
func (w *writer) commitBulk(ctx context.Context) error {
	cols := make([]int, 0, len(w.cols.Fields))
	colOf := make([]int, len(w.cols.Fields))
	for i := range w.cols.Fields {
		colOf[i] = -1
		if w.op == "DELETE" && w.column(i) != "Id" {
			continue // DELETE takes only the Id column
		}
		colOf[i] = len(cols)
		cols = append(cols, i)
	}
	header := make([]string, len(cols))
	for k, i := range cols {
		header[k] = w.column(i)
	}
	where := map[uint64][]srcPos{}
	rows := [][]string{header}
	size := 0
	send := func() error {
		if len(rows) == 1 {
			return nil
		}
		err := w.ingest(ctx, rows, where)
		rows, size, where = [][]string{header}, 0, map[uint64][]srcPos{}
		return err
	}
	err := w.records(func(s *spooled) error {
		if (w.op == "DELETE" || w.op == "UPDATE") && w.idOf(s) == "" {
			return w.Fail(s.Split, s.Line, w.textMap(s), "MISSING_ARGUMENT: the record has no value in its id field "+w.idField)
		}
		rec := make([]string, len(cols))
		for _, c := range s.Cells {
			k := colOf[c.I]
			if k < 0 {
				continue
			}
			rec[k] = c.S
			if c.K == '0' && w.op != "INSERT" {
				rec[k] = "#N/A" // Bulk API 2.0: #N/A sets a field to null
			}
		}
		rows = append(rows, rec)
		h := rowHash(rec)
		where[h] = append(where[h], srcPos{s.Split, s.Line})
		for _, c := range rec {
			size += len(c) + 3
		}
		if size >= bulkUploadBytes {
			return send()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return send()
}

func rowHash(rec []string) uint64 {
	h := fnv.New64a()
	for _, c := range rec {
		h.Write([]byte(c))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

var bulkOperation = map[string]string{"INSERT": "insert", "UPDATE": "update", "UPSERT": "upsert", "DELETE": "delete"}

// ingest runs one ingest job over rows (header first). where finds the
// origin of a failed row by its content: failedResults come back in no
// particular order and carry the uploaded fields.
func (w *writer) ingest(ctx context.Context, rows [][]string, where map[uint64][]srcPos) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	spec := map[string]string{"object": w.object, "operation": bulkOperation[w.op], "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}
	if w.op == "UPSERT" {
		spec["externalIdFieldName"] = w.idField
	}
	body, _ := json.Marshal(spec)
	res, err := w.d.c.do(ctx, req{method: http.MethodPost, path: "/jobs/ingest", body: body})
	if err != nil {
		return fmt.Errorf("create Bulk API 2.0 ingest job for %s: %w", w.object, err)
	}
	var job jobInfo
	if err := decodeJSON(res.Body, &job, "create ingest job"); err != nil {
		return err
	}
	path := "/jobs/ingest/" + url.PathEscape(job.ID)
	defer func() {
		if err != nil && job.State == "Open" {
			w.d.closeJob(ctx, path, job.State, err)
		}
	}()
	data, err := writeCSV(rows)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encode ingest data")
	}
	if _, err = w.d.c.do(ctx, req{method: http.MethodPut, path: path + "/batches", body: data, contentType: "text/csv", idempotent: true}); err != nil {
		return fmt.Errorf("upload to ingest job %s: %w", job.ID, err)
	}
	closeBody, _ := json.Marshal(map[string]string{"state": "UploadComplete"})
	if res, err = w.d.c.do(ctx, req{method: http.MethodPatch, path: path, body: closeBody, idempotent: true}); err != nil {
		return fmt.Errorf("close ingest job %s: %w", job.ID, err)
	}
	if err := decodeJSON(res.Body, &job, "close ingest job"); err != nil {
		return err
	}
	if job, err = w.d.waitJob(ctx, path, job); err != nil {
		return fmt.Errorf("ingest job %s: %w", job.ID, err)
	}
	w.Result.BytesWritten += int64(len(data))
	w.Result.RecordsWritten += job.NumberRecordsProcessed - job.NumberRecordsFailed
	if job.NumberRecordsFailed == 0 {
		return nil
	}
	res, err = w.d.c.do(ctx, req{method: http.MethodGet, path: path + "/failedResults", accept: "text/csv", idempotent: true})
	if err != nil {
		return fmt.Errorf("read failed results of ingest job %s: %w", job.ID, err)
	}
	failed, err := parseCSV(res.Body)
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "read failed results of ingest job %s", job.ID)
	}
	if len(failed) == 0 {
		return nil
	}
	head := failed[0]
	errCol, src := -1, make([]int, len(rows[0]))
	for k := range src {
		src[k] = -1
	}
	for j, h := range head {
		if h == "sf__Error" {
			errCol = j
		}
		for k, name := range rows[0] {
			if h == name {
				src[k] = j
			}
		}
	}
	for _, f := range failed[1:] {
		rec := make([]string, len(src))
		m := map[string]string{}
		for k, j := range src {
			if j >= 0 && j < len(f) {
				rec[k] = f[j]
				m[rows[0][k]] = f[j]
			}
		}
		p := srcPos{}
		if ps := where[rowHash(rec)]; len(ps) > 0 {
			p, where[rowHash(rec)] = ps[0], ps[1:]
		}
		reason := "UNKNOWN_EXCEPTION"
		if errCol >= 0 && errCol < len(f) {
			reason = bulkReason(f[errCol])
		}
		if err := w.Fail(p.split, p.line, m, reason); err != nil {
			return err
		}
	}
	return nil
}

// bulkReason turns sf__Error ("CODE:message:fields --") into the form
// sObject Collections failures take ("CODE: message").
func bulkReason(s string) string {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "--"))
	code, rest, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	msg, fields := rest, ""
	if i := strings.LastIndex(rest, ":"); i >= 0 { // the message may hold colons; the fields come last
		msg, fields = rest[:i], rest[i+1:]
	}
	out := code + ": " + msg
	if fields = strings.TrimSpace(fields); fields != "" {
		out += " (fields: " + strings.Join(strings.Split(fields, ","), ", ") + ")"
	}
	return out
}
