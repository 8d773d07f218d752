// Package pdtest is a stand-in for Account Engagement (Pardot) API v5 and
// Salesforce's OAuth token endpoint, written from their public
// documentation (connectors-saas-2 §7.2-7.3): GET
// /api/v5/objects/<collection> with a mandatory fields list, limit (200 by
// default, at most 1000), <field>AfterOrEqualTo / BeforeOrEqualTo time
// filters, and nextPageToken paging through a nextPageUrl that only fields
// may accompany; every call needs a Bearer token and the
// Pardot-Business-Unit-Id header; errors are {"code","message"} bodies.
// A sixth call in flight is refused with code 66. Where the docs name no
// status (codes 66 and 122) it answers 400, as the notes choose.
package pdtest

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Credentials the stand-in accepts.
const (
	BusinessUnit = "0Uv000000000001AAA"
	ClientID     = "appflowd-app"
	ClientSecret = "app-secret"
	RefreshToken = "R1"
)

// Record is one object of a collection; "id" orders it.
type Record map[string]any

// Server is the stand-in.
type Server struct {
	*fakeapi.Server

	mu        sync.Mutex
	data      map[string][]Record
	token     string // the valid access token
	issued    int
	revoked   bool
	cursors   map[string]cursor
	busy      int // answers code 66 this many times
	daily     bool
	malformed map[string]bool
	requests  fakeapi.Log

	inflight, most atomic.Int32
	gate           atomic.Pointer[gate]
}

type gate struct {
	arrived chan struct{}
	release chan struct{}
}

// Hold makes every API call wait, once it is counted in flight, until
// release is called; arrived receives one value per call held.
func (s *Server) Hold() (arrived <-chan struct{}, release func()) {
	g := &gate{arrived: make(chan struct{}, 64), release: make(chan struct{})}
	s.gate.Store(g)
	return g.arrived, func() { close(g.release) }
}

// InFlight is the API calls being answered now; MostInFlight the most at
// once so far.
func (s *Server) InFlight() int     { return int(s.inflight.Load()) }
func (s *Server) MostInFlight() int { return int(s.most.Load()) }

type cursor struct {
	coll   string
	fields string
	offset int
	limit  int
	q      url.Values
}

// New starts a stand-in whose first valid access token is "A0".
func New(t testing.TB) *Server {
	s := &Server{data: map[string][]Record{}, token: "A0", cursors: map[string]cursor{}, malformed: map[string]bool{}}
	s.Server = fakeapi.StartFunc(t, s.serve) // URL is the base of both the API and the token endpoint
	return s
}

// Add appends records to a collection.
func (s *Server) Add(coll string, recs ...Record) {
	s.mu.Lock()
	s.data[coll] = append(s.data[coll], recs...)
	s.mu.Unlock()
}

// Expire makes the current access token invalid (an expired session).
func (s *Server) Expire() {
	s.mu.Lock()
	s.token = fmt.Sprintf("expired-%d", s.issued)
	s.mu.Unlock()
}

// Revoke refuses the refresh token from now on.
func (s *Server) Revoke() { s.mu.Lock(); s.revoked = true; s.mu.Unlock() }

// Busy answers the next n API calls with code 66 (six concurrent calls).
func (s *Server) Busy(n int) { s.mu.Lock(); s.busy = n; s.mu.Unlock() }

// Daily answers every API call with code 122 (daily allowance spent).
func (s *Server) Daily() { s.mu.Lock(); s.daily = true; s.mu.Unlock() }

// Malformed makes a collection's answers unparsable.
func (s *Server) Malformed(coll string) { s.mu.Lock(); s.malformed[coll] = true; s.mu.Unlock() }

// Token is the valid access token.
func (s *Server) Token() string { s.mu.Lock(); defer s.mu.Unlock(); return s.token }

// Requests lists the calls so far: "token <grant>" or "GET <path>?<query>".
func (s *Server) Requests() []string { return s.requests.Lines() }

func fail(w http.ResponseWriter, status, code int, msg string) {
	fakeapi.WriteJSON(w, status, map[string]any{"code": code, "message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/services/oauth2/token" {
		s.tokenEndpoint(w, r)
		return
	}
	// At most five concurrent calls per business unit; a sixth is code 66.
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	if n > 5 {
		fail(w, http.StatusBadRequest, 66, "Exceeded concurrent request limit.")
		return
	}
	if g := s.gate.Load(); g != nil {
		g.arrived <- struct{}{}
		<-g.release
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Add(r.Method + " " + r.URL.RequestURI())
	coll, ok := strings.CutPrefix(r.URL.Path, "/api/v5/objects/")
	if !ok || r.Method != http.MethodGet || strings.Contains(coll, "/") {
		fail(w, http.StatusNotFound, 404, "Not Found")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		fail(w, http.StatusUnauthorized, 184, "access_token is invalid, unknown, or malformed: Inactive token")
		return
	}
	if r.Header.Get("Pardot-Business-Unit-Id") != BusinessUnit {
		fail(w, http.StatusBadRequest, 181, "The business unit ID is missing or invalid.")
		return
	}
	if s.daily {
		fail(w, http.StatusBadRequest, 122, "Daily API rate limit met.")
		return
	}
	if s.busy > 0 {
		s.busy--
		fail(w, http.StatusBadRequest, 66, "Exceeded concurrent request limit.")
		return
	}
	q := r.URL.Query()
	var c cursor
	if tok := q.Get("nextPageToken"); tok != "" {
		for k := range q {
			if k != "nextPageToken" && k != "fields" {
				fail(w, http.StatusBadRequest, 2, "Invalid parameters with nextPageToken: "+k)
				return
			}
		}
		if c, ok = s.cursors[tok]; !ok || c.coll != coll {
			fail(w, http.StatusBadRequest, 2, "Invalid nextPageToken")
			return
		}
		delete(s.cursors, tok) // a token is good for one page
	} else {
		c = cursor{coll: coll, fields: q.Get("fields"), limit: 200, q: q}
		if c.fields == "" {
			fail(w, http.StatusBadRequest, 1, "Required parameter fields is missing.")
			return
		}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 1000 {
				fail(w, http.StatusBadRequest, 2, "Invalid limit.")
				return
			}
			c.limit = n
		}
	}
	if s.malformed[coll] {
		fakeapi.WriteRawJSON(w, http.StatusOK, `{"values":[{"id":1,`)
		return
	}
	recs, err := s.match(coll, c.q)
	if err != nil {
		fail(w, http.StatusBadRequest, 2, err.Error())
		return
	}
	end := min(c.offset+c.limit, len(recs))
	fields := strings.Split(c.fields, ",")
	values := []map[string]any{}
	for _, rec := range recs[c.offset:end] {
		v := map[string]any{}
		for _, f := range fields {
			v[f] = rec[f] // requested fields come back, null when unset
		}
		values = append(values, v)
	}
	out := map[string]any{"values": values}
	if end < len(recs) {
		tok := fmt.Sprintf("T%d-%d", s.requests.Len(), end)
		next := c
		next.offset = end
		s.cursors[tok] = next
		out["nextPageToken"] = tok
		out["nextPageUrl"] = s.URL() + r.URL.Path + "?" + url.Values{"fields": {c.fields}, "nextPageToken": {tok}}.Encode()
	}
	fakeapi.WriteJSON(w, http.StatusOK, out)
}

// match applies the documented time filters, ordered by id.
func (s *Server) match(coll string, q url.Values) ([]Record, error) {
	var out []Record
	for _, rec := range s.data[coll] {
		keep := true
		for k, vs := range q {
			field, op := "", ""
			for _, suffix := range []string{"AfterOrEqualTo", "BeforeOrEqualTo"} {
				if f, ok := strings.CutSuffix(k, suffix); ok {
					field, op = f, suffix
				}
			}
			if field == "" {
				continue
			}
			bound, err := time.Parse(time.RFC3339, vs[0])
			if err != nil {
				return nil, fmt.Errorf("Invalid value for %s", k)
			}
			at, _ := time.Parse(time.RFC3339, fmt.Sprint(rec[field]))
			if op == "AfterOrEqualTo" && at.Before(bound) || op == "BeforeOrEqualTo" && at.After(bound) {
				keep = false
			}
		}
		if keep {
			out = append(out, rec)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return num(out[i]["id"]) < num(out[j]["id"]) })
	return out, nil
}

func num(v any) float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
	return f
}

// tokenEndpoint is Salesforce's /services/oauth2/token for the refresh
// token and authorization code grants.
func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = r.ParseForm()
	grant := r.PostForm.Get("grant_type")
	s.requests.Add("token " + grant)
	bad := func(code, desc string) {
		fakeapi.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
	}
	if r.PostForm.Get("client_id") != ClientID || r.PostForm.Get("client_secret") != ClientSecret {
		bad("invalid_client", "invalid client credentials")
		return
	}
	switch {
	case grant == "refresh_token" && r.PostForm.Get("refresh_token") == RefreshToken && !s.revoked:
	case grant == "authorization_code" && r.PostForm.Get("code") == "CODE":
	default:
		bad("invalid_grant", "expired access/refresh token")
		return
	}
	s.issued++
	s.token = fmt.Sprintf("A%d", s.issued)
	body := map[string]any{"access_token": s.token, "instance_url": "https://acme.my.salesforce.com", "token_type": "Bearer",
		"scope": "pardot_api refresh_token", "issued_at": "1704067200000"}
	if grant == "authorization_code" {
		body["refresh_token"] = RefreshToken
	}
	fakeapi.WriteJSON(w, http.StatusOK, body)
}
