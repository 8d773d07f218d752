// Package gatest is a stand-in for the Google APIs a Universal Analytics
// reader uses, written from Google's public documentation: the OAuth 2.0
// token endpoint (POST /token, form: grant_type authorization_code or
// refresh_token, client_id, client_secret; errors {"error":"invalid_grant",
// ...}), the Management API v3 account summaries (GET
// /analytics/v3/management/accountSummaries, start-index/max-results paging
// with nextLink), the Metadata API v3 columns (GET
// /analytics/v3/metadata/ga/columns) and the Reporting API v4 (POST
// /v4/reports:batchGet: at most 5 reportRequests, each at most 9
// dimensions and 10 metrics; pageSize (default 1,000) and pageToken;
// reports[]{columnHeader, data{rows[]{dimensions[], metrics[]{values[]}},
// totals, rowCount}, nextPageToken}). Errors are {"error":{"code",
// "message","status"}}; an expired or unknown token answers 401
// UNAUTHENTICATED; a quota answers 429 RESOURCE_EXHAUSTED.
//
// Rows are stored per view and day; a report groups the days in its date
// range by the asked dimensions and sums the metrics, in the order the
// rows were stored. ga:date is the day as YYYYMMDD.
package gatest

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

// OAuth client and tokens the stand-in knows.
const (
	ClientID     = "123-abc.apps.googleusercontent.com"
	ClientSecret = "GOCSPX-secret"
	AuthCode     = "4/0AX4XfWcode"
	RedirectURI  = "https://console.aws.amazon.com/appflow/oauth"
	RefreshToken = "1//0refresh"
	View         = "2002"
)

// Row is one stored row: dimension names ("ga:country") to values,
// metric names to numbers.
type Row map[string]any

// Server is a running stand-in.
type Server struct {
	*fakeapi.Server
	throttle fakeapi.Throttle

	mu      sync.Mutex
	tokens  map[string]bool // valid access tokens
	n       int
	rows    map[string]map[string][]Row // view -> day (YYYY-MM-DD) -> rows
	batches fakeapi.Log
	grants  fakeapi.Log
}

// New starts a stand-in that ends with the test.
func New(t testing.TB) *Server {
	s := &Server{tokens: map[string]bool{}, rows: map[string]map[string][]Row{}}
	s.Server = fakeapi.StartFunc(t, s.serve) // URL serves every API here and the token endpoint at /token
	return s
}

// Token makes and returns a valid access token.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mint()
}

func (s *Server) mint() string {
	s.n++
	t := fmt.Sprintf("ya29.token-%d", s.n)
	s.tokens[t] = true
	return t
}

// Expire makes every access token issued so far expired.
func (s *Server) Expire() {
	s.mu.Lock()
	s.tokens = map[string]bool{}
	s.mu.Unlock()
}

// Add stores rows of a view for a day (YYYY-MM-DD).
func (s *Server) Add(view, day string, rows ...Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rows[view] == nil {
		s.rows[view] = map[string][]Row{}
	}
	s.rows[view][day] = append(s.rows[view][day], rows...)
}

// Throttle makes the next n batchGet calls answer 429 with Retry-After.
func (s *Server) Throttle(n int, after string) { s.throttle.Set(n, after) }

// Batches lists the batchGet bodies received, compacted.
func (s *Server) Batches() []string { return s.batches.Lines() }

// Grants lists the token requests' grant types, in order.
func (s *Server) Grants() []string { return s.grants.Lines() }

func apiError(w http.ResponseWriter, code int, status, msg string) {
	fakeapi.WriteJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

func reply(w http.ResponseWriter, v any) {
	fakeapi.WriteJSON(w, http.StatusOK, v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.token(w, r)
		return
	}
	tok, ok := fakeapi.Bearer(r)
	s.mu.Lock()
	valid := ok && s.tokens[tok]
	s.mu.Unlock()
	if !valid && r.URL.Path != "/analytics/v3/metadata/ga/columns" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		apiError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/analytics/v3/management/accountSummaries":
		s.accounts(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/analytics/v3/metadata/ga/columns":
		reply(w, map[string]any{"kind": "analytics#columns", "totalResults": 5, "items": []any{
			column("ga:date", "DIMENSION", "STRING", "Date", "PUBLIC"),
			column("ga:country", "DIMENSION", "STRING", "Country", "PUBLIC"),
			column("ga:sessions", "METRIC", "INTEGER", "Sessions", "PUBLIC"),
			column("ga:bounceRate", "METRIC", "PERCENT", "Bounce Rate", "PUBLIC"),
			column("ga:visits", "METRIC", "INTEGER", "Visits", "DEPRECATED"),
		}})
	case r.Method == http.MethodPost && r.URL.Path == "/v4/reports:batchGet":
		s.batchGet(w, r)
	default:
		apiError(w, http.StatusNotFound, "NOT_FOUND", "Not found: "+r.URL.Path)
	}
}

func column(id, typ, dataType, name, status string) map[string]any {
	return map[string]any{"id": id, "kind": "analytics#column", "attributes": map[string]any{
		"type": typ, "dataType": dataType, "group": "Session", "status": status, "uiName": name, "description": name + "."}}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants.Add(f.Get("grant_type"))
	bad := func(code, desc string) {
		fakeapi.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
	}
	if f.Get("client_id") != ClientID || f.Get("client_secret") != ClientSecret {
		fakeapi.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "The OAuth client was not found."})
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		if f.Get("code") != AuthCode || f.Get("redirect_uri") != RedirectURI {
			bad("invalid_grant", "Malformed auth code.")
			return
		}
		reply(w, map[string]any{"access_token": s.mint(), "expires_in": 3599, "token_type": "Bearer", "refresh_token": RefreshToken,
			"scope": "https://www.googleapis.com/auth/analytics.readonly"})
	case "refresh_token":
		if f.Get("refresh_token") != RefreshToken {
			bad("invalid_grant", "Token has been expired or revoked.")
			return
		}
		reply(w, map[string]any{"access_token": s.mint(), "expires_in": 3599, "token_type": "Bearer",
			"scope": "https://www.googleapis.com/auth/analytics.readonly"})
	default:
		bad("unsupported_grant_type", "Invalid grant_type: "+f.Get("grant_type"))
	}
}

// accounts answers two accounts, one summary per page of max-results.
func (s *Server) accounts(w http.ResponseWriter, r *http.Request) {
	items := []any{
		map[string]any{"kind": "analytics#accountSummary", "id": "1001", "name": "Acme", "webProperties": []any{
			map[string]any{"kind": "analytics#webPropertySummary", "id": "UA-1001-1", "name": "www.acme.test", "profiles": []any{
				map[string]any{"kind": "analytics#profileSummary", "id": View, "name": "All Web Site Data", "type": "WEB"},
				map[string]any{"kind": "analytics#profileSummary", "id": "2003", "name": "Filtered", "type": "WEB"},
			}},
		}},
		map[string]any{"kind": "analytics#accountSummary", "id": "1002", "name": "Globex", "webProperties": []any{}},
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("start-index"))
	if start < 1 {
		start = 1
	}
	max, _ := strconv.Atoi(r.URL.Query().Get("max-results"))
	if max < 1 {
		max = 1000
	}
	page := items[min(start-1, len(items)):min(start-1+max, len(items))]
	out := map[string]any{"kind": "analytics#accountSummaries", "totalResults": len(items), "startIndex": start, "itemsPerPage": max, "items": page}
	if start-1+max < len(items) {
		out["nextLink"] = fmt.Sprintf("%s/analytics/v3/management/accountSummaries?start-index=%d&max-results=%d", s.URL(), start+max, max)
	}
	reply(w, out)
}

type reportRequest struct {
	ViewID     string `json:"viewId"`
	DateRanges []struct {
		StartDate string `json:"startDate"`
		EndDate   string `json:"endDate"`
	} `json:"dateRanges"`
	Dimensions []struct {
		Name string `json:"name"`
	} `json:"dimensions"`
	Metrics []struct {
		Expression string `json:"expression"`
	} `json:"metrics"`
	PageSize  int    `json:"pageSize"`
	PageToken string `json:"pageToken"`
}

func (s *Server) batchGet(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	var body struct {
		ReportRequests []reportRequest `json:"reportRequests"`
	}
	if err := fakeapi.ReadJSON(r, &raw); err != nil || json.Unmarshal(raw, &body) != nil {
		apiError(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	s.mu.Lock()
	s.batches.Add(string(raw))
	if s.throttle.Take(w) {
		s.mu.Unlock()
		apiError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Requests per 100 seconds per user'")
		return
	}
	s.mu.Unlock()
	if n := len(body.ReportRequests); n == 0 || n > 5 {
		apiError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("There must be between 1 and 5 reportRequests, got %d.", n))
		return
	}
	var reports []any
	for _, rq := range body.ReportRequests {
		rep, code, msg := s.report(rq)
		if code != 0 {
			apiError(w, code, "INVALID_ARGUMENT", msg)
			return
		}
		reports = append(reports, rep)
	}
	reply(w, map[string]any{"reports": reports})
}

func (s *Server) report(rq reportRequest) (any, int, string) {
	switch {
	case len(rq.Dimensions) > 9:
		return nil, 400, fmt.Sprintf("Requested %d dimensions; only 9 are allowed.", len(rq.Dimensions))
	case len(rq.Metrics) > 10:
		return nil, 400, fmt.Sprintf("Requested %d metrics; only 10 are allowed.", len(rq.Metrics))
	case len(rq.Metrics) == 0:
		return nil, 400, "Selected dimensions and metrics cannot be queried together: at least one metric is required."
	case len(rq.DateRanges) != 1:
		return nil, 400, "The stand-in takes one date range."
	}
	start, err1 := time.Parse("2006-01-02", rq.DateRanges[0].StartDate)
	end, err2 := time.Parse("2006-01-02", rq.DateRanges[0].EndDate)
	if err1 != nil || err2 != nil || end.Before(start) {
		return nil, 400, "Invalid value for dateRanges: startDate and endDate must be YYYY-MM-DD, startDate not after endDate."
	}
	s.mu.Lock()
	days, ok := s.rows[rq.ViewID]
	s.mu.Unlock()
	if !ok && rq.ViewID != View {
		return nil, 403, "User does not have sufficient permissions for this profile."
	}
	type group struct {
		dims []string
		mets []float64
	}
	var order []string
	groups := map[string]*group{}
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		s.mu.Lock()
		rows := days[d.Format("2006-01-02")]
		s.mu.Unlock()
		for _, row := range rows {
			var dims []string
			for _, dm := range rq.Dimensions {
				v := fmt.Sprint(row[dm.Name])
				if dm.Name == "ga:date" {
					v = d.Format("20060102")
				} else if row[dm.Name] == nil {
					v = "(not set)"
				}
				dims = append(dims, v)
			}
			key := strings.Join(dims, "\x00")
			g, ok := groups[key]
			if !ok {
				g = &group{dims: dims, mets: make([]float64, len(rq.Metrics))}
				groups[key] = g
				order = append(order, key)
			}
			for i, m := range rq.Metrics {
				n, _ := row[m.Expression].(float64)
				if i, ok := row[m.Expression].(int); ok {
					n = float64(i)
				}
				g.mets[i] += n
			}
		}
	}
	size := rq.PageSize
	if size <= 0 {
		size = 1000
	}
	from, _ := strconv.Atoi(rq.PageToken)
	var rows []any
	for _, k := range order[min(from, len(order)):min(from+size, len(order))] {
		g := groups[k]
		var vals []string
		for _, m := range g.mets {
			vals = append(vals, strconv.FormatFloat(m, 'f', -1, 64))
		}
		rows = append(rows, map[string]any{"dimensions": g.dims, "metrics": []any{map[string]any{"values": vals}}})
	}
	var dimNames []string
	for _, d := range rq.Dimensions {
		dimNames = append(dimNames, d.Name)
	}
	var entries []any
	for _, m := range rq.Metrics {
		entries = append(entries, map[string]any{"name": m.Expression, "type": "INTEGER"})
	}
	data := map[string]any{"rowCount": len(order), "isDataGolden": true}
	if rows != nil {
		data["rows"] = rows
	}
	rep := map[string]any{"columnHeader": map[string]any{"dimensions": dimNames, "metricHeader": map[string]any{"metricHeaderEntries": entries}}, "data": data}
	if from+size < len(order) {
		rep["nextPageToken"] = strconv.Itoa(from + size)
	}
	return rep, 0, ""
}
