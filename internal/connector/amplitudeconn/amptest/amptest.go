// Package amptest is a stand-in for Amplitude's Export API, written from
// its public documentation (amplitude.com/docs/apis/analytics/export):
// GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH with HTTP Basic
// apiKey:secretKey answers a ZIP archive holding one gzipped JSON Lines
// file per hour of data, selected on server_upload_time (UTC), both hours
// inclusive; 404 when the range holds no data; 400 past the size limit
// (4 GB there, Limit here) or for a range over 365 days.
//
// Choices where the documentation is silent (connectors-saas-1 §7.3):
// bad keys answer 401 with a text body; a rate limit, when a test asks
// for one, answers 429 with Retry-After; an hour's file is split in parts
// of FileLines events (entry names <project>/<project>_<date>_<hour>#<n>.json.gz).
package amptest

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Test credentials.
const (
	APIKey    = "amp-api-key"
	SecretKey = "amp-secret-key"
	Project   = "187520"
)

// Event is one raw event; server_upload_time ("2006-01-02 15:04:05.000000",
// UTC) places it in an hour.
type Event map[string]any

// Server is a running stand-in.
type Server struct {
	*fakeapi.Server
	throttle fakeapi.Throttle

	mu        sync.Mutex
	hours     map[string][]Event // "2006010215" -> events
	malformed map[string]bool
	limit     int
	fileLines int
	requests  fakeapi.Log
}

// New starts a stand-in that ends with the test.
func New(t testing.TB) *Server {
	s := &Server{hours: map[string][]Event{}, malformed: map[string]bool{}, fileLines: 1000}
	s.Server = fakeapi.StartFunc(t, s.serve) // URL is the base URL (what https://amplitude.com is for the real API)
	return s
}

const timeLayout = "2006-01-02 15:04:05.000000"

// Time formats t as Amplitude writes timestamps.
func Time(t time.Time) string { return t.UTC().Format(timeLayout) }

// Add stores events by their server_upload_time.
func (s *Server) Add(events ...Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		ts, _ := e["server_upload_time"].(string)
		t, err := time.Parse(timeLayout, ts)
		if err != nil {
			panic(fmt.Sprintf("amptest: event without a server_upload_time: %v", e))
		}
		h := t.Format("2006010215")
		s.hours[h] = append(s.hours[h], e)
	}
}

// Malformed makes the hour holding t answer a file that is not gzip.
func (s *Server) Malformed(t time.Time) {
	s.mu.Lock()
	s.malformed[t.UTC().Format("2006010215")] = true
	s.mu.Unlock()
}

// Throttle makes the next n exports answer 429 with Retry-After: after.
func (s *Server) Throttle(n int, after string) { s.throttle.Set(n, after) }

// Limit makes exports whose archive would exceed n bytes answer 400, as
// the real API does past 4 GB; 0: no limit.
func (s *Server) Limit(n int) {
	s.mu.Lock()
	s.limit = n
	s.mu.Unlock()
}

// FileLines sets how many events an hour's file part holds.
func (s *Server) FileLines(n int) {
	s.mu.Lock()
	s.fileLines = n
	s.mu.Unlock()
}

// Requests lists the ranges asked for ("start-end"), answered or not.
func (s *Server) Requests() []string { return s.requests.Lines() }

var hourRE = regexp.MustCompile(`^\d{8}T\d{2}$`)

func parseHour(v string) (time.Time, bool) {
	if !hourRE.MatchString(v) {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T15", v)
	return t, err == nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/api/2/export" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != APIKey || p != SecretKey {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "Invalid API key or secret key")
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	s.requests.Add(q.Get("start") + "-" + q.Get("end"))
	if s.throttle.Take(w) {
		s.mu.Unlock()
		http.Error(w, "Too many requests", http.StatusTooManyRequests)
		return
	}
	s.mu.Unlock()
	start, ok1 := parseHour(q.Get("start"))
	end, ok2 := parseHour(q.Get("end"))
	if !ok1 || !ok2 || end.Before(start) {
		http.Error(w, "Invalid start or end: want YYYYMMDDTHH, start not after end", http.StatusBadRequest)
		return
	}
	if end.Sub(start) > 365*24*time.Hour {
		http.Error(w, "The time range may not exceed 365 days", http.StatusBadRequest)
		return
	}
	body, n, err := s.archive(start, end)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if n == 0 {
		http.Error(w, "No data available for the time range", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	limit := s.limit
	s.mu.Unlock()
	if limit > 0 && len(body) > limit {
		http.Error(w, "Export size exceeds the limit; choose a smaller time range", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// archive builds the ZIP of the hours in [start, end]; n counts its files.
func (s *Server) archive(start, end time.Time) ([]byte, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hours []string
	for h := range s.hours {
		t, _ := time.Parse("2006010215", h)
		if !t.Before(start) && !t.After(end) {
			hours = append(hours, h)
		}
	}
	for h := range s.malformed {
		t, _ := time.Parse("2006010215", h)
		if !t.Before(start) && !t.After(end) && len(s.hours[h]) == 0 {
			hours = append(hours, h)
		}
	}
	sort.Strings(hours)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	n := 0
	for _, h := range hours {
		t, _ := time.Parse("2006010215", h)
		evs := s.hours[h]
		for part := 0; part == 0 || part*s.fileLines < len(evs); part++ {
			name := fmt.Sprintf("%s/%s_%s_%d#%d.json.gz", Project, Project, t.Format("2006-01-02"), t.Hour(), part)
			f, err := zw.Create(name)
			if err != nil {
				return nil, 0, err
			}
			n++
			if s.malformed[h] {
				fmt.Fprint(f, "this is not gzip")
				break
			}
			gz := gzip.NewWriter(f)
			for _, e := range evs[part*s.fileLines : min(len(evs), (part+1)*s.fileLines)] {
				b, err := json.Marshal(e)
				if err != nil {
					return nil, 0, err
				}
				gz.Write(append(b, '\n'))
			}
			if err := gz.Close(); err != nil {
				return nil, 0, err
			}
		}
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), n, nil
}
