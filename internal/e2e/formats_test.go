package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
)

// parquetTable decodes a Parquet file into its columns ("name TYPE") and its
// rows, each value rendered as text ("null" for a null).
func parquetTable(t *testing.T, data string) (cols []string, rows [][]string) {
	t.Helper()
	f, err := parquet.OpenFile(strings.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a Parquet file: %v", err)
	}
	for _, fld := range f.Schema().Fields() {
		typ := fld.Type().Kind().String()
		if lt := fld.Type().LogicalType(); lt != nil {
			typ += " " + lt.String()
		}
		if fld.Optional() {
			typ = "optional " + typ
		}
		cols = append(cols, fld.Name()+" "+typ)
	}
	r := parquet.NewReader(f)
	defer r.Close()
	buf := make([]parquet.Row, 16)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			var out []string
			for _, v := range row {
				switch {
				case v.IsNull():
					out = append(out, "null")
				case v.Kind() == parquet.Int64:
					out = append(out, strconv.FormatInt(v.Int64(), 10))
				case v.Kind() == parquet.Double:
					out = append(out, strconv.FormatFloat(v.Double(), 'g', -1, 64))
				case v.Kind() == parquet.Boolean:
					out = append(out, strconv.FormatBool(v.Boolean()))
				default:
					out = append(out, string(v.ByteArray()))
				}
			}
			rows = append(rows, out)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read Parquet rows: %v", err)
		}
	}
	return cols, rows
}

var typedMaps = []types.Task{
	mapTask("id", "id", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "integer"}),
	mapTask("name", "name", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "string"}),
	mapTask("amount", "amount", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "double"}),
	mapTask("ok", "ok", map[string]string{"SOURCE_DATA_TYPE": "string", "DESTINATION_DATA_TYPE": "boolean"}),
}

const typedInput = "id,name,amount,ok\n1,\"Ann, A.\",10.5,true\n2,\"say \"\"hi\"\"\",-2,false\n"

// TestFormats writes the same records in every output format.
func TestFormats(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.put(map[string]string{"in/data.csv": typedInput})
		t.Run("csv", func(t *testing.T) {
			e.t = t
			id, r := e.run(flowSpec{name: "csv", out: &types.S3OutputFormatConfig{FileType: types.FileTypeCsv}, tasks: maps("id", "name", "amount", "ok")})
			mustSucceed(t, r)
			got := e.outputUnder(id, "out/csv/")
			want := map[string]string{"part-00001-{exec}": "id,name,amount,ok\n1,\"Ann, A.\",10.5,true\n2,\"say \"\"hi\"\"\",-2,false\n"}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
			checkCounts(t, r, 2, int64(len(typedInput)), got)
		})
		t.Run("json-typed-maps", func(t *testing.T) {
			e.t = t
			id, r := e.run(flowSpec{name: "json", out: &types.S3OutputFormatConfig{FileType: types.FileTypeJson}, tasks: typedMaps})
			mustSucceed(t, r)
			got := e.outputUnder(id, "out/json/")
			want := map[string]string{"part-00001-{exec}": "{\"id\":1,\"name\":\"Ann, A.\",\"amount\":10.5,\"ok\":true}\n{\"id\":2,\"name\":\"say \\\"hi\\\"\",\"amount\":-2,\"ok\":false}\n"}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
			checkCounts(t, r, 2, int64(len(typedInput)), got)
		})
		for _, preserve := range []bool{true, false} {
			t.Run(fmt.Sprintf("parquet-preserve-%v", preserve), func(t *testing.T) {
				e.t = t
				flow := fmt.Sprintf("pq-%v", preserve)
				id, r := e.run(flowSpec{name: flow, out: &types.S3OutputFormatConfig{FileType: types.FileTypeParquet,
					PreserveSourceDataTyping: aws.Bool(preserve)}, tasks: typedMaps})
				mustSucceed(t, r)
				got := e.outputUnder(id, "out/"+flow+"/")
				if len(got) != 1 || got["part-00001-{exec}"] == "" {
					t.Fatalf("output keys %v, want one part-00001-{exec}", keys(got))
				}
				cols, rows := parquetTable(t, got["part-00001-{exec}"])
				wantCols := []string{"id optional BYTE_ARRAY STRING", "name optional BYTE_ARRAY STRING", "amount optional BYTE_ARRAY STRING", "ok optional BYTE_ARRAY STRING"}
				if preserve {
					wantCols = []string{"id optional INT64 INT(64,true)", "name optional BYTE_ARRAY STRING", "amount optional DOUBLE", "ok optional BOOLEAN"}
				}
				if d := cmp.Diff(wantCols, cols); d != "" {
					t.Errorf("columns (-want +got):\n%s", d)
				}
				wantRows := [][]string{{"1", "Ann, A.", "10.5", "true"}, {"2", "say \"hi\"", "-2", "false"}}
				if d := cmp.Diff(wantRows, rows); d != "" {
					t.Errorf("rows (-want +got):\n%s", d)
				}
				checkCounts(t, r, 2, int64(len(typedInput)), got)
			})
		}
	})
}

// TestLayouts checks the object keys for every prefixConfig and the
// aggregation options.
func TestLayouts(t *testing.T) {
	const in = "id\n1\n"
	const body = "{\"id\":\"1\"}\n"
	cases := []struct {
		name string
		pc   *types.PrefixConfig
		want string // key under out/{flow}/
	}{
		{"none", nil, "{exec}/part-00001-{exec}"},
		{"path-year", &types.PrefixConfig{PrefixType: types.PrefixTypePath, PrefixFormat: types.PrefixFormatYear}, "2024/part-00001-{exec}"},
		{"path-month", &types.PrefixConfig{PrefixType: types.PrefixTypePath, PrefixFormat: types.PrefixFormatMonth}, "2024/03/part-00001-{exec}"},
		{"path-day", &types.PrefixConfig{PrefixType: types.PrefixTypePath, PrefixFormat: types.PrefixFormatDay}, "2024/03/05/part-00001-{exec}"},
		{"path-hour", &types.PrefixConfig{PrefixType: types.PrefixTypePath, PrefixFormat: types.PrefixFormatHour}, "2024/03/05/14/part-00001-{exec}"},
		{"path-minute", &types.PrefixConfig{PrefixType: types.PrefixTypePath, PrefixFormat: types.PrefixFormatMinute}, "2024/03/05/14/07/part-00001-{exec}"},
		{"filename-day", &types.PrefixConfig{PrefixType: types.PrefixTypeFilename, PrefixFormat: types.PrefixFormatDay}, "{exec}/2024-03-05-part-00001-{exec}"},
		{"filename-minute", &types.PrefixConfig{PrefixType: types.PrefixTypeFilename, PrefixFormat: types.PrefixFormatMinute}, "{exec}/2024-03-05T14:07-part-00001-{exec}"},
		{"path-and-filename-hour", &types.PrefixConfig{PrefixType: types.PrefixTypePathAndFilename, PrefixFormat: types.PrefixFormatHour},
			"2024/03/05/14/2024-03-05T14-part-00001-{exec}"},
		{"path-day-execution-id", &types.PrefixConfig{PrefixType: types.PrefixTypePath, PrefixFormat: types.PrefixFormatDay,
			PathPrefixHierarchy: []types.PathPrefix{types.PathPrefixExecutionId}}, "2024/03/05/{exec}/part-00001-{exec}"},
		{"schema-version-and-execution-id", &types.PrefixConfig{PrefixType: types.PrefixTypePath, PrefixFormat: types.PrefixFormatHour,
			PathPrefixHierarchy: []types.PathPrefix{types.PathPrefixSchemaVersion, types.PathPrefixExecutionId}}, "schemaVersion_1/2024/03/05/14/{exec}/part-00001-{exec}"},
		{"schema-version-only", &types.PrefixConfig{PathPrefixHierarchy: []types.PathPrefix{types.PathPrefixSchemaVersion}}, "schemaVersion_1/part-00001-{exec}"},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		e.put(map[string]string{"in/data.csv": in})
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.t = t
				id, r := e.run(flowSpec{name: c.name, out: &types.S3OutputFormatConfig{FileType: types.FileTypeJson, PrefixConfig: c.pc}, tasks: maps("id")})
				mustSucceed(t, r)
				got := map[string]string{}
				for k, v := range e.output(id) {
					if strings.HasPrefix(k, "out/"+c.name+"/") {
						got[k] = v
					}
				}
				want := map[string]string{"out/" + c.name + "/" + c.want: body}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("output (-want +got):\n%s", d)
				}
			})
		}
	})
}

// csvRows is a CSV of n rows "i,padding" for i in [from, from+n).
func csvRows(from, n int) string {
	var sb strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&sb, "%d,row-%08d-%s\n", i, i, strings.Repeat("x", 40))
	}
	return sb.String()
}

// sortedLines sorts the lines of s.
func sortedLines(s string) []string {
	ls := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(ls)
	return ls
}

// TestAggregation: None writes a file per source object, SingleFile one
// file per run, or files of at most targetFileSize MB.
func TestAggregation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		a, b := "id,pad\n"+csvRows(0, 3), "id,pad\n"+csvRows(3, 2)
		e.put(map[string]string{"small/a.csv": a, "small/b.csv": b})
		csvOut := &types.S3OutputFormatConfig{FileType: types.FileTypeCsv}

		t.Run("none", func(t *testing.T) {
			e.t = t
			csvOut.AggregationConfig = &types.AggregationConfig{AggregationType: types.AggregationTypeNone}
			id, r := e.run(flowSpec{name: "agg-none", srcPrefix: "small", out: csvOut, tasks: maps("id", "pad")})
			mustSucceed(t, r)
			got := e.outputUnder(id, "out/agg-none/")
			if d := cmp.Diff([]string{"part-00001-{exec}", "part-00002-{exec}"}, keys(got)); d != "" {
				t.Fatalf("keys (-want +got):\n%s", d)
			}
			files := []string{got["part-00001-{exec}"], got["part-00002-{exec}"]}
			sort.Slice(files, func(i, j int) bool { return len(files[i]) > len(files[j]) })
			if d := cmp.Diff([]string{a, b}, files); d != "" {
				t.Errorf("one file per source object (-want +got):\n%s", d)
			}
			checkCounts(t, r, 5, int64(len(a)+len(b)), got)
		})
		t.Run("single-file", func(t *testing.T) {
			e.t = t
			csvOut.AggregationConfig = &types.AggregationConfig{AggregationType: types.AggregationTypeSingleFile}
			id, r := e.run(flowSpec{name: "agg-single", srcPrefix: "small", out: csvOut, tasks: maps("id", "pad")})
			mustSucceed(t, r)
			got := e.outputUnder(id, "out/agg-single/")
			if d := cmp.Diff([]string{"part-00001-{exec}"}, keys(got)); d != "" {
				t.Fatalf("keys (-want +got):\n%s", d)
			}
			if d := cmp.Diff(sortedLines("id,pad\n"+csvRows(0, 5)), sortedLines(got["part-00001-{exec}"])); d != "" {
				t.Errorf("lines (-want +got):\n%s", d)
			}
			if !strings.HasPrefix(got["part-00001-{exec}"], "id,pad\n") {
				t.Errorf("the single file does not start with the header")
			}
			checkCounts(t, r, 5, int64(len(a)+len(b)), got)
		})
		t.Run("single-file-target-size", func(t *testing.T) {
			e.t = t
			const rows = 50000 // about 3.1 MB of CSV
			big := "id,pad\n" + csvRows(0, rows)
			e.be.Put(t, e.src, "big/data.csv", []byte(big))
			csvOut.AggregationConfig = &types.AggregationConfig{AggregationType: types.AggregationTypeSingleFile, TargetFileSize: aws.Int64(1)}
			id, r := e.run(flowSpec{name: "agg-target", srcPrefix: "big", out: csvOut, tasks: maps("id", "pad")})
			mustSucceed(t, r)
			got := e.outputUnder(id, "out/agg-target/")
			if len(got) < 3 {
				t.Fatalf("%d files for %d bytes with targetFileSize 1 MB, want at least 3: %v", len(got), len(big), keys(got))
			}
			var all []string
			for i, k := range keys(got) {
				if want := fmt.Sprintf("part-%05d-{exec}", i+1); k != want {
					t.Errorf("file %d is %s, want %s", i, k, want)
				}
				v := got[k]
				if len(v) > 1<<20 {
					t.Errorf("%s is %d bytes, over the 1 MiB target", k, len(v))
				}
				if !strings.HasPrefix(v, "id,pad\n") {
					t.Errorf("%s does not start with the CSV header", k)
				}
				all = append(all, strings.Split(strings.TrimSuffix(strings.TrimPrefix(v, "id,pad\n"), "\n"), "\n")...)
			}
			sort.Strings(all)
			if d := cmp.Diff(sortedLines(csvRows(0, rows)), all); d != "" {
				t.Errorf("rows across files (-want +got):\n%s", d)
			}
			// Within one source object the order is kept.
			var joined bytes.Buffer
			for _, k := range keys(got) {
				joined.WriteString(strings.TrimPrefix(got[k], "id,pad\n"))
			}
			if joined.String() != csvRows(0, rows) {
				t.Errorf("rows are not in source order across the rolled-over files")
			}
			checkCounts(t, r, rows, int64(len(big)), got)
		})
	})
}
