// Package inxtest is a stand-in for Infor Nexus's REST 3.1 query API,
// written from the public material the notes cite (connectors-saas-2
// §6.2-6.3): GET /rest/3.1/<Type>/query?oql=...&limit=N&offset=K answering
// {"result":[...],"resultInfo":{"count","offset","estimatedTotalCount","hasMore"}},
// each record with __metadata{type,uid,fingerprint,modifyTimestamp}. It
// recomputes every request's HMAC_1 signature — Base64(HMAC-SHA256(secret,
// lower(x-dapi-date + method + path?query as sent))) — and refuses a wrong
// one, a wrong data key or a date more than 15 minutes off with 401
// {"message":"Invalid HMAC signature"} (status and body are the notes'
// choice). Its OQL is the notes' subset: 1=1, field op 'literal' with = >=
// <= > <, parenthesized OR-groups of =, joined by AND.
package inxtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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

// Credentials the stand-in accepts.
const (
	AccessKey = "AK"
	Secret    = "s3cr3t"
	User      = "agent@1"
	DataKey   = "DK"
)

// Record is one object; "uid" and "modifyTimestamp" go into __metadata.
type Record map[string]any

// Server is the stand-in.
type Server struct {
	*fakeapi.Server
	throttle fakeapi.Budget
	requests fakeapi.Log
	now      func() time.Time

	mu        sync.Mutex
	data      map[string][]Record
	malformed map[string]bool
}

// New starts a stand-in whose clock is now (nil: the wall clock).
func New(t testing.TB, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{now: now, data: map[string][]Record{}, malformed: map[string]bool{}}
	s.Server = fakeapi.StartFunc(t, s.serve) // URL is the instance (the profile's instanceUrl)
	return s
}

// Add stores records of a type.
func (s *Server) Add(typ string, recs ...Record) {
	s.mu.Lock()
	s.data[typ] = append(s.data[typ], recs...)
	s.mu.Unlock()
}

// Throttle answers the next n queries 429 with Retry-After: 1.
func (s *Server) Throttle(n int) { s.throttle.Set(n) }

// Malformed makes a type's answers unparsable.
func (s *Server) Malformed(typ string) { s.mu.Lock(); s.malformed[typ] = true; s.mu.Unlock() }

// Requests lists the signed requests' URIs, as received.
func (s *Server) Requests() []string { return s.requests.Lines() }

// Signature computes HMAC_1's signature.
func Signature(secret, date, method, uri string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strings.ToLower(date + method + uri)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func refuse(w http.ResponseWriter, status int, msg string) {
	fakeapi.WriteJSON(w, status, map[string]string{"message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	date := r.Header.Get("x-dapi-date")
	want := "HMAC_1 " + AccessKey + ":" + Signature(Secret, date, r.Method, r.RequestURI) + ":" + User
	at, err := time.Parse("2006-01-02T15:04:05Z", date)
	if err != nil {
		at, err = time.Parse("2006-01-02T15:04:05.000Z", date)
	}
	if err != nil || r.Header.Get("Authorization") != want {
		refuse(w, http.StatusUnauthorized, "Invalid HMAC signature")
		return
	}
	if d := s.now().Sub(at); d > 15*time.Minute || d < -15*time.Minute {
		refuse(w, http.StatusUnauthorized, "Request date is too far from the server's time")
		return
	}
	if r.Header.Get("dataKey") != DataKey && r.URL.Query().Get("dataKey") != DataKey {
		refuse(w, http.StatusForbidden, "Invalid data key")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Add(r.RequestURI)
	rest, ok := strings.CutPrefix(r.URL.Path, "/rest/3.1/")
	typ, isQuery := strings.CutSuffix(rest, "/query")
	if !ok || !isQuery || r.Method != http.MethodGet {
		refuse(w, http.StatusNotFound, "Not found")
		return
	}
	if s.throttle.Take() {
		w.Header().Set("Retry-After", "1")
		refuse(w, http.StatusTooManyRequests, "Too many requests")
		return
	}
	q := r.URL.Query()
	limit, offset := 100, 0
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			refuse(w, http.StatusBadRequest, "Invalid limit")
			return
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			refuse(w, http.StatusBadRequest, "Invalid offset")
			return
		}
	}
	match, err := parse(q.Get("oql"))
	if err != nil {
		refuse(w, http.StatusBadRequest, "Invalid OQL: "+err.Error())
		return
	}
	if s.malformed[typ] {
		fakeapi.WriteRawJSON(w, http.StatusOK, `{"result":[{"__metadata":`)
		return
	}
	var all []Record
	for _, rec := range s.data[typ] {
		if match(rec) {
			all = append(all, rec)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return fmt.Sprint(all[i]["uid"]) < fmt.Sprint(all[j]["uid"]) })
	end := min(offset+limit, len(all))
	out := []map[string]any{}
	for _, rec := range all[min(offset, len(all)):end] {
		v := map[string]any{}
		meta := map[string]any{"apiVersion": "3.1", "type": typ, "self": "/rest/3.1/" + typ + "/" + fmt.Sprint(rec["uid"]),
			"fingerprint": fmt.Sprintf("fp-%v", rec["uid"])}
		for k, x := range rec {
			switch k {
			case "uid", "modifyTimestamp":
				meta[k] = x
			default:
				v[k] = x
			}
		}
		v["__metadata"] = meta
		out = append(out, v)
	}
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"result": out, "resultInfo": map[string]any{"count": len(out), "offset": offset,
		"estimatedTotalCount": len(all), "hasMore": end < len(all)}})
}

// parse reads the OQL subset into a predicate.
func parse(oql string) (func(Record) bool, error) {
	oql = strings.TrimSpace(oql)
	if oql == "" || oql == "1=1" {
		return func(Record) bool { return true }, nil
	}
	var preds []func(Record) bool
	for _, part := range strings.Split(oql, " AND ") {
		part = strings.TrimSpace(part)
		if strings.HasPrefix(part, "(") && strings.HasSuffix(part, ")") {
			var ors []func(Record) bool
			for _, alt := range strings.Split(part[1:len(part)-1], " OR ") {
				p, err := comparison(alt)
				if err != nil {
					return nil, err
				}
				ors = append(ors, p)
			}
			preds = append(preds, func(r Record) bool {
				for _, p := range ors {
					if p(r) {
						return true
					}
				}
				return false
			})
			continue
		}
		p, err := comparison(part)
		if err != nil {
			return nil, err
		}
		preds = append(preds, p)
	}
	return func(r Record) bool {
		for _, p := range preds {
			if !p(r) {
				return false
			}
		}
		return true
	}, nil
}

func comparison(s string) (func(Record) bool, error) {
	s = strings.TrimSpace(s)
	for _, op := range []string{">=", "<=", "=", ">", "<"} {
		field, lit, ok := strings.Cut(s, op)
		if !ok {
			continue
		}
		field, lit = strings.TrimSpace(field), strings.TrimSpace(lit)
		if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
			return nil, fmt.Errorf("literal %q is not quoted", lit)
		}
		v := strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
		return func(r Record) bool {
			x, ok := r[field]
			if !ok || x == nil {
				return false
			}
			c := strings.Compare(fmt.Sprint(x), v)
			// Timestamps compare as times, whatever their fraction digits.
			if a, err1 := time.Parse("2006-01-02 15:04:05", fmt.Sprint(x)); err1 == nil {
				if b, err2 := time.Parse("2006-01-02 15:04:05", v); err2 == nil {
					c = a.Compare(b)
				}
			}
			if a, err1 := strconv.ParseFloat(fmt.Sprint(x), 64); err1 == nil {
				if b, err2 := strconv.ParseFloat(v, 64); err2 == nil {
					c = map[bool]int{true: -1, false: 0}[a < b] + map[bool]int{true: 1, false: 0}[a > b]
				}
			}
			switch op {
			case "=":
				return c == 0
			case ">=":
				return c >= 0
			case "<=":
				return c <= 0
			case ">":
				return c > 0
			}
			return c < 0
		}, nil
	}
	return nil, fmt.Errorf("no operator in %q", s)
}
