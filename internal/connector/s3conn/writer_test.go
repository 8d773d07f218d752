package s3conn

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

func writeRequest(bucket, prefix string, format map[string]any, fields []connector.FieldSpec) *connector.WriteRequest {
	return &connector.WriteRequest{
		FlowName: "flow", ExecutionID: "exec-1", SchemaVersion: 2,
		StartedAt:  time.Date(2024, 3, 5, 14, 7, 0, 0, time.UTC),
		Properties: destProperties(bucket, prefix, format),
		Fields:     fields,
	}
}

func writeAll(t *testing.T, d *Driver, req *connector.WriteRequest, bs ...*record.Batch) *connector.WriteResult {
	t.Helper()
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestParquetRoundTrip(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	fields := []connector.FieldSpec{{Name: "id", Type: "integer"}, {Name: "amount", Type: "double"}, {Name: "price", Type: "decimal"},
		{Name: "ok", Type: "boolean"}, {Name: "at", Type: "datetime"}, {Name: "day", Type: "date"}, {Name: "name", Type: "string"}}
	b := &record.Batch{Fields: []string{"name", "id", "amount", "price", "ok", "at", "day"}, Split: "s", Final: true, FirstLine: 2}
	b.AppendRow([]record.Value{record.Str("a"), record.Str("42"), record.Str("12.5"), record.Str("-1234.000000000000000001"), record.Str("true"), record.Str("2024-03-05T14:07:00Z"), record.Str("2024-03-05")})
	b.AppendRow([]record.Value{record.Str("b"), record.IntVal(-7), record.FloatVal(0.25), record.DecimalVal("99.5"), record.BoolVal(false), record.MillisVal(1000), record.NullVal()})
	b.AppendRow([]record.Value{record.Str("bad"), record.Str("forty-two"), record.Str("1"), record.Str("1"), record.Str("true"), record.Str("2024-03-05"), record.Str("2024-03-05")})

	for _, preserve := range []bool{true, false} {
		t.Run(fmt.Sprintf("preserve=%v", preserve), func(t *testing.T) {
			req := writeRequest(bucket, fmt.Sprintf("p%v", preserve), map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": preserve}, fields)
			res := writeAll(t, e.drv, req, b)
			if len(res.Objects) != 1 {
				t.Fatalf("objects %v, want 1", res.Objects)
			}
			data := e.get(t, bucket, res.Objects[0])
			if int64(len(data)) != res.BytesWritten {
				t.Errorf("BytesWritten %d, file has %d", res.BytesWritten, len(data))
			}
			f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			var names, types []string
			for _, c := range f.Schema().Fields() {
				names = append(names, c.Name())
				types = append(types, c.Type().String())
				if !c.Optional() {
					t.Errorf("column %s is not optional", c.Name())
				}
			}
			if want := []string{"id", "amount", "price", "ok", "at", "day", "name"}; !reflect.DeepEqual(names, want) {
				t.Errorf("columns %v, want the declared order %v", names, want)
			}
			wantTypes := []string{"INT(64,true)", "DOUBLE", "DECIMAL(38,18)", "BOOLEAN", "TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)", "DATE", "STRING"}
			if !preserve {
				wantTypes = []string{"STRING", "STRING", "STRING", "STRING", "STRING", "STRING", "STRING"}
			}
			if !reflect.DeepEqual(types, wantTypes) {
				t.Errorf("types %v, want %v", types, wantTypes)
			}
			rows := readParquet(t, "x", data)
			var want []map[string]string
			if preserve {
				want = []map[string]string{
					{"id": "42", "amount": "12.5", "price": "-1234.000000000000000001", "ok": "true", "at": "2024-03-05T14:07:00.000Z", "day": "2024-03-05", "name": "a"},
					{"id": "-7", "amount": "0.25", "price": "99.500000000000000000", "ok": "false", "at": "1970-01-01T00:00:01.000Z", "name": "b"},
				}
				if res.RecordsWritten != 2 || len(res.Failures) != 1 {
					t.Fatalf("written %d, failures %v; want 2 and the row with id forty-two", res.RecordsWritten, res.Failures)
				}
				fl := res.Failures[0]
				if fl.Split != "s" || fl.Line != 4 || !strings.Contains(fl.Reason, `"id"`) || fl.Record["name"] != "bad" {
					t.Errorf("failure %+v", fl)
				}
			} else {
				want = []map[string]string{
					{"id": "42", "amount": "12.5", "price": "-1234.000000000000000001", "ok": "true", "at": "2024-03-05T14:07:00Z", "day": "2024-03-05", "name": "a"},
					{"id": "-7", "amount": "0.25", "price": "99.5", "ok": "false", "at": "1970-01-01T00:00:01.000Z", "name": "b"},
					{"id": "forty-two", "amount": "1", "price": "1", "ok": "true", "at": "2024-03-05", "day": "2024-03-05", "name": "bad"},
				}
				if res.RecordsWritten != 3 || len(res.Failures) != 0 {
					t.Errorf("written %d, failures %v; want 3 and none", res.RecordsWritten, res.Failures)
				}
			}
			got := make([]map[string]string, len(rows))
			for i, r := range rows {
				got[i] = r
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("rows\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestJSONOutputKeepsKinds(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	b := &record.Batch{Fields: []string{"s", "i", "f", "d", "b", "t", "j", "n", "m"}, Split: "s", Final: true}
	b.AppendRow([]record.Value{record.Str("q\"\n\x01é"), record.IntVal(-3), record.FloatVal(1.5), record.DecimalVal("12.50"),
		record.BoolVal(true), record.MillisVal(0), record.JSONVal(`{"a":[1]}`), record.NullVal(), {}})
	b.AppendRow([]record.Value{record.Str("x"), record.IntVal(1), record.FloatVal(2), record.DecimalVal("1e-2"),
		record.BoolVal(false), record.MillisVal(1), record.JSONVal(`[]`), record.Str(""), record.DecimalVal("abc")})
	fields := []connector.FieldSpec{{Name: "m"}, {Name: "s"}, {Name: "i"}, {Name: "f"}, {Name: "d"}, {Name: "b"}, {Name: "t"}, {Name: "j"}, {Name: "n"}}
	for _, preserve := range []bool{false, true} {
		req := writeRequest(bucket, fmt.Sprint(preserve), map[string]any{"fileType": "JSON", "preserveSourceDataTyping": preserve}, fields)
		res := writeAll(t, e.drv, req, b)
		got := string(e.get(t, bucket, res.Objects[0]))
		want := `{"s":"q\"\n\u0001é","i":-3,"f":1.5,"d":12.50,"b":true,"t":"1970-01-01T00:00:00.000Z","j":{"a":[1]},"n":null}` + "\n" +
			`{"m":"abc","s":"x","i":1,"f":2,"d":1e-2,"b":false,"t":"1970-01-01T00:00:00.001Z","j":[],"n":""}` + "\n"
		if got != want {
			t.Errorf("preserve=%v:\n got %s\nwant %s", preserve, got, want)
		}
	}
}

func TestCSVOutput(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	b := &record.Batch{Fields: []string{"a", "b"}, Split: "s", Final: true}
	b.AppendRow([]record.Value{record.Str(`x,"y"`), record.IntVal(5)})
	b.AppendRow([]record.Value{record.NullVal(), record.Str("l1\nl2")})
	req := writeRequest(bucket, "c", map[string]any{"fileType": "CSV"}, nil)
	res := writeAll(t, e.drv, req, b)
	got := string(e.get(t, bucket, res.Objects[0]))
	if want := "a,b\n\"x,\"\"y\"\"\",5\n,\"l1\nl2\"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Without declared fields, a field the first batch lacked is an error.
	w, _ := e.drv.OpenWriter(context.Background(), writeRequest(bucket, "c2", map[string]any{"fileType": "CSV"}, nil))
	defer w.Abort(context.Background())
	if err := w.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b2 := &record.Batch{Fields: []string{"a", "new"}, Split: "s", Cells: []record.Value{record.Str("1"), record.Str("2")}}
	if err := w.Write(context.Background(), b2); err == nil || !strings.Contains(err.Error(), `"new"`) {
		t.Errorf("a new field after the header: %v, want an error naming it", err)
	}
}

func benchBatch(split string, start, n int, final bool) *record.Batch {
	b := &record.Batch{Fields: []string{"id", "name", "email", "amount", "created_at", "country"}, Split: split, Final: final, FirstLine: int64(start + 2)}
	countries := []string{"US", "DE", "FR", "JP", "BR", "IN"}
	for i := start; i < start+n; i++ {
		b.AppendRow([]record.Value{record.Str(fmt.Sprint(i)), record.Str(fmt.Sprintf("Name %d", i)), record.Str(fmt.Sprintf("user%d@example.com", i)),
			record.Str(fmt.Sprintf("%d.%02d", i%1000, i%100)), record.Str("2023-05-17T08:12:45Z"), record.Str(countries[i%len(countries)])})
	}
	return b
}

func TestAggregationNoneFilePerSplit(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	req := writeRequest(bucket, "agg", map[string]any{"fileType": "JSON", "aggregationConfig": map[string]any{"aggregationType": "None"}}, nil)
	res := writeAll(t, e.drv, req, benchBatch("a", 0, 10, false), benchBatch("b", 0, 5, true), benchBatch("a", 10, 10, true), benchBatch("c", 0, 0, true))
	if len(res.Objects) != 2 || res.RecordsWritten != 25 {
		t.Fatalf("objects %v, %d records; want 2 files (a, b; c is empty) and 25", res.Objects, res.RecordsWritten)
	}
	lines := map[int]bool{}
	for _, k := range res.Objects {
		if !strings.HasPrefix(k, "agg/flow/exec-1/part-") {
			t.Errorf("key %s, want agg/flow/exec-1/part-*", k)
		}
		lines[strings.Count(string(e.get(t, bucket, k)), "\n")] = true
	}
	if !lines[20] || !lines[5] {
		t.Errorf("line counts %v, want one file of 20 (split a) and one of 5 (split b)", lines)
	}
}

func TestSingleFileRollover(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	const rows = 60000 // ~6 MiB of JSON Lines
	var bs []*record.Batch
	for i := 0; i < rows; i += 4000 {
		bs = append(bs, benchBatch(fmt.Sprint("s", i%3), i, 4000, false))
	}
	for _, format := range []string{"JSON", "CSV", "PARQUET"} {
		t.Run(format, func(t *testing.T) {
			target := 1
			n := rows
			batches := bs
			if format == "PARQUET" {
				// Parquet compresses ~10x: write more so several files come out.
				for k := 0; k < 5; k++ {
					batches = append(batches, bs...)
				}
				n = rows * 6
			}
			req := writeRequest(bucket, "roll-"+format, map[string]any{"fileType": format,
				"aggregationConfig": map[string]any{"aggregationType": "SingleFile", "targetFileSize": target}}, nil)
			res := writeAll(t, e.drv, req, batches...)
			if res.RecordsWritten != int64(n) {
				t.Errorf("RecordsWritten %d, want %d", res.RecordsWritten, n)
			}
			if len(res.Objects) < 3 {
				t.Fatalf("%d files, want several of ~1 MiB", len(res.Objects))
			}
			sizes := e.list(t, bucket, "roll-"+format+"/")
			var total int64
			var back int
			for i, k := range res.Objects {
				sz := sizes[k]
				total += sz
				last := i == len(res.Objects)-1
				switch format {
				case "PARQUET":
					// Rolls once the encoded size reaches the target; overshoot is one batch.
					if !last && (sz < mib || sz > mib+mib/2) {
						t.Errorf("%s: %d bytes, want [1 MiB, 1.5 MiB]", k, sz)
					}
					back += len(readParquet(t, k, e.get(t, bucket, k)))
				default:
					// Closed before the row that would pass the target: at most one row short.
					if sz > mib || (!last && sz < mib-200) {
						t.Errorf("%s: %d bytes, want (1 MiB - one row, 1 MiB]", k, sz)
					}
					back += len(decodeOutput(t, format, k, e.get(t, bucket, k)))
				}
			}
			if total != res.BytesWritten || back != n {
				t.Errorf("files hold %d bytes and %d rows; result says %d bytes, want %d rows", total, back, res.BytesWritten, n)
			}
		})
	}
}

func TestPartitionFolders(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	req := writeRequest(bucket, "part", map[string]any{"fileType": "JSON",
		"prefixConfig":      map[string]any{"prefixType": "PATH", "prefixFormat": "DAY", "pathPrefixHierarchy": []string{"SCHEMA_VERSION", "EXECUTION_ID"}},
		"aggregationConfig": map[string]any{"aggregationType": "SingleFile"}}, nil)
	req.PartitionKeys = []string{"country", "Account Rating"}
	b := &record.Batch{Fields: []string{"id", "country", "Account Rating"}, Split: "s", Final: true}
	b.AppendRow([]record.Value{record.IntVal(1), record.Str("US"), record.Str("Hot")})
	b.AppendRow([]record.Value{record.IntVal(2), record.Str("DE"), record.NullVal()})
	b.AppendRow([]record.Value{record.IntVal(3), record.Str("US"), record.Str("Hot")})
	b.AppendRow([]record.Value{record.IntVal(4), record.Str("a/b"), record.Str("")})
	res := writeAll(t, e.drv, req, b)
	got := map[string]int{}
	for _, k := range res.Objects {
		dir := k[:strings.LastIndexByte(k, '/')]
		got[dir] = strings.Count(string(e.get(t, bucket, k)), "\n")
	}
	base := "part/flow/schemaVersion_2/2024/03/05/exec-1/"
	want := map[string]int{
		base + "country=US/Account Rating=Hot":     2,
		base + "country=DE/Account Rating=null":    1,
		base + "country=a%2Fb/Account Rating=null": 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("partition files %v, want %v", got, want)
	}
}

// A failed commit or an abort leaves neither output nor staging.
func TestAbortLeavesNoObjects(t *testing.T) {
	for _, mk := range []func(testing.TB) *env{localEnv, motoEnv} {
		e := mk(t)
		bucket := e.makeBucket(t)
		ctx := context.Background()
		for _, format := range []string{"JSON", "PARQUET"} {
			w, err := e.drv.OpenWriter(ctx, writeRequest(bucket, "ab", map[string]any{"fileType": format}, nil))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if err := w.Write(ctx, benchBatch(fmt.Sprint(i), 0, 3000, i%2 == 0)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Abort(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if objs := e.list(t, bucket, ""); len(objs) != 0 {
			t.Errorf("%s: objects after Abort: %v", e.name, objs)
		}
		if left := e.stagingFiles(t); len(left) != 0 {
			t.Errorf("%s: data dir staging left: %v", e.name, left)
		}
		if e.client == nil {
			if a := e.attrsFiles(t); len(a) != 0 {
				t.Errorf("sidecar files: %v", a)
			}
		}
	}
}

func TestOutputKeysS3API(t *testing.T) {
	e := motoEnv(t)
	bucket := e.makeBucket(t)
	req := writeRequest(bucket, "raw", map[string]any{"fileType": "CSV",
		"prefixConfig": map[string]any{"prefixType": "PATH_AND_FILENAME", "prefixFormat": "HOUR"}}, nil)
	res := writeAll(t, e.drv, req, benchBatch("x", 0, 10, true))
	e.checkStagingSettled(t, bucket)
	keys := make([]string, 0)
	for k := range e.list(t, bucket, "") {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"raw/flow/2024/03/05/14/2024-03-05T14-part-00001-exec-1"}
	if !reflect.DeepEqual(keys, want) || !reflect.DeepEqual(res.Objects, want) {
		t.Errorf("bucket holds %v, result %v; want %v", keys, res.Objects, want)
	}
}

// Parquet columns are written in parallel and the writer cuts row groups
// itself: a file past rowGroupRows rows has full row groups, every row in
// order, nulls where they were, and a row that fails to convert in the
// middle of a batch is left out of every column.
func TestParquetRowGroupsAndParallelColumns(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	fields := []connector.FieldSpec{{Name: "id", Type: "integer"}, {Name: "name", Type: "string"}, {Name: "x", Type: "double"}}
	const total = rowGroupRows + 5000
	const bad = 70_001 // this id's x does not convert
	var batches []*record.Batch
	for lo := 1; lo <= total; lo += 3000 {
		b := &record.Batch{Fields: []string{"id", "name", "x"}, Split: "s", FirstLine: int64(lo + 1)}
		for id := lo; id < lo+3000 && id <= total; id++ {
			x := record.Str(fmt.Sprintf("%d.5", id))
			if id == bad {
				x = record.Str("not a number")
			}
			name := record.Str(fmt.Sprintf("n%d", id))
			if id%7 == 0 {
				name = record.NullVal()
			}
			b.AppendRow([]record.Value{record.IntVal(int64(id)), name, x})
		}
		batches = append(batches, b)
	}
	batches[len(batches)-1].Final = true
	req := writeRequest(bucket, "rg", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true,
		"aggregationConfig": map[string]any{"aggregationType": "SingleFile"}}, fields)
	res := writeAll(t, e.drv, req, batches...)
	if res.RecordsWritten != total-1 || len(res.Failures) != 1 || res.Failures[0].Line != bad+1 {
		t.Fatalf("written %d failures %+v; want %d and line %d", res.RecordsWritten, res.Failures, total-1, bad+1)
	}
	data := e.get(t, bucket, res.Objects[0])
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	for _, rg := range f.RowGroups() {
		sizes = append(sizes, rg.NumRows())
	}
	if want := []int64{rowGroupRows, total - 1 - rowGroupRows}; !reflect.DeepEqual(sizes, want) {
		t.Errorf("row groups %v, want %v", sizes, want)
	}
	rows := readParquet(t, "rg", data)
	id := 0
	for i, r := range rows {
		if id++; id == bad {
			id++
		}
		wantName := fmt.Sprintf("n%d", id)
		if id%7 == 0 {
			wantName = ""
		}
		if r["id"] != fmt.Sprint(id) || r["name"] != wantName || r["x"] != fmt.Sprintf("%d.5", id) {
			t.Fatalf("row %d = %v, want id %d name %q", i, r, id, wantName)
		}
	}
	if len(rows) != total-1 {
		t.Errorf("%d rows read, want %d", len(rows), total-1)
	}
}
