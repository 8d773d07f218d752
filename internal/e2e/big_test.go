package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// maxRSSBig is the peak resident memory allowed for a 1 GB run: a bound on
// memory, whatever the input size (the target is under 100 MiB).
const maxRSSBig = 100 << 20 // the bound: under 100 MiB whatever the input size

var summaryRe = regexp.MustCompile(`records read \d+, written (\d+), dropped (\d+), rejected (\d+)\n\s+bytes read (\d+), written (\d+)`)

// TestBigInputConstantMemory runs a generated ~1 GB CSV through `appflowd
// run` for each output format and bounds the child's peak RSS. Opt in with
// APPFLOWD_TEST_BIG=1 (it writes ~2 GB to the temp dir).
func TestBigInputConstantMemory(t *testing.T) {
	if os.Getenv("APPFLOWD_TEST_BIG") == "" {
		t.Skip("set APPFLOWD_TEST_BIG=1 to run a 1 GB input through appflowd run and bound its peak RSS")
	}
	dir := t.TempDir()
	rows, size := writeBigCSV(t, filepath.Join(dir, "s3", "src", "in", "big.csv"), 1<<30)
	t.Logf("input: %d rows, %d bytes", rows, size)
	for _, format := range []string{"JSON", "CSV", "PARQUET"} {
		t.Run(format, func(t *testing.T) {
			os.RemoveAll(filepath.Join(dir, "s3", "dst"))
			os.MkdirAll(filepath.Join(dir, "s3", "dst"), 0o755)
			flow := map[string]any{
				"flowName":      "big",
				"triggerConfig": map[string]any{"triggerType": "OnDemand"},
				"sourceFlowConfig": map[string]any{"connectorType": "S3", "sourceConnectorProperties": map[string]any{
					"S3": map[string]any{"bucketName": "src", "bucketPrefix": "in", "s3InputFormatConfig": map[string]any{"s3InputFileType": "CSV"}}}},
				"destinationFlowConfigList": []any{map[string]any{"connectorType": "S3", "destinationConnectorProperties": map[string]any{
					"S3": map[string]any{"bucketName": "dst", "bucketPrefix": "out", "s3OutputFormatConfig": map[string]any{
						"fileType": format, "preserveSourceDataTyping": true,
						"aggregationConfig": map[string]any{"aggregationType": "SingleFile"}}}}}},
				"tasks": []any{
					map[string]any{"taskType": "Filter", "sourceFields": []string{"id", "name", "amount", "email"}, "connectorOperator": map[string]string{"S3": "PROJECTION"}},
					map[string]any{"taskType": "Filter", "sourceFields": []string{"amount"}, "connectorOperator": map[string]string{"S3": "GREATER_THAN"},
						"taskProperties": map[string]string{"DATA_TYPE": "double", "VALUE": "500"}},
					map[string]any{"taskType": "Mask", "sourceFields": []string{"email"}, "connectorOperator": map[string]string{"S3": "MASK_FIRST_N"},
						"taskProperties": map[string]string{"MASK_LENGTH": "4", "MASK_VALUE": "*"}},
					map[string]any{"taskType": "Arithmetic", "sourceFields": []string{"amount", "amount"}, "destinationField": "amount,amount",
						"connectorOperator": map[string]string{"S3": "MULTIPLICATION"}, "taskProperties": map[string]string{"MATH_OPERATION_FIELDS_ORDER": "amount,amount"}},
					map[string]any{"taskType": "Map", "sourceFields": []string{"id"}, "destinationField": "order_id", "connectorOperator": map[string]string{"S3": "NO_OP"},
						"taskProperties": map[string]string{"DESTINATION_DATA_TYPE": "integer"}},
					map[string]any{"taskType": "Map", "sourceFields": []string{"name"}, "destinationField": "customer", "connectorOperator": map[string]string{"S3": "NO_OP"}},
					map[string]any{"taskType": "Map", "sourceFields": []string{"email"}, "destinationField": "email", "connectorOperator": map[string]string{"S3": "NO_OP"}},
					map[string]any{"taskType": "Map", "sourceFields": []string{"amount,amount"}, "destinationField": "squared", "connectorOperator": map[string]string{"S3": "NO_OP"},
						"taskProperties": map[string]string{"DESTINATION_DATA_TYPE": "double"}},
				},
			}
			raw, _ := json.Marshal(flow)
			flowPath := filepath.Join(dir, "flow-"+format+".json")
			os.WriteFile(flowPath, raw, 0o644)
			stdout, stderr, err, rss := appflowdRun(t, dir, flowPath)
			if err != nil {
				t.Fatalf("appflowd run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
			}
			t.Logf("%s: peak RSS %.1f MiB\n%s", format, float64(rss)/(1<<20), stdout)
			m := summaryRe.FindStringSubmatch(stdout)
			if m == nil {
				t.Fatalf("no counts in the summary:\n%s", stdout)
			}
			processed, _ := strconv.ParseInt(m[1], 10, 64)
			dropped, _ := strconv.ParseInt(m[2], 10, 64)
			read, _ := strconv.ParseInt(m[4], 10, 64)
			if processed+dropped != rows || read != size {
				t.Errorf("processed %d + dropped %d, bytes read %d; want %d rows and %d bytes", processed, dropped, read, rows, size)
			}
			written, _ := strconv.ParseInt(m[5], 10, 64)
			var onDisk int64
			filepath.WalkDir(filepath.Join(dir, "s3", "dst"), func(_ string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if fi, err := d.Info(); err == nil {
						onDisk += fi.Size()
					}
				}
				return nil
			})
			if written != onDisk {
				t.Errorf("bytes written %d, the output files hold %d", written, onDisk)
			}
			if rss > maxRSSBig {
				t.Errorf("peak RSS %.1f MiB for a %d MiB input, want under %d MiB", float64(rss)/(1<<20), size>>20, maxRSSBig>>20)
			}
		})
	}
}

// writeBigCSV streams a CSV of about size bytes to path, never holding it
// in memory, and returns its data rows and exact size.
func writeBigCSV(t testing.TB, path string, size int64) (rows, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	c, _ := fmt.Fprintf(w, "id,name,amount,email,created,note\n")
	n = int64(c)
	for n < size {
		c, _ = fmt.Fprintf(w, "%d,name-%d,%d.%02d,user%d@example.com,2024-01-%02dT10:00:00Z,\"note, with comma %d\"\n",
			rows, rows%9973, rows%100000, rows%100, rows, rows%28+1, rows)
		n += int64(c)
		rows++
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return rows, n
}
