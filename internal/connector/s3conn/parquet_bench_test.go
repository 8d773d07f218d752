package s3conn

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

// taskBatches is the bench CSV as the peers workload's tasks hand it to the
// writer: id an Int, amount a Float, the rest strings.
func taskBatches(b *testing.B) (*env, string, []*record.Batch) {
	e, req, split := benchSource(b, "CSV")
	var batches []*record.Batch
	if err := e.drv.ReadSplit(context.Background(), req, split, func(bt *record.Batch) error {
		c := *bt
		c.Cells = slices.Clone(bt.Cells)
		id, amount := c.Index("id"), c.Index("amount")
		for r := range c.Len() {
			row := c.Row(r)
			n, err := strconv.ParseInt(row[id].S, 10, 64)
			if err != nil {
				return err
			}
			f, err := strconv.ParseFloat(row[amount].S, 64)
			if err != nil {
				return err
			}
			row[id], row[amount] = record.IntVal(n), record.FloatVal(f)
		}
		batches = append(batches, &c)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return e, mustBucket(req), batches
}

var taskFields = []connector.FieldSpec{{Name: "id", Type: "bigint"}, {Name: "name", Type: "string"}, {Name: "email", Type: "string"},
	{Name: "amount", Type: "double"}, {Name: "created_at", Type: "string"}, {Name: "country", Type: "string"}}

// BenchmarkWriteParquetTasks measures the Parquet writer alone on the values
// the peers workload gives it (bench/peers).
func BenchmarkWriteParquetTasks(b *testing.B) {
	e, bucket, batches := taskBatches(b)
	ctx := context.Background()
	out := map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	var written int64
	for i := range b.N {
		w, err := e.drv.OpenWriter(ctx, writeRequest(bucket, fmt.Sprint("t", i), out, taskFields))
		if err != nil {
			b.Fatal(err)
		}
		for _, bt := range batches {
			if err := w.Write(ctx, bt); err != nil {
				b.Fatal(err)
			}
		}
		res, err := w.Commit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		written += res.BytesWritten
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(written)/float64(b.N)/1e6, "MBout/op")
}

// BenchmarkWriteParquetWide writes wide rows (64 string columns of 32
// random bytes, about 2 KiB a row, which Snappy cannot shrink) from one
// reused batch, as a source would, and reports the process's peak RSS:
// the row groups and pages the writer holds must stay bounded however
// wide the rows (run it alone, -benchtime 1x, for a meaningful peak).
func BenchmarkWriteParquetWide(b *testing.B) {
	e := localEnv(b)
	bucket := e.makeBucket(b)
	ctx := context.Background()
	const width, rowsPerBatch, batches = 64, 1024, 200
	fields := make([]connector.FieldSpec, width)
	names := make([]string, width)
	for i := range fields {
		names[i] = fmt.Sprintf("c%02d", i)
		fields[i] = connector.FieldSpec{Name: names[i], Type: "string"}
	}
	slab := make([]byte, rowsPerBatch*width*32)
	bt := &record.Batch{Fields: names, Cells: make([]record.Value, rowsPerBatch*width), Split: "wide"}
	s := uint64(1)
	out := map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w, err := e.drv.OpenWriter(ctx, writeRequest(bucket, fmt.Sprint("wide", i), out, fields))
		if err != nil {
			b.Fatal(err)
		}
		for n := range batches {
			for k := range slab {
				s ^= s << 13
				s ^= s >> 7
				s ^= s << 17
				slab[k] = 'a' + byte(s%26)
			}
			for c := range bt.Cells {
				bt.Cells[c] = record.Str(unsafe.String(&slab[c*32], 32)) // the writer copies it
			}
			bt.Final = n == batches-1
			if err := w.Write(ctx, bt); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS-MiB")
	}
	b.ReportMetric(float64(batches*rowsPerBatch)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
