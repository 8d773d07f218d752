// Package sngtest is a stand-in for Singular's Reporting API, written from
// its public reference (support.singular.net "Reporting API Reference")
// and Singular's own client (singular-labs/singular_api_client): the API
// key in the Authorization header (bare) or the api_key parameter;
// answers wrapped as {"status":0,"substatus":0,"value":...}, a failure as
// status != 0 with the message in value; GET v2.0/reporting/filters and
// custom_dimensions for the catalog; POST v2.0/create_async_report
// (form-encoded: start_date, end_date, dimensions, metrics,
// discrepancy_metrics, format, time_breakdown, filters as a JSON list of
// {"dimension","operator":"in","values"}) → value.report_id; GET
// v2.0/get_report_status?report_id= → value{status QUEUED|STARTED|DONE|
// FAILED, download_url, url_expires_in, error_message}; the download, a
// pre-signed URL needing no key, answers {"results":[row...]}.
//
// Rows are stored per day; a report groups the days' rows by the asked
// dimensions (and the day, for time_breakdown=day) and sums the metrics.
// Choices where the reference is silent: a throttled create answers 429
// with Retry-After; a report is QUEUED for Polls status calls.
package sngtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// APIKey is the key the stand-in accepts.
const APIKey = "sng-api-key"

// Row is one day's stored row: dimension names to strings, metric names
// to numbers.
type Row map[string]any

// Metrics the stand-in sums (the reference's metric and discrepancy
// metric names); any other field is a dimension.
var Metrics = map[string]bool{"adn_impressions": true, "adn_cost": true, "adn_original_cost": true, "custom_clicks": true,
	"custom_installs": true, "adn_clicks": true, "adn_installs": true, "tracker_clicks": true, "tracker_installs": true}

// Server is a running stand-in.
type Server struct {
	*fakeapi.Server
	throttle fakeapi.Throttle

	mu        sync.Mutex
	days      map[string][]Row
	malformed map[string]bool
	reports   map[string]*report
	next      int
	polls     int
	failNext  string
	created   []map[string]string
	downloads int
}

type report struct {
	polls   int
	results []Row
	failed  string
	broken  bool
}

// New starts a stand-in that ends with the test.
func New(t testing.TB) *Server {
	s := &Server{days: map[string][]Row{}, malformed: map[string]bool{}, reports: map[string]*report{}, polls: 1}
	s.Server = fakeapi.StartFunc(t, s.serve) // URL is the host (what https://api.singular.net is for the real API)
	return s
}

// Add stores rows for a day (YYYY-MM-DD).
func (s *Server) Add(day string, rows ...Row) {
	s.mu.Lock()
	s.days[day] = append(s.days[day], rows...)
	s.mu.Unlock()
}

// Malformed makes reports covering day download a body that is not JSON.
func (s *Server) Malformed(day string) {
	s.mu.Lock()
	s.malformed[day] = true
	s.mu.Unlock()
}

// Polls sets how many status calls a report stays QUEUED.
func (s *Server) Polls(n int) {
	s.mu.Lock()
	s.polls = n
	s.mu.Unlock()
}

// Throttle makes the next n report creations answer 429 with Retry-After.
func (s *Server) Throttle(n int, after string) { s.throttle.Set(n, after) }

// FailNext makes the next report end FAILED with msg.
func (s *Server) FailNext(msg string) {
	s.mu.Lock()
	s.failNext = msg
	s.mu.Unlock()
}

// Created lists the parameters of every report created, in order.
func (s *Server) Created() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.created...)
}

// Downloads counts report downloads.
func (s *Server) Downloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downloads
}

func reply(w http.ResponseWriter, code int, status int, value any) {
	fakeapi.WriteJSON(w, code, map[string]any{"status": status, "substatus": status, "value": value})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/download/") {
		s.download(w, r)
		return
	}
	key := r.Header.Get("Authorization")
	if key == "" {
		key = r.URL.Query().Get("api_key")
	}
	switch {
	case key == "":
		reply(w, http.StatusUnauthorized, 1, "Missing API Key")
		return
	case key != APIKey:
		reply(w, http.StatusUnauthorized, 1, "Invalid API Key")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2.0/reporting/filters":
		reply(w, 200, 0, map[string]any{"dimensions": []any{
			map[string]any{"name": "app", "display_name": "App", "values": []any{map[string]any{"name": "Acme", "display_name": "Acme"}}},
			map[string]any{"name": "source", "display_name": "Source", "values": []any{map[string]any{"name": "adwords", "display_name": "AdWords"}}},
			map[string]any{"name": "os", "display_name": "OS", "values": []any{map[string]any{"name": 4, "display_name": "Android"}}},
		}})
	case r.Method == http.MethodGet && r.URL.Path == "/api/custom_dimensions":
		reply(w, 200, 0, map[string]any{"custom_dimensions": []any{map[string]any{"id": "8e10a0ca9b6d4a1c", "display_name": "Team"}}})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2.0/create_async_report":
		s.create(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2.0/get_report_status":
		s.status(w, r)
	default:
		reply(w, http.StatusNotFound, 1, "Unknown endpoint")
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		reply(w, 400, 1, err.Error())
		return
	}
	p := map[string]string{}
	for k := range r.PostForm {
		p[k] = r.PostForm.Get(k)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle.Take(w) {
		reply(w, http.StatusTooManyRequests, 1, "Too many concurrent reports")
		return
	}
	s.created = append(s.created, p)
	start, err1 := time.Parse("2006-01-02", p["start_date"])
	end, err2 := time.Parse("2006-01-02", p["end_date"])
	if err1 != nil || err2 != nil || end.Before(start) {
		reply(w, 400, 1, "start_date and end_date must be YYYY-MM-DD, start_date not after end_date")
		return
	}
	if p["format"] != "json" && p["format"] != "" {
		reply(w, 400, 1, "unsupported format")
		return
	}
	var filters []struct {
		Dimension string `json:"dimension"`
		Operator  string `json:"operator"`
		Values    []any  `json:"values"`
	}
	if f := p["filters"]; f != "" {
		if err := json.Unmarshal([]byte(f), &filters); err != nil {
			reply(w, 400, 1, "filters is not a JSON list")
			return
		}
	}
	split := func(v string) []string {
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	dims := split(p["dimensions"])
	metrics := append(split(p["metrics"]), split(p["discrepancy_metrics"])...)
	byDay := p["time_breakdown"] == "day"
	rep := &report{failed: s.failNext}
	s.failNext = ""
	groups := map[string]Row{}
	var order []string
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		day := d.Format("2006-01-02")
		if s.malformed[day] {
			rep.broken = true
		}
	rows:
		for _, row := range s.days[day] {
			for _, f := range filters {
				ok := false
				for _, v := range f.Values {
					ok = ok || fmt.Sprint(v) == fmt.Sprint(row[f.Dimension])
				}
				if f.Operator != "in" || !ok {
					continue rows
				}
			}
			key := ""
			out := Row{}
			if byDay {
				key, out["start_date"], out["end_date"] = day, day, day
			} else {
				out["start_date"], out["end_date"] = p["start_date"], p["end_date"]
			}
			for _, dm := range dims {
				v, _ := row[dm].(string)
				key += "\x00" + v
				out[dm] = v
			}
			g, ok := groups[key]
			if !ok {
				g = out
				for _, m := range metrics {
					g[m] = 0.0
				}
				groups[key] = g
				order = append(order, key)
			}
			for _, m := range metrics {
				n, _ := row[m].(float64)
				g[m] = g[m].(float64) + n
			}
		}
	}
	for _, k := range order {
		rep.results = append(rep.results, groups[k])
	}
	s.next++
	id := "r" + strconv.Itoa(s.next)
	rep.polls = s.polls
	s.reports[id] = rep
	reply(w, 200, 0, map[string]any{"report_id": id})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("report_id")
	s.mu.Lock()
	rep, ok := s.reports[id]
	if !ok {
		s.mu.Unlock()
		reply(w, 200, 1, "Report "+id+" not found")
		return
	}
	v := map[string]any{"report_id": id}
	switch {
	case rep.polls > 0:
		rep.polls--
		v["status"] = "QUEUED"
	case rep.failed != "":
		v["status"], v["error_message"] = "FAILED", rep.failed
	default:
		v["status"], v["download_url"], v["url_expires_in"] = "DONE", s.URL()+"/download/"+id+"?X-Amz-Signature=abc", 600
	}
	s.mu.Unlock()
	reply(w, 200, 0, v)
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/download/")
	s.mu.Lock()
	rep, ok := s.reports[id]
	s.downloads++
	s.mu.Unlock()
	if !ok || r.URL.Query().Get("X-Amz-Signature") == "" {
		http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
		return
	}
	if r.Header.Get("Authorization") != "" {
		http.Error(w, "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.broken {
		fmt.Fprint(w, `{"results": [{"app": "A", `)
		return
	}
	results := rep.results
	if results == nil {
		results = []Row{}
	}
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"results": results})
}
