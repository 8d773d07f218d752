// Package dttest is a documented-API stand-in for a Dynatrace environment
// (connectors-saas-1 §6.3): GET /api/v2/problems and /api/v2/events with
// from/to, selectors, pageSize and nextPageKey paging (a nextPageKey request
// carries no other parameter), GET /api/v2/metrics/query with flattened
// data points, the "Authorization: Api-Token" header with scopes,
// {"error":{...}} bodies (401 missing/invalid token, 403 missing scope, 400
// with constraintViolations), and a bare 429 (no rate headers) while Slow
// is set.
//
// Simplifications: selectors are recorded, not evaluated, except that a
// metricSelector picks the stored metric of that key; timeframes are epoch
// ms or RFC 3339; a problem or event matches when its start or end falls in
// [from, to]; metrics/query pages over data entries.
package dttest

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Tokens the environment accepts.
const (
	Token          = "dt0c01.ABC.DEF"     // problems.read, events.read, metrics.read
	NoScopeToken   = "dt0c01.NOSCOPE.DEF" // no scope
	DefaultPageMax = 500
)

// Item is a stored problem or event; it must carry startTime and endTime
// (epoch ms, -1 for open).
type Item map[string]any

// Point is one stored metric data point.
type Point struct {
	Dimensions map[string]string
	Timestamp  int64 // ms
	Value      float64
}

// Server is a running stand-in.
type Server struct {
	*fakeapi.Server

	mu        sync.Mutex
	problems  []Item
	events    []Item
	metrics   map[string][]Point
	malformed map[string]bool
	pages     map[string]page
	nextKey   int
	requests  fakeapi.Log
	slow      bool
	calls     int
	// MetricsPage is how many data entries one metrics/query page holds.
	MetricsPage int
}

type page struct {
	kind string
	q    map[string]string
	off  int
}

// New starts a server closed when t ends.
func New(t testing.TB) *Server {
	s := &Server{metrics: map[string][]Point{}, malformed: map[string]bool{}, pages: map[string]page{}, MetricsPage: 1000}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/problems", func(w http.ResponseWriter, r *http.Request) { s.list(w, r, "problems") })
	mux.HandleFunc("GET /api/v2/events", func(w http.ResponseWriter, r *http.Request) { s.list(w, r, "events") })
	mux.HandleFunc("GET /api/v2/metrics/query", func(w http.ResponseWriter, r *http.Request) { s.list(w, r, "metrics") })
	s.Server = fakeapi.Start(t, mux) // URL is the environment root, as a profile's instanceUrl
	return s
}

// AddProblems stores problems.
func (s *Server) AddProblems(ps ...Item) {
	s.mu.Lock()
	s.problems = append(s.problems, ps...)
	s.mu.Unlock()
}

// AddEvents stores events.
func (s *Server) AddEvents(es ...Item) {
	s.mu.Lock()
	s.events = append(s.events, es...)
	s.mu.Unlock()
}

// AddPoints stores data points of a metric key.
func (s *Server) AddPoints(metric string, ps ...Point) {
	s.mu.Lock()
	s.metrics[metric] = append(s.metrics[metric], ps...)
	s.mu.Unlock()
}

// Malformed makes metrics/query for the metric answer a body that is not JSON.
func (s *Server) Malformed(metric string) { s.mu.Lock(); s.malformed[metric] = true; s.mu.Unlock() }

// Slow makes every request answer a bare 429 while set.
func (s *Server) Slow(on bool) { s.mu.Lock(); s.slow = on; s.mu.Unlock() }

// Requests lists the first-page requests received, as "kind from to selectors…".
func (s *Server) Requests() []string { return s.requests.Lines() }

// Calls counts every request.
func (s *Server) Calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

func fail(w http.ResponseWriter, code int, msg string, violations ...map[string]string) {
	e := map[string]any{"code": code, "message": msg}
	if len(violations) > 0 {
		e["constraintViolations"] = violations
	}
	fakeapi.WriteJSON(w, code, map[string]any{"error": e})
}

func parseTime(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UnixMilli(), err == nil
}

func num(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return -1
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, kind string) {
	s.mu.Lock()
	s.calls++
	slow := s.slow
	s.mu.Unlock()
	if slow {
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Api-Token ")
	switch {
	case auth == "":
		fail(w, http.StatusUnauthorized, "Missing authorization parameter.")
		return
	case !ok || tok != Token && tok != NoScopeToken:
		fail(w, http.StatusUnauthorized, "Token Authentication failed")
		return
	case tok == NoScopeToken:
		scope := map[string]string{"problems": "problems.read", "events": "events.read", "metrics": "metrics.read"}[kind]
		fail(w, http.StatusForbidden, "Token is missing required scope. Use one of: "+scope)
		return
	}
	q := r.URL.Query()
	var pg page
	if key := q.Get("nextPageKey"); key != "" {
		if len(q) > 1 {
			fail(w, http.StatusBadRequest, "Constraints violated.", map[string]string{"path": "nextPageKey",
				"message": "must not be combined with other query parameters", "parameterLocation": "QUERY", "location": "nextPageKey"})
			return
		}
		s.mu.Lock()
		pg, ok = s.pages[key]
		s.mu.Unlock()
		if !ok || pg.kind != kind {
			fail(w, http.StatusBadRequest, "Invalid nextPageKey")
			return
		}
	} else {
		pg = page{kind: kind, q: map[string]string{}}
		for k := range q {
			pg.q[k] = q.Get(k)
		}
		if q.Get("from") == "" && q.Get("to") == "" { // Dynatrace's default timeframe: the last 2 hours
			now := time.Now()
			pg.q["from"] = strconv.FormatInt(now.Add(-2*time.Hour).UnixMilli(), 10)
			pg.q["to"] = strconv.FormatInt(now.UnixMilli(), 10)
		}
		from, ok1 := parseTime(pg.q["from"])
		to, ok2 := parseTime(pg.q["to"])
		if !ok1 || !ok2 || from > to {
			fail(w, http.StatusBadRequest, "Constraints violated.", map[string]string{"path": "from",
				"message": "from must be a timeframe before to", "parameterLocation": "QUERY", "location": "from"})
			return
		}
		if kind == "metrics" && q.Get("metricSelector") == "" {
			fail(w, http.StatusBadRequest, "Constraints violated.", map[string]string{"path": "metricSelector",
				"message": "must not be empty", "parameterLocation": "QUERY", "location": "metricSelector"})
			return
		}
		var sel []string
		for _, k := range []string{"problemSelector", "eventSelector", "entitySelector", "metricSelector", "resolution"} {
			if v := q.Get(k); v != "" {
				sel = append(sel, k+"="+v)
			}
		}
		s.mu.Lock()
		s.requests.Add(strings.TrimSpace(kind + " " + q.Get("from") + " " + q.Get("to") + " " + strings.Join(sel, " ")))
		s.mu.Unlock()
	}
	from, _ := parseTime(pg.q["from"])
	to, _ := parseTime(pg.q["to"])
	size := DefaultPageMax
	if kind == "events" {
		size = 1000
	}
	if ps := pg.q["pageSize"]; ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > size {
			fail(w, http.StatusBadRequest, fmt.Sprintf("pageSize must be between 1 and %d", size))
			return
		}
		size = n
	}
	if kind == "metrics" {
		s.metricsPage(w, pg, from, to)
		return
	}
	s.mu.Lock()
	src := s.problems
	if kind == "events" {
		src = s.events
	}
	var match []Item
	for _, it := range src {
		st, en := num(it["startTime"]), num(it["endTime"])
		if st >= from && st <= to || en >= from && en <= to {
			match = append(match, it)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(match, func(i, j int) bool { return num(match[i]["startTime"]) < num(match[j]["startTime"]) })
	end := min(pg.off+size, len(match))
	out := map[string]any{"totalCount": len(match), "pageSize": size, kind: append([]Item{}, match[pg.off:end]...)}
	if end < len(match) {
		out["nextPageKey"] = s.keep(page{kind: kind, q: pg.q, off: end})
	}
	fakeapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) keep(p page) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextKey++
	key := fmt.Sprintf("k%d", s.nextKey)
	s.pages[key] = p
	return key
}

func (s *Server) metricsPage(w http.ResponseWriter, pg page, from, to int64) {
	metric := pg.q["metricSelector"]
	s.mu.Lock()
	bad := s.malformed[metric]
	var pts []Point
	for _, p := range s.metrics[metric] {
		if p.Timestamp >= from && p.Timestamp <= to {
			pts = append(pts, p)
		}
	}
	per := s.MetricsPage
	s.mu.Unlock()
	if bad {
		fakeapi.WriteRawJSON(w, http.StatusOK, `{"totalCount":1,"result":[{"metricId":`)
		return
	}
	end := min(pg.off+per, len(pts))
	data := []map[string]any{}
	for _, p := range pts[pg.off:end] {
		keys := make([]string, 0, len(p.Dimensions))
		for k := range p.Dimensions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dims := []string{}
		for _, k := range keys {
			dims = append(dims, p.Dimensions[k])
		}
		data = append(data, map[string]any{"dimensions": dims, "dimensionMap": p.Dimensions,
			"timestamps": []int64{p.Timestamp}, "values": []float64{p.Value}})
	}
	out := map[string]any{"totalCount": 1, "nextPageKey": nil, "resolution": pg.q["resolution"],
		"result": []map[string]any{{"metricId": metric, "data": data}}}
	if end < len(pts) {
		out["nextPageKey"] = s.keep(page{kind: "metrics", q: pg.q, off: end})
	}
	fakeapi.WriteJSON(w, http.StatusOK, out)
}
