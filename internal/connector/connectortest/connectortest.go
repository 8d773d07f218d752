// Package connectortest is the conformance suite every connector driver
// passes, in the manner of gocloud's drivertest: a driver's tests provide a
// harness that seeds source data and reads destination output back in a
// connector-neutral form, and RunSource / RunDestination check the
// contracts of connector.SourceDriver and connector.Writer against it.
package connectortest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// Row is a record in connector-neutral form: field name to text (as
// record.Value.Text renders it). Fields with empty text are dropped before
// comparing, so "absent", null and "" are equal: many formats cannot tell
// them apart.
type Row = map[string]string

// Table is source data for one split, as text.
type Table struct {
	Name   string // a name the harness may use for the split (an object key)
	Fields []string
	Rows   [][]string // len(Fields) cells each
}

// SourceHarness seeds a source system.
type SourceHarness interface {
	// SourceDriver returns the driver under test.
	SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver
	// Seed stores each table as fresh source data, one split per table,
	// and returns a request that reads exactly those tables.
	Seed(ctx context.Context, t *testing.T, tables []Table) *connector.ReadRequest
	// SeedMalformed stores one split that cannot be parsed and returns a
	// request reading it and the split name its error must mention.
	SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string)
}

// DestinationHarness reads back what a destination published.
type DestinationHarness interface {
	// DestinationDriver returns the driver under test.
	DestinationDriver(ctx context.Context, t *testing.T) connector.DestinationDriver
	// NewRequest returns a write request aimed at a fresh, empty target,
	// declaring fields (nil: none declared).
	NewRequest(ctx context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest
	// Visible lists what a reader of the target can see now (object keys,
	// tables), with sizes in bytes, or -1 where size means nothing.
	Visible(ctx context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64
	// ReadBack returns every record visible at the target.
	ReadBack(ctx context.Context, t *testing.T, req *connector.WriteRequest) []Row
}

// tricky holds text that trips naive encoders.
var tricky = []string{
	"plain", "", "with,comma", `with "quotes"`, "line\nbreak", "crlf\r\nbreak", "tab\there",
	"ünïcødé ✓", `back\slash`, "  padded  ", "null", "=1+2",
}

func sampleTables() []Table {
	small := Table{Name: "small", Fields: []string{"id", "name", "note"}}
	for i, s := range tricky {
		small.Rows = append(small.Rows, []string{fmt.Sprint(i + 1), s, tricky[(i+3)%len(tricky)]})
	}
	empty := Table{Name: "empty", Fields: []string{"id", "name", "note"}}
	big := Table{Name: "big", Fields: []string{"id", "name", "note"}}
	for i := range 20000 {
		big.Rows = append(big.Rows, []string{fmt.Sprint(100000 + i), fmt.Sprintf("name-%d", i), tricky[i%len(tricky)]})
	}
	return []Table{small, empty, big}
}

func normalize(r Row) Row {
	out := Row{}
	for k, v := range r {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func tableRows(ts []Table) []Row {
	var out []Row
	for _, t := range ts {
		for _, r := range t.Rows {
			row := Row{}
			for i, f := range t.Fields {
				row[f] = r[i]
			}
			out = append(out, normalize(row))
		}
	}
	return out
}

func batchRows(b *record.Batch) []Row {
	var out []Row
	for i := range b.Len() {
		row := Row{}
		for j, v := range b.Row(i) {
			if v.K != record.Missing {
				row[b.Fields[j]] = v.Text()
			}
		}
		out = append(out, normalize(row))
	}
	return out
}

func rowKey(r Row) string {
	keys := slices.Sorted(maps.Keys(r))
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%q=%q;", k, r[k])
	}
	return sb.String()
}

// diffRows compares multisets of rows and describes the first differences.
func diffRows(got, want []Row) string {
	count := map[string]int{}
	for _, r := range want {
		count[rowKey(normalize(r))]++
	}
	for _, r := range got {
		count[rowKey(normalize(r))]--
	}
	var extra, missing []string
	for k, n := range count {
		for ; n > 0; n-- {
			missing = append(missing, k)
		}
		for ; n < 0; n++ {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return ""
	}
	sort.Strings(extra)
	sort.Strings(missing)
	return fmt.Sprintf("got %d rows, want %d; %d unexpected (first: %v), %d missing (first: %v)",
		len(got), len(want), len(extra), first(extra), len(missing), first(missing))
}

func first(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return s[0]
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || fault.Is(err, fault.Canceled)
}

// RunSource checks a source driver: every record read exactly once with the
// right fields, Final on the last batch of each split, byte counts that
// match split sizes, errors that name the split, emit errors and context
// cancellation honoured, concurrent splits.
func RunSource(t *testing.T, h SourceHarness) {
	ctx := context.Background()
	t.Run("ReadsEveryRecordOnce", func(t *testing.T) {
		d := h.SourceDriver(ctx, t)
		tables := sampleTables()
		req := h.Seed(ctx, t, tables)
		splits, err := d.Splits(ctx, req)
		if err != nil {
			t.Fatalf("Splits: %v", err)
		}
		if len(splits) == 0 {
			t.Fatal("Splits returned nothing")
		}
		names := map[string]bool{}
		var got []Row
		for _, s := range splits {
			if names[s.Name] {
				t.Errorf("split %q listed twice", s.Name)
			}
			names[s.Name] = true
			rows := readSplit(ctx, t, d, req, s)
			got = append(got, rows...)
		}
		if d := diffRows(got, tableRows(tables)); d != "" {
			t.Error(d)
		}
	})

	t.Run("Projection", func(t *testing.T) {
		d := h.SourceDriver(ctx, t)
		tables := sampleTables()[:1]
		req := h.Seed(ctx, t, tables)
		req.Fields = []string{"note", "id"}
		splits, err := d.Splits(ctx, req)
		if err != nil {
			t.Fatalf("Splits: %v", err)
		}
		var got []Row
		for _, s := range splits {
			for _, r := range readSplit(ctx, t, d, req, s) {
				got = append(got, normalize(Row{"note": r["note"], "id": r["id"]}))
			}
		}
		var want []Row
		for _, r := range tableRows(tables) {
			want = append(want, normalize(Row{"note": r["note"], "id": r["id"]}))
		}
		if d := diffRows(got, want); d != "" {
			t.Errorf("projected fields: %s", d)
		}
	})

	t.Run("MalformedNamesSplit", func(t *testing.T) {
		d := h.SourceDriver(ctx, t)
		req, name := h.SeedMalformed(ctx, t)
		splits, err := d.Splits(ctx, req)
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("Splits error %q does not name %q", err, name)
			}
			return
		}
		var errs []error
		for _, s := range splits {
			if err := d.ReadSplit(ctx, req, s, func(*record.Batch) error { return nil }); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			t.Fatal("reading a malformed split succeeded")
		}
		for _, err := range errs {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the split %q", err, name)
			}
		}
	})

	t.Run("EmitErrorStops", func(t *testing.T) {
		d := h.SourceDriver(ctx, t)
		req := h.Seed(ctx, t, sampleTables()[2:])
		splits, err := d.Splits(ctx, req)
		if err != nil || len(splits) == 0 {
			t.Fatalf("Splits: %v, %d splits", err, len(splits))
		}
		stop := errors.New("stop here")
		calls := 0
		err = d.ReadSplit(ctx, req, splits[0], func(*record.Batch) error { calls++; return stop })
		if !errors.Is(err, stop) {
			t.Errorf("ReadSplit returned %v, want the emit error", err)
		}
		if calls != 1 {
			t.Errorf("emit called %d times after failing, want 1", calls)
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		d := h.SourceDriver(ctx, t)
		req := h.Seed(ctx, t, sampleTables()[2:])
		splits, err := d.Splits(ctx, req)
		if err != nil || len(splits) == 0 {
			t.Fatalf("Splits: %v, %d splits", err, len(splits))
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err = d.ReadSplit(cctx, req, splits[0], func(*record.Batch) error { return nil })
		if !isCanceled(err) {
			t.Errorf("ReadSplit with a canceled context returned %v, want a cancellation", err)
		}
		// Cancel while reading: the read must stop with a cancellation.
		cctx, cancel = context.WithCancel(ctx)
		defer cancel()
		final := false
		err = d.ReadSplit(cctx, req, splits[0], func(b *record.Batch) error {
			final = final || b.Final
			cancel()
			return nil
		})
		if !final && !isCanceled(err) {
			t.Errorf("ReadSplit canceled mid-split returned %v, want a cancellation", err)
		}
	})

	t.Run("ConcurrentSplits", func(t *testing.T) {
		d := h.SourceDriver(ctx, t)
		tables := sampleTables()
		req := h.Seed(ctx, t, tables)
		splits, err := d.Splits(ctx, req)
		if err != nil {
			t.Fatalf("Splits: %v", err)
		}
		var mu sync.Mutex
		var got []Row
		var wg sync.WaitGroup
		for _, s := range splits {
			wg.Go(func() {
				rows := readSplit(ctx, t, d, req, s)
				mu.Lock()
				got = append(got, rows...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if d := diffRows(got, tableRows(tables)); d != "" {
			t.Error(d)
		}
	})
}

// readSplit reads one split, checking batch shape, Final and byte counts.
func readSplit(ctx context.Context, t *testing.T, d connector.SourceDriver, req *connector.ReadRequest, s connector.Split) []Row {
	t.Helper()
	var rows []Row
	finals := 0
	batches := 0
	var bytes int64
	err := d.ReadSplit(ctx, req, s, func(b *record.Batch) error {
		batches++
		if finals > 0 {
			t.Errorf("split %s: batch %d after the Final one", s.Name, batches)
		}
		if b.Final {
			finals++
		}
		if b.Split != s.Name {
			t.Errorf("split %s: batch names split %q", s.Name, b.Split)
		}
		if w := len(b.Fields); (w == 0 && len(b.Cells) != 0) || (w > 0 && len(b.Cells)%w != 0) {
			t.Errorf("split %s: %d cells for %d fields", s.Name, len(b.Cells), w)
			return errors.New("bad batch")
		}
		bytes += b.SourceBytes
		rows = append(rows, batchRows(b)...)
		return nil
	})
	if err != nil {
		t.Errorf("ReadSplit(%s): %v", s.Name, err)
	}
	if finals != 1 {
		t.Errorf("split %s: %d Final batches, want 1", s.Name, finals)
	}
	if s.Size > 0 && bytes != s.Size {
		t.Errorf("split %s: batches sum to %d source bytes, split size is %d", s.Name, bytes, s.Size)
	}
	return rows
}

var destFields = []connector.FieldSpec{{Name: "id", Type: "string"}, {Name: "name", Type: "string"}, {Name: "note", Type: "string"}}

// destBatches builds interleaved batches of two splits.
func destBatches() ([]*record.Batch, []Row) {
	mk := func(split string, start, n int, final bool) *record.Batch {
		b := &record.Batch{Fields: []string{"id", "name", "note"}, Split: split, FirstLine: int64(start + 2), Final: final}
		for i := start; i < start+n; i++ {
			b.AppendRow([]record.Value{record.Str(fmt.Sprint(i)), record.Str(tricky[i%len(tricky)]), record.Str(fmt.Sprintf("n%d", i*7))})
		}
		return b
	}
	bs := []*record.Batch{mk("a", 0, 3000, false), mk("b", 0, 5, false), mk("a", 3000, 2000, true), mk("b", 5, 20, true)}
	var want []Row
	for _, b := range bs {
		want = append(want, batchRows(b)...)
	}
	return bs, want
}

// RunDestination checks a destination driver: nothing visible before
// Commit, exact counts and content after it, nothing left after Abort,
// cancellation honoured.
func RunDestination(t *testing.T, h DestinationHarness) {
	ctx := context.Background()
	t.Run("CommitPublishesExactly", func(t *testing.T) {
		d := h.DestinationDriver(ctx, t)
		req := h.NewRequest(ctx, t, destFields)
		w, err := d.OpenWriter(ctx, req)
		if err != nil {
			t.Fatalf("OpenWriter: %v", err)
		}
		bs, want := destBatches()
		for _, b := range bs {
			if err := w.Write(ctx, b); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
		if v := h.Visible(ctx, t, req); len(v) != 0 {
			t.Errorf("before Commit, visible: %v", slices.Sorted(maps.Keys(v)))
		}
		res, err := w.Commit(ctx)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if res.RecordsWritten != int64(len(want)) {
			t.Errorf("RecordsWritten = %d, want %d", res.RecordsWritten, len(want))
		}
		if len(res.Failures) != 0 {
			t.Errorf("Failures = %v, want none", res.Failures)
		}
		vis := h.Visible(ctx, t, req)
		var total int64
		sized := true
		for k, n := range vis {
			if !slices.Contains(res.Objects, k) {
				t.Errorf("visible %q is not in WriteResult.Objects %v", k, res.Objects)
			}
			if n < 0 {
				sized = false
			}
			total += n
		}
		for _, o := range res.Objects {
			if _, ok := vis[o]; !ok {
				t.Errorf("WriteResult.Objects names %q, which is not visible", o)
			}
		}
		if sized && total != res.BytesWritten {
			t.Errorf("BytesWritten = %d, visible objects hold %d bytes", res.BytesWritten, total)
		}
		if d := diffRows(h.ReadBack(ctx, t, req), want); d != "" {
			t.Errorf("read back: %s", d)
		}
		if err := w.Abort(ctx); err != nil {
			t.Errorf("Abort after Commit: %v", err)
		}
		if d := diffRows(h.ReadBack(ctx, t, req), want); d != "" {
			t.Errorf("Abort after Commit changed the output: %s", d)
		}
	})

	t.Run("TypedValues", func(t *testing.T) {
		d := h.DestinationDriver(ctx, t)
		req := h.NewRequest(ctx, t, nil)
		w, err := d.OpenWriter(ctx, req)
		if err != nil {
			t.Fatalf("OpenWriter: %v", err)
		}
		b := &record.Batch{Fields: []string{"s", "i", "f", "b", "t", "n"}, Split: "typed", Final: true}
		b.AppendRow([]record.Value{record.Str("x"), record.IntVal(-42), record.FloatVal(2.5), record.BoolVal(true), record.MillisVal(1709647620000), record.NullVal()})
		b.AppendRow([]record.Value{record.Str("y"), record.IntVal(7), record.FloatVal(-0.125), record.BoolVal(false), record.MillisVal(0), record.NullVal()})
		want := batchRows(b)
		if err := w.Write(ctx, b); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if _, err := w.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if d := diffRows(h.ReadBack(ctx, t, req), want); d != "" {
			t.Errorf("read back: %s", d)
		}
	})

	t.Run("AbortLeavesNothing", func(t *testing.T) {
		d := h.DestinationDriver(ctx, t)
		req := h.NewRequest(ctx, t, destFields)
		w, err := d.OpenWriter(ctx, req)
		if err != nil {
			t.Fatalf("OpenWriter: %v", err)
		}
		bs, _ := destBatches()
		for _, b := range bs {
			if err := w.Write(ctx, b); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
		if err := w.Abort(ctx); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if err := w.Abort(ctx); err != nil {
			t.Errorf("second Abort: %v", err)
		}
		if v := h.Visible(ctx, t, req); len(v) != 0 {
			t.Errorf("after Abort, visible: %v", slices.Sorted(maps.Keys(v)))
		}
		if _, err := w.Commit(ctx); err == nil {
			t.Error("Commit after Abort succeeded")
		}
	})

	t.Run("EmptyCommit", func(t *testing.T) {
		d := h.DestinationDriver(ctx, t)
		req := h.NewRequest(ctx, t, destFields)
		w, err := d.OpenWriter(ctx, req)
		if err != nil {
			t.Fatalf("OpenWriter: %v", err)
		}
		res, err := w.Commit(ctx)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if res.RecordsWritten != 0 {
			t.Errorf("RecordsWritten = %d, want 0", res.RecordsWritten)
		}
		if rows := h.ReadBack(ctx, t, req); len(rows) != 0 {
			t.Errorf("read back %d rows, want 0", len(rows))
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		d := h.DestinationDriver(ctx, t)
		req := h.NewRequest(ctx, t, destFields)
		w, err := d.OpenWriter(ctx, req)
		if err != nil {
			t.Fatalf("OpenWriter: %v", err)
		}
		bs, _ := destBatches()
		if err := w.Write(ctx, bs[0]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := w.Write(cctx, bs[1]); !isCanceled(err) {
			t.Errorf("Write with a canceled context returned %v, want a cancellation", err)
		}
		if _, err := w.Commit(cctx); err == nil {
			t.Error("Commit with a canceled context succeeded")
		}
		if err := w.Abort(ctx); err != nil {
			t.Errorf("Abort: %v", err)
		}
		if v := h.Visible(ctx, t, req); len(v) != 0 {
			t.Errorf("after a canceled run, visible: %v", slices.Sorted(maps.Keys(v)))
		}
	})
}
