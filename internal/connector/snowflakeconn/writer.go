package snowflakeconn

import (
	"context"
	"encoding/csv"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/connector/stage"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// partBytes is the uncompressed size at which a staged file is closed and
// the next begun, so that Snowflake loads files in parallel.
const partBytes = 64 << 20

// RejectsFile is the name of the error-bucket file of rejected records.
const RejectsFile = "snowflake-rejected-records.jsonl"

// FileFormat is the COPY's FILE_FORMAT: the CSV the writer stages. Every
// non-null value is enclosed in quotes, so an empty string stays "" while
// an empty field is NULL, and no backslash escape applies.
const FileFormat = `TYPE=CSV SKIP_HEADER=1 FIELD_OPTIONALLY_ENCLOSED_BY='"' EMPTY_FIELD_AS_NULL=TRUE NULL_IF=() COMPRESSION=GZIP`

// origin is where a staged row came from.
type origin struct {
	split int32 // index into writer.splits
	line  int64
}

type stagedFile struct {
	key  string
	rows []origin
}

type writer struct {
	d     *Driver
	req   *connector.WriteRequest
	table []string // fully qualified name parts
	cols  []column
	// targets are, in load order, the field names and their columns.
	fields  []string
	targets []column

	parts  stage.Parts
	rel    string // the parts' folder relative to the stage URL, ending in "/"
	files  []stagedFile
	splits []string
	splitN map[string]int32

	rows     int64
	failures []connector.RecordFailure
	connector.WriterLife
	buf   []byte
	cells []string // a row's values, reused
	nulls []bool
}

func (w *writer) failFirst() bool {
	return w.req.ErrorHandling == nil || w.req.ErrorHandling.FailOnFirstError
}

// OpenWriter resolves the target table's columns, maps the declared fields
// to them, and opens the stage's bucket.
func (d *Driver) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	dp, err := stage.Target(req, "Snowflake")
	if err != nil {
		return nil, err
	}
	object := dp.Object
	if object == "" {
		return nil, fault.New(fault.Invalid, "snowflake: the destination needs an object (<Database>.<Schema>.<Table>)")
	}
	if d.props.BucketName == "" {
		return nil, fault.New(fault.Invalid, "snowflake: the profile needs the stage's bucketName")
	}
	if dp.IntermediateBucketName != "" && dp.IntermediateBucketName != d.props.BucketName {
		return nil, fault.New(fault.Invalid, "snowflake: intermediateBucketName %q must be the stage's bucket %q, or COPY cannot see the staged files",
			dp.IntermediateBucketName, d.props.BucketName)
	}
	fq, err := d.qualify(object)
	if err != nil {
		return nil, err
	}
	cols, err := d.describeTable(ctx, fq)
	if err != nil {
		return nil, err
	}
	w := &writer{WriterLife: connector.WriterLife{Vendor: "snowflake"}, d: d, req: req, table: fq, cols: cols, splitN: map[string]int32{}}
	if len(req.Fields) > 0 {
		names := make([]string, len(req.Fields))
		for i, f := range req.Fields {
			names[i] = f.Name
		}
		if err := w.resolve(names); err != nil {
			return nil, err
		}
	}
	profPrefix := strings.Trim(d.props.BucketPrefix, "/")
	destPrefix := strings.Trim(dp.BucketPrefix, "/")
	if profPrefix != "" {
		destPrefix = strings.TrimPrefix(strings.TrimPrefix(destPrefix, profPrefix), "/")
	}
	w.rel = rejects.JoinKey(destPrefix, req.FlowName, req.ExecutionID) + "/"
	folder := rejects.JoinKey(profPrefix, w.rel) + "/"
	b, err := awsconfig.OpenFolder(ctx, d.deps, d.props.BucketName, folder)
	if err != nil {
		return nil, fault.Wrap(fault.CodeOf(err), err, "snowflake: stage bucket")
	}
	w.parts = stage.Parts{Vendor: "snowflake", Bucket: b, Name: d.props.BucketName, Prefix: folder,
		Ext: "csv.gz", Type: "text/csv", KMSKeyArn: req.KMSKeyArn, PartBytes: partBytes}
	w.parts.Start(ctx)
	return w, nil
}

// resolve maps field names to columns (case-insensitively, an exact match
// first) and checks that every NOT NULL column gets a value.
func (w *writer) resolve(fields []string) error {
	used := map[string]bool{}
	for _, f := range fields {
		var col *column
		for i := range w.cols {
			if w.cols[i].Name == f {
				col = &w.cols[i]
				break
			}
		}
		if col == nil {
			for i := range w.cols {
				if strings.EqualFold(w.cols[i].Name, f) {
					col = &w.cols[i]
					break
				}
			}
		}
		if col == nil {
			names := make([]string, len(w.cols))
			for i, c := range w.cols {
				names[i] = c.Name
			}
			return fault.New(fault.Invalid, "snowflake: field %q has no column in %s; its columns are %s", f, joinIdent(w.table), strings.Join(names, ", "))
		}
		if used[col.Name] {
			return fault.New(fault.Invalid, "snowflake: fields map twice to column %q of %s", col.Name, joinIdent(w.table))
		}
		used[col.Name] = true
		w.fields = append(w.fields, f)
		w.targets = append(w.targets, *col)
	}
	return nil
}

var _ connector.FailureRecorder = (*writer)(nil)

// RecordFailures keeps records rejected before they reached the writer,
// for the error file and WriteResult.Failures.
func (w *writer) RecordFailures(ctx context.Context, f []connector.RecordFailure) error {
	if err := w.Usable(ctx, "RecordFailures"); err != nil {
		return err
	}
	w.failures = append(w.failures, f...)
	return nil
}

func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	if err := w.Usable(ctx, "Write"); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	if w.targets == nil {
		if err := w.resolve(b.Fields); err != nil {
			return err
		}
	}
	idx := make([]int, len(w.fields))
	for i, f := range w.fields {
		idx[i] = b.Index(f)
	}
	si, ok := w.splitN[b.Split]
	if !ok {
		si = int32(len(w.splits))
		w.splits = append(w.splits, b.Split)
		w.splitN[b.Split] = si
	}
	line := b.FirstLine
	if line == 0 {
		line = 1
	}
	if w.parts.Header == nil {
		w.parts.Header = stage.AppendCSV(nil, w.fields, make([]bool, len(w.fields)))
		w.cells, w.nulls = make([]string, len(w.fields)), make([]bool, len(w.fields))
	}
	for r := range b.Len() {
		row := b.Row(r)
		for i, j := range idx {
			w.nulls[i] = j < 0 || row[j].IsAbsent()
			if w.cells[i] = ""; !w.nulls[i] {
				w.cells[i] = row[j].Text()
			}
		}
		w.buf = stage.AppendCSV(w.buf[:0], w.cells, w.nulls)
		started, err := w.parts.Write(w.buf)
		if err != nil {
			return err
		}
		if started {
			w.files = append(w.files, stagedFile{key: w.parts.Keys[len(w.parts.Keys)-1]})
		}
		f := &w.files[len(w.files)-1]
		f.rows = append(f.rows, origin{si, line + int64(r)})
		w.rows++
	}
	return nil
}

// CopySQL is the statement that loads the run's staged files.
func (w *writer) copySQL() string {
	cols := make([]string, len(w.targets))
	for i, c := range w.targets {
		cols[i] = quoteIdent(c.Name)
	}
	from := "@" + joinIdent(w.d.stage) + "/" + w.rel
	if !plainPath(w.rel) {
		from = quoteLiteral(from)
	}
	onError := "ABORT_STATEMENT"
	if !w.failFirst() {
		onError = "CONTINUE"
	}
	return fmt.Sprintf("COPY INTO %s (%s) FROM %s FILE_FORMAT=(%s) ON_ERROR=%s PURGE=FALSE",
		joinIdent(w.table), strings.Join(cols, ", "), from, FileFormat, onError)
}

func plainPath(p string) bool {
	for _, c := range p {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("_-./=", c):
		default:
			return false
		}
	}
	return true
}

func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if err := w.Usable(ctx, "Commit"); err != nil {
		return nil, err
	}
	if err := w.parts.Close(); err != nil {
		w.abort()
		return nil, err
	}
	var loaded int64
	if len(w.files) > 0 {
		rs, err := w.d.api.exec(ctx, w.copySQL(), unquote(w.table[0]), unquote(w.table[1]))
		if err != nil {
			w.abort()
			return nil, fault.Wrap(fault.CodeOf(err), err, "snowflake: load %s from s3://%s/%s", joinIdent(w.table), w.parts.Name, w.parts.Prefix)
		}
		var parsed int64
		for i := range rs.Data {
			p, _ := strconv.ParseInt(rs.get(i, "rows_parsed"), 10, 64)
			l, _ := strconv.ParseInt(rs.get(i, "rows_loaded"), 10, 64)
			parsed += p
			loaded += l
		}
		if parsed > loaded {
			// The rows are in the table now: a failure reading them back
			// must not fail the run.
			rej, err := w.rejected(context.WithoutCancel(ctx), rs.StatementHandle)
			if err != nil {
				w.d.logWarn("snowflake: read rejected rows back", "table", joinIdent(w.table), "err", err)
			}
			if int64(len(rej)) < parsed-loaded {
				rej = append(rej, connector.RecordFailure{
					Split:  w.parts.Name,
					Reason: fmt.Sprintf("snowflake: COPY rejected %d rows; VALIDATE returned %d", parsed-loaded, len(rej)),
				})
			}
			w.failures = append(w.failures, rej...)
		}
	}
	if _, _, err := rejects.Write(ctx, w.d.deps, w.req, RejectsFile, w.failures); err != nil {
		w.End() // the rows are loaded: nothing to undo
		w.parts.Release()
		return nil, err
	}
	w.End()
	w.parts.Release()
	object := w.req.Object
	if object == "" {
		object = joinIdent(w.table)
	}
	return &connector.WriteResult{RecordsWritten: loaded, BytesWritten: w.parts.Bytes, Failures: w.failures, Objects: []string{object}}, nil
}

// rejected reads the rows the COPY job rejected with VALIDATE and maps them
// back to their source records. Snowflake's ROW_NUMBER is taken as the
// 1-based data row of the file (the header skipped).
func (w *writer) rejected(ctx context.Context, job string) ([]connector.RecordFailure, error) {
	sql := fmt.Sprintf("SELECT * FROM TABLE(VALIDATE(%s, JOB_ID=>%s))", joinIdent(w.table), quoteLiteral(job))
	rs, err := w.d.api.exec(ctx, sql, unquote(w.table[0]), unquote(w.table[1]))
	if err != nil {
		return nil, err
	}
	byBase := map[string]*stagedFile{}
	for i := range w.files {
		byBase[path.Base(w.files[i].key)] = &w.files[i]
	}
	out := make([]connector.RecordFailure, 0, len(rs.Data))
	for i := range rs.Data {
		f := connector.RecordFailure{Split: rs.get(i, "file"), Reason: rs.get(i, "error")}
		if c := rs.get(i, "column_name"); c != "" {
			f.Reason += " (column " + c + ")"
		}
		n, _ := strconv.ParseInt(rs.get(i, "row_number"), 10, 64)
		if sf := byBase[path.Base(rs.get(i, "file"))]; sf != nil && n >= 1 && n <= int64(len(sf.rows)) {
			o := sf.rows[n-1]
			f.Split, f.Line = w.splits[o.split], o.line
		}
		if raw := rs.get(i, "rejected_record"); raw != "" {
			f.Record = w.parseRecord(raw)
		}
		out = append(out, f)
	}
	return out, nil
}

// parseRecord turns a rejected CSV line back into field values.
func (w *writer) parseRecord(raw string) map[string]string {
	r := csv.NewReader(strings.NewReader(raw))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	cells, err := r.Read()
	if err != nil {
		return map[string]string{"_raw": raw}
	}
	m := make(map[string]string, len(cells))
	for i, c := range cells {
		if i < len(w.fields) && c != "" {
			m[w.fields[i]] = c
		}
	}
	return m
}

func (w *writer) Abort(context.Context) error {
	if !w.End() {
		return nil
	}
	return w.abort()
}

// abort deletes the staged files.
func (w *writer) abort() error {
	w.End()
	w.files = nil
	return w.parts.Abort()
}
