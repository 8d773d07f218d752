// Package retry is the one retry and backoff layer connectors share: an
// operation says which of its failures are worth another attempt (and how
// long the remote system asked it to wait), and Policy.Do retries those with
// capped exponential backoff and full jitter, honouring Retry-After.
//
// A wait the server asked for (Retry-After, a rate-limit reset) is not cut
// to the backoff cap: it is waited in full when the run's context deadline
// leaves room for it, and refused at once (a *WaitError) when it does not,
// so a 60 s reset waits rather than fails, and a run never sleeps past its
// deadline only to be cancelled.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy says how often and how patiently to retry. The zero value makes 5
// attempts, starting at 500ms and capped at 30s, sleeping on the real clock.
type Policy struct {
	Attempts int           // total attempts, the first included; <= 0 means 5
	Base     time.Duration // first backoff; 0 means 500ms
	Max      time.Duration // cap on one backoff of our own; 0 means 30s
	// MaxAfter caps a wait the server asked for when ctx has no deadline;
	// 0 means 15 minutes. With a deadline, the deadline is the bound.
	MaxAfter time.Duration
	// Now reads the clock the deadline is compared with; nil: time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends; nil sleeps on a real timer. Tests
	// inject a fake that records the waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0,1); nil uses math/rand.
	Jitter func() float64
}

// Error marks a failure worth retrying; After is the wait the server asked
// for (Retry-After), zero when it said nothing.
type Error struct {
	Err   error
	After time.Duration
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Retryable wraps err so that Do retries it, after at least after.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, After: after}
}

// IsRetryable says whether err was marked by Retryable.
func IsRetryable(err error) bool {
	var re *Error
	return errors.As(err, &re)
}

// Status says whether an HTTP status is a transient refusal: 429 (too many
// requests), 502, 503 (unavailable) and 504 (gateway timeout).
func Status(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// RetryAfter reads a Retry-After header (delay-seconds or an HTTP date);
// zero when absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	// Digits beyond an int are a range error with s at the int's bound.
	if s, err := strconv.Atoi(v); err == nil || errors.Is(err, strconv.ErrRange) {
		if s < 0 {
			return 0
		}
		// A wait too long for a Duration is the longest one, not an overflow.
		return time.Duration(min(s, int(math.MaxInt64/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Do calls op until it succeeds, fails with an error not marked Retryable,
// ctx ends, or the attempts run out (the last error is returned, still
// marked). attempt counts from 0.
func (p Policy) Do(ctx context.Context, op func(ctx context.Context, attempt int) error) error {
	attempts := p.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	var err error
	for attempt := range attempts {
		if cerr := ctx.Err(); cerr != nil {
			if err != nil {
				return errors.Join(cerr, err)
			}
			return cerr
		}
		err = op(ctx, attempt)
		var re *Error
		if err == nil || !errors.As(err, &re) || attempt == attempts-1 {
			return err
		}
		wait := p.Backoff(attempt, re.After)
		if werr := p.fits(ctx, wait, re.After, err); werr != nil {
			return werr
		}
		if serr := p.sleep(ctx, wait); serr != nil {
			return errors.Join(serr, err)
		}
	}
	return err
}

// Backoff is the wait before retry number attempt+1: full jitter over
// Base*2^attempt, capped at Max, and never shorter than the server's
// Retry-After (which Do bounds by the context's deadline, not by Max).
func (p Policy) Backoff(attempt int, after time.Duration) time.Duration {
	base, maxWait := p.Base, p.Max
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	ceil := base
	for range attempt {
		if ceil >= maxWait/2 {
			ceil = maxWait
			break
		}
		ceil *= 2
	}
	ceil = min(ceil, maxWait)
	jitter := rand.Float64
	if p.Jitter != nil {
		jitter = p.Jitter
	}
	d := time.Duration(jitter() * float64(ceil))
	return max(d, after)
}

// WaitError says a retry was given up because the wait before it would
// not fit: past the context's deadline, or (without one) past MaxAfter.
// Err is the refusal that asked for the wait.
type WaitError struct {
	Wait time.Duration // what the retry would have waited
	Left time.Duration // what the deadline left; -1 without a deadline
	Err  error
}

func (e *WaitError) Error() string {
	if e.Left < 0 {
		return fmt.Sprintf("not retrying: the server asked to wait %v, more than the %v waited without a deadline: %v", e.Wait, -e.Left, e.Err)
	}
	return fmt.Sprintf("not retrying: the next attempt would wait %v, but the run's deadline is %v away: %v", e.Wait, e.Left.Round(time.Millisecond), e.Err)
}

func (e *WaitError) Unwrap() error { return e.Err }

// fits refuses a wait the run cannot afford. Only a server-asked wait
// (after > 0) is checked against MaxAfter; every wait is checked against
// the deadline, since sleeping past it only ends in cancellation.
func (p Policy) fits(ctx context.Context, wait, after time.Duration, err error) error {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := dl.Sub(now()); wait >= left {
			return &WaitError{Wait: wait, Left: max(left, 0), Err: err}
		}
		return nil
	}
	maxAfter := p.MaxAfter
	if maxAfter <= 0 {
		maxAfter = 15 * time.Minute
	}
	if after > maxAfter {
		return &WaitError{Wait: after, Left: -maxAfter, Err: err}
	}
	return nil
}

func (p Policy) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
