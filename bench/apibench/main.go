// Command apibench measures the control plane against its ceiling in the
// same run: ListFlows and DescribeFlow of appflowd (in process, on a real
// loopback HTTP server, SQLite or PostgreSQL) and a trivial net/http JSON
// handler, each driven by the same closed-loop load generator (C clients
// on keep-alive connections for D seconds). It prints requests per second,
// p50 and p99, and each operation's share of the ceiling.
//
//	go run ./bench/apibench -flows 20 -clients 16 -duration 5s
//	go run ./bench/apibench -database postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/runstate"
)

func main() {
	flows := flag.Int("flows", 20, "flows in the account (ListFlows returns them in one page)")
	runs := flag.Int("runs", 3, "execution records per flow")
	clients := flag.Int("clients", 16, "concurrent clients")
	dur := flag.Duration("duration", 5*time.Second, "how long each measurement runs")
	database := flag.String("database", "", "a postgres:// URL (its tables are created in the search_path); empty: SQLite in a temp dir")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the appflowd measurements (not the ceiling's) to this file")
	flag.Parse()
	if err := run(*flows, *runs, *clients, *dur, *database, *cpuprofile); err != nil {
		log.Fatal(err)
	}
}

func run(flows, runs, clients int, dur time.Duration, database, cpuprofile string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "apibench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, err := app.New(ctx, app.Config{DataDir: dir, Region: "us-east-1", AccountID: "000000000000", Database: database, PlanInterval: -1})
	if err != nil {
		return err
	}
	defer a.Close()
	defer a.Shutdown(ctx)
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	c := appflow.New(appflow.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
	os.MkdirAll(dir+"/s3/raw/in", 0o755)
	m := runstate.New(a.Store, nil)
	for i := range flows {
		name := fmt.Sprintf("bench-%03d", i)
		_, err := c.CreateFlow(ctx, &appflow.CreateFlowInput{
			FlowName:      aws.String(name),
			Tags:          map[string]string{"team": "data", "n": name},
			TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
			SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
				SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{BucketName: aws.String("raw"), BucketPrefix: aws.String("in")}}},
			DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
				DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{BucketName: aws.String("lake")}}}},
			Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
		})
		if err != nil {
			return fmt.Errorf("create flow %s: %w", name, err)
		}
		// Finished runs, written directly: the bench measures reads.
		for r := range runs {
			k := runstate.Key{Account: "000000000000", Flow: name, ID: fmt.Sprintf("%s-run-%d", name, r)}
			if _, err := m.Create(ctx, k, time.Now().Add(time.Duration(r)*time.Second)); err != nil {
				return err
			}
			if _, err := m.Finish(ctx, k, nil, runstate.Successful, ""); err != nil {
				return err
			}
		}
	}
	trivial := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"flowName":"bench-000","flowStatus":"Active"}`))
	}))
	defer trivial.Close()

	kind := "sqlite"
	if database != "" {
		kind = "postgres"
	}
	fmt.Printf("apibench: %s store, %d flows with %d runs each, %d clients, %s per measurement\n", kind, flows, runs, clients, dur)
	ceiling := load(trivial.URL+"/describe-flow", `{"flowName":"bench-000"}`, clients, dur)
	ceiling.print("trivial net/http JSON handler (ceiling)", 0)
	load(srv.URL+"/describe-flow", `{"flowName":"bench-000"}`, clients, dur/5) // warm up
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	load(srv.URL+"/describe-flow", `{"flowName":"bench-000"}`, clients, dur).print("DescribeFlow", ceiling.rps)
	load(srv.URL+"/list-flows", `{"maxResults":100}`, clients, dur).print(fmt.Sprintf("ListFlows (%d flows a page)", flows), ceiling.rps)
	return nil
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
}

func (r result) print(what string, ceiling float64) {
	share := ""
	if ceiling > 0 {
		share = fmt.Sprintf("  %.3f of the ceiling", r.rps/ceiling)
	}
	fmt.Printf("%-42s %9.0f req/s  p50 %-9s p99 %-9s errors %d%s\n", what, r.rps,
		r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.errors, share)
}

// load posts body to url from clients goroutines, each waiting for its
// answer before the next request, for d.
func load(url, body string, clients int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var mu sync.Mutex
	var lats []time.Duration
	errs := 0
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					bad++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lats)
	r := result{rps: float64(len(lats)) / d.Seconds(), errors: errs}
	if len(lats) > 0 {
		r.p50, r.p99 = lats[len(lats)/2], lats[len(lats)*99/100]
	}
	return r
}
