// Package ddtest is a documented-API stand-in for Datadog (connectors-saas-1
// §5.3): GET /api/v1/validate, GET /api/v1/query (metrics timeseries points,
// from/to in Unix seconds, no paging), POST /api/v2/logs/events/search
// (cursor paging through meta.page.after, page.limit ≤ 1000), the
// DD-API-KEY / DD-APPLICATION-KEY headers, {"errors":[...]} bodies, and
// HTTP 429 with the X-RateLimit-* headers while a throttle is set.
//
// Simplifications: a logs query is "*" (everything) or "service:<name>";
// logs are matched with from ≤ timestamp ≤ to (both ends inclusive, the
// pessimistic reading); metrics are stored per exact query string and their
// pointlists trimmed to [from, to].
package ddtest

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Keys the server accepts.
const (
	APIKey = "k"
	AppKey = "a"
)

// Log is one stored log event.
type Log struct {
	ID        string
	Timestamp time.Time
	Host      string
	Service   string
	Status    string
	Message   string
	Tags      []string
	// Attributes are the custom attributes (attributes.attributes).
	Attributes map[string]any
}

// Series is one stored metric series; Points are [ms, value] pairs.
type Series struct {
	Metric, Scope, Expression, Aggr string
	TagSet                          []string
	Interval                        int
	Points                          [][2]float64
}

// Server is a running stand-in.
type Server struct {
	*fakeapi.Server
	calls fakeapi.Counter

	mu        sync.Mutex
	logs      []Log
	malformed map[string]bool // services whose search answers non-JSON
	series    map[string][]Series
	queries   []url
	throttle  int
	reset     int // X-RateLimit-Reset of a throttled answer, in seconds
}

type url struct{ Path, Query, From, To string }

// New starts a server closed when t ends.
func New(t testing.TB) *Server {
	s := &Server{malformed: map[string]bool{}, series: map[string][]Series{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/validate", s.validate)
	mux.HandleFunc("GET /api/v1/query", s.query)
	mux.HandleFunc("POST /api/v2/logs/events/search", s.search)
	s.Server = fakeapi.Start(t, mux) // URL is the site root, as a profile's instanceUrl
	return s
}

// AddLogs stores log events.
func (s *Server) AddLogs(ls ...Log) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, ls...)
}

// Malformed makes searches for service:<service> answer a body that is not JSON.
func (s *Server) Malformed(service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.malformed[service] = true
}

// AddSeries stores the series a metrics query answers.
func (s *Server) AddSeries(query string, ss ...Series) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.series[query] = append(s.series[query], ss...)
}

// Throttle makes the next n logs searches answer 429, the period
// resetting in 4 s.
func (s *Server) Throttle(n int) { s.ThrottleFor(n, 4) }

// ThrottleFor makes the next n logs searches answer 429 with
// X-RateLimit-Reset: reset (seconds until the period resets).
func (s *Server) ThrottleFor(n, reset int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.reset = n, reset
}

// Calls counts requests by path.
func (s *Server) Calls(path string) int { return s.calls.Get(path) }

// Requests lists the data requests received, as "path query from to".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, q := range s.queries {
		out = append(out, strings.Join([]string{q.Path, q.Query, q.From, q.To}, " "))
	}
	return out
}

func fail(w http.ResponseWriter, code int, msg string) {
	fakeapi.WriteJSON(w, code, map[string]any{"errors": []string{msg}})
}

func (s *Server) auth(w http.ResponseWriter, r *http.Request, app bool) bool {
	s.calls.Inc(r.URL.Path)
	if r.Header.Get("DD-API-KEY") != APIKey || app && r.Header.Get("DD-APPLICATION-KEY") != AppKey {
		fail(w, http.StatusForbidden, "Forbidden")
		return false
	}
	return true
}

func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	if s.auth(w, r, false) {
		fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"valid": true})
	}
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	if !s.auth(w, r, true) {
		return
	}
	q := r.URL.Query()
	query := q.Get("query")
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
	if query == "" {
		fail(w, http.StatusBadRequest, "The value provided for parameter 'query' is invalid")
		return
	}
	if err1 != nil || err2 != nil || from > to {
		fail(w, http.StatusBadRequest, "The value provided for parameter 'from' or 'to' is invalid")
		return
	}
	s.mu.Lock()
	s.queries = append(s.queries, url{r.URL.Path, query, q.Get("from"), q.Get("to")})
	stored := s.series[query]
	s.mu.Unlock()
	series := []map[string]any{}
	for i, ser := range stored {
		pts := [][2]float64{}
		for _, p := range ser.Points {
			if p[0] >= float64(from*1000) && p[0] <= float64(to*1000) {
				pts = append(pts, p)
			}
		}
		if len(pts) == 0 {
			continue
		}
		series = append(series, map[string]any{"metric": ser.Metric, "display_name": ser.Metric, "scope": ser.Scope,
			"tag_set": ser.TagSet, "aggr": ser.Aggr, "expression": ser.Expression, "interval": ser.Interval,
			"length": len(pts), "start": int64(pts[0][0]), "end": int64(pts[len(pts)-1][0]) + int64(ser.Interval)*1000 - 1000,
			"query_index": i, "unit": nil, "pointlist": pts})
	}
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "res_type": "time_series", "query": query,
		"from_date": from * 1000, "to_date": to * 1000, "group_by": []string{}, "message": "", "error": nil, "series": series})
}

func parseTime(s string) (time.Time, bool) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	if !s.auth(w, r, true) {
		return
	}
	s.mu.Lock()
	if s.throttle > 0 {
		s.throttle--
		reset := s.reset
		s.mu.Unlock()
		h := w.Header()
		h.Set("X-RateLimit-Limit", "2")
		h.Set("X-RateLimit-Period", "10")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.Itoa(reset))
		h.Set("X-RateLimit-Name", "logs_query")
		fail(w, http.StatusTooManyRequests, "Too many requests")
		return
	}
	s.mu.Unlock()
	var body struct {
		Filter struct {
			Query   string   `json:"query"`
			From    string   `json:"from"`
			To      string   `json:"to"`
			Indexes []string `json:"indexes"`
		} `json:"filter"`
		Sort string `json:"sort"`
		Page struct {
			Limit  int    `json:"limit"`
			Cursor string `json:"cursor"`
		} `json:"page"`
	}
	if err := fakeapi.ReadJSON(r, &body); err != nil {
		fail(w, http.StatusBadRequest, "Invalid JSON body")
		return
	}
	if body.Page.Limit > 1000 {
		fail(w, http.StatusBadRequest, "page[limit] must be at most 1000")
		return
	}
	limit := body.Page.Limit
	if limit <= 0 {
		limit = 10
	}
	from, ok1 := parseTime(body.Filter.From)
	to, ok2 := parseTime(body.Filter.To)
	if !ok1 || !ok2 {
		fail(w, http.StatusBadRequest, "invalid filter.from or filter.to")
		return
	}
	query := body.Filter.Query
	if query == "" {
		query = "*"
	}
	service, bySvc := strings.CutPrefix(query, "service:")
	if !bySvc && query != "*" {
		fail(w, http.StatusBadRequest, "ddtest understands only * and service:<name>")
		return
	}
	s.mu.Lock()
	s.queries = append(s.queries, url{r.URL.Path, query, body.Filter.From, body.Filter.To})
	if bySvc && s.malformed[service] {
		s.mu.Unlock()
		fakeapi.WriteRawJSON(w, http.StatusOK, `{"data":[{"id":`)
		return
	}
	var match []Log
	for _, l := range s.logs {
		if (!bySvc || l.Service == service) && !l.Timestamp.Before(from) && !l.Timestamp.After(to) {
			match = append(match, l)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(match, func(i, j int) bool { return match[i].Timestamp.Before(match[j].Timestamp) })
	off := 0
	if c := body.Page.Cursor; c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "c"))
		if err != nil || n < 0 || n > len(match) {
			fail(w, http.StatusBadRequest, "invalid page cursor")
			return
		}
		off = n
	}
	end := min(off+limit, len(match))
	data := []map[string]any{}
	for _, l := range match[off:end] {
		attrs := l.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		tags := l.Tags
		if tags == nil {
			tags = []string{}
		}
		data = append(data, map[string]any{"id": l.ID, "type": "log", "attributes": map[string]any{
			"timestamp": l.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"), "host": l.Host, "service": l.Service,
			"status": l.Status, "message": l.Message, "tags": tags, "attributes": attrs}})
	}
	page := map[string]any{}
	links := map[string]any{}
	if end < len(match) {
		page["after"] = "c" + strconv.Itoa(end)
		links["next"] = s.URL() + r.URL.Path
	}
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"data": data, "links": links,
		"meta": map[string]any{"page": page, "status": "done", "elapsed": 1, "request_id": "req"}})
}
