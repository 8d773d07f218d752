package retry

import (
	"context"
	"errors"
	"math"
	"net/http"
	"testing"
	"time"
)

func TestDoRetriesMarkedErrors(t *testing.T) {
	var waits []time.Duration
	p := Policy{Attempts: 4, Base: 100 * time.Millisecond, Max: time.Second, Jitter: func() float64 { return 0.5 },
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	calls := 0
	err := p.Do(context.Background(), func(_ context.Context, attempt int) error {
		if attempt != calls {
			t.Errorf("attempt = %d, want %d", attempt, calls)
		}
		calls++
		if calls < 3 {
			return Retryable(errors.New("busy"), 0)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Do = %v after %d calls, want nil after 3", err, calls)
	}
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}
	if len(waits) != len(want) || waits[0] != want[0] || waits[1] != want[1] {
		t.Errorf("waits = %v, want %v", waits, want)
	}
}

func TestDoStopsOnPlainErrorAndExhaustion(t *testing.T) {
	p := Policy{Attempts: 3, Sleep: func(context.Context, time.Duration) error { return nil }}
	plain := errors.New("bad request")
	calls := 0
	if err := p.Do(context.Background(), func(context.Context, int) error { calls++; return plain }); !errors.Is(err, plain) || calls != 1 {
		t.Errorf("plain error: got %v after %d calls, want it after 1", err, calls)
	}
	calls = 0
	err := p.Do(context.Background(), func(context.Context, int) error { calls++; return Retryable(plain, 0) })
	if !errors.Is(err, plain) || !IsRetryable(err) || calls != 3 {
		t.Errorf("exhausted: got %v after %d calls, want the marked error after 3", err, calls)
	}
}

func TestBackoffHonoursRetryAfterAndCap(t *testing.T) {
	p := Policy{Base: time.Second, Max: 8 * time.Second, Jitter: func() float64 { return 0.999 }}
	for attempt, want := range []time.Duration{999 * time.Millisecond, 1998 * time.Millisecond, 3996 * time.Millisecond, 7992 * time.Millisecond, 7992 * time.Millisecond} {
		if got := p.Backoff(attempt, 0); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
	if got := p.Backoff(0, 5*time.Second); got != 5*time.Second {
		t.Errorf("Backoff with Retry-After 5s = %v, want 5s", got)
	}
	if got := p.Backoff(0, time.Minute); got != time.Minute {
		t.Errorf("Backoff with Retry-After 1m = %v, want 1m: a server-asked wait is not cut to Max", got)
	}
}

// A 60 s reset waits in full when the deadline allows, and fails at once,
// without sleeping, when it does not; without a deadline MaxAfter bounds it.
func TestDoBoundsServerWaitsByDeadline(t *testing.T) {
	now := time.Now() // the deadlines are real: ctx.Err reads the real clock
	busy := errors.New("rate limited")
	run := func(ctx context.Context, p Policy) ([]time.Duration, int, error) {
		var waits []time.Duration
		p.Now = func() time.Time { return now }
		p.Jitter = func() float64 { return 0 }
		p.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
		calls := 0
		err := p.Do(ctx, func(context.Context, int) error {
			calls++
			if calls == 1 {
				return Retryable(busy, time.Minute)
			}
			return nil
		})
		return waits, calls, err
	}

	roomy, cancel := context.WithDeadline(context.Background(), now.Add(5*time.Minute))
	defer cancel()
	waits, calls, err := run(roomy, Policy{})
	if err != nil || calls != 2 || len(waits) != 1 || waits[0] != time.Minute {
		t.Errorf("deadline in 5m: got %v after %d calls, waits %v; want success after one 1m wait", err, calls, waits)
	}

	tight, cancel2 := context.WithDeadline(context.Background(), now.Add(20*time.Second))
	defer cancel2()
	waits, calls, err = run(tight, Policy{})
	var we *WaitError
	if !errors.As(err, &we) || !errors.Is(err, busy) || calls != 1 || len(waits) != 0 {
		t.Fatalf("deadline in 20s: got %v after %d calls, waits %v; want a WaitError wrapping the refusal, no sleep", err, calls, waits)
	}
	if we.Wait != time.Minute || we.Left != 20*time.Second {
		t.Errorf("WaitError = %+v, want Wait 1m, Left 20s", we)
	}

	waits, calls, err = run(context.Background(), Policy{MaxAfter: 30 * time.Second})
	if !errors.As(err, &we) || calls != 1 || len(waits) != 0 {
		t.Errorf("no deadline, MaxAfter 30s: got %v after %d calls, waits %v; want a WaitError", err, calls, waits)
	}
	waits, _, err = run(context.Background(), Policy{})
	if err != nil || len(waits) != 1 || waits[0] != time.Minute {
		t.Errorf("no deadline, default MaxAfter: got %v, waits %v; want one 1m wait", err, waits)
	}
}

func TestDoCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := Policy{Sleep: func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }}
	err := p.Do(ctx, func(context.Context, int) error { return Retryable(errors.New("busy"), 0) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Do = %v, want context.Canceled", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{{"", 0}, {"7", 7 * time.Second}, {"-1", 0}, {"soon", 0}, {"9227000000", time.Duration(math.MaxInt64/time.Second) * time.Second}, {"99999999999999999999", time.Duration(math.MaxInt64/time.Second) * time.Second}, {"-99999999999999999999", 0}, {now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second}} {
		h := http.Header{}
		if c.in != "" {
			h.Set("Retry-After", c.in)
		}
		if got := RetryAfter(h, now); got != c.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if !Status(503) || !Status(429) || Status(500) || Status(401) {
		t.Error("Status: want 429 and 503 retryable, 500 and 401 not")
	}
}
