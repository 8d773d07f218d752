package s3conn

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/record"
)

// The parse benchmarks time the row parsers alone, over the bench-shaped
// input already in memory: no I/O, no allocation, so no GC. Their loops
// are functions of their own so that an instruction counter (valgrind
// --tool=callgrind --toggle-collect=...Loop) can count them alone.

func BenchmarkParseJSONLine(b *testing.B) {
	lines := strings.Split(strings.TrimSuffix(parseBenchData("JSON"), "\n"), "\n")
	p := newJSONRow("k", nil)
	p.maxRows = 1024
	if err := p.parseLine(lines[0], 1); err != nil {
		b.Fatal(err)
	}
	p.width = len(p.fields)
	p.cells = make([]record.Value, 0, p.maxRows*p.width)
	cpu0 := cpuTime()
	b.ResetTimer()
	if err := parseJSONLoop(p, lines, b.N); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func parseJSONLoop(p *jsonRow, lines []string, n int) error {
	k := 0
	for range n {
		if len(p.cells) == cap(p.cells) {
			p.cells = p.cells[:0]
		}
		if err := p.parseLine(lines[k], 1); err != nil {
			return err
		}
		if k++; k == len(lines) {
			k = 0
		}
	}
	return nil
}

func BenchmarkParseCSVRow(b *testing.B) {
	s := parseBenchData("CSV")
	row := make([]record.Value, 6)
	cpu0 := cpuTime()
	b.ResetTimer()
	if !parseCSVLoop(s, row, b.N) {
		b.Fatal("not plain")
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func parseCSVLoop(s string, row []record.Value, n int) bool {
	pos := 0
	for range n {
		next, ok := csvPlainCells(s, pos, row)
		if !ok {
			return false
		}
		if pos = next; pos == len(s) {
			pos = 0
		}
	}
	return true
}

// parseBenchData is 4096 rows shaped as benchData's, made quickly (the
// instruction counter runs 50 times slower than the CPU).
func parseBenchData(format string) string {
	first := []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda"}
	last := []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis"}
	countries := []string{"US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "JP", "BR", "IN", "AU"}
	var sb strings.Builder
	for i := 1; i <= 4096; i++ {
		f, l := first[i*7%8], last[i*5%8]
		email := fmt.Sprintf("%s.%s%d@mail.example.org", f, l, i*37%1000)
		amount := fmt.Sprintf("%d.%02d", i*7919%1000, i%100)
		at := fmt.Sprintf("202%d-0%d-1%dT1%d:3%d:4%dZ", i%5, i%9+1, i%10, i%10, i%10, i%10)
		c := countries[i%12]
		if format == "CSV" {
			fmt.Fprintf(&sb, "%d,%s %s,%s,%s,%s,%s\n", i, f, l, email, amount, at, c)
		} else {
			fmt.Fprintf(&sb, `{"id":%d,"name":"%s %s","email":"%s","amount":%s,"created_at":"%s","country":"%s"}`+"\n", i, f, l, email, amount, at, c)
		}
	}
	return sb.String()
}

// BenchmarkReadJSONLinesMemory reads 4096 rows from memory per op: the
// reader's whole loop, its buffer and batches, without a bucket.
func BenchmarkReadJSONLinesMemory(b *testing.B) { benchmarkReadMemory(b, "JSON") }

// BenchmarkReadCSVMemory is BenchmarkReadJSONLinesMemory for CSV.
func BenchmarkReadCSVMemory(b *testing.B) { benchmarkReadMemory(b, "CSV") }

func benchmarkReadMemory(b *testing.B, format string) {
	data := parseBenchData(format)
	if format == "CSV" {
		data = "id,name,email,amount,created_at,country\n" + data
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	if err := readMemoryLoop(format, data, b.N); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*4096), "cpu-ns/row")
}

func readMemoryLoop(format, data string, n int) error {
	ctx := context.Background()
	for range n {
		rows := 0
		emit := func(b *record.Batch) error { rows += b.Len(); return nil }
		src := &objectReader{r: strings.NewReader(data), key: "k"}
		var err error
		if format == "CSV" {
			err = readCSV(ctx, src, nil, emit)
		} else {
			err = readJSONLines(ctx, src, nil, emit)
		}
		if err != nil {
			return err
		}
		if rows != 4096 {
			return fmt.Errorf("%d rows", rows)
		}
	}
	return nil
}
