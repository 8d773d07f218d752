package s3conn

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

func TestReadCSVWorkersMatchesSerial(t *testing.T) {
	big := manyCSVLines(40000) // > 1 MiB: several chunker buffers
	inputs := map[string]string{
		"plain":         "a,b,c\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n",
		"crlf":          "a,b\r\n1,2\r\n\r\n3,4\r\n5,6\r\n",
		"bom":           "\xEF\xBB\xBFa,b\n1,2\n3,4\n5,6\n",
		"blank lines":   "\n\na,b\n\n1,2\n\n\n3,4\n\n5,6\n\n",
		"no final nl":   "a,b\n1,2\n3,4\n5,6",
		"empty cells":   "a,b,c\n,,\n1,,\n,,3\n",
		"header only":   "a,b\n",
		"empty":         "",
		"bad width":     "a,b\n1,2\n3,4\n5\n6,7\n",
		"quoted nl":     "a,b\n1,2\n\"x\ny\",3\n4,5\n",
		"stray quote":   "a,b\n1,2\n3,x\"y\n4,5\n",
		"big":           big,
		"big then nl":   big + "\"multi\nline\",\"q\"\"q\"\n" + manyCSVRows(100, 0),
		"big then bad":  big + "1,2,3\n" + manyCSVRows(10, 0),
		"big then bad2": big + manyCSVRows(10, 0) + "\"open\n",
		"not utf-8":     big + "1,caf\xe9,2\n" + manyCSVRows(10, 0),
	}
	projs := map[string][]string{"all": nil, "projected": {"amount", "nope", "id"}, "reordered": {"amount", "name", "id"}}
	for name, in := range inputs {
		for pname, proj := range projs {
			serial := collectJSON(t, in, func(emit func(*record.Batch) error) error {
				return readCSV(context.Background(), &objectReader{r: strings.NewReader(in), key: "k"}, proj, emit)
			})
			for _, workers := range []int{2, 3} {
				par := collectJSON(t, in, func(emit func(*record.Batch) error) error {
					return readCSVWorkers(context.Background(), &objectReader{r: iotestHalf(strings.NewReader(in)), key: "k"}, proj, workers, emit)
				})
				if par.err != serial.err {
					t.Errorf("%s/%s workers %d: error %q, serial %q", name, pname, workers, par.err, serial.err)
					continue
				}
				if serial.err != "" {
					continue
				}
				// Lines are derived one per row, which holds only where no
				// record spans lines.
				sameLines := reflect.DeepEqual(par.lines, serial.lines) || strings.Contains(in, "\"")
				if !reflect.DeepEqual(par.rows, serial.rows) || !sameLines ||
					!reflect.DeepEqual(par.fields, serial.fields) || par.bytes != serial.bytes {
					t.Errorf("%s/%s workers %d: differs from serial: %d vs %d rows, bytes %d vs %d, fields %v vs %v",
						name, pname, workers, len(par.rows), len(serial.rows), par.bytes, serial.bytes, par.fields, serial.fields)
				}
			}
		}
	}
}

func manyCSVLines(n int) string {
	return "id,name,amount\n" + manyCSVRows(n, 0)
}

func manyCSVRows(n, from int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "%d,name %d,%d.%02d\n", i, i, i%1000, i%100)
		if i%997 == 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func TestReadCSVWorkersErrorLineIsExact(t *testing.T) {
	head := manyCSVLines(60000)
	in := head + "1,2\n" + manyCSVRows(5, 0)
	want := int64(strings.Count(head, "\n") + 1)
	err := readCSVWorkers(context.Background(), &objectReader{r: strings.NewReader(in), key: "dir/big.csv"}, nil, 2,
		func(*record.Batch) error { return nil })
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Object != "dir/big.csv" || pe.Line != want {
		t.Fatalf("err = %v, want a ParseError at dir/big.csv line %d", err, want)
	}
}

func TestReadCSVWorkersStopsOnEmitError(t *testing.T) {
	stop := errors.New("writer failed")
	n := 0
	err := readCSVWorkers(context.Background(), &objectReader{r: strings.NewReader(manyCSVLines(50000)), key: "k"}, nil, 2,
		func(*record.Batch) error {
			if n++; n == 3 {
				return stop
			}
			return nil
		})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("err %v after %d batches, want the emit error after 3", err, n)
	}
}

func TestReadCSVWorkersCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err := readCSVWorkers(ctx, &objectReader{r: strings.NewReader(manyCSVLines(80000)), key: "k"}, nil, 2,
		func(*record.Batch) error {
			if n++; n == 2 {
				cancel()
			}
			return nil
		})
	if fault.CodeOf(err) != fault.Canceled {
		t.Fatalf("err %v (code %v), want Canceled", err, fault.CodeOf(err))
	}
}

// BenchmarkReadCSVWorkers measures the CSV reader alone on the bench-shaped
// input with one parser and with 2 and 4.
func BenchmarkReadCSVWorkers(b *testing.B) {
	data := string(benchData("CSV"))
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for range b.N {
				n := 0
				err := readCSVWorkers(context.Background(), &objectReader{r: strings.NewReader(data), key: "k"}, nil, workers,
					func(bt *record.Batch) error { n += bt.Len(); return nil })
				if err != nil || n != benchRows {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			// CPU time (of the whole process, the GC's included) holds
			// still on a busy machine, where wall time does not.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*benchRows), "cpu-ns/row")
		})
	}
}

// A record whose raw text needs no JSON escaping has its cells marked
// plain, so the JSON encoder copies them; encoding must equal escaping.
func TestReadCSVMarksPlainRecords(t *testing.T) {
	// The second input has no quote, so 2 workers parse it in parallel.
	for _, c := range []struct {
		in   string
		want []bool
	}{
		{"a,b\r\nplain,x\r\ntab\there,y\nback\\slash,z\n\"q\"\"q\",w\ncafé ✓,v\n\"quoted\",u\n", []bool{true, false, false, false, true, false}},
		{"a,b\r\nplain,x\r\ntab\there,y\nback\\slash,z\ncafé ✓,v\nbell\a,u\n", []bool{true, false, false, true, false}},
	} {
		for _, workers := range []int{1, 2} {
			checkCSVPlain(t, c.in, workers, c.want)
		}
	}
}

func checkCSVPlain(t *testing.T, in string, workers int, want []bool) {
	t.Helper()
	var got []bool
	err := readCSVWorkers(context.Background(), &objectReader{r: strings.NewReader(in), key: "k"}, nil, workers, func(b *record.Batch) error {
		for i := range b.Len() {
			row := b.Row(i)
			got = append(got, row[0].N == record.PlainText)
			for _, v := range row {
				if enc, esc := string(record.AppendJSON(nil, v)), string(record.AppendJSONString(nil, v.S)); enc != esc {
					t.Errorf("%q: encoded %s, escaping gives %s", v.S, enc, esc)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("workers %d: plain %v, want %v", workers, got, want)
	}
}
