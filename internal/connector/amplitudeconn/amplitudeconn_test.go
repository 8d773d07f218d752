package amplitudeconn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/amplitudeconn/amptest"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) policy() retry.Policy {
	return retry.Policy{Attempts: 4, Jitter: func() float64 { return 0 }, Sleep: func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		s.d = append(s.d, d)
		s.mu.Unlock()
		return ctx.Err()
	}}
}

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func openTest(t *testing.T, srv *amptest.Server, key, secret string, opts Options) *Driver {
	t.Helper()
	if opts.Retry.Sleep == nil {
		opts.Retry = (&sleeps{}).policy()
	}
	d, err := Open(connector.Deps{HTTPClient: srv.Client(), Endpoints: connector.Endpoints{connector.EndpointAmplitude: srv.URL()},
		Now: func() time.Time { return base.Add(30 * 24 * time.Hour) }},
		connector.Profile{Name: "amp", Credentials: json.RawMessage(fmt.Sprintf(`{"apiKey":%q,"secretKey":%q}`, key, secret))}, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

func ms(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

func between(from, to time.Time) connector.Filter {
	return connector.Filter{Field: UploadTime, Operator: "BETWEEN", Values: []string{ms(from), ms(to)}, DataType: "datetime"}
}

type harness struct {
	srv *amptest.Server
	day int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.srv, amptest.APIKey, amptest.SecretKey, Options{})
}

// Seed puts each table's rows as events of a fresh day, a second apart,
// so that big tables span several hours and file parts.
func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.day++
	day := base.Add(time.Duration(h.day) * 24 * time.Hour)
	var names []string
	n := 0
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			ev := amptest.Event{"server_upload_time": amptest.Time(day.Add(time.Duration(n) * time.Second)), "event_type": "seed"}
			for i, f := range tb.Fields {
				ev[f] = row[i]
			}
			h.srv.Add(ev)
			n++
		}
	}
	return &connector.ReadRequest{Object: Events, Fields: names, Filters: []connector.Filter{between(day, day.Add(24*time.Hour-time.Millisecond))}}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.day++
	day := base.Add(time.Duration(h.day) * 24 * time.Hour)
	h.srv.Malformed(day.Add(time.Hour))
	return &connector.ReadRequest{Object: Events, Fields: []string{"uuid"}, Filters: []connector.Filter{between(day, day.Add(24*time.Hour-time.Millisecond))}}, Events
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{srv: amptest.New(t)})
}

func readAll(t *testing.T, d *Driver, req *connector.ReadRequest) ([]map[string]string, error) {
	t.Helper()
	ctx := context.Background()
	splits, err := d.Splits(ctx, req)
	if err != nil {
		return nil, err
	}
	var rows []map[string]string
	for _, s := range splits {
		err := d.ReadSplit(ctx, req, s, func(b *record.Batch) error {
			for i := range b.Len() {
				r := map[string]string{}
				for j, v := range b.Row(i) {
					if v.K != record.Missing && v.Text() != "" {
						r[b.Fields[j]] = v.Text()
					}
				}
				rows = append(rows, r)
			}
			return nil
		})
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func event(uuid string, at time.Time, extra ...any) amptest.Event {
	e := amptest.Event{"uuid": uuid, "event_type": "login", "user_id": "u-" + uuid, "server_upload_time": amptest.Time(at),
		"event_time": amptest.Time(at.Add(-3 * time.Second)), "event_properties": map[string]any{"plan": "pro"}}
	for i := 0; i+1 < len(extra); i += 2 {
		e[extra[i].(string)] = extra[i+1]
	}
	return e
}

// TestRangeHoursAndTrim: a BETWEEN of 00:30..02:15 asks for hours 00..02
// and keeps only the events inside; unknown keys come with Map_all.
func TestRangeHoursAndTrim(t *testing.T) {
	srv := amptest.New(t)
	srv.Add(event("a", base.Add(10*time.Minute)), event("b", base.Add(40*time.Minute), "new_key", "x"),
		event("c", base.Add(2*time.Hour+15*time.Minute)), event("d", base.Add(2*time.Hour+16*time.Minute)))
	d := openTest(t, srv, amptest.APIKey, amptest.SecretKey, Options{})
	req := &connector.ReadRequest{Object: Events, Filters: []connector.Filter{between(base.Add(30*time.Minute), base.Add(2*time.Hour+15*time.Minute))}}
	rows, err := readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["uuid"] != "b" || rows[1]["uuid"] != "c" {
		t.Fatalf("rows %v, want b and c", rows)
	}
	if rows[0]["new_key"] != "x" || rows[0]["event_properties"] != `{"plan":"pro"}` || rows[0]["server_upload_time"] != "2024-01-01 00:40:00.000000" {
		t.Errorf("row %v", rows[0])
	}
	if got := srv.Requests(); !slices.Equal(got, []string{"20240101T00-20240101T02"}) {
		t.Errorf("requests %q", got)
	}
}

// TestWindowNoDataAndLongRanges: a window [00:00, 24:00) asks T00..T23; a
// range with no data (404) is empty; over 365 days is several exports.
func TestWindowNoDataAndLongRanges(t *testing.T) {
	srv := amptest.New(t)
	srv.Add(event("a", base.Add(23*time.Hour+59*time.Minute)), event("b", base.Add(24*time.Hour)))
	d := openTest(t, srv, amptest.APIKey, amptest.SecretKey, Options{})
	rows, err := readAll(t, d, &connector.ReadRequest{Object: Events, Fields: []string{"uuid"}, Window: &connector.Window{Field: UploadTime, Start: base, End: base.Add(24 * time.Hour)}})
	if err != nil || len(rows) != 1 || rows[0]["uuid"] != "a" {
		t.Fatalf("rows %v, err %v", rows, err)
	}
	rows, err = readAll(t, d, &connector.ReadRequest{Object: Events, Fields: []string{"uuid"}, Filters: []connector.Filter{between(base.Add(-48*time.Hour), base.Add(-time.Hour))}})
	if err != nil || len(rows) != 0 {
		t.Fatalf("empty range: rows %v, err %v", rows, err)
	}
	from := base.Add(-400 * 24 * time.Hour)
	ss, err := d.Splits(context.Background(), &connector.ReadRequest{Object: Events, Window: &connector.Window{Start: from, End: base.Add(25 * time.Hour)}})
	if err != nil || len(ss) != 2 {
		t.Fatalf("400 days: %d splits, %v", len(ss), err)
	}
	rows, err = readAll(t, d, &connector.ReadRequest{Object: Events, Fields: []string{"uuid"}, Window: &connector.Window{Start: from, End: base.Add(25 * time.Hour)}})
	if err != nil || len(rows) != 2 {
		t.Fatalf("400 days: rows %v, err %v", rows, err)
	}
	want := []string{"20240101T00-20240101T23", "20231230T00-20231231T23",
		from.Format(hourLayout) + "-" + from.Add(365*24*time.Hour-time.Hour).Format(hourLayout),
		from.Add(365*24*time.Hour).Format(hourLayout) + "-20240102T00"}
	if got := srv.Requests(); !slices.Equal(got, want) {
		t.Errorf("requests\n got %q\nwant %q", got, want)
	}
	ctx := context.Background()
	if _, err := d.Splits(ctx, &connector.ReadRequest{Object: Events}); !fault.Is(err, fault.Invalid) {
		t.Errorf("no range: %v, want Invalid", err)
	}
	if _, err := d.Splits(ctx, &connector.ReadRequest{Object: "users", Window: &connector.Window{Start: base, End: base.Add(time.Hour)}}); !fault.Is(err, fault.Invalid) {
		t.Errorf("unknown entity: %v", err)
	}
}

// TestTooLargeHalves: a 400 halves the hours until each export fits; a
// single hour that does not fit fails naming the S3 export.
func TestTooLargeHalves(t *testing.T) {
	srv := amptest.New(t)
	var evs []amptest.Event
	for h := range 4 {
		for i := range 50 {
			evs = append(evs, event(fmt.Sprintf("%d-%d", h, i), base.Add(time.Duration(h)*time.Hour+time.Duration(i)*time.Second)))
		}
	}
	srv.Add(evs...)
	d := openTest(t, srv, amptest.APIKey, amptest.SecretKey, Options{})
	one, err := d.export(context.Background(), base, base)
	if err != nil {
		t.Fatal(err)
	}
	srv.Limit(len(one) + 100) // one hour fits, two do not
	rows, err := readAll(t, d, &connector.ReadRequest{Object: Events, Fields: []string{"uuid"}, Filters: []connector.Filter{between(base, base.Add(4*time.Hour-time.Millisecond))}})
	if err != nil || len(rows) != 200 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	want := []string{"20240101T00-20240101T00", "20240101T00-20240101T03", "20240101T00-20240101T01", "20240101T00-20240101T00",
		"20240101T01-20240101T01", "20240101T02-20240101T03", "20240101T02-20240101T02", "20240101T03-20240101T03"}
	if got := srv.Requests(); !slices.Equal(got, want) {
		t.Errorf("requests\n got %q\nwant %q", got, want)
	}
	srv.Limit(10)
	_, err = readAll(t, d, &connector.ReadRequest{Object: Events, Fields: []string{"uuid"}, Filters: []connector.Filter{between(base, base.Add(time.Hour-time.Millisecond))}})
	if !fault.Is(err, fault.ConnectorServer) || !strings.Contains(err.Error(), "S3 export") {
		t.Errorf("one hour too large: %v", err)
	}
}

func TestRunLimit(t *testing.T) {
	srv := amptest.New(t)
	for i := range 100 {
		srv.Add(event(fmt.Sprint(i), base.Add(time.Duration(i)*time.Minute)))
	}
	d := openTest(t, srv, amptest.APIKey, amptest.SecretKey, Options{MaxRunBytes: 2000})
	_, err := readAll(t, d, &connector.ReadRequest{Object: Events, Filters: []connector.Filter{between(base, base.Add(3*time.Hour))}})
	if !fault.Is(err, fault.QuotaExceeded) || !strings.Contains(err.Error(), "25 MB") {
		t.Errorf("over the run limit: %v", err)
	}
	d = openTest(t, srv, amptest.APIKey, amptest.SecretKey, Options{MaxRunBytes: -1})
	if rows, err := readAll(t, d, &connector.ReadRequest{Object: Events, Filters: []connector.Filter{between(base, base.Add(3*time.Hour))}}); err != nil || len(rows) != 100 {
		t.Errorf("no limit: %d rows, %v", len(rows), err)
	}
	// The setting.
	_, err = Open(connector.Deps{Env: func(string) string { return "ten" }}, connector.Profile{Credentials: json.RawMessage(`{"apiKey":"a","secretKey":"b"}`)}, Options{})
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), EnvMaxRunBytes) {
		t.Errorf("bad setting: %v", err)
	}
	d2, err := Open(connector.Deps{Env: func(k string) string { return map[string]string{EnvMaxRunBytes: "0"}[k] }},
		connector.Profile{Credentials: json.RawMessage(`{"apiKey":"a","secretKey":"b"}`)}, Options{})
	if err != nil || d2.maxBytes != 0 {
		t.Errorf("setting 0: %v, limit %d", err, d2.maxBytes)
	}
}

func TestAuthAndThrottle(t *testing.T) {
	srv := amptest.New(t)
	srv.Add(event("a", base.Add(time.Minute)))
	ctx := context.Background()
	if err := openTest(t, srv, amptest.APIKey, amptest.SecretKey, Options{}).CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	err := openTest(t, srv, amptest.APIKey, "wrong", Options{}).CheckProfile(ctx)
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "Invalid API key") {
		t.Errorf("bad secret: %v", err)
	}
	sl := &sleeps{}
	d := openTest(t, srv, amptest.APIKey, amptest.SecretKey, Options{Retry: sl.policy()})
	srv.Throttle(2, "7")
	rows, err := readAll(t, d, &connector.ReadRequest{Object: Events, Fields: []string{"uuid"}, Filters: []connector.Filter{between(base, base.Add(time.Hour))}})
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	if len(sl.d) != 2 || sl.d[0] < 7*time.Second || sl.d[1] < 7*time.Second {
		t.Errorf("waits %v, want two of at least Retry-After 7 s", sl.d)
	}
}

func TestCatalog(t *testing.T) {
	d := openTest(t, amptest.New(t), amptest.APIKey, amptest.SecretKey, Options{})
	ents, err := d.ListEntities(context.Background(), "")
	if err != nil || len(ents["Objects"]) != 1 || ents["Objects"][0].Name != Events {
		t.Fatalf("entities %v %v", ents, err)
	}
	fs, err := d.DescribeEntity(context.Background(), Events)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if (f.Name == UploadTime) != (len(f.FilterOperators) > 0) || (f.Name == UploadTime) != f.IsTimestampForIncremental {
			t.Errorf("field %+v", f)
		}
	}
	if _, err := d.DescribeEntity(context.Background(), "users"); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown entity: %v", err)
	}
}

func TestRegisteredWithCatalog(t *testing.T) {
	r := connector.NewRegistry()
	catalog.RegisterAll(r)
	r.Register(httpconn.Spec(Type, httpconn.Source, Options{}, Open))
	s, ok := r.Lookup(Type)
	if !ok || s.Open == nil {
		t.Fatalf("Amplitude not registered with a driver: %+v", s)
	}
	if !slices.Equal(s.Capabilities.Operators, []string{"BETWEEN"}) || s.Capabilities.MinScheduleMinutes != 24*60 {
		t.Errorf("capabilities not merged with the catalog entry: %+v", s.Capabilities)
	}
}
