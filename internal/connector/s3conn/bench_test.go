package s3conn

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

// benchRows is the size of the bench-shaped input (bench/README.md:
// id,name,email,amount,created_at,country, ~87 bytes a row, no quoting).
const benchRows = 500_000

func benchData(format string) []byte {
	first := []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda"}
	last := []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis"}
	domains := []string{"example.com", "mail.example.org", "customers.example.net", "inbox.test"}
	countries := []string{"US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "JP", "BR", "IN", "AU"}
	var buf bytes.Buffer
	if format == "CSV" {
		buf.WriteString("id,name,email,amount,created_at,country\n")
	}
	s := uint64(42)
	next := func() uint64 {
		s += 0x9E3779B97F4A7C15
		z := s
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		return z ^ (z >> 31)
	}
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := 1; i <= benchRows; i++ {
		f, l := first[next()%8], last[next()%8]
		email := fmt.Sprintf("%s.%s%d@%s", f, l, next()%1000, domains[next()%4])
		amount := fmt.Sprintf("%d.%02d", next()%1000, next()%100)
		at := time.Unix(start+int64(next()%(5*365*86400)), 0).UTC().Format("2006-01-02T15:04:05Z")
		c := countries[next()%12]
		if format == "CSV" {
			fmt.Fprintf(&buf, "%d,%s %s,%s,%s,%s,%s\n", i, f, l, email, amount, at, c)
		} else {
			fmt.Fprintf(&buf, `{"id":%d,"name":"%s %s","email":"%s","amount":%s,"created_at":"%s","country":"%s"}`+"\n", i, f, l, email, amount, at, c)
		}
	}
	return buf.Bytes()
}

func benchSource(b *testing.B, format string) (*env, *connector.ReadRequest, connector.Split) {
	e := localEnv(b)
	bucket := e.makeBucket(b)
	data := benchData(format)
	e.put(b, bucket, "in/data", data)
	req := sourceRequest(bucket, "in/", format)
	return e, req, connector.Split{Name: "in/data", Size: int64(len(data))}
}

func benchmarkRead(b *testing.B, format string) {
	e, req, split := benchSource(b, format)
	ctx := context.Background()
	b.SetBytes(split.Size)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		n := 0
		if err := e.drv.ReadSplit(ctx, req, split, func(bt *record.Batch) error { n += bt.Len(); return nil }); err != nil {
			b.Fatal(err)
		}
		if n != benchRows {
			b.Fatalf("%d rows", n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*benchRows), "cpu-ns/row")
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkReadCSV(b *testing.B)       { benchmarkRead(b, "CSV") }
func BenchmarkReadJSONLines(b *testing.B) { benchmarkRead(b, "JSON") }

// benchmarkPipeline reads the bench CSV and writes it, batch by batch on one
// goroutine as the engine would, to a local bucket.
func benchmarkPipeline(b *testing.B, out map[string]any, fields []connector.FieldSpec) {
	e, req, split := benchSource(b, "CSV")
	ctx := context.Background()
	b.SetBytes(split.Size)
	b.ReportAllocs()
	b.ResetTimer()
	var written int64
	for i := range b.N {
		wreq := writeRequest(mustBucket(req), fmt.Sprint("out", i), out, fields)
		w, err := e.drv.OpenWriter(ctx, wreq)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.drv.ReadSplit(ctx, req, split, func(bt *record.Batch) error { return w.Write(ctx, bt) }); err != nil {
			b.Fatal(err)
		}
		res, err := w.Commit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if res.RecordsWritten != benchRows {
			b.Fatalf("%d records written", res.RecordsWritten)
		}
		written += res.BytesWritten
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(written)/float64(b.N)/1e6, "MBout/op")
}

func mustBucket(req *connector.ReadRequest) string {
	p, _ := decodeSourceProps(req.Properties)
	return p.BucketName
}

var benchFields = []connector.FieldSpec{{Name: "id", Type: "integer"}, {Name: "name", Type: "string"}, {Name: "email", Type: "string"},
	{Name: "amount", Type: "double"}, {Name: "created_at", Type: "datetime"}, {Name: "country", Type: "string"}}

func BenchmarkCSVToJSONL(b *testing.B) {
	benchmarkPipeline(b, map[string]any{"fileType": "JSON"}, nil)
}

func BenchmarkCSVToCSV(b *testing.B) {
	benchmarkPipeline(b, map[string]any{"fileType": "CSV"}, nil)
}

func BenchmarkCSVToParquetStrings(b *testing.B) {
	benchmarkPipeline(b, map[string]any{"fileType": "PARQUET"}, nil)
}

func BenchmarkCSVToParquetTyped(b *testing.B) {
	benchmarkPipeline(b, map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true}, benchFields)
}

// BenchmarkWriteJSONL measures the writer alone on prepared batches.
func BenchmarkWriteJSONL(b *testing.B) { benchmarkWrite(b, map[string]any{"fileType": "JSON"}, nil) }

// BenchmarkWriteJSONLEncoded encodes ahead on GOMAXPROCS goroutines, as the
// engine's transform workers do (connector.BatchEncoder), and writes in order.
func BenchmarkWriteJSONLEncoded(b *testing.B) {
	benchmarkWriteAhead(b, map[string]any{"fileType": "JSON"}, nil, true)
}

func BenchmarkWriteParquet(b *testing.B) {
	benchmarkWrite(b, map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true}, benchFields)
}

func benchmarkWrite(b *testing.B, out map[string]any, fields []connector.FieldSpec) {
	benchmarkWriteAhead(b, out, fields, false)
}

func benchmarkWriteAhead(b *testing.B, out map[string]any, fields []connector.FieldSpec, ahead bool) {
	e, req, split := benchSource(b, "CSV")
	ctx := context.Background()
	var batches []*record.Batch
	if err := e.drv.ReadSplit(ctx, req, split, func(bt *record.Batch) error {
		c := *bt
		c.Cells = slices.Clone(bt.Cells)
		batches = append(batches, &c)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w, err := e.drv.OpenWriter(ctx, writeRequest(mustBucket(req), fmt.Sprint("w", i), out, fields))
		if err != nil {
			b.Fatal(err)
		}
		if ahead {
			writeEncodedAhead(b, w, batches)
		} else {
			for _, bt := range batches {
				if err := w.Write(ctx, bt); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := w.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// cpuTime is this process's user+system CPU time: steadier than wall time
// on a shared, loaded machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEncodeJSONL measures the JSON Lines encoder alone on rows shaped
// like the bench workload's output (an integer, strings, a double), with
// the strings as a JSON or CSV reader marks them (plain) and as a task
// makes them (to be scanned).
func BenchmarkEncodeJSONL(b *testing.B) {
	for _, plain := range []bool{true, false} {
		b.Run(fmt.Sprintf("plain=%v", plain), func(b *testing.B) {
			fields := []string{"customer_id", "full_name", "email_masked", "amount_x2", "created_at", "country_code"}
			str := record.Str
			if plain {
				str = record.PlainStr
			}
			bt := &record.Batch{Fields: fields}
			const rows = 4096
			for i := range rows {
				bt.Cells = append(bt.Cells, record.IntVal(int64(i+1)), str(fmt.Sprintf("Name %d Surname", i%977)),
					str(fmt.Sprintf("*****e.name%d@example.com", i%1000)), record.FloatVal(float64(i%100000)/50),
					str("2024-03-05T14:07:00Z"), str("NL"))
			}
			p := &plan{fields: fields, cols: []int{0, 1, 2, 3, 4, 5}}
			for _, f := range fields {
				p.keys = append(p.keys, append(record.AppendJSONString(nil, f), ':'))
			}
			var buf []byte
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				buf = encodeJSON(buf[:0], p, bt, 0, rows, nil, nil)
			}
			b.StopTimer()
			b.SetBytes(int64(len(buf)))
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*rows), "cpu-ns/row")
		})
	}
}

// writeEncodedAhead encodes batches on GOMAXPROCS goroutines, at most
// 2 x GOMAXPROCS ahead of the write, and writes them in order.
func writeEncodedAhead(b *testing.B, w connector.Writer, batches []*record.Batch) {
	ctx := context.Background()
	be := w.(connector.BatchEncoder)
	type result struct {
		enc connector.Encoded
		err error
	}
	procs := runtime.GOMAXPROCS(0)
	slots := make([]chan result, len(batches))
	for i := range slots {
		slots[i] = make(chan result, 1)
	}
	window := make(chan struct{}, 2*procs)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range batches {
			window <- struct{}{}
			next <- i
		}
	}()
	for range procs {
		go func() {
			for i := range next {
				enc, err := be.EncodeBatch(batches[i])
				slots[i] <- result{enc, err}
			}
		}()
	}
	for i, bt := range batches {
		r := <-slots[i]
		<-window
		err := r.err
		if err == nil {
			if r.enc != nil {
				err = be.WriteEncoded(ctx, bt, r.enc)
			} else {
				err = w.Write(ctx, bt)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
