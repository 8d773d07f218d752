// Package tmtest is a stand-in for the Trend Micro Deep Security /
// Workload Security API, written from its public Automation Center guides
// (automation.trendmicro.com/deep-security: "Authenticate with Deep
// Security Manager", "Search for Resources", "Page your search results",
// "API Rate Limits"): every call carries api-secret-key and api-version:
// v1; POST /api/<resource>/search takes {"maxItems", "searchCriteria",
// "sortByObjectID"} and answers {"<resource>":[...]}; criteria AND
// together and are ID ({"idTest","idValue"}, no field name), string
// ({"fieldName","stringTest":"equal"|"not-equal","stringValue",
// "stringWildcards"}), numeric, boolean and choice; field names are
// case-sensitive; maxItems defaults to 5000; a key past its rate limit
// gets 429 "Too many API requests".
//
// Choices where the guides are silent: a bad key answers 401 and a
// missing api-version 400, both {"message": ...}; an unknown field name
// answers 400 {"message":"Invalid search field"}.
package tmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// SecretKey is the API key the stand-in accepts.
const SecretKey = "2:tm-secret-key"

// Object is one resource object; "ID" is its integer id.
type Object map[string]any

// Server is a running stand-in.
type Server struct {
	*fakeapi.Server
	throttle fakeapi.Throttle

	mu        sync.Mutex
	objects   map[string][]Object // resource -> objects
	fields    map[string]map[string]bool
	malformed map[string]bool
	searches  fakeapi.Log
}

// New starts a stand-in that ends with the test.
func New(t testing.TB) *Server {
	s := &Server{objects: map[string][]Object{}, fields: map[string]map[string]bool{}, malformed: map[string]bool{}}
	s.Server = fakeapi.StartFunc(t, s.serve) // URL is the manager's URL (the API is under /api)
	return s
}

// Add stores objects of a resource ("computers").
func (s *Server) Add(resource string, objs ...Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fields[resource] == nil {
		s.fields[resource] = map[string]bool{"ID": true}
	}
	for _, o := range objs {
		for k := range o {
			s.fields[resource][k] = true
		}
	}
	s.objects[resource] = append(s.objects[resource], objs...)
}

// Fields declares field names a resource has although no stored object
// carries them (searchable, never matching).
func (s *Server) Fields(resource string, names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fields[resource] == nil {
		s.fields[resource] = map[string]bool{"ID": true}
	}
	for _, n := range names {
		s.fields[resource][n] = true
	}
}

// Malformed makes searches of resource answer a body that is not JSON.
func (s *Server) Malformed(resource string) {
	s.mu.Lock()
	s.malformed[resource] = true
	s.mu.Unlock()
}

// Throttle makes the next n calls answer 429 with Retry-After.
func (s *Server) Throttle(n int, after string) { s.throttle.Set(n, after) }

// Searches lists the search bodies received, compacted, in order.
func (s *Server) Searches() []string { return s.searches.Lines() }

type criterion struct {
	FieldName       string   `json:"fieldName"`
	IDTest          string   `json:"idTest"`
	IDValue         *float64 `json:"idValue"`
	StringTest      string   `json:"stringTest"`
	StringValue     *string  `json:"stringValue"`
	StringWildcards bool     `json:"stringWildcards"`
	NumericTest     string   `json:"numericTest"`
	NumericValue    *float64 `json:"numericValue"`
	BooleanTest     *bool    `json:"booleanTest"`
	ChoiceTest      string   `json:"choiceTest"`
	ChoiceValue     *string  `json:"choiceValue"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("api-secret-key") != SecretKey {
		fakeapi.WriteJSON(w, http.StatusUnauthorized, map[string]any{"message": "Invalid API key"})
		return
	}
	if r.Header.Get("api-version") != "v1" {
		fakeapi.WriteJSON(w, http.StatusBadRequest, map[string]any{"message": "api-version header is required"})
		return
	}
	s.mu.Lock()
	if s.throttle.Take(w) {
		s.mu.Unlock()
		fakeapi.WriteJSON(w, http.StatusTooManyRequests, map[string]any{"message": "Too many API requests."})
		return
	}
	s.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/api/")
	resource, search := strings.CutSuffix(path, "/search")
	if !search || r.Method != http.MethodPost || resource == "" || strings.Contains(resource, "/") {
		fakeapi.WriteJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
		return
	}
	var body struct {
		MaxItems       *int        `json:"maxItems"`
		SearchCriteria []criterion `json:"searchCriteria"`
		SortByObjectID bool        `json:"sortByObjectID"`
	}
	raw := new(bytes.Buffer)
	dec := json.NewDecoder(r.Body)
	var m json.RawMessage
	if err := dec.Decode(&m); err != nil || json.Unmarshal(m, &body) != nil {
		fakeapi.WriteJSON(w, http.StatusBadRequest, map[string]any{"message": "The search filter is not valid JSON"})
		return
	}
	_ = json.Compact(raw, m)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.searches.Add(resource + " " + raw.String())
	if s.malformed[resource] {
		fakeapi.WriteRawJSON(w, http.StatusOK, fmt.Sprintf(`{"%s": [{"ID": 1,`, resource))
		return
	}
	for _, c := range body.SearchCriteria {
		if c.IDTest == "" && !s.fields[resource][c.FieldName] {
			fakeapi.WriteJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid search field"})
			return
		}
	}
	objs := append([]Object(nil), s.objects[resource]...)
	if body.SortByObjectID {
		sort.SliceStable(objs, func(i, j int) bool { return id(objs[i]) < id(objs[j]) })
	}
	max := 5000
	if body.MaxItems != nil {
		max = *body.MaxItems
	}
	out := []Object{}
	for _, o := range objs {
		if len(out) >= max {
			break
		}
		if matches(o, body.SearchCriteria) {
			out = append(out, o)
		}
	}
	fakeapi.WriteJSON(w, 200, map[string]any{resource: out})
}

func id(o Object) float64 {
	switch v := o["ID"].(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

func cmp(test string, a, b float64) bool {
	switch test {
	case "", "equal":
		return a == b
	case "not-equal":
		return a != b
	case "greater-than":
		return a > b
	case "greater-than-or-equal":
		return a >= b
	case "less-than":
		return a < b
	case "less-than-or-equal":
		return a <= b
	}
	return false
}

func matches(o Object, cs []criterion) bool {
	for _, c := range cs {
		v, has := o[c.FieldName]
		switch {
		case c.IDTest != "" || (c.FieldName == "" && c.IDValue != nil):
			if c.IDValue == nil || !cmp(c.IDTest, id(o), *c.IDValue) {
				return false
			}
		case c.StringValue != nil:
			got := fmt.Sprint(v)
			want := *c.StringValue
			eq := has && got == want
			if c.StringWildcards && strings.Contains(want, "%") {
				prefix, _, _ := strings.Cut(want, "%")
				eq = has && strings.HasPrefix(got, prefix)
			}
			if eq == (c.StringTest == "not-equal") {
				return false
			}
		case c.NumericValue != nil:
			n, ok := v.(float64)
			if i, isInt := v.(int); isInt {
				n, ok = float64(i), true
			}
			if !ok || !cmp(c.NumericTest, n, *c.NumericValue) {
				return false
			}
		case c.BooleanTest != nil:
			if b, ok := v.(bool); !ok || b != *c.BooleanTest {
				return false
			}
		case c.ChoiceValue != nil:
			if (has && fmt.Sprint(v) == *c.ChoiceValue) == (c.ChoiceTest == "not-equal") {
				return false
			}
		}
	}
	return true
}
