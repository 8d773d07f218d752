// Command runbench measures how fast appflowd starts and finishes small
// runs, through the real server path: an App (the one `appflowd serve`
// assembles) on a loopback HTTP listener, driven by the AWS SDK's AppFlow
// client. Two measurements:
//
//	go run ./bench/runbench -mode start -runs 200
//	go run ./bench/runbench -mode start -runs 200 -db postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
//	go run ./bench/runbench -mode schedule -flows 1000
//
// start: N sequential StartFlow calls of a one-row S3 -> S3 flow, each
// followed by DescribeFlowExecutionRecords polls (every -poll) until the run
// is Successful; it prints the median, p90 and p99 of StartFlow -> Successful,
// and, as the ceiling, the same run executed in process without the queue or
// HTTP (a record written to the store, then Runner.Execute).
//
// schedule: -flows one-row flows on cron(* * * * ? *), created and
// activated with a common scheduleStartTime after the setup; for the first
// slot at which all of them are active it prints how late the runs were planned
// (their records' startedAt) and finished (lastUpdatedAt), both measured
// from the slot, as median, p99 and max.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // River's SQLite queue, read for the job times

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

const (
	account = "000000000000"
	region  = "us-east-1"
)

func main() {
	mode := flag.String("mode", "start", "start (StartFlow -> Successful latency) or schedule (many per-minute flows)")
	db := flag.String("db", "", "a postgres:// URL (a fresh schema is made and dropped); empty: SQLite in a temporary data dir")
	runs := flag.Int("runs", 200, "start: sequential runs measured")
	warmup := flag.Int("warmup", 5, "start: runs before measuring")
	poll := flag.Duration("poll", 2*time.Millisecond, "start: how often the client polls the record")
	flows := flag.Int("flows", 1000, "schedule: flows on cron(* * * * ? *)")
	clients := flag.Int("clients", 4, "schedule: concurrent API clients creating and starting the flows")
	verbose := flag.Bool("v", false, "log appflowd at Info")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured part to this file")
	keep := flag.Bool("keep", false, "keep the temporary data dir")
	flag.Parse()

	if err := run(*mode, *db, *runs, *warmup, *poll, *flows, *clients, *verbose, *cpuProfile, *keep); err != nil {
		log.Fatal(err)
	}
}

func run(mode, db string, runs, warmup int, poll time.Duration, flows, clients int, verbose bool, cpuProfile string, keep bool) error {
	dir, err := os.MkdirTemp("", "runbench")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("data dir:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	dsn := ""
	if db != "" {
		var drop func()
		if dsn, drop, err = freshSchema(db); err != nil {
			return err
		}
		defer drop()
	}
	b, err := start(dir, dsn, verbose)
	if err != nil {
		return err
	}
	defer b.stop()
	b.cpuProfile = cpuProfile
	kind := "sqlite"
	if dsn != "" {
		kind = "postgres"
	}
	fmt.Printf("runbench: mode=%s store=%s GOMAXPROCS=%d go=%s\n", mode, kind, runtime.GOMAXPROCS(0), runtime.Version())
	switch mode {
	case "start":
		return b.startLatency(runs, warmup, poll)
	case "schedule":
		return b.scheduled(flows, clients)
	}
	return fmt.Errorf("unknown -mode %q", mode)
}

// bench is one running appflowd and its client.
type bench struct {
	ctx        context.Context
	dir        string
	app        *app.App
	srv        *http.Server
	url        string
	client     *appflow.Client
	cpuProfile string // where the measured part's CPU profile goes ("" = none)
	once       sync.Once
}

func start(dir, dsn string, verbose bool) (*bench, error) {
	ctx := context.Background()
	for _, bk := range []string{"src", "dst"} {
		if err := os.MkdirAll(filepath.Join(dir, "s3", bk), 0o755); err != nil {
			return nil, err
		}
	}
	// One row: the smallest run that reads, transforms and writes.
	if err := os.MkdirAll(filepath.Join(dir, "s3", "src", "in"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "s3", "src", "in", "one.csv"), []byte("id,name\n1,Ann\n"), 0o644); err != nil {
		return nil, err
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// One account holds every flow: its quota is raised as --max-flows would.
	a, err := app.New(ctx, app.Config{DataDir: dir, Region: region, AccountID: account, Database: dsn, Logger: logger,
		MaxFlows: 1 << 20})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		return nil, err
	}
	srv := &http.Server{Handler: a.Handler}
	go srv.Serve(ln)
	u := "http://" + ln.Addr().String()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	return &bench{ctx: ctx, dir: dir, app: a, srv: srv, url: u,
		client: appflow.New(appflow.Options{
			Region: region, BaseEndpoint: aws.String(u),
			Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", ""),
			HTTPClient:  hc, RetryMaxAttempts: 1,
		})}, nil
}

func (b *bench) stop() {
	b.once.Do(func() {
		b.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.app.Shutdown(ctx); err != nil {
			log.Printf("shutdown: %v", err)
		}
		b.app.Close()
	})
}

// startProfile starts the CPU profile, if asked for, and returns its stop.
func (b *bench) startProfile() func() {
	if b.cpuProfile == "" {
		return func() {}
	}
	f, err := os.Create(b.cpuProfile)
	if err != nil {
		log.Printf("cpu profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Printf("cpu profile: %v", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// createFlow creates a one-row S3 -> S3 flow; a non-nil trigger makes it
// scheduled.
func (b *bench) createFlow(name string, trigger *types.TriggerConfig) error {
	if trigger == nil {
		trigger = &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}
	}
	_, err := b.client.CreateFlow(b.ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String(name),
		TriggerConfig: trigger,
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("src"), BucketPrefix: aws.String("in"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("dst"), BucketPrefix: aws.String("out"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeJson}}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
	})
	if err != nil {
		return fmt.Errorf("CreateFlow %s: %w", name, err)
	}
	return nil
}

// startLatency measures StartFlow -> Successful, then the in-process ceiling.
func (b *bench) startLatency(n, warmup int, poll time.Duration) error {
	const flow = "one-row"
	if err := b.createFlow(flow, nil); err != nil {
		return err
	}
	runOnce := func() (time.Duration, error) {
		t0 := time.Now()
		out, err := b.client.StartFlow(b.ctx, &appflow.StartFlowInput{FlowName: aws.String(flow)})
		if err != nil {
			return 0, fmt.Errorf("StartFlow: %w", err)
		}
		id := aws.ToString(out.ExecutionId)
		for {
			// Newest first: the run just started is the first record.
			page, err := b.client.DescribeFlowExecutionRecords(b.ctx, &appflow.DescribeFlowExecutionRecordsInput{
				FlowName: aws.String(flow), MaxResults: aws.Int32(5)})
			if err != nil {
				return 0, fmt.Errorf("DescribeFlowExecutionRecords: %w", err)
			}
			for _, r := range page.FlowExecutions {
				if aws.ToString(r.ExecutionId) != id {
					continue
				}
				switch r.ExecutionStatus {
				case types.ExecutionStatusSuccessful:
					return time.Since(t0), nil
				case types.ExecutionStatusInprogress:
				default:
					return 0, fmt.Errorf("run %s ended %s: %s", id, r.ExecutionStatus, execMessage(&r))
				}
			}
			if time.Since(t0) > time.Minute {
				return 0, fmt.Errorf("run %s not Successful after a minute", id)
			}
			time.Sleep(poll)
		}
	}
	for range warmup {
		if _, err := runOnce(); err != nil {
			return err
		}
	}
	stop := b.startProfile()
	lat := make([]time.Duration, 0, n)
	for range n {
		d, err := runOnce()
		if err != nil {
			stop()
			return err
		}
		lat = append(lat, d)
	}
	stop()
	report("StartFlow -> Successful (API, queue, runner)", lat)

	// The ceiling: the same run with neither HTTP nor the queue.
	ceil := make([]time.Duration, 0, n)
	for i := range n + warmup {
		t0 := time.Now()
		id := uuid.NewString()
		if err := b.newRecord(flow, id); err != nil {
			return err
		}
		b.app.Runner.Execute(b.ctx, runstate.Key{Account: account, Flow: flow, ID: id}, "")
		d := time.Since(t0)
		e, err := b.app.Store.ExecutionGet(b.ctx, account, flow, id)
		if err != nil {
			return err
		}
		if e.Status != string(wire.ExecutionStatusSuccessful) {
			return fmt.Errorf("in-process run %s ended %s", id, e.Status)
		}
		if i >= warmup {
			ceil = append(ceil, d)
		}
	}
	report("ceiling: record + Runner.Execute in process", ceil)
	fmt.Printf("ratio p50 %.1fx  p90 %.1fx\n", pct(lat, 50).Seconds()/pct(ceil, 50).Seconds(), pct(lat, 90).Seconds()/pct(ceil, 90).Seconds())
	return nil
}

// newRecord writes an InProgress record as StartFlow does.
func (b *bench) newRecord(flow, id string) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	zero := int64(0)
	doc, err := json.Marshal(&wire.ExecutionRecord{ExecutionId: id, ExecutionStatus: wire.ExecutionStatusInProgress,
		ExecutionResult: &wire.ExecutionResult{BytesProcessed: &zero, BytesWritten: &zero, RecordsProcessed: &zero},
		StartedAt:       wire.NewTimestamp(now), LastUpdatedAt: wire.NewTimestamp(now)})
	if err != nil {
		return err
	}
	return b.app.Store.ExecutionCreate(b.ctx, &store.Execution{AccountID: account, FlowName: flow, ExecutionID: id,
		Status: string(wire.ExecutionStatusInProgress), Doc: doc, StartedAt: now, UpdatedAt: now})
}

// scheduled creates and activates n per-minute flows, then measures the
// first minute slot at which all of them are active.
func (b *bench) scheduled(n, clients int) error {
	// The schedules start together once every flow is active (an estimate
	// of how long creating and activating them takes), so no run competes
	// with the setup; if the setup takes longer, the first slot after it
	// is measured.
	begin := time.Now().Add(time.Minute + time.Duration(n)*60*time.Millisecond).Truncate(time.Minute).Add(time.Minute)
	trigger := &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
		Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String("cron(* * * * ? *)"),
			ScheduleStartTime: aws.Time(begin)}}}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("sched-%05d", i)
	}
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for c := range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := b.createFlow(names[i], trigger); err != nil {
					errs[c] = err
					return
				}
				if _, err := b.client.StartFlow(b.ctx, &appflow.StartFlowInput{FlowName: aws.String(names[i])}); err != nil {
					errs[c] = fmt.Errorf("StartFlow %s: %w", names[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("%d flows created and activated in %.1fs\n", n, time.Since(t0).Seconds())

	// The slot: the first minute boundary at least 5 s away, once the runs
	// of earlier slots (flows activated before one) are over.
	var slot time.Time
	for {
		slot = time.Now().Add(5 * time.Second).Truncate(time.Minute).Add(time.Minute)
		if slot.Before(begin) {
			slot = begin
		}
		left, err := b.app.Store.ExecutionListUnfinished(b.ctx)
		if err != nil {
			return err
		}
		if len(left) == 0 && time.Until(slot) > 5*time.Second {
			break
		}
		time.Sleep(time.Second)
	}
	fmt.Printf("measuring slot %s (in %.1fs)\n", slot.Format(time.TimeOnly), time.Until(slot).Seconds())
	time.Sleep(time.Until(slot) - time.Second)
	if left, err := b.app.Store.ExecutionListUnfinished(b.ctx); err != nil || len(left) > 0 {
		return fmt.Errorf("runs of the slot before still going a second before the slot (%d, %v): try again", len(left), err)
	}
	base, err := b.runsFinished()
	if err != nil {
		return err
	}
	stop := b.startProfile()
	deadline := slot.Add(3*time.Minute + time.Duration(n)*30*time.Millisecond)
	for {
		done, err := b.runsFinished()
		if err != nil {
			stop()
			return err
		}
		if done-base >= n {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("only %d of %d runs finished %s after the slot", done-base, n, deadline.Sub(slot))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	jobs, err := b.riverJobs()
	if err != nil {
		return err
	}
	var recorded, planned, started, finished, worked []time.Duration
	bad := map[string]int{}
	for _, name := range names {
		rows, _, err := b.app.Store.ExecutionList(b.ctx, &store.ExecutionListParams{AccountID: account, FlowName: name,
			Page: store.Page{Limit: 5}})
		if err != nil {
			return err
		}
		var got *store.Execution
		for _, e := range rows {
			if !e.StartedAt.Before(slot) && e.StartedAt.Before(slot.Add(time.Minute)) {
				got = e
			}
		}
		if got == nil {
			if bad["not planned"]++; bad["not planned"] <= 3 {
				f, _ := b.app.Store.FlowGet(b.ctx, account, name)
				fmt.Printf("not planned at the slot: flow %s, state %s, records:\n", name, f.State)
				for _, e := range rows {
					fmt.Printf("  %s %s started %s updated %s\n", e.ExecutionID, e.Status, e.StartedAt.Format(time.StampMilli), e.UpdatedAt.Format(time.StampMilli))
				}
			}
			continue
		}
		if got.Status != string(wire.ExecutionStatusSuccessful) {
			bad[got.Status]++
			continue
		}
		recorded = append(recorded, got.StartedAt.Sub(slot))
		finished = append(finished, got.UpdatedAt.Sub(slot))
		if j, ok := jobs[got.ExecutionID]; ok {
			planned = append(planned, j.created.Sub(slot))
			started = append(started, j.attempted.Sub(slot))
			worked = append(worked, j.finalized.Sub(j.attempted))
		}
	}
	report("slot -> record startedAt", recorded)
	if jobs != nil {
		report("slot -> planned (River job created)", planned)
		report("slot -> run started (River job attempted)", started)
		report("job attempted -> finalized (one run's time)", worked)
	}
	report("slot -> run finished (record lastUpdatedAt)", finished)
	if len(bad) > 0 {
		fmt.Printf("runs not Successful: %v\n", bad)
	}
	if len(finished) > 0 {
		last := slices.Max(finished)
		first := slices.Min(planned)
		fmt.Printf("throughput: %.0f runs/s (first planned to last finished)\n", float64(len(finished))/(last-first).Seconds())
	}
	return nil
}

type jobTimes struct{ created, attempted, finalized time.Time }

// riverJobs reads when each run's River job was inserted and first worked,
// by execution id, from the SQLite queue (nil on PostgreSQL).
func (b *bench) riverJobs() (map[string]jobTimes, error) {
	if b.app.StoreKind != "sqlite" {
		return nil, nil
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.dir, "river.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(b.ctx, `SELECT json_extract(args, '$.execution_id'), cast(created_at AS text),
		cast(coalesce(attempted_at, '') AS text), cast(coalesce(finalized_at, '') AS text) FROM river_job WHERE kind = 'appflowd_run_flow'`)
	if err != nil {
		return nil, fmt.Errorf("read River's jobs: %w", err)
	}
	defer rows.Close()
	out := map[string]jobTimes{}
	for rows.Next() {
		var id, created, attempted, finalized string
		if err := rows.Scan(&id, &created, &attempted, &finalized); err != nil {
			return nil, err
		}
		var j jobTimes
		if j.created, err = parseSQLiteTime(created); err != nil {
			return nil, err
		}
		if attempted != "" {
			if j.attempted, err = parseSQLiteTime(attempted); err != nil {
				return nil, err
			}
		}
		if finalized != "" {
			if j.finalized, err = parseSQLiteTime(finalized); err != nil {
				return nil, err
			}
		}
		out[id] = j
	}
	return out, rows.Err()
}

func parseSQLiteTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unknown time format %q", s)
}

// runsFinished reads appflowd_flow_runs_total from GET /metrics.
func (b *bench) runsFinished() (int, error) {
	resp, err := http.Get(b.url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 64<<10)
	for {
		k, err := resp.Body.Read(buf)
		sb.Write(buf[:k])
		if err != nil {
			break
		}
	}
	total := 0.0
	for _, line := range strings.Split(sb.String(), "\n") {
		if !strings.HasPrefix(line, "appflowd_flow_runs_total{") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			total += v
		}
	}
	return int(total), nil
}

func execMessage(r *types.ExecutionRecord) string {
	if r.ExecutionResult == nil || r.ExecutionResult.ErrorInfo == nil {
		return ""
	}
	return aws.ToString(r.ExecutionResult.ErrorInfo.ExecutionMessage)
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func report(what string, d []time.Duration) {
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	fmt.Printf("%-45s n=%-5d median %8.1f ms  p90 %8.1f ms  p99 %8.1f ms  max %8.1f ms\n", what, len(d),
		ms(pct(d, 50)), ms(pct(d, 90)), ms(pct(d, 99)), ms(pct(d, 100)))
}

// freshSchema makes a schema of its own in the database at base and returns
// the URL selecting it, and a function dropping it.
func freshSchema(base string) (string, func(), error) {
	ctx := context.Background()
	schema := "runbench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, err
	}
	drop := func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			log.Printf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			log.Printf("drop schema %s: %v", schema, err)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
