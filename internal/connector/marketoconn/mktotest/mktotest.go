// Package mktotest is a documented-API stand-in for a Marketo instance
// (connectors-saas-1 §4.3): the client-credentials token endpoint, errors
// in HTTP 200 bodies (601 unknown token, 602 expired token, 606 rate
// limit), leads/describe2.json, and Bulk Extract for leads and activities
// (create, enqueue, status, file) with its one-filter and 31-day rules.
// Liberties: an export job moves Queued -> Processing -> Completed on
// successive status polls; the rate limit is driven by Throttle rather
// than by counting calls in 20 s; the over-long range code is 1003 [U].
package mktotest

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Credentials the server accepts.
const (
	ClientID     = "c"
	ClientSecret = "s"
)

// Export is one create.json the server accepted.
type Export struct {
	Object   string
	Fields   []string
	Filter   string
	StartAt  string
	EndAt    string
	statuses int
}

// Server is one fake Marketo instance.
type Server struct {
	*fakeapi.Server
	throttle fakeapi.Budget

	mu        sync.Mutex
	now       time.Time
	tokens    map[string]bool
	expired   map[string]bool
	nextTok   int
	records   map[string][]map[string]string
	malformed map[string]bool
	exports   map[string]*Export
	order     []string
	calls     fakeapi.Log
	imports   map[string]*importJob
	nextBatch int
	submitted []map[string]string
	cancel    string // the status a canceled export reports, "" to complete

	// Reject says why Marketo refuses an imported row, or ""; the default
	// refuses an email without "@".
	Reject func(rec map[string]string) string

	// LeadFields is what describe2.json lists, as name:dataType.
	LeadFields []string
}

// New starts a server, closed when t ends; its clock reads 2024-01-02.
func New(t testing.TB) *Server {
	s := &Server{now: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), tokens: map[string]bool{},
		expired: map[string]bool{}, records: map[string][]map[string]string{}, malformed: map[string]bool{},
		exports: map[string]*Export{}, imports: map[string]*importJob{}, nextBatch: 3403,
		LeadFields: []string{"id:integer", "email:email", "firstName:string", "lastName:string",
			"createdAt:datetime", "updatedAt:datetime"}}
	s.Reject = func(rec map[string]string) string {
		if e, ok := rec["email"]; ok && e != "" && !strings.Contains(e, "@") {
			return "Invalid email address"
		}
		return ""
	}
	s.Server = fakeapi.StartFunc(t, s.serve) // URL is the instanceUrl
	return s
}

// Now is the server's clock.
func (s *Server) Now() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.now }

// Put stores a record of object (leads, activities); createdAt and
// updatedAt (activities: activityDate) default to the clock.
func (s *Server) Put(object string, rec map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := map[string]string{}
	for k, v := range rec {
		r[k] = v
	}
	def := []string{"createdAt", "updatedAt"}
	if object == "activities" {
		def = []string{"activityDate"}
	}
	for _, k := range def {
		if r[k] == "" {
			r[k] = s.now.Format(time.RFC3339)
		}
	}
	s.records[object] = append(s.records[object], r)
}

// Reset empties object.
func (s *Server) Reset(object string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, object)
	delete(s.malformed, object)
}

// Malformed makes object's export files unparsable.
func (s *Server) Malformed(object string) { s.mu.Lock(); s.malformed[object] = true; s.mu.Unlock() }

// ExpireTokens makes every token issued so far answer 602.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		s.expired[t] = true
	}
}

// CancelExports makes later exports end canceled, as Marketo reports a job
// cancelled through cancel.json: status "Canceled" (the documented enum)
// or, as the docs' own example spells it, "Cancelled".
func (s *Server) CancelExports(status string) { s.mu.Lock(); s.cancel = status; s.mu.Unlock() }

// Throttle makes the next n REST or bulk calls answer 606.
func (s *Server) Throttle(n int) { s.throttle.Set(n) }

// Exports lists the accepted export jobs in order.
func (s *Server) Exports() []Export {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Export
	for _, id := range s.order {
		out = append(out, *s.exports[id])
	}
	return out
}

// Calls lists the paths called, token requests included.
func (s *Server) Calls() []string { return s.calls.Lines() }

func fail(w http.ResponseWriter, code, msg string) {
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"requestId": "r3", "success": false,
		"errors": []map[string]string{{"code": code, "message": msg}}})
}

func ok(w http.ResponseWriter, result any) {
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"requestId": "r1", "success": true, "result": result})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls.Add(r.Method + " " + r.URL.Path)
	if r.URL.Path == "/identity/oauth/token" {
		if r.FormValue("grant_type") != "client_credentials" || r.FormValue("client_id") != ClientID || r.FormValue("client_secret") != ClientSecret {
			fakeapi.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "error_description": "Bad client credentials"})
			return
		}
		s.nextTok++
		tok := fmt.Sprintf("mk-%d:int", s.nextTok)
		s.tokens[tok] = true
		fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 3599, "scope": "api@acme"})
		return
	}
	tok, _ := fakeapi.Bearer(r)
	switch {
	case s.expired[tok]:
		fail(w, "602", "Access token expired")
		return
	case !s.tokens[tok]:
		fail(w, "601", "Access token invalid")
		return
	case s.throttle.Take():
		fail(w, "606", "Max rate limit '100' exceeded with in '20' secs")
		return
	}
	p := r.URL.Path
	switch {
	case p == "/rest/v1/leads/describe2.json" && r.Method == http.MethodGet:
		var fields []map[string]any
		for _, f := range s.LeadFields {
			n, t, _ := strings.Cut(f, ":")
			fields = append(fields, map[string]any{"name": n, "displayName": n, "dataType": t,
				"updateable": n != "id" && n != "createdAt" && n != "updatedAt"})
		}
		ok(w, []map[string]any{{"name": "API Lead", "searchableFields": [][]string{{"email"}, {"id"}}, "fields": fields}})
	case p == "/bulk/v1/leads.json" && r.Method == http.MethodPost:
		s.importLeads(w, r)
	case strings.HasPrefix(p, "/bulk/v1/leads/batch/"):
		rest := strings.TrimPrefix(p, "/bulk/v1/leads/batch/")
		id, failures := strings.CutSuffix(rest, "/failures.json")
		if !failures {
			id = strings.TrimSuffix(rest, ".json")
		}
		j := s.imports[id]
		if j == nil {
			fail(w, "1003", "Batch "+id+" not found")
			return
		}
		if failures {
			w.Header().Set("Content-Type", "text/csv")
			_, _ = w.Write(j.failures)
			return
		}
		j.polls++
		st := []string{"Queued", "Importing", "Complete"}[min(j.polls-1, 2)]
		n, _ := strconv.Atoi(id)
		ok(w, []map[string]any{{"batchId": n, "importId": id, "status": st, "numOfLeadsProcessed": j.processed,
			"numOfRowsFailed": j.failed, "numOfRowsWithWarning": 0, "message": "Import " + strings.ToLower(st)}})
	case strings.HasPrefix(p, "/bulk/v1/leads/export/") || strings.HasPrefix(p, "/bulk/v1/activities/export/"):
		object := strings.Split(p, "/")[3]
		rest := strings.TrimPrefix(p, "/bulk/v1/"+object+"/export/")
		if rest == "create.json" && r.Method == http.MethodPost {
			s.create(w, r, object)
			return
		}
		id, op, _ := strings.Cut(rest, "/")
		e := s.exports[id]
		if e == nil || e.Object != object {
			fail(w, "1003", "Export Id "+id+" not found")
			return
		}
		switch op {
		case "enqueue.json":
			ok(w, []map[string]any{{"exportId": id, "status": "Queued"}})
		case "status.json":
			e.statuses++
			st := []string{"Queued", "Processing", "Completed"}[min(e.statuses-1, 2)]
			if s.cancel != "" && e.statuses > 1 {
				st = s.cancel
			}
			ok(w, []map[string]any{{"exportId": id, "status": st, "format": "CSV"}})
		case "file.json":
			if e.statuses < 3 {
				fail(w, "1003", "Export file not available")
				return
			}
			w.Header().Set("Content-Type", "text/csv")
			_, _ = w.Write(s.file(e))
		default:
			http.NotFound(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

// activityFields are the fields the Bulk Activity Extract documents.
var activityFields = map[string]bool{"marketoGUID": true, "leadId": true, "activityDate": true, "activityTypeId": true,
	"campaignId": true, "primaryAttributeValueId": true, "primaryAttributeValue": true, "attributes": true, "actionResult": true}

func (s *Server) create(w http.ResponseWriter, r *http.Request, object string) {
	var body struct {
		Fields []string                     `json:"fields"`
		Format string                       `json:"format"`
		Filter map[string]map[string]string `json:"filter"`
	}
	if err := fakeapi.ReadJSON(r, &body); err != nil || len(body.Fields) == 0 {
		fail(w, "1003", "Invalid request: fields required")
		return
	}
	if body.Format != "CSV" && body.Format != "" {
		fail(w, "1003", "Invalid format")
		return
	}
	if len(body.Filter) != 1 {
		fail(w, "1003", "Exactly one filter type is required")
		return
	}
	if object == "activities" {
		// The Bulk Activity Extract takes only its documented fields; "id"
		// is not one (marketoGUID identifies an activity).
		for _, f := range body.Fields {
			if !activityFields[f] {
				fail(w, "1003", "Invalid field: "+f)
				return
			}
		}
	}
	e := &Export{Object: object, Fields: body.Fields}
	for k, v := range body.Filter {
		e.Filter, e.StartAt, e.EndAt = k, v["startAt"], v["endAt"]
	}
	allowed := map[string]bool{"createdAt": true, "updatedAt": true}
	if object == "activities" {
		allowed = map[string]bool{"createdAt": true}
	}
	if !allowed[e.Filter] {
		fail(w, "1003", "Invalid filter type "+e.Filter)
		return
	}
	from, err1 := time.Parse("2006-01-02T15:04:05Z07:00", e.StartAt)
	to, err2 := time.Parse("2006-01-02T15:04:05Z07:00", e.EndAt)
	if err1 != nil || err2 != nil || strings.Contains(e.StartAt, ".") || strings.Contains(e.EndAt, ".") {
		fail(w, "1003", "Invalid date format")
		return
	}
	if to.Sub(from) > 31*24*time.Hour || to.Before(from) {
		fail(w, "1003", "Date range must not exceed 31 days")
		return
	}
	id := fmt.Sprintf("exp-%d", len(s.order)+1)
	s.exports[id] = e
	s.order = append(s.order, id)
	ok(w, []map[string]any{{"exportId": id, "format": "CSV", "status": "Created", "createdAt": s.now.Format(time.RFC3339)}})
}

// file renders the records whose filter field lies in [startAt, endAt].
func (s *Server) file(e *Export) []byte {
	if s.malformed[e.Object] {
		return []byte(strings.Join(e.Fields, ",") + "\n\"unterminated,1\n")
	}
	from, _ := time.Parse(time.RFC3339, e.StartAt)
	to, _ := time.Parse(time.RFC3339, e.EndAt)
	field := e.Filter
	if e.Object == "activities" {
		field = "activityDate"
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(e.Fields)
	for _, rec := range s.records[e.Object] {
		t, err := time.Parse(time.RFC3339, rec[field])
		if err != nil || t.Before(from) || t.After(to) {
			continue
		}
		row := make([]string, len(e.Fields))
		for i, f := range e.Fields {
			row[i] = rec[f]
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	return buf.Bytes()
}

type importJob struct {
	polls             int
	processed, failed int
	failures          []byte
}

// Submitted lists the rows imported so far (non-empty cells), as sent.
func (s *Server) Submitted() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.submitted...)
}

// ResetImports forgets imported rows and jobs.
func (s *Server) ResetImports() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.submitted, s.imports = nil, map[string]*importJob{}
}

// importLeads is Bulk Lead Import: a multipart CSV part "file", applied at
// once (insert-or-update on lookupField); at most 10 jobs not Complete.
func (s *Server) importLeads(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("format") != "csv" {
		fail(w, "1003", "Invalid format")
		return
	}
	queued := 0
	for _, j := range s.imports {
		if j.polls < 3 {
			queued++
		}
	}
	if queued >= 10 {
		fail(w, "1016", "Too many imports")
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		fail(w, "1003", "file part required")
		return
	}
	defer f.Close()
	var raw bytes.Buffer
	_, _ = raw.ReadFrom(f)
	if raw.Len() > 10<<20 {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	cr := newCSV(raw.Bytes())
	header, err := cr.Read()
	if err != nil {
		fail(w, "1003", "Empty file")
		return
	}
	lookup := r.URL.Query().Get("lookupField")
	j := &importJob{}
	var fb bytes.Buffer
	writeRow(&fb, append(append([]string(nil), header...), "Import Failure Reason"))
	for {
		rec, err := cr.Read()
		if err != nil {
			break
		}
		row := map[string]string{}
		for i, h := range header {
			if i < len(rec) && rec[i] != "" {
				row[h] = rec[i]
			}
		}
		j.processed++
		if why := s.Reject(row); why != "" {
			j.failed++
			writeRow(&fb, append(append([]string(nil), rec...), why))
			continue
		}
		s.submitted = append(s.submitted, row)
		updated := false
		if k := row[lookup]; k != "" {
			for _, l := range s.records["leads"] {
				if l[lookup] == k {
					for f, v := range row {
						l[f] = v
					}
					updated = true
				}
			}
		}
		if !updated {
			s.records["leads"] = append(s.records["leads"], row)
		}
	}
	j.failures = fb.Bytes()
	s.nextBatch++
	id := strconv.Itoa(s.nextBatch)
	s.imports[id] = j
	ok(w, []map[string]any{{"batchId": s.nextBatch, "importId": id, "status": "Queued"}})
}

func writeRow(buf *bytes.Buffer, cells []string) {
	for i, c := range cells {
		if i > 0 {
			buf.WriteByte(',')
		}
		if strings.ContainsAny(c, ",\"\r\n") {
			buf.WriteString(`"` + strings.ReplaceAll(c, `"`, `""`) + `"`)
		} else {
			buf.WriteString(c)
		}
	}
	buf.WriteByte('\n')
}
