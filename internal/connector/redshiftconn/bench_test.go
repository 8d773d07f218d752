package redshiftconn

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/stage"
	"github.com/appflowd/appflowd/internal/record"
)

const benchRows = 1_000_000

// BenchmarkLoad1M loads 1M rows (id bigint, name text, amount numeric,
// at timestamptz) through the connector, and the same rows as a CSV file
// through `psql -c "\copy ... from file"`, and reports both rates and their
// ratio. Run: go test -run '^$' -bench Load1M -benchtime 1x
func BenchmarkLoad1M(b *testing.B) {
	conn := adminConn(b)
	schema := newSchema(b, conn)
	fx := newFixture(b)
	ctx := context.Background()
	fields := []connector.FieldSpec{{Name: "id", Type: "long"}, {Name: "name", Type: "string"}, {Name: "amount", Type: "decimal"}, {Name: "at", Type: "datetime"}}
	names := []string{"id", "name", "amount", "at"}
	const perBatch = 10_000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	mkBatch := func(from int) *record.Batch {
		bt := &record.Batch{Fields: names, Split: "bench", FirstLine: int64(from + 1), Cells: make([]record.Value, 0, perBatch*4)}
		for i := from; i < from+perBatch; i++ {
			bt.AppendRow([]record.Value{record.IntVal(int64(i)), record.Str(fmt.Sprintf("name %d, \"q\"", i)),
				record.DecimalVal(fmt.Sprintf("%d.%02d", i%100000, i%100)), record.MillisVal(base + int64(i)*1000)})
		}
		return bt
	}
	// The same rows as CSV for psql.
	csvPath := filepath.Join(b.TempDir(), "rows.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	cells, nulls := make([]string, 4), make([]bool, 4)
	for from := 0; from < benchRows; from += perBatch {
		bt := mkBatch(from)
		for r := range bt.Len() {
			row := bt.Row(r)
			cells[0], cells[1], cells[2] = row[0].Text(), row[1].Text(), row[2].Text()
			cells[3] = row[3].Time().Format("2006-01-02 15:04:05.999999Z07:00")
			buf = stage.AppendCSV(buf[:0], cells, nulls)
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	f.Close()
	psql, err := exec.LookPath("psql")
	if err != nil {
		b.Skip("psql is not installed; no baseline to compare with")
	}

	var connSecs, psqlSecs float64
	for i := 0; b.Loop(); i++ {
		tbl := fmt.Sprintf("%s.t%d", schema, i)
		mustExec(b, conn, "CREATE TABLE "+tbl+" (id bigint, name text, amount numeric(12,2), at timestamptz)")
		start := time.Now()
		w, err := fx.driver(b, "postgres").OpenWriter(ctx, &connector.WriteRequest{Object: tbl, Fields: fields})
		if err != nil {
			b.Fatal(err)
		}
		for from := 0; from < benchRows; from += perBatch {
			if err := w.Write(ctx, mkBatch(from)); err != nil {
				b.Fatal(err)
			}
		}
		res, err := w.Commit(ctx)
		if err != nil || res.RecordsWritten != benchRows {
			b.Fatalf("Commit: %v, %+v", err, res)
		}
		connSecs += time.Since(start).Seconds()

		b.StopTimer()
		ptbl := fmt.Sprintf("%s.p%d", schema, i)
		mustExec(b, conn, "CREATE TABLE "+ptbl+" (id bigint, name text, amount numeric(12,2), at timestamptz)")
		start = time.Now()
		out, err := exec.Command(psql, pgURL(b), "-v", "ON_ERROR_STOP=1", "-c",
			`\copy `+ptbl+` from '`+csvPath+`' with (format csv)`).CombinedOutput()
		if err != nil || !strings.Contains(string(out), fmt.Sprint(benchRows)) {
			b.Fatalf("psql \\copy: %v: %s", err, out)
		}
		psqlSecs += time.Since(start).Seconds()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(benchRows*n/connSecs, "connector-rows/s")
	b.ReportMetric(benchRows*n/psqlSecs, "psql-rows/s")
	b.ReportMetric((benchRows*n/connSecs)/(benchRows*n/psqlSecs), "ratio")
}
