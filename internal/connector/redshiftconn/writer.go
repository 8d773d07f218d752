package redshiftconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/connector/stage"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// sink takes encoded rows and makes them visible at once, or never.
type sink interface {
	// encode appends one checked row in the sink's load format.
	encode(buf []byte, ts []target, cells []string, nulls []bool) []byte
	// begin is called once, before the first rows, with the load columns.
	begin(ctx context.Context, ts []target) error
	// write sends encoded rows.
	write(ctx context.Context, rows []byte) error
	// load finishes the data, then calls publish with the rows the
	// database refused (continue mode; in input order) to write the error
	// file, and commits; it returns the rows the database loaded.
	load(ctx context.Context, publish func([]rowReject) error) (int64, error)
	abort(ctx context.Context) error
}

// writer checks rows against the table and feeds a sink.
type writer struct {
	d       *Driver
	req     *connector.WriteRequest
	tbl     *table // with its columns, over SQL or from the Data API
	targets []target
	sink    sink
	began   bool
	connector.WriterLife

	seen     int64 // rows offered
	loaded   int64 // rows encoded
	bytes    int64
	failures []connector.RecordFailure // in input order: the engine's, then ours
	// failSeq is, for each of failures, the Write (batch) it belongs to,
	// so that the rows the database refuses at Commit can be merged in.
	failSeq []uint32
	seq     uint32 // the Write being handled, counted from 0
	// taskFrom is where the failures RecordFailures added since the last
	// Write begin in failures; -1: none.
	taskFrom int

	cells []string
	nulls []bool
	buf   []byte
}

// OpenWriter starts a load into req.Object: it resolves the table, maps the
// declared fields to columns (a missing one is an error naming it), and
// opens the transaction or the staging area.
func (d *Driver) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	dp, err := stage.Target(req, "Redshift")
	if err != nil {
		return nil, err
	}
	object := dp.Object
	if _, _, err := splitObject(object); err != nil {
		return nil, err
	}
	w := &writer{WriterLife: connector.WriterLife{Vendor: "redshift"}, d: d, req: req, taskFrom: -1}

	var conn *pgx.Conn
	if d.props.DatabaseURL != "" {
		c, err := d.connect(ctx)
		if err != nil {
			return nil, err
		}
		conn = c
	}
	closeConn := func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}
	redshift, err := d.isRedshift(ctx, conn)
	if err != nil {
		closeConn()
		return nil, err
	}
	if conn != nil {
		w.tbl, err = lookupTable(ctx, conn, object)
	} else {
		w.tbl, err = d.describeTableData(ctx, object) // Data API only
	}
	if err != nil {
		closeConn()
		return nil, err
	}
	if redshift {
		// Redshift's CHAR(n) and VARCHAR(n) hold n bytes.
		for i := range w.tbl.Columns {
			w.tbl.Columns[i].ByteLen = true
		}
	}
	if len(req.Fields) > 0 {
		names := make([]string, len(req.Fields))
		for i, f := range req.Fields {
			names[i] = f.Name
		}
		if err := w.resolve(names); err != nil {
			closeConn()
			return nil, err
		}
	}

	if redshift {
		closeConn() // the load opens its own session at Commit
		s, err := d.newStageSink(ctx, req, dp, w.tbl)
		if err != nil {
			return nil, err
		}
		w.sink = s
		return w, nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		closeConn()
		return nil, fmt.Errorf("redshift: begin: %w", err)
	}
	cs := &copySink{conn: conn, tx: tx, tbl: w.tbl}
	if eh := req.ErrorHandling; eh != nil && !eh.FailOnFirstError {
		// Continue mode: keep the rows to find those the database refuses.
		if cs.spool, err = newSpool(); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			closeConn()
			return nil, err
		}
	}
	w.sink = cs
	return w, nil
}

// resolve maps field names to columns and checks that every NOT NULL
// column without a default gets a value.
func (w *writer) resolve(fields []string) error {
	declared := map[string]record.FieldType{}
	for _, f := range w.req.Fields {
		declared[f.Name] = f.Type
	}
	used := map[string]bool{}
	var ts []target
	for _, f := range fields {
		col := w.tbl.find(f)
		if col == nil {
			return fault.New(fault.Invalid, "redshift: column %q (field %q) does not exist in table %s; its columns are %s",
				f, f, w.tbl, strings.Join(w.tbl.columnNames(), ", "))
		}
		if used[col.Name] {
			return fault.New(fault.Invalid, "redshift: fields map twice to column %q of %s", col.Name, w.tbl)
		}
		used[col.Name] = true
		ts = append(ts, target{Field: f, Declared: declared[f], Col: col, cat: categorize(col.DataType)})
	}
	for _, c := range w.tbl.Columns {
		if !used[c.Name] && !c.Nullable && !c.HasDefault {
			return fault.New(fault.Invalid, "redshift: column %q of %s is NOT NULL without a default, and no field maps to it", c.Name, w.tbl)
		}
	}
	w.targets = ts
	w.cells = make([]string, len(ts))
	w.nulls = make([]bool, len(ts))
	return nil
}

var _ connector.FailureRecorder = (*writer)(nil)

// RecordFailures keeps records rejected before they reached the writer (a
// Map task's DESTINATION_DATA_TYPE), so that they go to the error file with
// the rows the table refuses and come back in WriteResult.Failures. The
// engine calls it before the Write of the batch the records came from.
func (w *writer) RecordFailures(ctx context.Context, f []connector.RecordFailure) error {
	if err := w.Usable(ctx, "RecordFailures"); err != nil {
		return err
	}
	if len(f) == 0 {
		return nil
	}
	if w.taskFrom < 0 {
		w.taskFrom = len(w.failures)
	}
	w.failures = append(w.failures, f...)
	for range f {
		w.failSeq = append(w.failSeq, w.seq)
	}
	return nil
}

func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	if err := w.Usable(ctx, "Write"); err != nil {
		return err
	}
	// The failures recorded for this batch, to place ours among them.
	from := w.taskFrom
	if from < 0 {
		from = len(w.failures)
	}
	w.taskFrom = -1
	seq := w.seq
	w.seq++
	if b.Len() == 0 {
		return nil
	}
	if w.targets == nil {
		if err := w.resolve(b.Fields); err != nil {
			return err
		}
	}
	if !w.began {
		if err := w.sink.begin(ctx, w.targets); err != nil {
			return err
		}
		w.began = true
	}
	idx := make([]int, len(w.targets))
	for i, t := range w.targets {
		idx[i] = b.Index(t.Field)
	}
	// Rows a task rejected are not in b, so the line of a row of b is the
	// next line that no recorded failure of this batch holds. (Rows a
	// filter dropped leave no trace: after one, lines are approximate.)
	taskLines := w.taskLines(w.failures[from:], b)
	nextLine := b.FirstLine
	if nextLine == 0 {
		nextLine = 1
	}
	var sp *spool
	if cs, ok := w.sink.(*copySink); ok {
		sp = cs.spool
	}
	w.buf = w.buf[:0]
	for r := range b.Len() {
		row := b.Row(r)
		w.seen++
		for taskLines[nextLine] {
			nextLine++
		}
		line := nextLine
		nextLine++
		var bad error
		for i := range w.targets {
			var v record.Value
			if idx[i] >= 0 {
				v = row[idx[i]]
			}
			var err error
			w.cells[i], w.nulls[i], err = convert(v, &w.targets[i])
			if err != nil {
				bad = err
				break
			}
		}
		if bad != nil {
			if w.req.ErrorHandling != nil && w.req.ErrorHandling.FailOnFirstError {
				return fault.New(fault.Invalid, "redshift: record %d of %q rejected by %s: %s", line, b.Split, w.tbl, bad)
			}
			w.failures = append(w.failures, connector.RecordFailure{
				Split: b.Split, Line: line, Reason: bad.Error(), Record: rowText(b.Fields, row),
			})
			w.failSeq = append(w.failSeq, seq)
			continue
		}
		w.buf = w.sink.encode(w.buf, w.targets, w.cells, w.nulls)
		if sp != nil {
			sp.note(b.Split, line, seq, len(w.buf))
		}
		w.loaded++
	}
	if taskLines != nil && len(w.failures)-from > 1 {
		// Ours and the engine's failures of this batch, in input order.
		slices.SortStableFunc(w.failures[from:], func(a, b connector.RecordFailure) int { return cmp.Compare(a.Line, b.Line) })
	}
	if len(w.buf) == 0 {
		return nil
	}
	w.bytes += int64(len(w.buf))
	return w.sink.write(ctx, w.buf)
}

// taskLines is the set of lines of b's split that recorded failures hold;
// nil when there are none.
func (w *writer) taskLines(fs []connector.RecordFailure, b *record.Batch) map[int64]bool {
	var m map[int64]bool
	for _, f := range fs {
		if f.Split == b.Split && f.Line >= b.FirstLine {
			if m == nil {
				m = map[int64]bool{}
			}
			m[f.Line] = true
		}
	}
	return m
}

func rowText(fields []string, row []record.Value) map[string]string {
	m := make(map[string]string, len(fields))
	for i, f := range fields {
		if row[i].K != record.Missing {
			m[f] = row[i].Text()
		}
	}
	return m
}

func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if err := w.Usable(ctx, "Commit"); err != nil {
		return nil, err
	}
	var undoErrorFile func()
	publish := func(rejected []rowReject) (err error) {
		w.mergeRejects(rejected)
		undoErrorFile, err = w.writeFailures(ctx)
		return err
	}
	n, err := w.sink.load(ctx, publish)
	if err != nil {
		if undoErrorFile != nil {
			undoErrorFile()
		}
		// A failed load leaves the table as it was; release it now.
		w.End()
		_ = w.sink.abort(context.WithoutCancel(ctx))
		return nil, err
	}
	w.End()
	return &connector.WriteResult{RecordsWritten: n, BytesWritten: w.bytes, Failures: w.failures, Objects: []string{w.tbl.String()}}, nil
}

// mergeRejects puts the rows the database refused among the failures, in
// input order: by Write, then by line.
func (w *writer) mergeRejects(rs []rowReject) {
	if len(rs) == 0 {
		return
	}
	out := make([]connector.RecordFailure, 0, len(w.failures)+len(rs))
	seqs := make([]uint32, 0, len(w.failures)+len(rs))
	i := 0
	for _, r := range rs {
		for i < len(w.failures) && (w.failSeq[i] < r.seq || w.failSeq[i] == r.seq && w.failures[i].Line <= r.failure.Line) {
			out, seqs = append(out, w.failures[i]), append(seqs, w.failSeq[i])
			i++
		}
		out, seqs = append(out, r.failure), append(seqs, r.seq)
		w.bytes -= r.bytes
	}
	w.failures = append(out, w.failures[i:]...)
	w.failSeq = append(seqs, w.failSeq[i:]...)
}

func (w *writer) Abort(ctx context.Context) error {
	if !w.End() {
		return nil
	}
	return w.sink.abort(ctx)
}

// writeFailures writes the rejected records to the error bucket, when the
// flow names one; undo deletes the file again.
func (w *writer) writeFailures(ctx context.Context) (undo func(), err error) {
	_, undo, err = rejects.Write(ctx, w.d.deps, w.req,
		"redshift-rejected-records.jsonl", w.failures)
	return undo, err
}

// copySink streams CSV into COPY ... FROM STDIN inside the run's
// transaction. Rows go through a pipe, so memory holds one batch. In
// continue mode the rows are also spooled to disk, so that the rows the
// database refuses can be found if the COPY fails (isolate.go).
type copySink struct {
	conn *pgx.Conn
	tx   pgx.Tx
	tbl  *table
	ts   []target
	sql  string

	spool *spool // continue mode only
	// streamErr is the row error that ended the streaming COPY (continue
	// mode); later rows are only spooled.
	streamErr *pgconn.PgError
	// rangeCopies counts the COPYs isolating rows took, for tests.
	rangeCopies int

	pw   *io.PipeWriter
	done chan struct{}
	tag  pgconn.CommandTag
	err  error
}

func (s *copySink) encode(buf []byte, _ []target, cells []string, nulls []bool) []byte {
	return stage.AppendCSV(buf, cells, nulls)
}

func (s *copySink) begin(ctx context.Context, ts []target) error {
	cols := make([]string, len(ts))
	for i, t := range ts {
		cols[i] = pgx.Identifier{t.Col.Name}.Sanitize()
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT csv)", s.tbl.ident(), strings.Join(cols, ", "))
	s.ts, s.sql = ts, sql
	if s.spool != nil {
		// Deferred constraints are checked at the end of each COPY, so
		// that a refused row can be found before COMMIT.
		if err := s.conn.PgConn().Exec(ctx, "SET CONSTRAINTS ALL IMMEDIATE; SAVEPOINT "+loadSavepoint).Close(); err != nil {
			return fmt.Errorf("redshift: SAVEPOINT: %w", err)
		}
	}
	pr, pw := io.Pipe()
	s.pw = pw
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		// The copy lives as long as the run, not as one Write's context.
		s.tag, s.err = s.conn.PgConn().CopyFrom(context.Background(), pr, sql)
		pr.CloseWithError(errCopyEnded)
	}()
	return nil
}

var (
	errCopyEnded = errors.New("redshift: COPY ended")
	errAborted   = errors.New("redshift: load aborted")
)

func (s *copySink) write(ctx context.Context, rows []byte) error {
	var spooled chan error
	if s.spool != nil {
		if s.streamErr != nil {
			return s.spool.add(rows) // isolated at load
		}
		// To disk while the same rows go to the server, on the other core.
		spooled = make(chan error, 1)
		go func() { spooled <- s.spool.add(rows) }()
	}
	err := s.send(ctx, rows)
	if spooled != nil {
		if serr := <-spooled; err == nil {
			err = serr
		}
	}
	return err
}

func (s *copySink) send(ctx context.Context, rows []byte) error {
	stop := context.AfterFunc(ctx, func() { s.pw.CloseWithError(context.Cause(ctx)) })
	defer stop()
	if _, err := s.pw.Write(rows); err != nil {
		if ctx.Err() != nil {
			return connector.Canceled(ctx, "redshift", "write")
		}
		<-s.done
		if pgErr, ok := isRowError(s.err); ok && s.spool != nil {
			s.streamErr = pgErr
			return nil
		}
		return copyError(s.err, s.tbl.String())
	}
	return nil
}

func copyError(err error, tbl string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg := pgErr.Message
		if pgErr.Where != "" {
			msg += " (" + pgErr.Where + ")"
		}
		return &fault.Error{Code: fault.ConnectorServer, Msg: fmt.Sprintf("redshift: COPY into %s failed: %s", tbl, msg), Err: err}
	}
	if err == nil {
		err = errCopyEnded
	}
	return fmt.Errorf("redshift: COPY into %s: %w", tbl, err)
}

func (s *copySink) load(ctx context.Context, publish func([]rowReject) error) (int64, error) {
	var n int64
	var rejects []rowReject
	if s.pw != nil {
		s.pw.Close()
		<-s.done
		if s.err != nil {
			pgErr, ok := isRowError(s.err)
			if !ok || s.spool == nil {
				return 0, copyError(s.err, s.tbl.String())
			}
			// Continue mode: undo the streaming COPY and load again,
			// isolating the rows the database refuses.
			if err := s.conn.PgConn().Exec(ctx, "ROLLBACK TO SAVEPOINT "+loadSavepoint+"; RELEASE SAVEPOINT "+loadSavepoint).Close(); err != nil {
				return 0, fmt.Errorf("redshift: ROLLBACK TO SAVEPOINT: %w", err)
			}
			var err error
			if n, rejects, err = s.isolate(ctx, pgErr); err != nil {
				return 0, err
			}
		} else {
			n = s.tag.RowsAffected()
		}
	}
	if err := publish(rejects); err != nil {
		return 0, err
	}
	if err := s.tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("redshift: commit load into %s: %w", s.tbl, err)
	}
	s.conn.Close(context.Background())
	if s.spool != nil {
		s.spool.close()
	}
	return n, nil
}

func (s *copySink) abort(ctx context.Context) error {
	if s.pw != nil {
		s.pw.CloseWithError(errAborted)
		<-s.done
	}
	// Closing the connection discards the transaction even where the
	// rollback cannot be sent (a broken connection).
	defer s.conn.Close(context.Background())
	if s.spool != nil {
		defer s.spool.close()
	}
	if !s.conn.IsClosed() {
		_ = s.tx.Rollback(context.WithoutCancel(ctx))
	}
	return nil
}
