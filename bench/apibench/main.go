// Command apibench measures the control plane against its ceiling in the
// same run: ListFlows and DescribeFlow of appflowd (in process, on a real
// loopback HTTP server, SQLite or PostgreSQL) and a trivial net/http JSON
// handler, each driven by the same closed-loop load generator (C clients
// on keep-alive connections for D seconds, in rounds that take turns). It
// prints requests per second, p50 and p99, the process's CPU time per
// request (with PostgreSQL, the database server's apart: "db cpu/req", read
// from /proc when the server runs on this machine), and each
// operation's share of the ceiling, with the range of that share over the
// rounds.
//
//	go run ./bench/apibench -flows 20 -clients 16 -duration 5s
//	go run ./bench/apibench -database postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
//
// With -database, the run's tables are made in a new schema of its own,
// dropped at the end.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/runstate"
)

func main() {
	flows := flag.Int("flows", 20, "flows in the account (ListFlows returns them in one page)")
	runs := flag.Int("runs", 3, "execution records per flow")
	tasks := flag.Int("tasks", 1, "tasks per flow: 1 is a Map_all, more are that many Map tasks (a real flow's document grows with its field mappings)")
	clients := flag.Int("clients", 16, "concurrent clients")
	dur := flag.Duration("duration", 5*time.Second, "how long each target is measured, in all")
	rounds := flag.Int("rounds", 5, "the targets take turns this many times")
	database := flag.String("database", "", "a postgres:// URL (the run's tables are made in a schema of its own, dropped at the end); empty: SQLite in a temp dir")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measurements (after the warm-up) to this file")
	sign := flag.Bool("sign", false, "appflowd checks SigV4 and every request is signed (those to the ceiling too, so the clients' work is alike)")
	flag.Parse()
	if err := run(*flows, *runs, *tasks, *clients, *dur, *rounds, *database, *cpuprofile, *sign); err != nil {
		log.Fatal(err)
	}
}

// The access key of -sign.
const benchKey, benchSecret, benchAccount = "AKIDAPIBENCH", "apibench-secret", "000000000000"

func run(flows, runs, tasks, clients int, dur time.Duration, rounds int, database, cpuprofile string, sign bool) error {
	ctx := context.Background()
	var db *dbCPU // nil with SQLite
	dir, err := os.MkdirTemp("", "apibench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if database != "" {
		admin, err := pgxpool.New(ctx, database)
		if err != nil {
			return err
		}
		defer admin.Close()
		dsn, schema, drop, err := ownSchema(ctx, admin, database)
		if err != nil {
			return err
		}
		defer drop()
		db = &dbCPU{pool: admin, app: schema}
		database = dsn
	}
	cfg := app.Config{DataDir: dir, Region: "us-east-1", AccountID: benchAccount, Database: database, PlanInterval: -1}
	if sign {
		cfg.Credentials = filepath.Join(dir, "credentials")
		if err := os.WriteFile(cfg.Credentials, []byte(benchKey+" "+benchSecret+" "+benchAccount+"\n"), 0o600); err != nil {
			return err
		}
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	defer a.Shutdown(ctx)
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	c := appflow.New(appflow.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(benchKey, benchSecret, "")})
	os.MkdirAll(dir+"/s3/raw/in", 0o755)
	m := runstate.New(a.Store, nil)
	mapAll := []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}}
	var maps []types.Task
	for j := range tasks {
		field := fmt.Sprintf("field_%03d", j)
		maps = append(maps, types.Task{TaskType: types.TaskTypeMap, SourceFields: []string{field}, DestinationField: aws.String(field),
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}})
	}
	for i := range flows {
		name := fmt.Sprintf("bench-%03d", i)
		flowTasks := mapAll
		if tasks > 1 {
			flowTasks = maps
		}
		_, err := c.CreateFlow(ctx, &appflow.CreateFlowInput{
			FlowName:      aws.String(name),
			Tags:          map[string]string{"team": "data", "n": name},
			TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
			SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
				SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{BucketName: aws.String("raw"), BucketPrefix: aws.String("in")}}},
			DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
				DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{BucketName: aws.String("lake")}}}},
			Tasks: flowTasks,
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
	if sign {
		kind += " store, SigV4-signed requests"
	} else {
		kind += " store"
	}
	fmt.Printf("apibench: %s, %d flows with %d runs each, %d clients, %s per measurement in %d rounds\n", kind, flows, runs, clients, dur, rounds)
	load := func(url, body string, d time.Duration) result { return load(url, body, clients, d, sign) }
	load(srv.URL+"/describe-flow", `{"flowName":"bench-000"}`, dur/5) // warm up
	load(srv.URL+"/list-flows", `{"maxResults":100}`, dur/5)
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
	// The three take turns, a round at a time, so a change in the
	// machine's load falls on each alike.
	targets := []struct{ what, url, body string }{
		{"trivial net/http JSON handler (ceiling)", trivial.URL + "/describe-flow", `{"flowName":"bench-000"}`},
		{"DescribeFlow", srv.URL + "/describe-flow", `{"flowName":"bench-000"}`},
		{fmt.Sprintf("ListFlows (%d flows a page)", flows), srv.URL + "/list-flows", `{"maxResults":100}`},
	}
	results := make([]result, len(targets))
	shares := make([][]float64, len(targets))
	for range rounds {
		var ceiling float64
		for i, t := range targets {
			db0 := db.sample(ctx)
			r := load(t.url, t.body, dur/time.Duration(rounds))
			r.dbcpu = db.since(ctx, db0)
			if i == 0 {
				ceiling = r.rps
			}
			shares[i] = append(shares[i], r.rps/ceiling)
			results[i] = results[i].add(r)
		}
	}
	for i, t := range targets {
		results[i].print(t.what, results[0].rps, shares[i])
	}
	return nil
}

// ownSchema creates a schema of the bench's own on the server at dsn and
// returns the URL whose search_path selects it (and whose connections are
// named after it), its name, and a func that drops it: each run starts from
// empty tables and leaves none behind.
func ownSchema(ctx context.Context, admin *pgxpool.Pool, dsn string) (string, string, func(), error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", "", nil, errors.New("apibench: cannot parse the -database URL")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "apibench_" + hex.EncodeToString(b)
	exec := func(sql string) error {
		_, err := admin.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		return "", "", nil, fmt.Errorf("apibench: create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema) // finds the run's server processes
	u.RawQuery = q.Encode()
	drop := func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			log.Printf("apibench: drop schema %s: %v", schema, err)
		}
	}
	return u.String(), schema, drop, nil
}

// dbCPU reads the CPU time of the database server's processes that serve
// this run's connections (those of its application_name), from /proc: the
// server must run on this machine, else nothing is counted.
type dbCPU struct {
	pool *pgxpool.Pool // a connection of the bench's own
	app  string
}

// sample is the CPU time of each of the run's server processes, by pid.
func (d *dbCPU) sample(ctx context.Context) map[int]time.Duration {
	if d == nil {
		return nil
	}
	rows, err := d.pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, d.app)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	m := map[int]time.Duration{}
	for _, pid := range pids {
		if t, ok := procCPU(int(pid)); ok {
			m[int(pid)] = t
		}
	}
	return m
}

// since is the CPU time the run's server processes used since s0.
func (d *dbCPU) since(ctx context.Context, s0 map[int]time.Duration) time.Duration {
	var sum time.Duration
	for pid, t := range d.sample(ctx) {
		sum += t - s0[pid] // a process started since counts whole
	}
	return sum
}

// procCPU is the time a process has run on a CPU, from
// /proc/<pid>/schedstat (nanoseconds, unlike stat's clock ticks).
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err == nil
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
	lats     []time.Duration // sorted
	d        time.Duration
	cpu      time.Duration // this process's CPU time (server, clients and all), over d
	dbcpu    time.Duration // the database server's for this run's connections, over d (0: SQLite, or not measured)
}

// add merges two measurements of one target.
func (r result) add(o result) result {
	m := result{lats: append(slices.Clone(r.lats), o.lats...), d: r.d + o.d, errors: r.errors + o.errors, cpu: r.cpu + o.cpu, dbcpu: r.dbcpu + o.dbcpu}
	slices.Sort(m.lats)
	m.rps = float64(len(m.lats)) / m.d.Seconds()
	if len(m.lats) > 0 {
		m.p50, m.p99 = m.lats[len(m.lats)/2], m.lats[len(m.lats)*99/100]
	}
	return m
}

// print writes a line; ceiling > 0 adds the share of it, and the range of
// the rounds' shares.
func (r result) print(what string, ceiling float64, shares []float64) {
	share := ""
	if ceiling > 0 && ceiling != r.rps {
		share = fmt.Sprintf("  %.3f of the ceiling (rounds %.3f-%.3f)", r.rps/ceiling, slices.Min(shares), slices.Max(shares))
	}
	var perReq, dbPerReq time.Duration
	if len(r.lats) > 0 {
		perReq = r.cpu / time.Duration(len(r.lats))
		dbPerReq = r.dbcpu / time.Duration(len(r.lats))
	}
	db := ""
	if dbPerReq > 0 {
		db = fmt.Sprintf("db cpu/req %-8s ", dbPerReq.Round(time.Microsecond))
	}
	fmt.Printf("%-42s %9.0f req/s  p50 %-9s p99 %-9s cpu/req %-8s %serrors %d%s\n", what, r.rps,
		r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), perReq.Round(time.Microsecond), db, r.errors, share)
}

// load posts body to url from clients goroutines, each waiting for its
// answer before the next request, for d.
func load(url, body string, clients int, d time.Duration, sign bool) result {
	sum := sha256.Sum256([]byte(body))
	payloadHash := hex.EncodeToString(sum[:])
	signer := v4.NewSigner()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var mu sync.Mutex
	var lats []time.Duration
	errs := 0
	cpu0 := cpuTime()
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
				if sign {
					if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: benchKey, SecretAccessKey: benchSecret},
						req, payloadHash, "appflow", "us-east-1", time.Now()); err != nil {
						bad++
						continue
					}
				}
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
	return result{errors: errs}.add(result{lats: lats, d: d, cpu: cpuTime() - cpu0})
}

// cpuTime is the user and system CPU time this process has used: on a
// machine shared with other work, a request's CPU cost varies less than
// the requests a second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
