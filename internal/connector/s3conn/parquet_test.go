package s3conn

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

// Query engines prune row groups and pages by their bounds: every column
// chunk has its min, max and null count, and the page index (column and
// offset indexes) bounds each page. Cells of the kinds the tasks produce
// (Int, Float, Time, String) go to the columns without a conversion:
// Time to a TIMESTAMP, Int to a DOUBLE, and a declared field missing from
// the batch is a column of nulls.
func TestParquetStatisticsAndPageIndex(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	fields := []connector.FieldSpec{{Name: "id", Type: "bigint"}, {Name: "name", Type: "string"}, {Name: "x", Type: "double"},
		{Name: "at", Type: "datetime"}, {Name: "gone", Type: "string"}}
	const total = 60_000 // several pages per column
	var batches []*record.Batch
	for lo := 0; lo < total; lo += 4096 {
		b := &record.Batch{Fields: []string{"at", "x", "name", "id"}, Split: "s", FirstLine: int64(lo + 2)}
		for i := lo; i < min(lo+4096, total); i++ {
			name := record.Str(fmt.Sprintf("name-%05d", (i*7919)%total))
			if i%10 == 3 {
				name = record.NullVal()
			}
			x := record.FloatVal(float64(i) + 0.5)
			if i%2 == 0 {
				x = record.IntVal(int64(i))
			}
			b.AppendRow([]record.Value{record.MillisVal(int64(i) * 1000), x, name, record.IntVal(int64(total - i))})
		}
		batches = append(batches, b)
	}
	batches[len(batches)-1].Final = true
	req := writeRequest(bucket, "st", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true}, fields)
	res := writeAll(t, e.drv, req, batches...)
	if res.RecordsWritten != total || len(res.Failures) != 0 {
		t.Fatalf("written %d, failures %v", res.RecordsWritten, res.Failures)
	}
	data := e.get(t, bucket, res.Objects[0])
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	type bounds struct {
		min, max string
		nulls    int64
	}
	want := map[string]bounds{
		"id":   {"1", fmt.Sprint(total), 0},
		"name": {"name-00000", fmt.Sprintf("name-%05d", total-1), total / 10},
		"x":    {"0", fmt.Sprint(total-1) + ".5", 0},
		"at":   {"0", fmt.Sprint((total - 1) * 1000), 0},
		"gone": {"", "", total},
	}
	cols := f.Schema().Fields()
	md := f.Metadata()
	if len(md.RowGroups) != 1 {
		t.Fatalf("%d row groups, want 1", len(md.RowGroups))
	}
	for j, cc := range md.RowGroups[0].Columns {
		name := cols[j].Name()
		st := cc.MetaData.Statistics
		kind := cols[j].Type().Kind()
		got := bounds{nulls: st.NullCount}
		if st.MinValue != nil {
			got.min, got.max = kind.Value(st.MinValue).String(), kind.Value(st.MaxValue).String()
		}
		if got != want[name] {
			t.Errorf("column %s: statistics %+v, want %+v", name, got, want[name])
		}
		chunk := f.RowGroups()[0].ColumnChunks()[j]
		ci, err := chunk.ColumnIndex()
		if err != nil {
			t.Fatalf("column %s: no column index: %v", name, err)
		}
		oi, err := chunk.OffsetIndex()
		if err != nil {
			t.Fatalf("column %s: no offset index: %v", name, err)
		}
		if ci.NumPages() != oi.NumPages() || (name != "gone" && ci.NumPages() < 2) {
			t.Errorf("column %s: column index of %d pages, offset index of %d", name, ci.NumPages(), oi.NumPages())
		}
		var pageNulls int64
		for p := range ci.NumPages() {
			pageNulls += ci.NullCount(p)
			if name != "gone" && (ci.MinValue(p).IsNull() || ci.MaxValue(p).IsNull()) {
				t.Errorf("column %s page %d has no bounds", name, p)
			}
		}
		if pageNulls != want[name].nulls {
			t.Errorf("column %s: pages count %d nulls, want %d", name, pageNulls, want[name].nulls)
		}
	}
	rows := readParquet(t, "st", data)
	for _, i := range []int{0, 1, 3, total - 1} {
		r := rows[i]
		wantName := fmt.Sprintf("name-%05d", (i*7919)%total)
		if i%10 == 3 {
			wantName = ""
		}
		wantX := fmt.Sprint(i)
		if i%2 == 1 {
			wantX += ".5"
		}
		if r["id"] != fmt.Sprint(total-i) || r["name"] != wantName || r["x"] != wantX ||
			r["at"] != time.UnixMilli(int64(i)*1000).UTC().Format("2006-01-02T15:04:05.000Z07:00") || r["gone"] != "" {
			t.Errorf("row %d = %v", i, r)
		}
	}
}

// A Parquet Write waits for its rows to be written (the column writers read
// the caller's batch), so a failure of the file under it is that Write's
// error, and the writer still aborts cleanly.
func TestParquetWriteFailureIsTheWritesError(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	w, bucket := openParquetFileASplit(t, e)
	// Split b's file will be 000002 in the run's staging folder: take the
	// name first, so creating it fails.
	staged := e.stagingFiles(t)
	var first string
	for _, f := range staged {
		if path.Base(f) == "000001" {
			first = f
		}
	}
	if first == "" {
		t.Fatalf("no staged file 000001 in %v", staged)
	}
	taken := filepath.Join(e.deps.DataDir, stagingRoot, filepath.FromSlash(path.Dir(first)), "000002")
	if err := os.WriteFile(taken, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	err := w.Write(ctx, benchBatch("b", 0, 3000, true))
	if err == nil || !strings.Contains(err.Error(), "staging file") {
		t.Fatalf("Write over a file that cannot be created returned %v", err)
	}
	if err := w.Write(ctx, benchBatch("c", 0, 10, true)); err == nil {
		t.Error("a Write after the failure succeeded")
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if left := e.stagingFiles(t); len(left) != 0 {
		t.Errorf("staging left after Abort: %v", left)
	}
	if objs := e.list(t, bucket, ""); len(objs) != 0 {
		t.Errorf("objects after Abort: %v", objs)
	}
}

// Row groups are cut by bytes as well as by rows: wide rows make row groups
// of at most about rowGroupBudget bytes (plus one batch), long before
// rowGroupRows rows, so the memory a file holds stays bounded.
func TestParquetRowGroupsBoundedByBytes(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	const width, rows, perBatch = 32, 24_000, 1000
	names := make([]string, width)
	for i := range names {
		names[i] = fmt.Sprintf("c%02d", i)
	}
	var batches []*record.Batch
	s := uint64(7)
	for lo := 0; lo < rows; lo += perBatch {
		b := &record.Batch{Fields: names, Split: "s"}
		cell := make([]byte, 32)
		for range perBatch * width {
			for k := range cell {
				s ^= s << 13
				s ^= s >> 7
				s ^= s << 17
				cell[k] = 'a' + byte(s%26)
			}
			b.Cells = append(b.Cells, record.Str(string(cell)))
		}
		batches = append(batches, b)
	}
	batches[len(batches)-1].Final = true
	req := writeRequest(bucket, "wide", map[string]any{"fileType": "PARQUET"}, nil)
	res := writeAll(t, e.drv, req, batches...)
	data := e.get(t, bucket, res.Objects[0])
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	groups := f.Metadata().RowGroups
	for i, rg := range groups {
		var size int64
		for _, c := range rg.Columns {
			size += c.MetaData.TotalCompressedSize
		}
		if size > rowGroupBudget+2*perBatch*width*40 {
			t.Errorf("row group %d holds %d bytes (%d rows), over the %d budget", i, size, rg.NumRows, rowGroupBudget)
		}
		total += rg.NumRows
	}
	if len(groups) < 2 || total != rows {
		t.Errorf("%d row groups of %d rows in all; want several, %d rows", len(groups), total, rows)
	}
}

// String columns whose values repeat on a row group's first page are
// dictionary encoded; the others stay PLAIN. A dictionary column whose
// values stop repeating after that page still holds every value (its row
// group goes on PLAIN once the dictionary passes dictMaxBytes).
func TestParquetDictionaryWherePays(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	countries := []string{"US", "GB", "DE", "FR", "JP"}
	// A page of "later" holds about 43,000 of its first values (256 KiB);
	// its 40,000 unique 100-byte values are past dictMaxBytes.
	const total, unique = 100_000, 60_000
	var batches []*record.Batch
	for lo := 0; lo < total; lo += 4000 {
		b := &record.Batch{Fields: []string{"country", "email", "later", "id"}, Split: "s"}
		for i := lo; i < lo+4000; i++ {
			later := record.Str(countries[i%5])
			if i >= unique {
				later = record.Str(fmt.Sprintf("%0100d", i))
			}
			country := record.Str(countries[i%5])
			if i%11 == 0 {
				country = record.NullVal()
			}
			b.AppendRow([]record.Value{country, record.Str(fmt.Sprintf("user%d@example.com", i)), later, record.IntVal(int64(i))})
		}
		batches = append(batches, b)
	}
	batches[len(batches)-1].Final = true
	fields := []connector.FieldSpec{{Name: "id", Type: "bigint"}, {Name: "country", Type: "string"}, {Name: "email", Type: "string"}, {Name: "later", Type: "string"}}
	req := writeRequest(bucket, "dict", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true}, fields)
	res := writeAll(t, e.drv, req, batches...)
	data := e.get(t, bucket, res.Objects[0])
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	wantDict := map[string]bool{"id": false, "country": true, "email": false, "later": true}
	cols := f.Schema().Fields()
	for j, cc := range f.Metadata().RowGroups[0].Columns {
		name := cols[j].Name()
		dict := slices.Contains(cc.MetaData.Encoding, format.RLEDictionary)
		if dict != wantDict[name] {
			t.Errorf("column %s: encodings %v, dictionary %v, want %v", name, cc.MetaData.Encoding, dict, wantDict[name])
		}
		if fellBack := slices.Contains(cc.MetaData.Encoding, format.DeltaLengthByteArray); name == "later" && !fellBack {
			t.Errorf("column later: encodings %v, want PLAIN pages after its dictionary filled", cc.MetaData.Encoding)
		}
	}
	rows := readParquet(t, "dict", data)
	if len(rows) != total {
		t.Fatalf("%d rows, want %d", len(rows), total)
	}
	for i, r := range rows {
		wantLater, wantCountry := countries[i%5], countries[i%5]
		if i >= unique {
			wantLater = fmt.Sprintf("%0100d", i)
		}
		if i%11 == 0 {
			wantCountry = ""
		}
		if r["id"] != fmt.Sprint(i) || r["country"] != wantCountry || r["later"] != wantLater || r["email"] != fmt.Sprintf("user%d@example.com", i) {
			t.Fatalf("row %d = %v", i, r)
		}
	}
}

// Whether a column's cells need a conversion is decided batch by batch: a
// column of text numbers in one batch and of Ints or nulls in the next (a
// source whose first records were strings) is written whole, and a bad
// cell drops only its own row.
func TestParquetConvertedThenDirectColumns(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	fields := []connector.FieldSpec{{Name: "id", Type: "bigint"}, {Name: "x", Type: "double"}, {Name: "s", Type: "string"}}
	var batches []*record.Batch
	id := 0
	for k := range 6 {
		b := &record.Batch{Fields: []string{"id", "x", "s"}, Split: "s", FirstLine: int64(id + 2)}
		for range 3000 { // two parts converted in parallel (parallelMinRows)
			var x, s record.Value
			switch k % 3 {
			case 0: // text to convert; one bad
				x, s = record.Str(fmt.Sprint(id, ".5")), record.IntVal(int64(id))
				if id%1000 == 7 {
					x = record.Str("n/a")
				}
			case 1: // direct
				x, s = record.FloatVal(float64(id)+0.5), record.Str(fmt.Sprint(id))
			case 2: // direct, with nulls
				x, s = record.IntVal(int64(id)), record.NullVal()
			}
			b.AppendRow([]record.Value{record.IntVal(int64(id)), x, s})
			id++
		}
		batches = append(batches, b)
	}
	batches[len(batches)-1].Final = true
	req := writeRequest(bucket, "mix", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true}, fields)
	res := writeAll(t, e.drv, req, batches...)
	if res.RecordsWritten != int64(id-6) || len(res.Failures) != 6 {
		t.Fatalf("written %d, %d failures; want %d and 6", res.RecordsWritten, len(res.Failures), id-6)
	}
	var lines []int64
	for _, f := range res.Failures {
		lines = append(lines, f.Line)
	}
	if want := []int64{9, 1009, 2009, 9009, 10009, 11009}; !slices.Equal(lines, want) {
		t.Errorf("failures at lines %v, want %v (row order)", lines, want)
	}
	rows := readParquet(t, "mix", e.get(t, bucket, res.Objects[0]))
	i := 0
	for want := range id {
		k := want / 3000
		if k%3 == 0 && want%1000 == 7 {
			continue
		}
		r := rows[i]
		i++
		wantX, wantS := fmt.Sprint(want, ".5"), fmt.Sprint(want)
		if k%3 == 2 {
			wantX, wantS = fmt.Sprint(want), ""
		}
		if r["id"] != fmt.Sprint(want) || r["x"] != wantX || r["s"] != wantS {
			t.Fatalf("row %d = %v, want id %d x %s s %q", i-1, r, want, wantX, wantS)
		}
	}
}

// Direct cells of every direct column kind may be null (Null or Missing):
// each kind's loop in writeColumn writes them as nulls, its other cells as
// values, in a batch that is written whole and in one that drops a row.
func TestParquetDirectNulls(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	fields := []connector.FieldSpec{{Name: "id", Type: "bigint"}, {Name: "x", Type: "double"}, {Name: "s", Type: "string"}, {Name: "ts", Type: "timestamp"}}
	names := []string{"id", "x", "s", "ts"}
	null := func(i, j int) bool { return (i+j)%4 == 0 }
	var batches []*record.Batch
	for k := range 2 {
		b := &record.Batch{Fields: names, Split: "s", FirstLine: int64(k*3000 + 2)}
		for r := range 3000 {
			i := k*3000 + r
			row := []record.Value{record.IntVal(int64(i)), record.FloatVal(float64(i) + 0.25), record.Str(fmt.Sprint("v", i)), record.MillisVal(int64(i) * 1000)}
			if k == 1 && r == 5 {
				row[1] = record.Str("n/a") // fails: the batch's rows are a selection
			}
			for j := range row {
				if null(i, j) {
					row[j] = []record.Value{record.NullVal(), {}}[i%2] // Null, Missing
				}
			}
			b.AppendRow(row)
		}
		batches = append(batches, b)
	}
	batches[len(batches)-1].Final = true
	req := writeRequest(bucket, "nulls", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true}, fields)
	res := writeAll(t, e.drv, req, batches...)
	if res.RecordsWritten != 5999 {
		t.Fatalf("written %d, want 5999", res.RecordsWritten)
	}
	rows := readParquet(t, "nulls", e.get(t, bucket, res.Objects[0]))
	i := 0
	for _, r := range rows {
		if i == 3005 {
			i++
		}
		for j, name := range names {
			v, ok := r[name]
			if ok == null(i, j) {
				t.Fatalf("row %d column %s: %q, present %v", i, name, v, ok)
			}
		}
		i++
	}
	if i != 6000 {
		t.Errorf("%d rows read", len(rows))
	}
}

// openParquetFileASplit opens a Parquet writer with a file a split
// (aggregation None) and writes split a's 3,000 rows, whose file is
// 000001 in the run's staging folder, into a new bucket.
func openParquetFileASplit(t *testing.T, e *env) (connector.Writer, string) {
	t.Helper()
	ctx := context.Background()
	bucket := e.makeBucket(t)
	req := writeRequest(bucket, "fail", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true,
		"aggregationConfig": map[string]any{"aggregationType": "None"}}, nil)
	w, err := e.drv.OpenWriter(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, benchBatch("a", 0, 3000, true)); err != nil {
		t.Fatal(err)
	}
	return w, bucket
}
