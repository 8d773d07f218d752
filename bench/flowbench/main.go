// Command flowbench measures whole-flow throughput: the standard workload
// (project 6 fields, keep amount > 100, mask the first 5 characters of
// email, amount+amount, 6 renames) from a CSV or JSON Lines file in a local
// bucket to JSON Lines or Parquet, run in process through the same runner
// and engine as `appflowd run`.
//
//	go run ./bench/flowbench -rows 1000000 -format JSON
//	go run ./bench/flowbench -in /tmp/peers/data/data_5000000.csv -format PARQUET
//
// It prints rows/s and MB/s of input, CPU seconds and peak RSS. Compare
// with DuckDB using bench/peers/run.sh, which runs both side by side.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/engine"
	"github.com/appflowd/appflowd/internal/runner"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "rows to generate when -in is not given")
	in := flag.String("in", "", "an existing .csv or .jsonl input (e.g. the data_N files of bench/peers/gendata)")
	format := flag.String("format", "JSON", "output file type: JSON, CSV or PARQUET")
	keep := flag.Bool("keep", false, "keep the temporary data dir")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	traceFile := flag.String("trace", "", "write an execution trace of the run to this file (go tool trace)")
	memProfile := flag.String("memprofile", "", "write an allocation profile (after the run) to this file")
	heapProfile := flag.String("heapprofile", "", "write an in-use heap profile, taken once half the input is read, to this file")
	flag.Parse()

	dir, err := os.MkdirTemp("", "flowbench")
	if err != nil {
		log.Fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	srcDir := filepath.Join(dir, "s3", "src", "in")
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "s3", "dst"), 0o755); err != nil {
		log.Fatal(err)
	}
	inputType, inputPath := "CSV", filepath.Join(srcDir, "data.csv")
	if *in != "" {
		if filepath.Ext(*in) == ".jsonl" {
			inputType, inputPath = "JSON", filepath.Join(srcDir, "data.jsonl")
		}
		if err := os.Link(*in, inputPath); err != nil {
			log.Fatalf("link input (it must be on the same file system as %s): %v", os.TempDir(), err)
		}
	} else if err := generate(inputPath, *rows); err != nil {
		log.Fatal(err)
	}
	st, err := os.Stat(inputPath)
	if err != nil {
		log.Fatal(err)
	}

	var f runner.Flow
	if err := json.Unmarshal([]byte(flowJSON(inputType, *format)), &f); err != nil {
		log.Fatal(err)
	}
	env := runner.Env{Registry: app.Registry(), Deps: connector.Deps{DataDir: dir, Region: "us-east-1", AccountID: "000000000000", Now: time.Now}}
	ctx := context.Background()
	p, err := runner.Prepare(ctx, env, &f, "bench")
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	if *heapProfile != "" {
		var once sync.Once
		p.Run.ProgressEvery = 10 * time.Millisecond
		p.Run.Progress = func(pr engine.Progress) {
			if pr.BytesProcessed < st.Size()/2 {
				return
			}
			once.Do(func() {
				pf, err := os.Create(*heapProfile)
				if err != nil {
					log.Fatal(err)
				}
				runtime.GC()
				if err := pprof.Lookup("heap").WriteTo(pf, 0); err != nil {
					log.Fatal(err)
				}
				pf.Close()
			})
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(72 << 20) // as appflowd run does (cmd/appflowd/run.go)
	}
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			log.Fatal(err)
		}
	}
	if *traceFile != "" {
		tf, err := os.Create(*traceFile)
		if err != nil {
			log.Fatal(err)
		}
		if err := trace.Start(tf); err != nil {
			log.Fatal(err)
		}
	}
	start := time.Now()
	res, err := engine.Execute(ctx, p.Run)
	wall := time.Since(start)
	if *traceFile != "" {
		trace.Stop()
	}
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		pf, err := os.Create(*memProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(pf, 0); err != nil {
			log.Fatal(err)
		}
		pf.Close()
	}
	if err != nil {
		log.Fatalf("run failed: %s", engine.ExecutionMessage(err))
	}
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond

	fmt.Printf("input   %s %d bytes, %d records read\n", inputType, st.Size(), res.RecordsRead)
	fmt.Printf("output  %s %d records, %d bytes\n", *format, res.RecordsProcessed, res.BytesWritten)
	fmt.Printf("wall    %.2fs  %.0f rows/s  %.1f MB/s\n", wall.Seconds(), float64(res.RecordsRead)/wall.Seconds(), float64(st.Size())/1e6/wall.Seconds())
	fmt.Printf("cpu     %.2fs  peak RSS %d MiB\n", cpu.Seconds(), after.Maxrss/1024)
}

func flowJSON(inputType, format string) string {
	op := func(o string) string { return `{"S3":"` + o + `"}` }
	m := func(src, dst, typ string) string {
		return `{"taskType":"Map","sourceFields":["` + src + `"],"destinationField":"` + dst + `","connectorOperator":` + op("NO_OP") + `,"taskProperties":{"DESTINATION_DATA_TYPE":"` + typ + `"}}`
	}
	return `{"flowName":"bench","triggerConfig":{"triggerType":"OnDemand"},
 "sourceFlowConfig":{"connectorType":"S3","sourceConnectorProperties":{"S3":{"bucketName":"src","bucketPrefix":"in","s3InputFormatConfig":{"s3InputFileType":"` + inputType + `"}}}},
 "destinationFlowConfigList":[{"connectorType":"S3","destinationConnectorProperties":{"S3":{"bucketName":"dst","bucketPrefix":"out",
   "s3OutputFormatConfig":{"fileType":"` + format + `","preserveSourceDataTyping":true,"aggregationConfig":{"aggregationType":"SingleFile"}}}}}],
 "tasks":[
  {"taskType":"Filter","sourceFields":["id","name","email","amount","created_at","country"],"connectorOperator":` + op("PROJECTION") + `},
  {"taskType":"Filter","sourceFields":["amount"],"connectorOperator":` + op("GREATER_THAN") + `,"taskProperties":{"DATA_TYPE":"double","VALUE":"100"}},
  {"taskType":"Mask","sourceFields":["email"],"connectorOperator":` + op("MASK_FIRST_N") + `,"taskProperties":{"MASK_LENGTH":"5","MASK_VALUE":"*"}},
  {"taskType":"Arithmetic","sourceFields":["amount","amount"],"destinationField":"amount,amount","connectorOperator":` + op("ADDITION") + `,"taskProperties":{"MATH_OPERATION_FIELDS_ORDER":"amount,amount"}},
  ` + m("id", "customer_id", "bigint") + `,` + m("name", "full_name", "string") + `,` + m("email", "email_masked", "string") + `,
  ` + m("amount,amount", "amount_x2", "double") + `,` + m("created_at", "created_at", "string") + `,` + m("country", "country_code", "string") + `]}`
}

// generate writes rows of the bench's shape (id,name,email,amount,
// created_at,country) with a fixed-seed generator, so runs are comparable.
func generate(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	names := []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda"}
	countries := []string{"US", "GB", "DE", "FR", "ES", "IT", "NL", "SE"}
	w.WriteString("id,name,email,amount,created_at,country\n")
	x := uint64(42)
	next := func() uint64 { // splitmix64
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	var buf []byte
	for i := 1; i <= rows; i++ {
		r := next()
		name := names[r%uint64(len(names))]
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		buf = append(buf, ',')
		buf = append(buf, name...)
		buf = append(buf, ',')
		buf = append(buf, name...)
		buf = append(buf, '.')
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, "@example.com,"...)
		cents := int64(next() % 100000)
		buf = strconv.AppendInt(buf, cents/100, 10)
		buf = append(buf, '.')
		buf = append(buf, byte('0'+cents%100/10), byte('0'+cents%10))
		buf = append(buf, ',')
		buf = time.Unix(base+int64(next()%(5*365*86400)), 0).UTC().AppendFormat(buf, "2006-01-02T15:04:05Z")
		buf = append(buf, ',')
		buf = append(buf, countries[next()%uint64(len(countries))]...)
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
