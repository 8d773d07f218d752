package s3conn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// jsonRun is what a JSON Lines reader produced, in a form that does not
// depend on where batches were cut: each row's present cells in field
// order and its line (a batch's rows are the non-blank lines from its
// FirstLine on), the last fields, the byte total and the error.
type jsonRun struct {
	rows   []string
	lines  []int64
	fields []string
	bytes  int64
	err    string
}

func collectJSON(t *testing.T, in string, read func(emit func(*record.Batch) error) error) jsonRun {
	t.Helper()
	var out jsonRun
	text := strings.Split(in, "\n")
	finals := 0
	err := read(func(b *record.Batch) error {
		if finals > 0 {
			t.Fatal("batch after Final")
		}
		if b.Final {
			finals++
		}
		out.fields = append([]string(nil), b.Fields...)
		out.bytes += b.SourceBytes
		line := b.FirstLine
		for i := range b.Len() {
			for int(line) <= len(text) && isBlank(text[line-1]) {
				line++
			}
			out.lines = append(out.lines, line)
			line++
			var cells []string
			for j, v := range b.Row(i) {
				if v.K != record.Missing {
					cells = append(cells, b.Fields[j]+"="+show(v))
				}
			}
			out.rows = append(out.rows, strings.Join(cells, " "))
		}
		return nil
	})
	if err != nil {
		out.err = err.Error()
	} else if finals != 1 {
		t.Fatalf("%d Final batches", finals)
	}
	return out
}

func TestReadJSONLinesParallelMatchesSerial(t *testing.T) {
	long := `{"big":"` + strings.Repeat("x", 300) + `","a":1}`
	inputs := map[string]string{
		"plain":          "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n{\"a\":3,\"b\":\"z\"}\n",
		"keys differ":    "{\"a\":1}\n{\"b\":2,\"a\":3}\n{\"c\":{\"n\":[1,2]},\"b\":null}\n{}\n{\"d\":true}\n{\"a\":4,\"d\":false}\n",
		"empty rows":     "{}\n{}\n{\"a\":1}\n{}\n{}\n{\"b\":2}\n{}\n",
		"blank lines":    "\n\n{\"a\":1}\n   \n\t\n{\"a\":2}\n\n\n{\"a\":3}\n\n",
		"crlf":           "{\"a\":1}\r\n{\"a\":2,\"b\":\"q\"}\r\n\r\n{\"b\":\"r\"}\r\n",
		"no final nl":    "{\"a\":1}\n{\"a\":2}",
		"long line":      "{\"a\":0}\n" + long + "\n" + long + "\n{\"z\":9}\n",
		"escapes":        "{\"s\":\"a\\nb\\\"c\\u00e9\\ud83d\\ude00\"}\n{\"s\":\"é ✓\",\"n\":12345678901234567890}\n",
		"bom":            "\xEF\xBB\xBF{\"a\":1}\n{\"a\":2}\n",
		"bad line":       "{\"a\":1}\n{\"a\":2}\n\n{\"a\":3}\n{\"a\":\n{\"a\":5}\n",
		"bad late":       strings.Repeat("{\"a\":1,\"b\":[true]}\n", 40) + "{\"a\":2,}\n" + "{\"a\":3}\n",
		"not an object":  "{\"a\":1}\n[1]\n",
		"empty":          "",
		"only blank":     "\n\n \n",
		"many":           manyJSONLines(500),
		"trailing space": "{\"a\":1}   \n  {\"a\":2}\t\n",
		"not utf-8":      strings.Repeat("{\"a\":\"é\"}\n", 30) + "{\"a\":\"\xff\"}\n{\"a\":1}\n",
	}
	projs := map[string][]string{"all": nil, "projected": {"a", "missing", "b"}}
	for name, in := range inputs {
		for pname, proj := range projs {
			serial := collectJSON(t, in, func(emit func(*record.Batch) error) error {
				return readJSONLines(context.Background(), &objectReader{r: strings.NewReader(in), key: "k"}, proj, emit)
			})
			for _, size := range []int{1, 7, 64, 1000, 1 << 20} {
				for _, workers := range []int{2, 3} {
					par := collectJSON(t, in, func(emit func(*record.Batch) error) error {
						src := &objectReader{r: iotestHalf(strings.NewReader(in)), key: "k"}
						return readJSONLinesParallel(context.Background(), src, proj, workers, size, emit)
					})
					if serial.err != "" {
						// Rows before an error depend on where batches were
						// cut; the error itself must not.
						if par.err != serial.err {
							t.Errorf("%s/%s size %d workers %d: error %q, serial %q", name, pname, size, workers, par.err, serial.err)
						}
						continue
					}
					if !reflect.DeepEqual(par.rows, serial.rows) || !reflect.DeepEqual(par.lines, serial.lines) || !reflect.DeepEqual(par.fields, serial.fields) ||
						par.bytes != serial.bytes || par.err != serial.err {
						t.Errorf("%s/%s size %d workers %d:\nparallel %+v\nserial   %+v", name, pname, size, workers, par, serial)
					}
				}
			}
		}
	}
}

func manyJSONLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"id\":%d,\"name\":\"n%d\",\"amount\":%d.%02d}\n", i, i, i%1000, i%100)
		if i%97 == 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// iotestHalf returns short reads, so ranges end mid-read too.
func iotestHalf(r io.Reader) io.Reader { return &halfReader{r} }

type halfReader struct{ r io.Reader }

func (h *halfReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:(len(p)+1)/2]
	}
	return h.r.Read(p)
}

func TestReadJSONLinesParallelErrorLineIsExact(t *testing.T) {
	in := manyJSONLines(300) + "{\"id\":oops}\n" + manyJSONLines(50)
	want := strings.Count(manyJSONLines(300), "\n") + 1
	src := &objectReader{r: strings.NewReader(in), key: "dir/big.jsonl"}
	err := readJSONLinesParallel(context.Background(), src, nil, 2, 100, func(*record.Batch) error { return nil })
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Object != "dir/big.jsonl" || pe.Line != int64(want) {
		t.Fatalf("err = %v, want a ParseError at dir/big.jsonl line %d", err, want)
	}
	if fault.CodeOf(err) != fault.Invalid {
		t.Fatalf("code %v, want Invalid", fault.CodeOf(err))
	}
}

func TestReadJSONLinesParallelStopsOnEmitError(t *testing.T) {
	stop := errors.New("writer failed")
	n := 0
	src := &objectReader{r: strings.NewReader(manyJSONLines(2000)), key: "k"}
	err := readJSONLinesParallel(context.Background(), src, nil, 2, 256, func(*record.Batch) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("err %v after %d batches, want the emit error after 3", err, n)
	}
}

func TestReadJSONLinesParallelCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &objectReader{r: strings.NewReader(manyJSONLines(2000)), key: "k"}
	n := 0
	err := readJSONLinesParallel(ctx, src, nil, 2, 256, func(*record.Batch) error {
		n++
		if n == 2 {
			cancel()
		}
		return nil
	})
	if fault.CodeOf(err) != fault.Canceled {
		t.Fatalf("err %v (code %v), want Canceled", err, fault.CodeOf(err))
	}
}

// failAfter returns its data, then a read error.
type failAfter struct {
	r   io.Reader
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReadJSONLinesParallelReadError(t *testing.T) {
	boom := fault.New(fault.ConnectorServer, "connection reset")
	for _, workers := range []int{2, 3} {
		src := &objectReader{r: &failAfter{r: strings.NewReader(manyJSONLines(200)), err: boom}, key: "k"}
		rows := 0
		err := readJSONLinesParallel(context.Background(), src, nil, workers, 300, func(b *record.Batch) error {
			rows += b.Len()
			if b.Final {
				t.Error("Final batch before a read error")
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err %v, want the read error", err)
		}
	}
}

// BenchmarkReadJSONLinesRanges measures the JSON Lines reader alone on the
// bench-shaped input: serial, and split into ranges with 2 and 4 workers.
func BenchmarkReadJSONLinesRanges(b *testing.B) {
	data := string(benchData("JSON"))
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for range b.N {
				src := &objectReader{r: strings.NewReader(data), key: "k"}
				n := 0
				emit := func(bt *record.Batch) error { n += bt.Len(); return nil }
				var err error
				if workers == 1 {
					err = readJSONLines(context.Background(), src, nil, emit)
				} else {
					err = readJSONLinesParallel(context.Background(), src, nil, workers, jsonRangeBytes, emit)
				}
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

// The serial reader reuses one cell array for the whole object and writes
// a row's cells without clearing them first when the keys come in field
// order; rows whose keys are missing, reordered, repeated or new, in many
// batches, must still read exactly what their lines say.
func TestReadJSONLinesRowsAreExactAcrossReusedBatches(t *testing.T) {
	pool := []string{"id", "name", "email", `q"uote`, "amount", "n", "late1", "late2"}
	vals := []struct{ raw, show string }{
		{`7`, "int:7"}, {`"x"`, "x"}, {`"a\"b\\c"`, `a"b\c`}, {`null`, "<null>"}, {`true`, "bool:true"},
		{`12.50`, "decimal:12.50"}, {`{"k":[1]}`, `json:{"k":[1]}`}, {`""`, ""},
	}
	r := rand.New(rand.NewPCG(3, 4))
	var in strings.Builder
	var want [][]string // per row: the shown value of each pool key, "" key absent
	for i := range 30000 {
		keys := 5
		if i > 20000 {
			keys = len(pool) // late keys widen batches that reused earlier memory
		}
		row := make([]string, len(pool))
		present := make([]bool, len(pool))
		var parts []string
		order := r.Perm(keys)
		switch r.IntN(4) {
		case 0, 1: // in field order, every key: the common case
			order = order[:0]
			for k := range 5 {
				order = append(order, k)
			}
		case 2: // some keys left out
			order = order[:r.IntN(keys)]
		}
		if r.IntN(20) == 0 && len(order) > 0 { // a repeated key: the last value counts
			order = append(order, order[0])
		}
		for _, k := range order {
			v := vals[r.IntN(len(vals))]
			key, _ := json.Marshal(pool[k])
			parts = append(parts, string(key)+":"+v.raw)
			row[k], present[k] = v.show, true
		}
		in.WriteString("{" + strings.Join(parts, ",") + "}\n")
		for k := range row {
			if !present[k] {
				row[k] = "<missing>"
			}
		}
		want = append(want, row)
	}
	for _, proj := range [][]string{nil, {"email", "id", "late2", "absent"}} {
		var got [][]string
		src := &objectReader{r: iotestHalf(strings.NewReader(in.String())), key: "k"}
		err := readJSONLines(context.Background(), src, proj, func(b *record.Batch) error {
			for i := range b.Len() {
				row := make([]string, len(pool))
				for k, name := range pool {
					row[k] = "<missing>"
					if c := b.Index(name); c >= 0 {
						row[k] = show(b.Row(i)[c])
					}
				}
				got = append(got, row)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("proj %q: %d rows, want %d", proj, len(got), len(want))
		}
		for i := range want {
			w := want[i]
			if proj != nil {
				w = slices.Clone(w)
				for k, name := range pool {
					if !slices.Contains(proj, name) {
						w[k] = "<missing>"
					}
				}
			}
			if !reflect.DeepEqual(got[i], w) {
				t.Fatalf("proj %q row %d (line %d):\n got %q\nwant %q", proj, i, i+1, got[i], w)
			}
		}
	}
}

// Integers are read while scanned up to 18 digits; longer ones go through
// strconv, and those beyond int64 stay exact as Decimal.
func TestReadJSONLinesIntegerEdges(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0", "int:0"}, {"-0", "int:0"}, {"7", "int:7"}, {"-7", "int:-7"},
		{"999999999999999999", "int:999999999999999999"}, {"-999999999999999999", "int:-999999999999999999"},
		{"9223372036854775807", "int:9223372036854775807"}, {"-9223372036854775808", "int:-9223372036854775808"},
		{"9223372036854775808", "decimal:9223372036854775808"}, {"-9223372036854775809", "decimal:-9223372036854775809"},
		{"18446744073709551616", "decimal:18446744073709551616"}, {"12.50", "decimal:12.50"}, {"-1e3", "decimal:-1e3"},
	} {
		_, rows, err := parse(t, "JSON", `{"n":`+c.in+`}`)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if len(rows) != 1 || rows[0][0] != c.want {
			t.Errorf("%s: got %q, want %s", c.in, rows, c.want)
		}
	}
}

// Strings read without escapes are marked plain, so the JSON encoder
// copies them as they are; that must be exactly what escaping them gives.
func TestReadJSONLinesMarksPlainStrings(t *testing.T) {
	in := `{"a":"plain","b":"caf\u00e9","c":"café ✓","d":"tab\there","e":"","f":"q\"q","g":"\/"}`
	want := map[string]bool{"a": true, "b": false, "c": true, "d": false, "e": true, "f": false, "g": false}
	src := &objectReader{r: strings.NewReader(in), key: "k"}
	err := readJSONLines(context.Background(), src, nil, func(b *record.Batch) error {
		for j, v := range b.Row(0) {
			name := b.Fields[j]
			if plain := v.N == record.PlainText; plain != want[name] {
				t.Errorf("%s=%q: plain %v, want %v", name, v.S, plain, want[name])
			}
			if got, escaped := string(record.AppendJSON(nil, v)), string(record.AppendJSONString(nil, v.S)); got != escaped {
				t.Errorf("%s=%q: encoded %s, escaping gives %s", name, v.S, got, escaped)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
