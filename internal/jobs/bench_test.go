package jobs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/wire"
)

// BenchmarkSchedulerTick plans n Active flows on SQLite, one replica: each
// iteration moves the clock a minute on and ticks once, so every
// rate(1minutes) flow has a run due (a record and a River job), and every
// Event flow is polled (a local bucket with nothing new). flows/s is how
// many flows one tick plans per second; lag-s is how long one tick takes,
// the schedule lag of the last flow planned. "idle" ticks between fires
// (every periodic tick but one a minute): nothing is due.
func BenchmarkSchedulerTick(b *testing.B) {
	for _, kind := range []string{"scheduled", "idle", "event"} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/flows=%d", kind, n), func(b *testing.B) {
				st, dir := openSQLiteStore(b)
				e := &eventEnv{st: st, c: &clock{t: t0}, dataDir: dir}
				e.x = newExecutor(st, e.c)
				q, err := OpenSQLite(context.Background(), dir+"/river.db", e.config("bench"))
				if err != nil {
					b.Fatal(err)
				}
				defer q.Close()
				ctx := context.Background()
				for i := range n {
					name := fmt.Sprintf("f%05d", i)
					fs := flowSpec{name: name, trigger: wire.TriggerTypeScheduled, expr: "rate(1minutes)"}
					if kind == "event" {
						fs = flowSpec{name: name, trigger: wire.TriggerTypeEvent}
					}
					createFlow(b, st, fs, wire.FlowStatusActive)
					if err := q.Scheduler().FlowActivated(ctx, acct, name, t0); err != nil {
						b.Fatal(err)
					}
				}
				if kind == "idle" { // plan the fires at activation; then nothing is due
					e.c.Set(t0.Add(10 * time.Second))
					if _, err := q.Scheduler().Tick(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				start := time.Now()
				for i := 0; b.Loop(); i++ {
					at := t0.Add(time.Duration(i) * time.Minute)
					if kind == "idle" {
						at = t0.Add(10*time.Second + time.Duration(i+1)*time.Millisecond)
					}
					e.c.Set(at)
					got, err := q.Scheduler().Tick(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if want := map[string]int{"scheduled": n, "event": 0}[kind]; got != want {
						b.Fatalf("tick %d: %d runs enqueued, want %d", i, got, want)
					}
				}
				per := time.Since(start).Seconds() / float64(b.N)
				b.ReportMetric(float64(n)/per, "flows/s")
				b.ReportMetric(per, "lag-s")
			})
		}
	}
}
