package redshiftconn

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/appflowd/appflowd/internal/connector"
)

// Rows the database itself refuses (a CHECK, unique or foreign key
// constraint, a trigger) are found without giving up COPY. In continue mode
// the copySink spools every encoded row to a temporary file, with an index
// of where each row ends and which input line it was, while the rows also
// stream into the run's one COPY inside SAVEPOINT appflowd_load. When that
// COPY succeeds (the usual case) nothing more happens. When it fails with a
// row error (isRowError), the sink rolls back to the savepoint and loads the
// spool again in ranges, each range one COPY FROM STDIN inside its own
// savepoint: a range that loads is kept; one that fails is split, at the
// row the server's error names ("COPY t, line N") when it gives one, else
// in halves, until the failing row is alone and rejected with the server's
// message. Ranges are loaded in input order, so of two rows that collide on
// a unique key the first one loads. Everything stays in the run's one
// transaction: all good rows commit together, or none.

// loadSavepoint guards the run's streaming COPY; rangeSavepoint one COPY of
// a range while rows are being isolated.
const (
	loadSavepoint  = "appflowd_load"
	rangeSavepoint = "appflowd_range"
)

// isRowError says whether a COPY failed because of the rows it was sent
// (SQLSTATE class 22 data exception, class 23 integrity constraint
// violation, P0001 raised by a trigger), not because of the connection,
// the table or the server.
func isRowError(err error) (*pgconn.PgError, bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil, false
	}
	c := pgErr.Code
	return pgErr, strings.HasPrefix(c, "22") || strings.HasPrefix(c, "23") || c == "P0001"
}

var copyLineRE = regexp.MustCompile(`(?m)^COPY .*?, line (\d+)`)

// copyLine is the input line of a COPY that the server's error names
// (1-based, in rows: each CSV record is one line to COPY), or 0.
func copyLine(e *pgconn.PgError) int {
	m := copyLineRE.FindStringSubmatch(e.Where)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// rowReason is the reason a row the database refused is rejected with.
func rowReason(e *pgconn.PgError) string {
	msg := "the database rejected the row: " + e.Message
	if e.Detail != "" {
		msg += " - " + e.Detail
	}
	msg += " (SQLSTATE " + e.Code
	if e.ConstraintName != "" {
		msg += ", constraint " + e.ConstraintName
	}
	return msg + ")"
}

// spool keeps a run's encoded rows on disk: data holds the rows as sent
// to COPY, index one fixed-size entry per row (end offset in data, input
// line, split, batch sequence). Memory holds the split names and one
// batch's pending entries.
type spool struct {
	data, index *os.File
	dw, iw      *bufio.Writer
	size        int64 // bytes in data
	rows        int
	splits      []string
	splitID     map[string]uint32
	pend        []pendRow
}

// pendRow is a row of the batch being encoded: end is its end offset in
// the batch's buffer.
type pendRow struct {
	end   int
	line  int64
	split uint32
	seq   uint32
}

const indexEntry = 24 // end int64, line int64, split uint32, seq uint32

func newSpool() (*spool, error) {
	data, err := os.CreateTemp("", "appflowd-redshift-rows-*")
	if err != nil {
		return nil, fmt.Errorf("redshift: spool rows: %w", err)
	}
	index, err := os.CreateTemp("", "appflowd-redshift-index-*")
	if err != nil {
		data.Close()
		os.Remove(data.Name())
		return nil, fmt.Errorf("redshift: spool rows: %w", err)
	}
	return &spool{data: data, index: index, dw: bufio.NewWriterSize(data, 256<<10), iw: bufio.NewWriterSize(index, 64<<10),
		splitID: map[string]uint32{}}, nil
}

// note records that the batch buffer's row ending at end is line of split.
func (s *spool) note(split string, line int64, seq uint32, end int) {
	id, ok := s.splitID[split]
	if !ok {
		id = uint32(len(s.splits))
		s.splits = append(s.splits, split)
		s.splitID[split] = id
	}
	s.pend = append(s.pend, pendRow{end: end, line: line, split: id, seq: seq})
}

// add appends a batch's encoded rows, whose ends note recorded.
func (s *spool) add(rows []byte) error {
	if _, err := s.dw.Write(rows); err != nil {
		return fmt.Errorf("redshift: spool rows: %w", err)
	}
	var e [indexEntry]byte
	for _, p := range s.pend {
		binary.LittleEndian.PutUint64(e[0:], uint64(s.size+int64(p.end)))
		binary.LittleEndian.PutUint64(e[8:], uint64(p.line))
		binary.LittleEndian.PutUint32(e[16:], p.split)
		binary.LittleEndian.PutUint32(e[20:], p.seq)
		if _, err := s.iw.Write(e[:]); err != nil {
			return fmt.Errorf("redshift: spool rows: %w", err)
		}
	}
	s.size += int64(len(rows))
	s.rows += len(s.pend)
	s.pend = s.pend[:0]
	return nil
}

func (s *spool) flush() error {
	if err := s.dw.Flush(); err != nil {
		return fmt.Errorf("redshift: spool rows: %w", err)
	}
	if err := s.iw.Flush(); err != nil {
		return fmt.Errorf("redshift: spool rows: %w", err)
	}
	return nil
}

type spoolRow struct {
	end   int64
	line  int64
	split string
	seq   uint32
}

func (s *spool) entry(i int) (spoolRow, error) {
	var e [indexEntry]byte
	if _, err := s.index.ReadAt(e[:], int64(i)*indexEntry); err != nil {
		return spoolRow{}, fmt.Errorf("redshift: read spooled rows: %w", err)
	}
	return spoolRow{
		end:   int64(binary.LittleEndian.Uint64(e[0:])),
		line:  int64(binary.LittleEndian.Uint64(e[8:])),
		split: s.splits[binary.LittleEndian.Uint32(e[16:])],
		seq:   binary.LittleEndian.Uint32(e[20:]),
	}, nil
}

// span is the byte range of rows [lo, hi) in data.
func (s *spool) span(lo, hi int) (start, end int64, err error) {
	if lo > 0 {
		e, err := s.entry(lo - 1)
		if err != nil {
			return 0, 0, err
		}
		start = e.end
	}
	e, err := s.entry(hi - 1)
	if err != nil {
		return 0, 0, err
	}
	return start, e.end, nil
}

func (s *spool) close() {
	for _, f := range []*os.File{s.data, s.index} {
		f.Close()
		os.Remove(f.Name())
	}
}

// rowReject is a spooled row the database refused.
type rowReject struct {
	seq     uint32
	bytes   int64
	failure connector.RecordFailure
}

// isolate loads the spooled rows after the streaming COPY failed with
// first, a row error, and the sink rolled back to loadSavepoint. It returns
// the rows loaded and the rows refused, in input order.
func (s *copySink) isolate(ctx context.Context, first *pgconn.PgError) (int64, []rowReject, error) {
	if err := s.spool.flush(); err != nil {
		return 0, nil, err
	}
	type rng struct {
		lo, hi int
		known  *pgconn.PgError // the range's COPY already failed so
		// hint: split at the line the error names. afterSingle: only if
		// the single row tried just before was rejected (else the hint
		// pointed at a good row, and the rest is halved instead).
		hint, afterSingle bool
		// inferAt: the right half of a failed range, pushed when
		// len(rejects) was inferAt; if the left half then loaded whole,
		// this half holds the failure and is split without a COPY. -1:
		// no inference.
		inferAt int
	}
	var (
		loaded       int64
		rejects      []rowReject
		lastRejected bool
	)
	stack := []rng{{lo: 0, hi: s.spool.rows, known: first, hint: true, inferAt: -1}}
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r.lo >= r.hi {
			continue
		}
		if ctx.Err() != nil {
			return 0, nil, connector.Canceled(ctx, "redshift", "load")
		}
		hint := r.hint || (r.afterSingle && lastRejected)
		pgErr := r.known
		if r.inferAt == len(rejects) && r.hi-r.lo > 1 {
			// Its failing parent less the left half that loaded: it fails
			// too (for a deterministic table); halve it untried. Single
			// rows are always tried, so a wrong guess costs COPYs only.
			mid := r.lo + (r.hi-r.lo)/2
			stack = append(stack, rng{lo: mid, hi: r.hi, inferAt: len(rejects)}, rng{lo: r.lo, hi: mid, hint: true, inferAt: -1})
			continue
		}
		if pgErr == nil {
			n, rowErr, err := s.copyRange(ctx, r.lo, r.hi)
			if err != nil {
				return 0, nil, err
			}
			if rowErr == nil {
				loaded += n
				if r.hi-r.lo == 1 {
					lastRejected = false
				}
				continue
			}
			pgErr = rowErr
		}
		if r.hi-r.lo == 1 {
			rej, err := s.reject(r.lo, pgErr)
			if err != nil {
				return 0, nil, err
			}
			rejects = append(rejects, rej)
			lastRejected = true
			continue
		}
		if k := copyLine(pgErr); hint && k >= 1 && k <= r.hi-r.lo {
			// Pushed in reverse: the rows before the named one, then it
			// alone, then the rest.
			b := r.lo + k - 1
			stack = append(stack, rng{lo: b + 1, hi: r.hi, afterSingle: true, inferAt: -1}, rng{lo: b, hi: b + 1, inferAt: -1}, rng{lo: r.lo, hi: b, inferAt: -1})
			continue
		}
		mid := r.lo + (r.hi-r.lo)/2
		stack = append(stack, rng{lo: mid, hi: r.hi, hint: true, inferAt: len(rejects)}, rng{lo: r.lo, hi: mid, hint: true, inferAt: -1})
	}
	return loaded, rejects, nil
}

// copyRange loads spooled rows [lo, hi) with one COPY inside
// rangeSavepoint: kept when it loads, rolled back when the rows are
// refused (rowErr). err is anything else, which fails the run.
func (s *copySink) copyRange(ctx context.Context, lo, hi int) (n int64, rowErr *pgconn.PgError, err error) {
	start, end, err := s.spool.span(lo, hi)
	if err != nil {
		return 0, nil, err
	}
	s.rangeCopies++
	pg := s.conn.PgConn()
	if err := pg.Exec(ctx, "SAVEPOINT "+rangeSavepoint).Close(); err != nil {
		return 0, nil, fmt.Errorf("redshift: SAVEPOINT: %w", err)
	}
	tag, err := pg.CopyFrom(ctx, io.NewSectionReader(s.spool.data, start, end-start), s.sql)
	if err != nil {
		pgErr, ok := isRowError(err)
		if !ok {
			return 0, nil, copyError(err, s.tbl.String())
		}
		if err := pg.Exec(ctx, "ROLLBACK TO SAVEPOINT "+rangeSavepoint+"; RELEASE SAVEPOINT "+rangeSavepoint).Close(); err != nil {
			return 0, nil, fmt.Errorf("redshift: ROLLBACK TO SAVEPOINT: %w", err)
		}
		return 0, pgErr, nil
	}
	if err := pg.Exec(ctx, "RELEASE SAVEPOINT "+rangeSavepoint).Close(); err != nil {
		return 0, nil, fmt.Errorf("redshift: RELEASE SAVEPOINT: %w", err)
	}
	return tag.RowsAffected(), nil, nil
}

// reject makes the failure of spooled row i, its record read back from the
// CSV sent (the loaded columns, NULLs left out).
func (s *copySink) reject(i int, e *pgconn.PgError) (rowReject, error) {
	start, end, err := s.spool.span(i, i+1)
	if err != nil {
		return rowReject{}, err
	}
	row := make([]byte, end-start)
	if _, err := s.spool.data.ReadAt(row, start); err != nil {
		return rowReject{}, fmt.Errorf("redshift: read spooled rows: %w", err)
	}
	ent, err := s.spool.entry(i)
	if err != nil {
		return rowReject{}, err
	}
	cells, nulls := parseCSVRow(row, len(s.ts))
	rec := make(map[string]string, len(s.ts))
	for j, t := range s.ts {
		if j < len(cells) && !nulls[j] {
			rec[t.Field] = cells[j]
		}
	}
	return rowReject{seq: ent.seq, bytes: end - start, failure: connector.RecordFailure{
		Split: ent.split, Line: ent.line, Reason: rowReason(e), Record: rec,
	}}, nil
}

// parseCSVRow reads back one row stage.AppendCSV wrote: quoted cells, NULL as an
// empty unquoted cell.
func parseCSVRow(row []byte, n int) ([]string, []bool) {
	cells := make([]string, 0, n)
	nulls := make([]bool, 0, n)
	i := 0
	for {
		if i < len(row) && row[i] == '"' {
			var b strings.Builder
			i++
			for i < len(row) {
				if row[i] == '"' {
					if i+1 < len(row) && row[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(row[i])
				i++
			}
			cells, nulls = append(cells, b.String()), append(nulls, false)
		} else {
			cells, nulls = append(cells, ""), append(nulls, true)
		}
		if i < len(row) && row[i] == ',' {
			i++
			continue
		}
		return cells, nulls
	}
}
