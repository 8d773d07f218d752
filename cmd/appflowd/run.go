package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/engine"
	"github.com/appflowd/appflowd/internal/runner"
)

// runCmd runs one flow definition once, in process: the way to try a flow
// without a server.
func runCmd(ctx context.Context, args []string) error {
	var c config
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	c.registerCommon(fs)
	quiet := fs.Bool("quiet", false, "no progress line")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: appflowd run [flags] FLOW.json\n\nFLOW.json is a CreateFlow request body. Flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h printed the usage: not a failure
		}
		return err
	}
	if err := c.resolveEndpoints(); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("run takes one flow definition file")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var f runner.Flow
	if err := json.Unmarshal(raw, &f); err != nil {
		return fmt.Errorf("%s: not a CreateFlow JSON document: %w", fs.Arg(0), err)
	}
	if f.FlowName == "" {
		f.FlowName = "flow"
	}
	// A server on the same data dir would collect this run's staging.
	if st, err := os.Stat(c.DataDir); err == nil && st.IsDir() {
		unlock, err := app.LockDataDir(c.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	env := runner.Env{
		Registry: app.Registry(),
		Deps: connector.Deps{
			DataDir: c.DataDir, Endpoints: c.Endpoints, Region: c.Region, AccountID: c.AccountID,
			HTTPClient: &http.Client{Timeout: 5 * time.Minute}, Logger: newLogger("warn"), Now: time.Now,
			Env: os.Getenv, Shared: connector.NewShared(),
		},
	}
	id := newExecutionID()
	p, err := runner.Prepare(ctx, env, &f, id)
	if err != nil {
		return err
	}
	defer p.Close()

	setRunMemoryLimit()
	start := time.Now()
	var bar *progressBar
	if !*quiet && isTerminal(os.Stderr) {
		bar = newProgressBar(os.Stderr, start)
		p.Run.Progress = bar.update
	}
	res, err := engine.Execute(ctx, p.Run)
	if bar != nil {
		bar.done()
	}
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("flow %s failed: %s", f.FlowName, engine.ExecutionMessage(err))
	}
	rate := float64(res.RecordsProcessed) / elapsed.Seconds()
	fmt.Printf("flow %s execution %s: Successful\n", f.FlowName, id)
	fmt.Printf("  records read %d, written %d, dropped %d, rejected %d\n", res.RecordsRead, res.RecordsProcessed, res.RecordsDropped, len(res.Failures))
	fmt.Printf("  bytes read %d, written %d\n", res.BytesProcessed, res.BytesWritten)
	fmt.Printf("  %.1fs, %.0f records/s\n", elapsed.Seconds(), rate)
	for _, o := range res.Objects {
		fmt.Printf("  wrote %s\n", o)
	}
	return nil
}

// runMemoryLimit is the Go heap's soft limit for `appflowd run` unless
// GOMEMLIMIT says otherwise. A run's live heap is the batches in flight
// (tens of MB; ~25 MiB on the bench's Parquet run), so the limit only bites
// on unusually wide rows, where it makes the GC collect sooner instead of
// letting the heap double: peak RSS stays under 100 MiB (the binary's own
// pages are ~20 MiB of it).
const runMemoryLimit = 72 << 20

func setRunMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(runMemoryLimit)
	}
}
