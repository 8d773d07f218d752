package schedule

import (
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustParse(t *testing.T, expr string) Schedule {
	t.Helper()
	s, err := Parse(expr)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	return s
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want time.Duration
	}{
		{"rate(5minutes)", 5 * time.Minute}, // AppFlow's own form
		{"rate(1minutes)", time.Minute},
		{"rate(3hours)", 3 * time.Hour},
		{"rate(5 minutes)", 5 * time.Minute},
		{"rate(1 minute)", time.Minute},
		{"rate(1hour)", time.Hour},
		{"rate(2 Days)", 48 * time.Hour},
		{"rate(7DAY)", 7 * 24 * time.Hour},
		{"  rate( 10 minutes )  ", 10 * time.Minute},
		{"RATE(1 hour)", time.Hour},
	} {
		s := mustParse(t, tc.expr)
		if got := s.Period(); got != tc.want {
			t.Errorf("Parse(%q).Period() = %s, want %s", tc.expr, got, tc.want)
		}
		if got := s.MinInterval(); got != tc.want {
			t.Errorf("Parse(%q).MinInterval() = %s, want %s", tc.expr, got, tc.want)
		}
		after := ts("2024-03-10T06:59:30Z")
		if got, want := s.Next(after), after.Add(tc.want); !got.Equal(want) {
			t.Errorf("Parse(%q).Next(%s) = %s, want %s", tc.expr, after, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"every 5 minutes", `schedule expression must be rate(...) or cron(...), got "every 5 minutes"`},
		{"", `schedule expression must be rate(...) or cron(...), got ""`},
		{"rate(5minutes", "rate: missing closing parenthesis"},
		{"rate(0minutes)", `rate: value must be a positive integer, got "0"`},
		{"rate(-5 minutes)", `rate: value must be a positive integer, got "-5 minutes"`},
		{"rate(minutes)", `rate: value must be a positive integer, got "minutes"`},
		{"rate(99999999999999999999minutes)", `rate: value must be a positive integer, got "99999999999999999999"`},
		{"rate(5 weeks)", `rate: unit must be minute(s), hour(s) or day(s), got "weeks"`},
		{"rate(5)", `rate: unit must be minute(s), hour(s) or day(s), got ""`},
		{"rate(5 seconds)", `rate: unit must be minute(s), hour(s) or day(s), got "seconds"`},
		{"rate(40000days)", "rate: period 40000 days is longer than 100 years"},
		{"cron(0 12 * * ?)", "cron: want 6 fields (minutes hours day-of-month month day-of-week year), got 5"},
		{"cron(0 12 ? * 9 *)", "cron field day-of-week: value 9 out of range 1-7"},
		{"cron(0 12 ? * 0 *)", "cron field day-of-week: value 0 out of range 1-7"},
		{"cron(60 * * * ? *)", "cron field minutes: value 60 out of range 0-59"},
		{"cron(0 24 * * ? *)", "cron field hours: value 24 out of range 0-23"},
		{"cron(0 0 32 * ? *)", "cron field day-of-month: value 32 out of range 1-31"},
		{"cron(0 0 0 * ? *)", "cron field day-of-month: value 0 out of range 1-31"},
		{"cron(0 0 * 13 ? *)", "cron field month: value 13 out of range 1-12"},
		{"cron(0 0 * * ? 1969)", "cron field year: value 1969 out of range 1970-2199"},
		{"cron(0 0 * * ? 2200)", "cron field year: value 2200 out of range 1970-2199"},
		{"cron(0 0 * * * *)", "cron: one of day-of-month and day-of-week must be ?"},
		{"cron(0 0 1 * MON *)", "cron: one of day-of-month and day-of-week must be ?"},
		{"cron(0 0 ? * ? *)", "cron: day-of-month and day-of-week cannot both be ?"},
		{"cron(? 0 * * ? *)", "cron field minutes: ? is only allowed in day-of-month or day-of-week"},
		{"cron(0 0 ? * 2#6 *)", "cron field day-of-week: occurrence 6 after # out of range 1-5"},
		{"cron(0 0 ? * 2#0 *)", "cron field day-of-week: occurrence 0 after # out of range 1-5"},
		{"cron(0 0 ? * 8#1 *)", "cron field day-of-week: value 8 out of range 1-7"},
		{"cron(0 0 ? * 2#x *)", `cron field day-of-week: occurrence "x" after # is not a number`},
		{"cron(0 0 ? * 1,2#1 *)", `cron field day-of-week: # cannot be combined with other values in "1,2#1"`},
		{"cron(0 0 ? * 1-6L *)", `cron field day-of-week: L cannot be combined with other values in "1-6L"`},
		{"cron(0 0 ? * 9L *)", "cron field day-of-week: value 9 out of range 1-7"},
		{"cron(*/0 * * * ? *)", `cron field minutes: step must be a positive integer, got "0"`},
		{"cron(*/x * * * ? *)", `cron field minutes: step must be a positive integer, got "x"`},
		{"cron(*/61 * * * ? *)", "cron field minutes: step 61 larger than the range 0-59"},
		{"cron(0 0 ? * FOO *)", `cron field day-of-week: "FOO" is not a number or a name (SUN-SAT)`},
		{"cron(0 0 1 FOO ? *)", `cron field month: "FOO" is not a number or a name (JAN-DEC)`},
		{"cron(x 0 * * ? *)", `cron field minutes: "x" is not a number`},
		{"cron(+5 0 * * ? *)", `cron field minutes: "+5" is not a number`},
		{"cron(1,,2 0 * * ? *)", `cron field minutes: empty element in list "1,,2"`},
		{"cron(1- 0 * * ? *)", "cron field minutes: missing value"},
		{"cron(0 0 1,L * ? *)", `cron field day-of-month: L and W cannot be combined with other values in "1,L"`},
		{"cron(0 0 W * ? *)", "cron field day-of-month: W needs a day number, as in 15W"},
		{"cron(0 0 5L * ? *)", `cron field day-of-month: "5L" is not valid; use L, LW or nW (as in 15W)`},
		{"cron(0 0 32W * ? *)", "cron field day-of-month: value 32 out of range 1-31"},
		{"cron(0 0 20-5 * ? *)", "cron field day-of-month: range 20-5 is descending"},
		{"cron(0 0 1 1 ? 2000-1990)", "cron field year: range 2000-1990 is descending"},
		{"cron(0 0 31 2 ? *)", "cron: expression never fires in 1970-2199"},
		{"cron(0 0 30 FEB ? *)", "cron: expression never fires in 1970-2199"},
		{"cron(0 0 31 4,6,9,11 ? *)", "cron: expression never fires in 1970-2199"},
	} {
		_, err := Parse(tc.expr)
		if err == nil {
			t.Errorf("Parse(%q): got no error, want %q", tc.expr, tc.want)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("Parse(%q): got error %q, want %q", tc.expr, got, tc.want)
		}
		if code := fault.CodeOf(err); code != fault.Invalid {
			t.Errorf("Parse(%q): got code %s, want Invalid", tc.expr, code)
		}
	}
}

func TestCronNext(t *testing.T) {
	for _, tc := range []struct {
		expr, after, want string // want "" means no fire left
	}{
		// strictly after, minute resolution
		{"cron(0 12 * * ? *)", "2024-03-10T12:00:00Z", "2024-03-11T12:00:00Z"},
		{"cron(0 12 * * ? *)", "2024-03-10T11:59:59Z", "2024-03-10T12:00:00Z"},
		{"cron(* * * * ? *)", "2024-01-01T10:00:00.5Z", "2024-01-01T10:01:00Z"},
		{"cron(* * * * ? *)", "2024-12-31T23:59:00Z", "2025-01-01T00:00:00Z"},
		// steps, ranges, lists
		{"cron(*/15 * * * ? *)", "2024-01-01T00:07:30Z", "2024-01-01T00:15:00Z"},
		{"cron(*/15 * * * ? *)", "2024-01-01T23:45:00Z", "2024-01-02T00:00:00Z"},
		{"cron(5/20 * * * ? *)", "2024-01-01T10:45:00Z", "2024-01-01T11:05:00Z"},
		{"cron(10-30/10 * * * ? *)", "2024-01-01T10:30:00Z", "2024-01-01T11:10:00Z"},
		{"cron(0 8 ? * MON-FRI *)", "2024-03-08T09:00:00Z", "2024-03-11T08:00:00Z"}, // Fri -> Mon
		{"cron(0 8 ? * 2-6 *)", "2024-03-08T09:00:00Z", "2024-03-11T08:00:00Z"},
		{"cron(0 8 ? * fri-mon *)", "2024-03-05T09:00:00Z", "2024-03-08T08:00:00Z"}, // wraps: Fri..Mon
		{"cron(0 22-2 * * ? *)", "2024-01-01T02:00:00Z", "2024-01-01T22:00:00Z"},    // wraps midnight
		{"cron(0 22-2 * * ? *)", "2024-01-01T23:00:00Z", "2024-01-02T00:00:00Z"},
		{"cron(0 0 1 JAN,jul ? 2025,2027)", "2025-07-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"cron(0 0 1 NOV-FEB ? *)", "2024-02-01T00:00:00Z", "2024-11-01T00:00:00Z"},
		// L: last day of month, leap years
		{"cron(0 0 L * ? *)", "2024-02-01T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"cron(0 0 L * ? *)", "2023-02-01T00:00:00Z", "2023-02-28T00:00:00Z"},
		{"cron(0 0 L * ? *)", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z"},
		{"cron(0 0 L * ? *)", "2024-04-15T00:00:00Z", "2024-04-30T00:00:00Z"},
		{"cron(0 0 L * ? *)", "2024-12-31T00:00:00Z", "2025-01-31T00:00:00Z"},
		{"cron(0 0 29 2 ? *)", "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"cron(0 0 29 2 ? *)", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"}, // 2100 is not leap
		{"cron(0 0 31 * ? *)", "2024-04-01T00:00:00Z", "2024-05-31T00:00:00Z"}, // April has no 31st
		// W: nearest weekday, never leaving the month
		{"cron(0 9 LW * ? *)", "2024-11-01T00:00:00Z", "2024-11-29T09:00:00Z"},  // 30th is Saturday
		{"cron(0 9 LW * ? *)", "2024-03-01T00:00:00Z", "2024-03-29T09:00:00Z"},  // 31st is Sunday
		{"cron(0 9 LW * ? *)", "2024-09-01T00:00:00Z", "2024-09-30T09:00:00Z"},  // 30th is Monday
		{"cron(0 9 1W * ? *)", "2024-05-31T00:00:00Z", "2024-06-03T09:00:00Z"},  // 1st Saturday -> Monday 3rd
		{"cron(0 9 1W * ? *)", "2024-08-31T00:00:00Z", "2024-09-02T09:00:00Z"},  // 1st Sunday -> Monday 2nd
		{"cron(0 9 15W * ? *)", "2024-09-01T00:00:00Z", "2024-09-16T09:00:00Z"}, // 15th Sunday -> Monday
		{"cron(0 9 15W * ? *)", "2024-06-01T00:00:00Z", "2024-06-14T09:00:00Z"}, // 15th Saturday -> Friday
		{"cron(0 9 31W * ? *)", "2024-03-01T00:00:00Z", "2024-03-29T09:00:00Z"}, // 31st Sunday -> Friday 29th
		{"cron(0 9 31W * ? *)", "2024-04-01T00:00:00Z", "2024-05-31T09:00:00Z"}, // April skipped
		// #: nth weekday; a 5th that does not exist skips the month
		{"cron(0 10 ? * 6#3 *)", "2025-01-01T00:00:00Z", "2025-01-17T10:00:00Z"},
		{"cron(0 10 ? * FRI#3 *)", "2025-01-01T00:00:00Z", "2025-01-17T10:00:00Z"},
		{"cron(0 10 ? * 2#1 *)", "2024-06-01T00:00:00Z", "2024-06-03T10:00:00Z"},
		{"cron(0 10 ? * 2#5 *)", "2024-01-01T00:00:00Z", "2024-01-29T10:00:00Z"},
		{"cron(0 10 ? * 2#5 *)", "2024-01-30T00:00:00Z", "2024-04-29T10:00:00Z"},
		{"cron(0 0 ? 2 5#5 *)", "2024-01-01T00:00:00Z", "2024-02-29T00:00:00Z"}, // leap Feb with 5 Thursdays
		{"cron(0 0 ? 2 5#5 *)", "2024-03-01T00:00:00Z", "2052-02-29T00:00:00Z"},
		// L in day-of-week
		{"cron(0 0 ? * 6L *)", "2024-02-01T00:00:00Z", "2024-02-23T00:00:00Z"}, // last Friday
		{"cron(0 0 ? * L *)", "2024-03-04T00:00:00Z", "2024-03-09T00:00:00Z"},  // L = Saturday
		// the year field ends the schedule
		{"cron(0 0 1 JAN ? 2025)", "2025-01-01T00:00:00Z", ""},
		{"cron(30 23 31 12 ? 2199)", "2199-12-31T23:29:00Z", "2199-12-31T23:30:00Z"},
		{"cron(30 23 31 12 ? 2199)", "2199-12-31T23:30:00Z", ""},
		{"cron(0 0 * * ? *)", "2199-12-31T00:00:00Z", ""},
		{"cron(0 0 1 1 ? 1970)", "1960-05-01T00:00:00Z", "1970-01-01T00:00:00Z"},
		// UTC only: a zoned input is the same instant, and DST changes nothing
		{"cron(0 12 * * ? *)", "2024-03-10T07:30:00-04:00", "2024-03-10T12:00:00Z"},
		{"cron(0 12 * * ? *)", "2024-03-09T12:00:00Z", "2024-03-10T12:00:00Z"}, // US DST starts Mar 10
		{"cron(0 1 * * ? *)", "2024-10-27T00:30:00Z", "2024-10-27T01:00:00Z"},  // EU DST ends Oct 27
	} {
		s := mustParse(t, tc.expr)
		got := s.Next(ts(tc.after))
		var want time.Time
		if tc.want != "" {
			want = ts(tc.want)
		}
		if !got.Equal(want) || (!got.IsZero() && got.Location() != time.UTC) {
			t.Errorf("Parse(%q).Next(%s) = %s, want %s", tc.expr, tc.after, got, want)
		}
	}
}

// TestCronNextMatchesBruteForce checks the field-skipping search against a
// minute-by-minute scan over the same field semantics.
func TestCronNextMatchesBruteForce(t *testing.T) {
	exprs := []string{
		"cron(*/7 */5 * * ? *)", "cron(0,58 1,2 * * ? *)", "cron(15 10 L * ? *)",
		"cron(0 9 LW * ? *)", "cron(0 9 1W,* * ? *)", "cron(0 9 15W * ? *)", "cron(0 9 31W * ? *)",
		"cron(0 10 ? * 2#5 *)", "cron(0 0 ? * 6L *)", "cron(0 8 ? * MON-FRI *)",
		"cron(30 22-2 ? * SAT,SUN *)", "cron(0 0 29 2 ? *)", "cron(5 4 1-7 */2 ? 2024-2026)",
	}
	start := ts("2023-11-20T00:00:00Z")
	for _, expr := range exprs {
		s, err := Parse(expr)
		if err != nil {
			continue // "1W,*" is rejected; nothing to compare
		}
		c := s.(*cron)
		after := start
		for i := 0; i < 40; i++ {
			got := c.Next(after)
			want := bruteNext(c, after, 10*366)
			if !got.Equal(want) {
				t.Fatalf("Parse(%q).Next(%s) = %s, brute force says %s", expr, after, got, want)
			}
			if got.IsZero() {
				break
			}
			after = got
		}
	}
}

// bruteNext scans day by day for limitDays days, and every minute of a
// matching day.
func bruteNext(c *cron, after time.Time, limitDays int) time.Time {
	first := after.UTC().Truncate(time.Minute).Add(time.Minute)
	day := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	for i := 0; i < limitDays; i, day = i+1, day.AddDate(0, 0, 1) {
		y, mo, d := day.Date()
		if !c.year.has(y) || !c.month.has(int(mo)) || !c.dayMatches(y, int(mo), d, daysIn(y, int(mo))) {
			continue
		}
		for m := day; m.Day() == d; m = m.Add(time.Minute) {
			if !m.Before(first) && c.hour.has(m.Hour()) && c.minute.has(m.Minute()) {
				return m
			}
		}
	}
	return time.Time{}
}

func TestWeekdayMatchesTime(t *testing.T) {
	for d := ts("1960-01-01T00:00:00Z"); d.Year() < 2210; d = d.AddDate(0, 0, 13) {
		y, mo, day := d.Date()
		if got, want := weekday(y, int(mo), day), int(d.Weekday()); got != want {
			t.Fatalf("weekday(%d-%d-%d) = %d, want %d", y, mo, day, got, want)
		}
	}
}

func TestMinInterval(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want time.Duration
	}{
		{"rate(5minutes)", 5 * time.Minute},
		{"rate(2 days)", 48 * time.Hour},
		{"cron(* * * * ? *)", time.Minute},
		{"cron(*/15 * * * ? *)", 15 * time.Minute},
		{"cron(0,58 1,2 * * ? *)", 2 * time.Minute},    // 1:58 -> 2:00
		{"cron(10,50 0,23 * * ? *)", 20 * time.Minute}, // 23:50 -> 0:10 next day
		{"cron(0 9 * * ? *)", 24 * time.Hour},          // daily
		{"cron(0 9,17 * * ? *)", 8 * time.Hour},        // 9 -> 17
		{"cron(0 23 ? * MON-FRI *)", 24 * time.Hour},   // Mon -> Tue
		{"cron(0 9 ? * MON *)", 7 * 24 * time.Hour},    // weekly
		{"cron(0 0 1 * ? *)", 28 * 24 * time.Hour},     // Feb 1 -> Mar 1
		{"cron(0 0 L * ? *)", 28 * 24 * time.Hour},     // Jan 31 -> Feb 28
		{"cron(0 0 ? * 2#1 *)", 28 * 24 * time.Hour},   // first Mondays
		{"cron(0 0 1 1 ? 2030,2040)", 3652 * 24 * time.Hour},
		{"cron(0 0 1 1 ? 2030)", OnceOnly},
		{"cron(0 0 29 2 ? 2024-2028)", 1461 * 24 * time.Hour}, // 2024-02-29 -> 2028-02-29
	} {
		s := mustParse(t, tc.expr)
		if got, want := s.MinInterval(), tc.want; got != want {
			t.Errorf("Parse(%q).MinInterval() = %s, want %s", tc.expr, got, want)
		}
	}
}

func TestCheckMinInterval(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		floor time.Duration
		want  string // "" = allowed
	}{
		{"rate(1minutes)", time.Minute, ""},
		{"rate(5minutes)", time.Hour, "schedule rate(5minutes) can fire 5 minutes apart; this source allows at most one run every 1 hour"},
		{"rate(1hours)", time.Hour, ""},
		{"rate(23hours)", 24 * time.Hour, "schedule rate(23hours) can fire 23 hours apart; this source allows at most one run every 1 day"},
		{"cron(0 9,17 * * ? *)", 24 * time.Hour, "schedule cron(0 9,17 * * ? *) can fire 8 hours apart; this source allows at most one run every 1 day"},
		{"cron(0 9 * * ? *)", 24 * time.Hour, ""},
		{"cron(0 0 1 1 ? 2030)", 24 * time.Hour, ""},
	} {
		err := CheckMinInterval(mustParse(t, tc.expr), tc.floor)
		got := ""
		if err != nil {
			got = err.Error()
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("CheckMinInterval(%q): got code %s, want Invalid", tc.expr, fault.CodeOf(err))
			}
		}
		if got != tc.want {
			t.Errorf("CheckMinInterval(%q, %s) = %q, want %q", tc.expr, tc.floor, got, tc.want)
		}
	}
}
