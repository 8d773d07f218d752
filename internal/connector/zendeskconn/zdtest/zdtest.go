// Package zdtest is a documented-API stand-in for a Zendesk Support account
// (connectors-saas-1 §1.3): OAuth tokens, users/me, ticket_fields, the
// cursor-based (tickets, users) and time-based (organizations) incremental
// exports with their too-recent-start_time and rate-limit guards, cursor
// paginated lists, create_many / update_many / create_or_update_many jobs
// with job statuses, organizations create_or_update and external_id
// lookups. Liberties: records are stored as given (a seeded "id" is kept
// as is), and Submitted keeps each accepted write body as sent.
package zdtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Tokens and codes the server knows from the start.
const (
	AccessToken  = "zt-1"
	RefreshToken = "zr-1"
	GoodCode     = "good"
	ClientID     = "aws_integration_to_Zendesk"
	ClientSecret = "zsecret"
)

// Server is one fake Zendesk account.
type Server struct {
	*fakeapi.Server

	mu          sync.Mutex
	now         time.Time
	tokens      map[string]bool
	refresh     map[string]bool
	codes       map[string]bool
	nextTok     int
	objects     map[string][]map[string]any
	submitted   map[string][]map[string]any
	malformed   map[string]bool
	nextID      int64
	jobs        map[string]*job
	nextJob     int
	exportCalls []time.Time
	log         fakeapi.Log

	// ExportLimit is how many incremental export calls a minute are
	// allowed (Zendesk: 10); 0 means no limit.
	ExportLimit int
	// PageSize is the incremental export page size cap (default 1000).
	PageSize int
	// Reject says why Zendesk refuses a record to be created or updated,
	// or ""; the default refuses tickets whose subject is present and blank.
	Reject func(object string, rec map[string]any) string
}

type job struct {
	polls   int
	total   int
	results []map[string]any
}

// New starts a server, closed when t ends; its clock starts at 2024-01-02.
func New(t testing.TB) *Server {
	s := &Server{now: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		tokens: map[string]bool{AccessToken: true}, refresh: map[string]bool{RefreshToken: true},
		codes: map[string]bool{GoodCode: true}, nextTok: 1, objects: map[string][]map[string]any{},
		submitted: map[string][]map[string]any{}, malformed: map[string]bool{}, nextID: 1000,
		jobs: map[string]*job{}, PageSize: 1000}
	s.Reject = func(object string, rec map[string]any) string {
		if v, ok := rec["subject"]; ok && object == "tickets" && strings.TrimSpace(fmt.Sprint(v)) == "" {
			return "Subject: cannot be blank"
		}
		return ""
	}
	s.objects["ticket_fields"] = []map[string]any{
		{"id": json.Number("1"), "type": "subject", "title": "Subject", "active": true},
		{"id": json.Number("360001"), "type": "text", "title": "Order ref", "active": true},
	}
	s.Server = fakeapi.StartFunc(t, s.serve) // URL is the instanceUrl
	return s
}

// Now is the server's clock; Advance moves it.
func (s *Server) Now() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.now }

// Advance moves the clock forward.
func (s *Server) Advance(d time.Duration) { s.mu.Lock(); s.now = s.now.Add(d); s.mu.Unlock() }

// SetNow sets the clock.
func (s *Server) SetNow(t time.Time) { s.mu.Lock(); s.now = t; s.mu.Unlock() }

// Put stores records of object as given; a record without an id gets one.
func (s *Server) Put(object string, recs ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if _, ok := r["id"]; !ok {
			s.nextID++
			r["id"] = json.Number(strconv.FormatInt(s.nextID, 10))
		}
		s.objects[object] = append(s.objects[object], r)
	}
}

// Reset drops every record, write and malformed flag of object.
func (s *Server) Reset(object string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, object)
	delete(s.submitted, object)
	delete(s.malformed, object)
}

// Malformed makes reads of object answer a broken JSON body.
func (s *Server) Malformed(object string) { s.mu.Lock(); s.malformed[object] = true; s.mu.Unlock() }

// Records returns object's stored records.
func (s *Server) Records(object string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.objects[object]...)
}

// Submitted returns the bodies of the records of object the server
// accepted in creates and updates, as sent.
func (s *Server) Submitted(object string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.submitted[object]...)
}

// Logged counts requests by "METHOD /path".
func (s *Server) Logged(what string) int {
	return s.log.Count(func(l string) bool { return l == what })
}

// ExpireTokens forgets every access token (a refresh token still works).
func (s *Server) ExpireTokens() { s.mu.Lock(); s.tokens = map[string]bool{}; s.mu.Unlock() }

var writeJSON = fakeapi.JSONAs("application/json; charset=utf-8")

func apiError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "description": desc})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.Add(r.Method + " " + r.URL.Path)
	if r.URL.Path == "/oauth/tokens" && r.Method == http.MethodPost {
		s.oauth(w, r)
		return
	}
	auth, ok := fakeapi.Bearer(r)
	if !ok || !s.tokens[auth] {
		apiError(w, http.StatusUnauthorized, "invalid_token", "The access token provided is expired, revoked, malformed or invalid for other reasons.")
		return
	}
	p := r.URL.Path
	switch {
	case p == "/api/v2/users/me.json" && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"user": map[string]any{"id": 1, "role": "admin"}})
	case strings.HasPrefix(p, "/api/v2/incremental/") && r.Method == http.MethodGet:
		s.export(w, r)
	case strings.HasPrefix(p, "/api/v2/job_statuses/") && r.Method == http.MethodGet:
		s.jobStatus(w, strings.TrimSuffix(strings.TrimPrefix(p, "/api/v2/job_statuses/"), ".json"))
	case strings.HasSuffix(p, "/create_many.json"), strings.HasSuffix(p, "/update_many.json"), strings.HasSuffix(p, "/create_or_update_many.json"):
		s.bulk(w, r)
	case p == "/api/v2/organizations/create_or_update.json" && r.Method == http.MethodPost:
		s.orgUpsert(w, r)
	case (p == "/api/v2/tickets.json" || strings.HasSuffix(p, "/search.json")) && r.URL.Query().Has("external_id"):
		object := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(p, "/api/v2/"), ".json"), "/search")
		ext := r.URL.Query().Get("external_id")
		var out []map[string]any
		for _, rec := range s.objects[object] {
			if fmt.Sprint(rec["external_id"]) == ext {
				out = append(out, rec)
			}
		}
		writeJSON(w, 200, map[string]any{object: out, "next_page": nil, "previous_page": nil, "count": len(out)})
	case r.Method == http.MethodGet && strings.HasSuffix(p, ".json"):
		s.list(w, r, strings.TrimSuffix(strings.TrimPrefix(p, "/api/v2/"), ".json"))
	default:
		apiError(w, 404, "InvalidEndpoint", "Not found")
	}
}

func (s *Server) oauth(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = fakeapi.ReadJSON(r, &form)
	} else {
		_ = r.ParseForm()
		for k := range r.PostForm {
			form[k] = r.PostForm.Get(k)
		}
	}
	if form["client_id"] != ClientID || form["client_secret"] != ClientSecret {
		writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."})
		return
	}
	switch form["grant_type"] {
	case "authorization_code":
		if !s.codes[form["code"]] {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."})
			return
		}
		delete(s.codes, form["code"])
	case "refresh_token":
		if !s.refresh[form["refresh_token"]] {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."})
			return
		}
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type", "error_description": "The authorization grant type is not supported by the authorization server."})
		return
	}
	s.nextTok++
	tok := fmt.Sprintf("zt-%d", s.nextTok)
	ref := fmt.Sprintf("zr-%d", s.nextTok)
	s.tokens[tok], s.refresh[ref] = true, true
	writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "bearer", "scope": "read write", "refresh_token": ref, "expires_in": 3600})
}

// stamp is the time an item is exported by: tickets by
// generated_timestamp, the others by updated_at; 0 when it has none.
func stamp(object string, rec map[string]any) int64 {
	if object == "tickets" {
		if n, ok := rec["generated_timestamp"].(json.Number); ok {
			v, _ := n.Int64()
			return v
		}
	}
	if s, ok := rec["updated_at"].(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.Unix()
		}
	}
	return 0
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/v2/incremental/")
	cursorBased := strings.HasSuffix(rest, "/cursor.json")
	object := strings.TrimSuffix(strings.TrimSuffix(rest, "/cursor.json"), ".json")
	if s.ExportLimit > 0 {
		var recent []time.Time
		for _, t := range s.exportCalls {
			if s.now.Sub(t) < time.Minute {
				recent = append(recent, t)
			}
		}
		s.exportCalls = recent
		if len(recent) >= s.ExportLimit {
			w.Header().Set("Retry-After", "7")
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte("Rate limit for incremental exports exceeded\n"))
			return
		}
		s.exportCalls = append(s.exportCalls, s.now)
	}
	if object != "tickets" && object != "users" && object != "organizations" {
		apiError(w, 404, "InvalidEndpoint", "Not found")
		return
	}
	if s.malformed[object] {
		fakeapi.WriteRawJSON(w, http.StatusOK, `{"`+object+`":[{"id":1,`)
		return
	}
	q := r.URL.Query()
	size := s.PageSize
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 && n < size {
		size = n
	}
	var start int64
	offset := 0
	if c := q.Get("cursor"); cursorBased && c != "" {
		parts := strings.SplitN(c, ":", 2)
		start, _ = strconv.ParseInt(parts[0], 10, 64)
		if len(parts) == 2 {
			offset, _ = strconv.Atoi(parts[1])
		}
	} else {
		v, err := strconv.ParseInt(q.Get("start_time"), 10, 64)
		if err != nil {
			apiError(w, 400, "InvalidValue", "start_time is required")
			return
		}
		if v > s.now.Add(-time.Minute).Unix() {
			apiError(w, 422, "InvalidValue", fmt.Sprintf("Too recent start_time. Use a start_time older than %d", s.now.Add(-time.Minute).Unix()))
			return
		}
		start = v
	}
	// Changes of the last minute are withheld.
	limit := s.now.Add(-time.Minute).Unix()
	var match []map[string]any
	for _, rec := range s.objects[object] {
		if st := stamp(object, rec); st >= start && st <= limit {
			match = append(match, rec)
		}
	}
	sort.SliceStable(match, func(i, j int) bool { return stamp(object, match[i]) < stamp(object, match[j]) })
	if !cursorBased {
		// Time-based: pages end at a timestamp; the next page starts there,
		// so items at that second repeat.
		page := match[:min(size, len(match))]
		end := s.now.Add(-time.Minute).Unix()
		eos := len(match) <= size
		if !eos {
			end = stamp(object, page[len(page)-1])
		}
		writeJSON(w, 200, map[string]any{object: page, "count": len(page), "end_time": end, "end_of_stream": eos,
			"next_page": s.URL() + r.URL.Path + "?start_time=" + strconv.FormatInt(end, 10)})
		return
	}
	offset = min(offset, len(match))
	page := match[offset:min(offset+size, len(match))]
	next := offset + len(page)
	after := fmt.Sprintf("%d:%d", start, next)
	writeJSON(w, 200, map[string]any{object: page, "after_cursor": after,
		"after_url": s.URL() + r.URL.Path + "?cursor=" + url.QueryEscape(after), "before_cursor": nil, "before_url": nil,
		"end_of_stream": next >= len(match)})
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, object string) {
	q := r.URL.Query()
	size := 100
	if v := q.Get("page[size]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			apiError(w, 400, "InvalidPaginationParameter", "page[size] must be between 1 and 100")
			return
		}
		size = n
	}
	if s.malformed[object] {
		_, _ = w.Write([]byte(`{"` + object + `":[`))
		return
	}
	all := s.objects[object]
	offset, _ := strconv.Atoi(q.Get("page[after]"))
	offset = min(offset, len(all))
	page := all[offset:min(offset+size, len(all))]
	next := offset + len(page)
	more := next < len(all)
	meta := map[string]any{"has_more": more, "after_cursor": nil, "before_cursor": nil}
	links := map[string]any{"next": nil, "prev": nil}
	if more {
		meta["after_cursor"] = strconv.Itoa(next)
		links["next"] = s.URL() + r.URL.Path + "?page[size]=" + strconv.Itoa(size) + "&page[after]=" + strconv.Itoa(next)
	}
	writeJSON(w, 200, map[string]any{object: page, "meta": meta, "links": links})
}

func (s *Server) newJob(results []map[string]any) map[string]any {
	s.nextJob++
	id := fmt.Sprintf("j%d", s.nextJob)
	s.jobs[id] = &job{total: len(results), results: results}
	return map[string]any{"job_status": map[string]any{"id": id, "url": s.URL() + "/api/v2/job_statuses/" + id + ".json",
		"status": "queued", "total": len(results), "progress": 0, "results": nil}}
}

func (s *Server) jobStatus(w http.ResponseWriter, id string) {
	j := s.jobs[id]
	if j == nil {
		apiError(w, 404, "RecordNotFound", "Not found")
		return
	}
	j.polls++
	st := map[string]any{"id": id, "url": s.URL() + "/api/v2/job_statuses/" + id + ".json", "total": j.total}
	if j.polls == 1 {
		st["status"], st["progress"], st["results"] = "working", 0, nil
	} else {
		st["status"], st["progress"], st["results"] = "completed", j.total, j.results
	}
	writeJSON(w, 200, map[string]any{"job_status": st})
}

func (s *Server) find(object string, match func(map[string]any) bool) map[string]any {
	for _, rec := range s.objects[object] {
		if match(rec) {
			return rec
		}
	}
	return nil
}

func idEq(a any, id int64) bool { return fmt.Sprint(a) == strconv.FormatInt(id, 10) }

func (s *Server) bulk(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/v2/")
	object, action, _ := strings.Cut(rest, "/")
	action = strings.TrimSuffix(action, ".json")
	wantMethod := http.MethodPost
	if action == "update_many" {
		wantMethod = http.MethodPut
	}
	if r.Method != wantMethod || (object != "tickets" && object != "users" && object != "organizations") ||
		(action == "create_or_update_many" && object != "users") {
		apiError(w, 404, "InvalidEndpoint", "Not found")
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var body map[string][]map[string]any
	if err := dec.Decode(&body); err != nil {
		apiError(w, 400, "InvalidJSON", "The request body is not valid JSON")
		return
	}
	items := body[object]
	if len(items) > 100 {
		apiError(w, 400, "TooManyValues", fmt.Sprintf("Too many %s: %d (at most 100)", object, len(items)))
		return
	}
	var results []map[string]any
	for i, it := range items {
		if why := s.Reject(object, it); why != "" {
			results = append(results, map[string]any{"index": i, "status": "Failed", "error": "RecordInvalid", "details": why})
			continue
		}
		var existing map[string]any
		switch action {
		case "update_many":
			id, err := it["id"].(json.Number).Int64()
			if err == nil {
				existing = s.find(object, func(rec map[string]any) bool { return idEq(rec["id"], id) })
			}
			if existing == nil {
				results = append(results, map[string]any{"index": i, "id": it["id"], "status": "Failed", "error": "RecordNotFound", "details": "Not found"})
				continue
			}
		case "create_or_update_many":
			existing = s.find(object, func(rec map[string]any) bool {
				return (it["external_id"] != nil && fmt.Sprint(rec["external_id"]) == fmt.Sprint(it["external_id"])) ||
					(it["email"] != nil && fmt.Sprint(rec["email"]) == fmt.Sprint(it["email"]))
			})
		}
		s.submitted[object] = append(s.submitted[object], it)
		if existing != nil {
			for k, v := range it {
				existing[k] = v
			}
			existing["updated_at"] = s.now.Format(time.RFC3339)
			res := map[string]any{"id": existing["id"], "action": "update", "status": "Updated", "success": true}
			if action == "create_or_update_many" {
				res["index"] = i
			}
			results = append(results, res)
			continue
		}
		if object == "users" && it["email"] != nil {
			// A user's email is unique in an account.
			if s.find("users", func(rec map[string]any) bool { return fmt.Sprint(rec["email"]) == fmt.Sprint(it["email"]) }) != nil {
				results = append(results, map[string]any{"index": i, "status": "Failed", "error": "DuplicateValue",
					"details": fmt.Sprintf("Email: %v is already being used by another user", it["email"])})
				continue
			}
		}
		rec := map[string]any{}
		for k, v := range it {
			rec[k] = v
		}
		s.nextID++
		rec["id"] = json.Number(strconv.FormatInt(s.nextID, 10))
		rec["created_at"] = s.now.Format(time.RFC3339)
		rec["updated_at"] = s.now.Format(time.RFC3339)
		s.objects[object] = append(s.objects[object], rec)
		res := map[string]any{"index": i, "id": rec["id"]}
		if object == "users" {
			res["status"] = "Created"
		}
		results = append(results, res)
	}
	writeJSON(w, 200, s.newJob(results))
}

func (s *Server) orgUpsert(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var body struct {
		Organization map[string]any `json:"organization"`
	}
	if err := dec.Decode(&body); err != nil || body.Organization == nil {
		apiError(w, 400, "InvalidJSON", "The request body is not valid JSON")
		return
	}
	it := body.Organization
	if name, _ := it["name"].(string); name == "" && it["external_id"] == nil {
		writeJSON(w, 422, map[string]any{"error": "RecordInvalid", "description": "Record validation errors",
			"details": map[string]any{"name": []map[string]string{{"description": "Name: cannot be blank", "error": "BlankValue"}}}})
		return
	}
	s.submitted["organizations"] = append(s.submitted["organizations"], it)
	existing := s.find("organizations", func(rec map[string]any) bool {
		return it["external_id"] != nil && fmt.Sprint(rec["external_id"]) == fmt.Sprint(it["external_id"])
	})
	status := 200
	if existing == nil {
		existing = map[string]any{}
		s.nextID++
		existing["id"] = json.Number(strconv.FormatInt(s.nextID, 10))
		existing["created_at"] = s.now.Format(time.RFC3339)
		s.objects["organizations"] = append(s.objects["organizations"], existing)
		status = 201
	}
	for k, v := range it {
		existing[k] = v
	}
	existing["updated_at"] = s.now.Format(time.RFC3339)
	writeJSON(w, status, map[string]any{"organization": existing})
}
