// Package fakeapi is the plumbing the vendor stand-ins (the driver
// packages' xxtest fakes) share: a test HTTP server closed when the test
// ends, JSON answers and request bodies, a log of requests and a budget of
// injected failures. Vendor facts (routes, answers, status codes, headers,
// error bodies) stay in each fake; this package knows none of them and
// imports nothing of the module, and no driver's production code may
// import it (internal/importcheck).
package fakeapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server is a running test HTTP server; fakes embed it for URL and Client.
type Server struct {
	srv *httptest.Server
}

// Start serves h until t ends.
func Start(t testing.TB, h http.Handler) *Server {
	s := &Server{srv: httptest.NewServer(h)}
	t.Cleanup(s.srv.Close)
	return s
}

// StartFunc serves f until t ends.
func StartFunc(t testing.TB, f func(http.ResponseWriter, *http.Request)) *Server {
	return Start(t, http.HandlerFunc(f))
}

// URL is the server's root, http://127.0.0.1:port.
func (s *Server) URL() string { return s.srv.URL }

// Client is an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// JSON is the plain JSON media type.
const JSON = "application/json"

// WriteJSON answers status with v as a JSON body of type application/json.
func WriteJSON(w http.ResponseWriter, status int, v any) { JSONAs(JSON)(w, status, v) }

// JSONAs returns a WriteJSON answering with the given Content-Type
// (vendors spell it differently: "application/json;charset=UTF-8").
func JSONAs(contentType string) func(w http.ResponseWriter, status int, v any) {
	return func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
}

// ReadJSON decodes a request's JSON body into v.
func ReadJSON(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }

// Bearer is the token of an "Authorization: Bearer <token>" header, and
// whether there was one.
func Bearer(r *http.Request) (string, bool) {
	return strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// Log records requests (or any lines a fake wants a test to read back);
// its zero value is ready and safe for concurrent use.
type Log struct {
	mu    sync.Mutex
	lines []string
}

// Add records a line.
func (l *Log) Add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

// Lines is a copy of the lines recorded so far.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// Len is how many lines were recorded.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// Count is how many recorded lines match.
func (l *Log) Count(match func(line string) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if match(line) {
			n++
		}
	}
	return n
}

// Reset forgets every line.
func (l *Log) Reset() {
	l.mu.Lock()
	l.lines = nil
	l.mu.Unlock()
}

// Counter counts events by key; its zero value is ready and safe for
// concurrent use.
type Counter struct {
	mu sync.Mutex
	n  map[string]int
}

// Inc counts one event of key.
func (c *Counter) Inc(key string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
	c.mu.Unlock()
}

// Get is how many events of key were counted.
func (c *Counter) Get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// Budget is a number of injected failures still to answer (the next n
// calls are throttled, refused, ...); its zero value is empty and it is safe
// for concurrent use.
type Budget struct {
	mu sync.Mutex
	n  int
}

// Set makes the next n calls of Take report true.
func (b *Budget) Set(n int) {
	b.mu.Lock()
	b.n = n
	b.mu.Unlock()
}

// Take spends one failure and reports whether there was one to spend.
func (b *Budget) Take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n <= 0 {
		return false
	}
	b.n--
	return true
}

// Throttle is a budget of rate-limited answers that carry a Retry-After
// header; the answer's status and body stay the fake's. Its zero value
// throttles nothing and it is safe for concurrent use.
type Throttle struct {
	mu         sync.Mutex
	n          int
	retryAfter string
}

// Set throttles the next n calls, each answered with Retry-After: retryAfter.
func (t *Throttle) Set(n int, retryAfter string) {
	t.mu.Lock()
	t.n, t.retryAfter = n, retryAfter
	t.mu.Unlock()
}

// Take spends one throttled answer: it sets Retry-After on w and reports
// true, or reports false when none is left.
func (t *Throttle) Take(w http.ResponseWriter) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n <= 0 {
		return false
	}
	t.n--
	w.Header().Set("Retry-After", t.retryAfter)
	return true
}

// WriteRawJSON answers status with body verbatim as application/json: an
// answer a fake spells byte for byte, or a malformed one (a body cut short).
func WriteRawJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", JSON)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
