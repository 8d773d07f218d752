// Package schedule parses AppFlow schedule expressions, computes their fire
// times, and computes the incremental pull window of each scheduled run.
//
// Two expression forms exist (data-plane spec §6.1): rate(N unit), where
// AppFlow itself writes the unit plural and without a space ("rate(5minutes)"),
// and EventBridge's six-field cron(min hour day-of-month month day-of-week
// year). Every time here is evaluated in UTC: a flow's timezone is a label
// only, so daylight saving never moves a fire.
package schedule

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

// Schedule is a parsed rate() or cron() expression.
type Schedule interface {
	// Next returns the first fire strictly after after, in UTC, or the zero
	// time if there is none (the cron year range has ended). A rate has no
	// anchor of its own, so its Next is after+Period; Plan anchors it at the
	// flow's activation.
	Next(after time.Time) time.Time
	// Period is the rate's interval; 0 for cron.
	Period() time.Duration
	// MinInterval is the smallest gap between two consecutive fires, for
	// checking a connector's minimum schedule interval. A schedule that fires
	// at most once reports OnceOnly.
	MinInterval() time.Duration
	// String is the expression as given, trimmed.
	String() string
}

// OnceOnly is the MinInterval of a schedule that never fires twice.
const OnceOnly = time.Duration(math.MaxInt64)

// maxRate bounds rate periods so that fire-time arithmetic cannot overflow.
const maxRate = 100 * 365 * 24 * time.Hour

// Parse parses "rate(...)" or "cron(...)". Errors are fault.Invalid and say
// which part is wrong.
func Parse(expr string) (Schedule, error) {
	e := strings.TrimSpace(expr)
	lower := strings.ToLower(e)
	switch {
	case strings.HasPrefix(lower, "rate("):
		body, err := inner(e, "rate")
		if err != nil {
			return nil, err
		}
		return parseRate(e, body)
	case strings.HasPrefix(lower, "cron("):
		body, err := inner(e, "cron")
		if err != nil {
			return nil, err
		}
		return parseCron(e, body)
	}
	return nil, fault.New(fault.Invalid, "schedule expression must be rate(...) or cron(...), got %q", expr)
}

func inner(e, kind string) (string, error) {
	if !strings.HasSuffix(e, ")") {
		return "", fault.New(fault.Invalid, "%s: missing closing parenthesis", kind)
	}
	return strings.TrimSpace(e[len(kind)+1 : len(e)-1]), nil
}

type rate struct {
	expr   string
	period time.Duration
}

func (r rate) Next(after time.Time) time.Time { return after.UTC().Add(r.period) }
func (r rate) Period() time.Duration          { return r.period }
func (r rate) MinInterval() time.Duration     { return r.period }
func (r rate) String() string                 { return r.expr }

// parseRate accepts "5minutes", "5 minutes", "1 minute", "2 HOURS": AppFlow
// writes plural units with no space; the other forms are tolerated on input.
func parseRate(expr, body string) (Schedule, error) {
	i := 0
	for i < len(body) && body[i] >= '0' && body[i] <= '9' {
		i++
	}
	num, unit := body[:i], strings.TrimSpace(body[i:])
	if num == "" {
		return nil, fault.New(fault.Invalid, "rate: value must be a positive integer, got %q", body)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return nil, fault.New(fault.Invalid, "rate: value must be a positive integer, got %q", num)
	}
	var u time.Duration
	switch strings.ToLower(unit) {
	case "minute", "minutes":
		u = time.Minute
	case "hour", "hours":
		u = time.Hour
	case "day", "days":
		u = 24 * time.Hour
	default:
		return nil, fault.New(fault.Invalid, "rate: unit must be minute(s), hour(s) or day(s), got %q", unit)
	}
	if n > int64(maxRate/u) {
		return nil, fault.New(fault.Invalid, "rate: period %s %s is longer than 100 years", num, unit)
	}
	return rate{expr: expr, period: time.Duration(n) * u}, nil
}

// CheckMinInterval returns a fault.Invalid error when s can fire more often
// than once per floor (a connector's minimum schedule interval, data-plane
// spec §6.1: 1 minute, 1 hour or 1 day depending on the source).
func CheckMinInterval(s Schedule, floor time.Duration) error {
	if got := s.MinInterval(); got < floor {
		return fault.New(fault.Invalid, "schedule %s can fire %s apart; this source allows at most one run every %s",
			s.String(), human(got), human(floor))
	}
	return nil
}

// human prints whole-minute durations as AppFlow users write them.
func human(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}
