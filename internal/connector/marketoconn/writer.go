package marketoconn

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/csvrec"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// maxImport keeps each import file under Marketo's 10 MB limit.
const maxImport = 9 << 20

// reasonColumn is the column Marketo appends to a failures file [U].
const reasonColumn = "Import Failure Reason"

type destProps struct {
	Object string `json:"object"`
}

// OpenWriter writes leads through Bulk Lead Import, insert-or-update on
// email; rows are buffered until Commit.
func (d *Driver) OpenWriter(ctx context.Context, r *connector.WriteRequest) (connector.Writer, error) {
	props, err := connector.DecodeProperties[destProps](r.Properties, "Marketo", "destination")
	if err != nil {
		return nil, err
	}
	object := cmp.Or(r.Object, props.Object)
	if object != "leads" {
		return nil, fault.New(fault.Invalid, "Marketo %q cannot be written; write to leads", object)
	}
	switch op := strings.ToUpper(r.WriteOperation); op {
	case "", "INSERT", "UPSERT":
	default:
		return nil, fault.New(fault.Invalid, "Marketo bulk import only inserts or updates leads by email; %s is not supported", op)
	}
	w := &writer{d: d, req: r,
		failFast: r.ErrorHandling != nil && r.ErrorHandling.FailOnFirstError, seen: map[string]bool{}}
	for _, f := range r.Fields {
		w.column(f.Name)
	}
	return w, nil
}

type pending struct {
	split string
	line  int64
	text  map[string]string
}

type writer struct {
	d             *Driver
	req           *connector.WriteRequest
	failFast      bool
	cols          []string
	seen          map[string]bool
	rows          []*pending
	failures      []connector.RecordFailure
	done, aborted bool
}

var _ connector.FailureRecorder = (*writer)(nil)

func (w *writer) column(name string) {
	if !w.seen[name] {
		w.seen[name] = true
		w.cols = append(w.cols, name)
	}
}

// Write buffers the batch's rows as text.
func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.done || w.aborted {
		return fault.New(fault.Internal, "write to a finished Marketo writer")
	}
	for _, f := range b.Fields {
		w.column(f)
	}
	for i := range b.Len() {
		text := map[string]string{}
		for j, v := range b.Row(i) {
			if !v.IsAbsent() {
				text[b.Fields[j]] = v.Text()
			}
		}
		w.rows = append(w.rows, &pending{split: b.Split, line: b.FirstLine + int64(i), text: text})
	}
	return nil
}

// RecordFailures keeps records rejected before they reached the writer.
func (w *writer) RecordFailures(ctx context.Context, f []connector.RecordFailure) error {
	w.failures = append(w.failures, f...)
	return nil
}

// Abort drops the buffer; nothing was sent before Commit.
func (w *writer) Abort(ctx context.Context) error {
	if !w.done {
		w.aborted = true
		w.rows = nil
	}
	return nil
}

// Commit imports the rows in files under 10 MB, one job at a time (so
// the queue never holds more than one of ours), and collects the rows
// Marketo refused.
func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if w.aborted {
		return nil, fault.New(fault.Internal, "commit of an aborted Marketo writer")
	}
	if w.done {
		return nil, fault.New(fault.Internal, "Marketo writer committed twice")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w.done = true
	res := &connector.WriteResult{}
	for start := 0; start < len(w.rows); {
		file, n := w.file(w.rows[start:])
		if err := w.importFile(ctx, file, w.rows[start:start+n], res); err != nil {
			return nil, err
		}
		start += n
	}
	res.Failures = append(w.failures, res.Failures...)
	if len(res.Failures) > 0 {
		key, _, err := rejects.Write(ctx, w.d.deps, w.req, "marketo-rejected-records.jsonl", res.Failures)
		if err != nil {
			return nil, err
		}
		if key != "" {
			w.d.c.log.Info("marketo: rejected records written", "key", key, "count", len(res.Failures))
		}
	}
	if len(res.Objects) == 0 && res.RecordsWritten > 0 {
		res.Objects = []string{"leads"}
	}
	return res, nil
}

// file renders rows as CSV under maxImport bytes (at least one row).
func (w *writer) file(rows []*pending) ([]byte, int) {
	var buf bytes.Buffer
	writeCSV(&buf, w.cols)
	n := 0
	for _, p := range rows {
		cells := make([]string, len(w.cols))
		for i, c := range w.cols {
			cells[i] = p.text[c]
		}
		mark := buf.Len()
		writeCSV(&buf, cells)
		if buf.Len() > maxImport && n > 0 {
			buf.Truncate(mark)
			break
		}
		n++
	}
	return buf.Bytes(), n
}

// writeCSV writes one CSV record, quoting where needed, bytes kept as is.
func writeCSV(buf *bytes.Buffer, cells []string) {
	for i, c := range cells {
		if i > 0 {
			buf.WriteByte(',')
		}
		if strings.ContainsAny(c, ",\"\r\n") || strings.TrimSpace(c) != c {
			buf.WriteByte('"')
			buf.WriteString(strings.ReplaceAll(c, `"`, `""`))
			buf.WriteByte('"')
		} else {
			buf.WriteString(c)
		}
	}
	buf.WriteByte('\n')
}

func rowKey(cells []string) string {
	b, _ := json.Marshal(cells)
	return string(b)
}

// importFile runs one import job and accounts for its rows.
func (w *writer) importFile(ctx context.Context, file []byte, rows []*pending, res *connector.WriteResult) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("file", "leads.csv")
	if err != nil {
		return err
	}
	_, _ = part.Write(file)
	_ = mw.Close()
	out, err := w.d.c.do(ctx, req{method: http.MethodPost, path: "/bulk/v1/leads.json",
		query: url.Values{"format": {"csv"}, "lookupField": {"email"}}, body: body.Bytes(), contentType: mw.FormDataContentType()})
	if err != nil {
		return err
	}
	var jobs []struct {
		BatchID json.Number `json:"batchId"`
	}
	if err := json.Unmarshal(out, &jobs); err != nil || len(jobs) == 0 || jobs[0].BatchID == "" {
		return fault.New(fault.ConnectorServer, "Marketo bulk import answered no batchId")
	}
	id := jobs[0].BatchID.String()
	before := res.RecordsWritten
	res.BytesWritten += int64(len(file))
	var st struct {
		Status          string `json:"status"`
		NumOfRowsFailed int64  `json:"numOfRowsFailed"`
		Message         string `json:"message"`
	}
	for n := 0; ; n++ {
		if err := w.d.pollWait(ctx, n); err != nil {
			return err
		}
		out, err := w.d.c.do(ctx, req{method: http.MethodGet, path: "/bulk/v1/leads/batch/" + id + ".json"})
		if err != nil {
			return err
		}
		var sts []json.RawMessage
		if err := json.Unmarshal(out, &sts); err != nil || len(sts) == 0 || json.Unmarshal(sts[0], &st) != nil {
			return fault.New(fault.ConnectorServer, "Marketo import %s answered no status", id)
		}
		if st.Status == "Complete" || st.Status == "Failed" {
			break
		}
	}
	if st.Status == "Failed" {
		return fault.New(fault.ConnectorServer, "Marketo import %s failed: %s", id, st.Message)
	}
	failed := map[string][]string{} // row key -> reasons, in file order
	if st.NumOfRowsFailed > 0 {
		raw, err := w.d.c.do(ctx, req{method: http.MethodGet, path: "/bulk/v1/leads/batch/" + id + "/failures.json", raw: true})
		if err != nil {
			return err
		}
		cr := csvrec.NewReader(raw)
		header, err := cr.Read()
		if err != nil {
			return fault.Wrap(fault.ConnectorServer, err, "parse the Marketo failures file of import %s", id)
		}
		reasonAt := -1
		idx := map[string]int{}
		for i, h := range header {
			if h == reasonColumn {
				reasonAt = i
			}
			idx[h] = i
		}
		for {
			rec, err := cr.Read()
			if err != nil {
				break
			}
			cells := make([]string, len(w.cols))
			for i, c := range w.cols {
				if j, ok := idx[c]; ok {
					cells[i] = cell(rec, j)
				}
			}
			reason := "Marketo rejected the row"
			if reasonAt >= 0 && cell(rec, reasonAt) != "" {
				reason = cell(rec, reasonAt)
			}
			k := rowKey(cells)
			failed[k] = append(failed[k], reason)
		}
	}
	for _, p := range rows {
		cells := make([]string, len(w.cols))
		for i, c := range w.cols {
			cells[i] = p.text[c]
		}
		k := rowKey(cells)
		if rs := failed[k]; len(rs) > 0 {
			failed[k] = rs[1:]
			res.Failures = append(res.Failures, connector.RecordFailure{Split: p.split, Line: p.line, Reason: rs[0], Record: p.text})
			if w.failFast {
				return fault.New(fault.ConnectorServer, "Marketo rejected the record at %s line %d: %s (rows before it in import %s were written)", p.split, p.line, rs[0], id)
			}
			continue
		}
		res.RecordsWritten++
	}
	if matched := int64(len(rows)) - (res.RecordsWritten - before); matched != st.NumOfRowsFailed {
		w.d.c.log.Warn("marketo: failed rows reported and matched differ", "import", id,
			"reported", strconv.FormatInt(st.NumOfRowsFailed, 10), "matched", matched)
	}
	return nil
}
