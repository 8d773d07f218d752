package schedule

import (
	"testing"
	"time"
)

// FuzzParse: Parse never panics, and whatever it accepts has a Next that
// moves strictly forward, stays minute-aligned for cron, ends by 2199, and
// returns (the year bound ends every search).
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"rate(5minutes)", "rate(1 minute)", "rate(3HOURS)", "rate(2 days)", "rate(0minutes)", "rate(5 weeks)",
		"rate(99999999999999999999minutes)", "rate(", "cron(", "cron()",
		"cron(0 12 * * ? *)", "cron(*/15 * * * ? *)", "cron(0 8 ? * MON-FRI *)", "cron(0 22-2 * * ? *)",
		"cron(0 0 L * ? *)", "cron(0 9 LW * ? *)", "cron(0 9 15W * ? *)", "cron(0 10 ? * 6#3 *)",
		"cron(0 0 ? 2 5#5 *)", "cron(0 0 ? * 6L *)", "cron(0 0 29 2 ? *)", "cron(0 0 31 2 ? *)",
		"cron(30 23 31 12 ? 2199)", "cron(5/20 * * * ? *)", "cron(10-30/10 * * * ? 1970-2199/7)",
		"cron(0 0 ? * fri-mon *)", "cron(0 0 1,L * ? *)", "cron(0 0 ? * 1,2#1 *)", "cron(1- 0 * * ? *)",
	} {
		f.Add(seed)
	}
	starts := []time.Time{
		time.Date(1969, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 28, 23, 59, 30, 0, time.UTC),
		time.Date(2199, 12, 31, 23, 0, 0, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			return
		}
		cron := s.Period() == 0
		for _, after := range starts {
			next := after
			for i := 0; i < 3; i++ {
				got := s.Next(next)
				if got.IsZero() {
					break
				}
				if !got.After(next) {
					t.Fatalf("Parse(%q).Next(%s) = %s, not after", expr, next, got)
				}
				if cron && (got.Second() != 0 || got.Nanosecond() != 0 || got.Year() > maxYear) {
					t.Fatalf("Parse(%q).Next(%s) = %s, not a minute in 1970-2199", expr, next, got)
				}
				next = got
			}
		}
		if got := s.MinInterval(); got < time.Minute {
			t.Fatalf("Parse(%q).MinInterval() = %s, below one minute", expr, got)
		}
	})
}

func BenchmarkNext(b *testing.B) {
	for _, expr := range []string{
		"rate(5minutes)",
		"cron(*/5 * * * ? *)",
		"cron(0 9 ? * MON-FRI *)",
		"cron(0 10 ? * 2#5 *)",
		"cron(0 0 29 2 ? *)",
	} {
		s, err := Parse(expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			after := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
			for b.Loop() {
				if t := s.Next(after); t.IsZero() {
					b.Fatal("no fire")
				}
			}
		})
	}
}
