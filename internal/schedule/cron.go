package schedule

import (
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

// EventBridge cron year bounds; Next gives up past maxYear, so it always ends.
const (
	minYear = 1970
	maxYear = 2199
)

type fieldSpec struct {
	name     string
	min, max int
	names    []string // names[i] is the value min+i (months, weekdays)
	cyclic   bool     // a descending range wraps around (FRI-MON, 22-2)
}

var (
	minuteField = fieldSpec{name: "minutes", min: 0, max: 59, cyclic: true}
	hourField   = fieldSpec{name: "hours", min: 0, max: 23, cyclic: true}
	domField    = fieldSpec{name: "day-of-month", min: 1, max: 31}
	monthField  = fieldSpec{name: "month", min: 1, max: 12, cyclic: true,
		names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}}
	// EventBridge numbers weekdays 1-7 from Sunday.
	dowField = fieldSpec{name: "day-of-week", min: 1, max: 7, cyclic: true,
		names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}}
	yearField = fieldSpec{name: "year", min: minYear, max: maxYear}
)

// set is a bitset of field values, indexed from the field's min.
type set struct {
	b   [4]uint64
	min int
	max int
}

func newSet(f fieldSpec) set { return set{min: f.min, max: f.max} }

func (s *set) add(v int) { i := v - s.min; s.b[i>>6] |= 1 << (i & 63) }

func (s *set) has(v int) bool {
	if v < s.min || v > s.max {
		return false
	}
	i := v - s.min
	return s.b[i>>6]&(1<<(i&63)) != 0
}

// next returns the smallest member >= v, or -1.
func (s *set) next(v int) int {
	if v < s.min {
		v = s.min
	}
	for i := v - s.min; i <= s.max-s.min; {
		w := s.b[i>>6] >> (i & 63)
		if w != 0 {
			j := i + bits.TrailingZeros64(w)
			if j > s.max-s.min {
				return -1
			}
			return j + s.min
		}
		i = (i | 63) + 1
	}
	return -1
}

func (s *set) values() []int {
	var out []int
	for v := s.next(s.min); v >= 0; v = s.next(v + 1) {
		out = append(out, v)
	}
	return out
}

type domKind uint8

const (
	domNone           domKind = iota // "?": day-of-week decides
	domSet                           // values, ranges, steps, *
	domLast                          // L
	domLastWeekday                   // LW
	domNearestWeekday                // nW
)

type dowKind uint8

const (
	dowNone dowKind = iota // "?": day-of-month decides
	dowSet                 // values, ranges, steps, *, and L (= SAT)
	dowLast                // nL: last weekday n of the month
	dowNth                 // n#k: k-th weekday n of the month
)

type cron struct {
	expr                      string
	minute, hour, month, year set
	domKind                   domKind
	dom                       set
	domN                      int // day for nW
	dowKind                   dowKind
	dow                       set
	dowN, dowK                int // weekday (1-7) for nL and n#k; k for n#k
}

func cronErr(f fieldSpec, format string, args ...any) error {
	return fault.New(fault.Invalid, "cron field "+f.name+": "+format, args...)
}

func parseCron(expr, body string) (Schedule, error) {
	parts := strings.Fields(body)
	if len(parts) != 6 {
		return nil, fault.New(fault.Invalid,
			"cron: want 6 fields (minutes hours day-of-month month day-of-week year), got %d", len(parts))
	}
	c := &cron{expr: expr}
	var err error
	if c.minute, err = parseList(minuteField, parts[0]); err != nil {
		return nil, err
	}
	if c.hour, err = parseList(hourField, parts[1]); err != nil {
		return nil, err
	}
	if err = c.parseDOM(parts[2]); err != nil {
		return nil, err
	}
	if c.month, err = parseList(monthField, parts[3]); err != nil {
		return nil, err
	}
	if err = c.parseDOW(parts[4]); err != nil {
		return nil, err
	}
	if c.year, err = parseList(yearField, parts[5]); err != nil {
		return nil, err
	}
	switch {
	case c.domKind == domNone && c.dowKind == dowNone:
		return nil, fault.New(fault.Invalid, "cron: day-of-month and day-of-week cannot both be ?")
	case c.domKind != domNone && c.dowKind != dowNone:
		return nil, fault.New(fault.Invalid, "cron: one of day-of-month and day-of-week must be ?")
	}
	if c.Next(time.Date(minYear-1, 12, 31, 23, 59, 0, 0, time.UTC)).IsZero() {
		return nil, fault.New(fault.Invalid, "cron: expression never fires in %d-%d", minYear, maxYear)
	}
	return c, nil
}

func (c *cron) parseDOM(text string) error {
	up := strings.ToUpper(text)
	switch {
	case up == "?":
		c.domKind = domNone
		return nil
	case up == "L":
		c.domKind = domLast
		return nil
	case up == "LW":
		c.domKind = domLastWeekday
		return nil
	case up == "W":
		return cronErr(domField, "W needs a day number, as in 15W")
	case strings.ContainsAny(up, "LW"):
		if strings.ContainsAny(up, ",-/*") {
			return cronErr(domField, "L and W cannot be combined with other values in %q", text)
		}
		if !strings.HasSuffix(up, "W") || strings.Contains(up, "L") {
			return cronErr(domField, "%q is not valid; use L, LW or nW (as in 15W)", text)
		}
		n, err := parseValue(domField, up[:len(up)-1])
		if err != nil {
			return err
		}
		c.domKind, c.domN = domNearestWeekday, n
		return nil
	}
	s, err := parseList(domField, text)
	c.domKind, c.dom = domSet, s
	return err
}

func (c *cron) parseDOW(text string) error {
	up := strings.ToUpper(text)
	switch {
	case up == "?":
		c.dowKind = dowNone
		return nil
	case up == "L":
		// EventBridge: L in day-of-week is the last day of the week.
		c.dowKind, c.dow = dowSet, newSet(dowField)
		c.dow.add(7)
		return nil
	case strings.Contains(up, "#"):
		if strings.ContainsAny(up, ",-/*") {
			return cronErr(dowField, "# cannot be combined with other values in %q", text)
		}
		day, nth, _ := strings.Cut(text, "#")
		n, err := parseValue(dowField, day)
		if err != nil {
			return err
		}
		k, err := strconv.Atoi(nth)
		if err != nil {
			return cronErr(dowField, "occurrence %q after # is not a number", nth)
		}
		if k < 1 || k > 5 {
			return cronErr(dowField, "occurrence %d after # out of range 1-5", k)
		}
		c.dowKind, c.dowN, c.dowK = dowNth, n, k
		return nil
	case strings.HasSuffix(up, "L"): // no weekday name ends in L
		if strings.ContainsAny(up, ",-/*") {
			return cronErr(dowField, "L cannot be combined with other values in %q", text)
		}
		n, err := parseValue(dowField, up[:len(up)-1])
		if err != nil {
			return err
		}
		c.dowKind, c.dowN = dowLast, n
		return nil
	}
	s, err := parseList(dowField, text)
	c.dowKind, c.dow = dowSet, s
	return err
}

// parseList parses a comma list of *, a, a-b, */n, a/n, a-b/n.
func parseList(f fieldSpec, text string) (set, error) {
	s := newSet(f)
	if text == "?" {
		return s, cronErr(f, "? is only allowed in day-of-month or day-of-week")
	}
	for _, item := range strings.Split(text, ",") {
		if item == "" {
			return s, cronErr(f, "empty element in list %q", text)
		}
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return s, cronErr(f, "step must be a positive integer, got %q", stepText)
			}
			if n > f.max-f.min+1 {
				return s, cronErr(f, "step %d larger than the range %d-%d", n, f.min, f.max)
			}
			step = n
		}
		lo, hi := f.min, f.max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = parseValue(f, a); err != nil {
				return s, err
			}
			if hi, err = parseValue(f, b); err != nil {
				return s, err
			}
			if lo > hi && !f.cyclic {
				return s, cronErr(f, "range %s is descending", rng)
			}
		default:
			v, err := parseValue(f, rng)
			if err != nil {
				return s, err
			}
			lo = v
			if !hasStep {
				hi = v // a lone value; a/n runs to the field's max
			}
		}
		size := f.max - f.min + 1
		span := (hi - lo + size) % size // lo..hi, wrapping for cyclic fields
		for i := 0; i <= span; i += step {
			s.add(f.min + (lo-f.min+i)%size)
		}
	}
	return s, nil
}

func parseValue(f fieldSpec, text string) (int, error) {
	if text == "" {
		return 0, cronErr(f, "missing value")
	}
	up := strings.ToUpper(text)
	for i, n := range f.names {
		if up == n {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(text)
	if err != nil || text[0] == '+' || text[0] == '-' {
		if f.names != nil {
			return 0, cronErr(f, "%q is not a number or a name (%s-%s)", text, f.names[0], f.names[len(f.names)-1])
		}
		return 0, cronErr(f, "%q is not a number", text)
	}
	if v < f.min || v > f.max {
		return 0, cronErr(f, "value %d out of range %d-%d", v, f.min, f.max)
	}
	return v, nil
}

func (c *cron) String() string        { return c.expr }
func (c *cron) Period() time.Duration { return 0 }

// Next scans forward field by field, jumping to the next allowed value of
// each; the year field bounds the scan.
func (c *cron) Next(after time.Time) time.Time {
	t := after.UTC().Truncate(time.Minute).Add(time.Minute)
	y, mo, d, h, mi := t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute()
	for y <= maxYear {
		if ny := c.year.next(y); ny < 0 {
			return time.Time{}
		} else if ny != y {
			y, mo, d, h, mi = ny, 1, 1, 0, 0
		}
		nm := c.month.next(mo)
		if nm < 0 {
			y, mo, d, h, mi = y+1, 1, 1, 0, 0
			continue
		}
		if nm != mo {
			mo, d, h, mi = nm, 1, 0, 0
		}
		dim := daysIn(y, mo)
		for d <= dim && !c.dayMatches(y, mo, d, dim) {
			d, h, mi = d+1, 0, 0
		}
		if d > dim {
			y, mo, d, h, mi = nextMonth(y, mo)
			continue
		}
		nh := c.hour.next(h)
		if nh < 0 {
			d, h, mi = d+1, 0, 0
			if d > dim {
				y, mo, d, h, mi = nextMonth(y, mo)
			}
			continue
		}
		if nh != h {
			h, mi = nh, 0
		}
		nmi := c.minute.next(mi)
		if nmi < 0 {
			h, mi = h+1, 0
			if h > 23 {
				d, h = d+1, 0
				if d > dim {
					y, mo, d, h, mi = nextMonth(y, mo)
				}
			}
			continue
		}
		return time.Date(y, time.Month(mo), d, h, nmi, 0, 0, time.UTC)
	}
	return time.Time{}
}

func nextMonth(y, mo int) (int, int, int, int, int) {
	if mo == 12 {
		return y + 1, 1, 1, 0, 0
	}
	return y, mo + 1, 1, 0, 0
}

func (c *cron) dayMatches(y, mo, d, dim int) bool {
	switch c.domKind {
	case domSet:
		return c.dom.has(d)
	case domLast:
		return d == dim
	case domLastWeekday:
		return d == lastWeekday(y, mo, dim)
	case domNearestWeekday:
		return d == nearestWeekday(y, mo, c.domN, dim)
	}
	wd := weekday(y, mo, d) + 1 // EventBridge numbering: 1 = SUN
	switch c.dowKind {
	case dowSet:
		return c.dow.has(wd)
	case dowLast:
		return wd == c.dowN && d+7 > dim
	case dowNth:
		return wd == c.dowN && (d-1)/7+1 == c.dowK
	}
	return false
}

// lastWeekday is the last Monday-Friday of the month.
func lastWeekday(y, mo, dim int) int {
	switch weekday(y, mo, dim) {
	case 0: // Sunday
		return dim - 2
	case 6: // Saturday
		return dim - 1
	}
	return dim
}

// nearestWeekday is the Monday-Friday closest to day n without leaving the
// month (Quartz's W, which EventBridge follows): Saturday the 1st moves to
// Monday the 3rd, Sunday the last day to Friday. A month shorter than n has
// no such day, as a plain n would not fire in it either.
func nearestWeekday(y, mo, n, dim int) int {
	if n > dim {
		return -1
	}
	switch weekday(y, mo, n) {
	case 6: // Saturday
		if n == 1 {
			return 3
		}
		return n - 1
	case 0: // Sunday
		if n == dim {
			return n - 2
		}
		return n + 1
	}
	return n
}

func daysIn(y, mo int) int {
	switch mo {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// civil counts days since 1970-01-01 (Howard Hinnant's days_from_civil).
func civil(y, mo, d int) int {
	if mo <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	m := mo + 9
	if mo > 2 {
		m = mo - 3
	}
	doy := (153*m+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// weekday is 0 for Sunday .. 6 for Saturday.
func weekday(y, mo, d int) int {
	w := (civil(y, mo, d) + 4) % 7 // 1970-01-01 was a Thursday
	if w < 0 {
		w += 7
	}
	return w
}

// MinInterval is exact: the smallest gap within a day comes from the minute
// and hour sets, and the smallest gap across days from the closest pair of
// firing days, found by scanning the years the expression allows.
func (c *cron) MinInterval() time.Duration {
	mins, hours := c.minute.values(), c.hour.values()
	best := OnceOnly
	for i := 1; i < len(mins); i++ {
		best = min(best, time.Duration(mins[i]-mins[i-1])*time.Minute)
	}
	spread := mins[len(mins)-1] - mins[0]
	for i := 1; i < len(hours); i++ {
		best = min(best, time.Duration((hours[i]-hours[i-1])*60-spread)*time.Minute)
	}
	first := hours[0]*60 + mins[0]
	last := hours[len(hours)-1]*60 + mins[len(mins)-1]
	floor := time.Duration(24*60-last+first) * time.Minute // gap between consecutive days
	if best <= floor {
		return best
	}
	prev := -1
	for y := c.year.next(minYear); y >= 0; y = c.year.next(y + 1) {
		for mo := c.month.next(1); mo >= 0; mo = c.month.next(mo + 1) {
			dim := daysIn(y, mo)
			for d := 1; d <= dim; d++ {
				if !c.dayMatches(y, mo, d, dim) {
					continue
				}
				day := civil(y, mo, d)
				if prev >= 0 {
					gap := time.Duration((day-prev)*24*60-last+first) * time.Minute
					if best = min(best, gap); best <= floor {
						return best
					}
				}
				prev = day
			}
		}
	}
	return best
}
