package schedule

import (
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func TestPlanFires(t *testing.T) {
	for _, tc := range []struct {
		name      string
		plan      Plan
		activated string
		want      []string // successive fires; a trailing "none" means the plan ended
	}{
		{
			name:      "rate fires at activation, then every period",
			plan:      Plan{Expr: "rate(1hours)"},
			activated: "2024-05-01T10:00:30Z",
			want:      []string{"2024-05-01T10:00:30Z", "2024-05-01T11:00:30Z", "2024-05-01T12:00:30Z"},
		},
		{
			name:      "rate waits for a later scheduleStartTime",
			plan:      Plan{Expr: "rate(30minutes)", StartTime: ts("2024-05-01T12:00:00Z")},
			activated: "2024-05-01T10:17:00Z",
			want:      []string{"2024-05-01T12:00:00Z", "2024-05-01T12:30:00Z"},
		},
		{
			name:      "rate with a past scheduleStartTime starts at activation",
			plan:      Plan{Expr: "rate(1days)", StartTime: ts("2024-04-01T00:00:00Z")},
			activated: "2024-05-01T10:17:00Z",
			want:      []string{"2024-05-01T10:17:00Z", "2024-05-02T10:17:00Z"},
		},
		{
			name:      "scheduleEndTime is exclusive",
			plan:      Plan{Expr: "rate(1hours)", EndTime: ts("2024-05-01T12:00:00Z")},
			activated: "2024-05-01T10:00:00Z",
			want:      []string{"2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "none"},
		},
		{
			name:      "activation after scheduleEndTime never fires",
			plan:      Plan{Expr: "rate(1hours)", EndTime: ts("2024-05-01T09:00:00Z")},
			activated: "2024-05-01T10:00:00Z",
			want:      []string{"none"},
		},
		{
			name:      "cron fires at matching minutes after activation",
			plan:      Plan{Expr: "cron(0 * * * ? *)"},
			activated: "2024-05-01T10:00:30Z",
			want:      []string{"2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"},
		},
		{
			name:      "cron fires at a matching activation instant",
			plan:      Plan{Expr: "cron(0 * * * ? *)"},
			activated: "2024-05-01T10:00:00Z",
			want:      []string{"2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"},
		},
		{
			name:      "cron starts at or after scheduleStartTime",
			plan:      Plan{Expr: "cron(0 6 ? * MON *)", StartTime: ts("2024-05-06T06:00:00Z")},
			activated: "2024-04-01T00:00:00Z",
			want:      []string{"2024-05-06T06:00:00Z", "2024-05-13T06:00:00Z"},
		},
		{
			name:      "cron stops before scheduleEndTime",
			plan:      Plan{Expr: "cron(0 0 L * ? *)", EndTime: ts("2024-03-31T00:00:00Z")},
			activated: "2024-01-15T00:00:00Z",
			want:      []string{"2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "none"},
		},
		{
			name:      "cron whose year range ended",
			plan:      Plan{Expr: "cron(0 0 1 1 ? 2020)"},
			activated: "2024-01-15T00:00:00Z",
			want:      []string{"none"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.plan.FirstFire(ts(tc.activated))
			if err != nil {
				t.Fatalf("FirstFire: %v", err)
			}
			if fmtTime(got) != tc.want[0] {
				t.Fatalf("FirstFire(%s) = %s, want %s", tc.activated, fmtTime(got), tc.want[0])
			}
			for _, want := range tc.want[1:] {
				prev := got
				if got, err = tc.plan.NextFire(prev); err != nil {
					t.Fatalf("NextFire: %v", err)
				}
				if fmtTime(got) != want {
					t.Fatalf("NextFire(%s) = %s, want %s", fmtTime(prev), fmtTime(got), want)
				}
			}
		})
	}
}

func TestPlanNextFireBeforeStart(t *testing.T) {
	p := Plan{Expr: "cron(0 6 * * ? *)", StartTime: ts("2024-05-06T06:00:00Z")}
	got, err := p.NextFire(ts("2024-05-01T06:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "2024-05-06T06:00:00Z"; fmtTime(got) != want {
		t.Errorf("NextFire before scheduleStartTime = %s, want %s", fmtTime(got), want)
	}
}

func TestPlanValidate(t *testing.T) {
	start := ts("2024-05-01T00:00:00Z")
	for _, tc := range []struct {
		name string
		plan Plan
		want string // "" = valid
	}{
		{"zero offset", Plan{Expr: "rate(5minutes)"}, ""},
		{"max offset", Plan{Expr: "rate(5minutes)", Offset: 36000 * time.Second}, ""},
		{"offset too big", Plan{Expr: "rate(5minutes)", Offset: 36001 * time.Second},
			"scheduleOffset must be between 0 and 36000 seconds, got 36001"},
		{"negative offset", Plan{Expr: "rate(5minutes)", Offset: -time.Second},
			"scheduleOffset must be between 0 and 36000 seconds, got -1"},
		{"fractional offset", Plan{Expr: "rate(5minutes)", Offset: 1500 * time.Millisecond},
			"scheduleOffset must be whole seconds, got 1.5s"},
		{"bad expression", Plan{Expr: "rate(5 weeks)"}, `rate: unit must be minute(s), hour(s) or day(s), got "weeks"`},
		{"end equals start", Plan{Expr: "rate(5minutes)", StartTime: start, EndTime: start},
			"scheduleEndTime 2024-05-01T00:00:00Z must be after scheduleStartTime 2024-05-01T00:00:00Z"},
		{"end after start", Plan{Expr: "rate(5minutes)", StartTime: start, EndTime: start.Add(time.Minute)}, ""},
		{"only end", Plan{Expr: "rate(5minutes)", EndTime: start}, ""},
	} {
		err := tc.plan.Validate()
		got := ""
		if err != nil {
			got = err.Error()
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("%s: got code %s, want Invalid", tc.name, fault.CodeOf(err))
			}
		}
		if got != tc.want {
			t.Errorf("%s: Validate() = %q, want %q", tc.name, got, tc.want)
		}
		if _, ferr := tc.plan.FirstFire(start); (ferr == nil) != (tc.want == "") {
			t.Errorf("%s: FirstFire error = %v, want error %v", tc.name, ferr, tc.want != "")
		}
	}
}

func TestWindow(t *testing.T) {
	p := func(s string) *time.Time { v := ts(s); return &v }
	for _, tc := range []struct {
		name               string
		prevEnd, firstFrom *time.Time
		fire               string
		offset             time.Duration
		wantStart, wantEnd string
	}{
		{name: "first run looks back 30 days", fire: "2024-03-10T12:00:00Z",
			wantStart: "2024-02-09T12:00:00Z", wantEnd: "2024-03-10T12:00:00Z"},
		{name: "first run: offset shifts the end only", fire: "2024-03-10T12:00:00Z", offset: time.Hour,
			wantStart: "2024-02-09T12:00:00Z", wantEnd: "2024-03-10T11:00:00Z"},
		{name: "first run from firstExecutionFrom", firstFrom: p("2024-01-01T00:00:00Z"),
			fire: "2024-03-10T12:00:00Z", offset: 10 * time.Minute,
			wantStart: "2024-01-01T00:00:00Z", wantEnd: "2024-03-10T11:50:00Z"},
		{name: "later run starts where the last success ended", prevEnd: p("2024-03-10T11:50:00Z"),
			firstFrom: p("2024-01-01T00:00:00Z"), fire: "2024-03-10T13:00:00Z", offset: 10 * time.Minute,
			wantStart: "2024-03-10T11:50:00Z", wantEnd: "2024-03-10T12:50:00Z"},
		{name: "firstExecutionFrom in the future gives an empty window", firstFrom: p("2024-04-01T00:00:00Z"),
			fire: "2024-03-10T12:00:00Z", wantStart: "2024-04-01T00:00:00Z", wantEnd: "2024-04-01T00:00:00Z"},
		{name: "offset raised between runs never moves the watermark back", prevEnd: p("2024-03-10T12:00:00Z"),
			fire: "2024-03-10T12:05:00Z", offset: time.Hour,
			wantStart: "2024-03-10T12:00:00Z", wantEnd: "2024-03-10T12:00:00Z"},
		{name: "zoned inputs come back in UTC", fire: "2024-03-10T08:00:00-04:00",
			wantStart: "2024-02-09T12:00:00Z", wantEnd: "2024-03-10T12:00:00Z"},
	} {
		start, end := Window(tc.prevEnd, tc.firstFrom, ts(tc.fire), tc.offset)
		if got := start.Format(time.RFC3339) + " " + start.Location().String(); got != tc.wantStart+" UTC" {
			t.Errorf("%s: start = %s, want %s UTC", tc.name, got, tc.wantStart)
		}
		if got := end.Format(time.RFC3339) + " " + end.Location().String(); got != tc.wantEnd+" UTC" {
			t.Errorf("%s: end = %s, want %s UTC", tc.name, got, tc.wantEnd)
		}
	}
}

// TestWindowChain runs a 5-minute schedule with a 1-hour offset (larger than
// the interval, which the spec allows) where some runs fail: windows chain end
// to start, and a failure leaves the watermark where the last success put it.
func TestWindowChain(t *testing.T) {
	plan := Plan{Expr: "rate(5minutes)", Offset: time.Hour}
	fire, err := plan.FirstFire(ts("2024-03-10T12:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	var watermark *time.Time
	succeeds := []bool{true, false, false, true, true}
	want := [][2]string{
		{"2024-02-09T12:00:00Z", "2024-03-10T11:00:00Z"},
		{"2024-03-10T11:00:00Z", "2024-03-10T11:05:00Z"}, // fails
		{"2024-03-10T11:00:00Z", "2024-03-10T11:10:00Z"}, // fails, same start
		{"2024-03-10T11:00:00Z", "2024-03-10T11:15:00Z"}, // catches up in one window
		{"2024-03-10T11:15:00Z", "2024-03-10T11:20:00Z"},
	}
	for i, ok := range succeeds {
		start, end := Window(watermark, nil, fire, plan.Offset)
		if got := [2]string{fmtTime(start), fmtTime(end)}; got != want[i] {
			t.Errorf("run %d at %s: window %v, want %v", i, fmtTime(fire), got, want[i])
		}
		if ok {
			watermark = &end
		}
		if fire, err = plan.NextFire(fire); err != nil {
			t.Fatal(err)
		}
	}
}
