package s3conn

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/record"
)

type sourceHarness struct {
	e      *env
	format string // CSV or JSON
}

func (h *sourceHarness) SourceDriver(context.Context, *testing.T) connector.SourceDriver {
	return h.e.drv
}

func sourceRequest(bucket, prefix, format string) *connector.ReadRequest {
	props, _ := json.Marshal(map[string]any{"bucketName": bucket, "bucketPrefix": prefix,
		"s3InputFormatConfig": map[string]string{"s3InputFileType": format}})
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "e", Properties: props}
}

func (h *sourceHarness) Seed(_ context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	bucket := h.e.makeBucket(t)
	for _, tb := range tables {
		var buf bytes.Buffer
		if h.format == "CSV" {
			w := csv.NewWriter(&buf)
			_ = w.Write(tb.Fields)
			_ = w.WriteAll(tb.Rows)
		} else {
			for _, r := range tb.Rows {
				m := map[string]string{}
				for i, f := range tb.Fields {
					m[f] = r[i]
				}
				line, _ := json.Marshal(m)
				buf.Write(line)
				buf.WriteByte('\n')
			}
			if len(tb.Rows) == 0 {
				buf.WriteString("\n") // an object with no records
			}
		}
		h.e.put(t, bucket, "in/"+tb.Name, buf.Bytes())
	}
	return sourceRequest(bucket, "in/", h.format)
}

func (h *sourceHarness) SeedMalformed(_ context.Context, t *testing.T) (*connector.ReadRequest, string) {
	bucket := h.e.makeBucket(t)
	data := "a,b\n1,2\n3\n"
	if h.format == "JSON" {
		data = "{\"a\":1}\n{\"a\": tru}\n"
	}
	h.e.put(t, bucket, "bad/broken-object", []byte(data))
	return sourceRequest(bucket, "bad/", h.format), "bad/broken-object"
}

type destHarness struct {
	e        *env
	bucket   string
	format   string
	preserve bool
	n        int
}

func (h *destHarness) DestinationDriver(context.Context, *testing.T) connector.DestinationDriver {
	return h.e.drv
}

func destProperties(bucket, prefix string, format map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"bucketName": bucket, "bucketPrefix": prefix, "s3OutputFormatConfig": format})
	return b
}

func (h *destHarness) NewRequest(_ context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	if h.bucket == "" {
		h.bucket = h.e.makeBucket(t)
	}
	h.n++
	return &connector.WriteRequest{
		FlowName: "flow", ExecutionID: randName("exec-"), SchemaVersion: 1,
		StartedAt: time.Date(2024, 3, 5, 14, 7, 0, 0, time.UTC),
		Properties: destProperties(h.bucket, fmt.Sprintf("out%d", h.n),
			map[string]any{"fileType": h.format, "preserveSourceDataTyping": h.preserve}),
		Fields: fields,
	}
}

func outPrefix(req *connector.WriteRequest) (bucket, prefix string) {
	var p destProps
	_ = json.Unmarshal(req.Properties, &p)
	return p.BucketName, p.BucketPrefix + "/" + req.FlowName + "/"
}

func (h *destHarness) Visible(_ context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64 {
	bucket, prefix := outPrefix(req)
	return h.e.list(t, bucket, prefix)
}

func (h *destHarness) ReadBack(_ context.Context, t *testing.T, req *connector.WriteRequest) []connectortest.Row {
	bucket, prefix := outPrefix(req)
	var rows []connectortest.Row
	for key := range h.e.list(t, bucket, prefix) {
		rows = append(rows, decodeOutput(t, h.format, key, h.e.get(t, bucket, key))...)
	}
	return rows
}

// decodeOutput reads an output file with independent decoders.
func decodeOutput(t testing.TB, format, key string, data []byte) []connectortest.Row {
	t.Helper()
	var rows []connectortest.Row
	switch format {
	case "CSV":
		// encoding/csv turns CRLF inside quoted fields into LF, so read with
		// our reader, which FuzzReadCSV checks against encoding/csv.
		src := &objectReader{r: bytes.NewReader(data), key: key}
		err := readCSV(context.Background(), src, nil, func(b *record.Batch) error {
			for i := range b.Len() {
				row := connectortest.Row{}
				for j, v := range b.Row(i) {
					row[b.Fields[j]] = v.S
				}
				rows = append(rows, row)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	case "JSON":
		for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			dec := json.NewDecoder(strings.NewReader(line))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("%s line %d: %v", key, i+1, err)
			}
			row := connectortest.Row{}
			for k, v := range m {
				switch v := v.(type) {
				case nil:
				case string:
					row[k] = v
				case json.Number:
					row[k] = v.String()
				case bool:
					row[k] = strconv.FormatBool(v)
				default:
					b, _ := json.Marshal(v)
					row[k] = string(b)
				}
			}
			rows = append(rows, row)
		}
	case "PARQUET":
		rows = readParquet(t, key, data)
	}
	return rows
}

func readParquet(t testing.TB, key string, data []byte) []connectortest.Row {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	cols := f.Schema().Fields()
	var rows []connectortest.Row
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rr.ReadRows(buf)
			for _, pr := range buf[:n] {
				row := connectortest.Row{}
				for _, v := range pr {
					if v.IsNull() {
						continue
					}
					c := cols[v.Column()]
					row[c.Name()] = parquetText(c, v)
				}
				rows = append(rows, row)
			}
			if err != nil {
				break
			}
		}
		rr.Close()
	}
	return rows
}

func parquetText(n parquet.Node, v parquet.Value) string {
	var ltv format.LogicalTypeValue
	if lt := n.Type().LogicalType(); lt != nil {
		ltv = lt.Value
	}
	switch lt := ltv.(type) {
	case *format.TimestampType:
		return time.UnixMilli(v.Int64()).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case *format.DateType:
		return time.Unix(int64(v.Int32())*86400, 0).UTC().Format("2006-01-02")
	case *format.DecimalType:
		b := v.ByteArray()
		x := new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 {
			x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		return new(big.Rat).SetFrac(x, pow18).FloatString(int(lt.Scale))
	}
	switch v.Kind() {
	case parquet.Boolean:
		return strconv.FormatBool(v.Boolean())
	case parquet.Int32:
		return strconv.FormatInt(int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.FormatInt(v.Int64(), 10)
	case parquet.Double:
		return strconv.FormatFloat(v.Double(), 'f', -1, 64)
	}
	return string(v.ByteArray())
}

func runConformance(t *testing.T, mk func(testing.TB) *env) {
	for _, f := range []string{"CSV", "JSON"} {
		t.Run("Source"+f, func(t *testing.T) {
			connectortest.RunSource(t, &sourceHarness{e: mk(t), format: f})
		})
	}
	for _, c := range []struct {
		format   string
		preserve bool
	}{{"JSON", false}, {"CSV", false}, {"PARQUET", false}, {"PARQUET", true}} {
		t.Run(fmt.Sprintf("Destination%s_preserve=%v", c.format, c.preserve), func(t *testing.T) {
			e := mk(t)
			h := &destHarness{e: e, format: c.format, preserve: c.preserve}
			connectortest.RunDestination(t, h)
			if h.bucket != "" {
				e.checkStagingSettled(t, h.bucket)
			}
			if a := e.attrsFiles(t); len(a) > 0 {
				t.Errorf("sidecar files in local buckets: %v", a)
			}
		})
	}
}

func TestConformanceLocal(t *testing.T) { runConformance(t, localEnv) }

func TestConformanceS3API(t *testing.T) { runConformance(t, motoEnv) }
