package odatatest

// Writes (connectors-saas-2 §8.4, §8.5 pairs 10–12): CSRF tokens fetched
// on a GET with X-CSRF-Token: Fetch, POST to an entity set, MERGE, PATCH,
// PUT (or POST with X-HTTP-Method) and DELETE to an entity by key
// (Set('K1') or Set(K1='a',K2='b')), v2 error bodies.
//
// Assumptions where SAP documents nothing [U]: the session cookie is
// SAP_SESSIONID_ABC_100 and the token cookie sap-XSRF_ABC_100; a token is
// good only with the session cookie it was issued with; a duplicate key
// or a value that does not fit its Edm type answers 400 with a v2 error
// body; navigation properties (deep insert) are stored as sent and echoed
// as {"results":[…]}.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Cookie names the fake uses for a CSRF session.
const (
	SessionCookie = "SAP_SESSIONID_ABC_100"
	XSRFCookie    = "sap-XSRF_ABC_100"
)

// ExpireCSRF makes every issued CSRF token invalid, as an SAP session
// timeout does.
func (s *Server) ExpireCSRF() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.csrf = map[string]string{}
}

// Calls returns "METHOD URI" for every request received, the token
// endpoint excluded.
func (s *Server) Calls() []string { return s.calls.Lines() }

// Rows returns a copy of a set's rows (nil for an unknown set).
func (s *Server) Rows(set string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sets[set]
	if st == nil {
		return nil
	}
	out := make([]map[string]any, 0, len(st.Rows))
	for _, r := range st.Rows {
		c := make(map[string]any, len(r))
		for k, v := range r {
			c[k] = v
		}
		out = append(out, c)
	}
	return out
}

func (s *Server) issueCSRF(w http.ResponseWriter) {
	s.mu.Lock()
	s.csrfN++
	tok, sess := fmt.Sprintf("tok%d", s.csrfN), fmt.Sprintf("sess%d", s.csrfN)
	s.csrf[tok] = sess
	s.mu.Unlock()
	w.Header().Set("X-CSRF-Token", tok)
	http.SetCookie(w, &http.Cookie{Name: XSRFCookie, Value: tok, Path: "/"})
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sess, Path: "/"})
}

func (s *Server) csrfValid(r *http.Request) bool {
	tok := r.Header.Get("X-CSRF-Token")
	c, err := r.Cookie(SessionCookie)
	if tok == "" || err != nil {
		return false
	}
	if _, err := r.Cookie(XSRFCookie); err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.csrf[tok]
	return ok && sess == c.Value
}

// modify answers POST, PUT, PATCH, MERGE and DELETE.
func (s *Server) modify(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	if m := r.Header.Get("X-HTTP-Method"); method == http.MethodPost && m != "" {
		method = strings.ToUpper(m)
	}
	if !s.csrfValid(r) {
		w.Header().Set("X-CSRF-Token", "Required")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte("CSRF token required"))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, ServicePath+"/")
	if !ok {
		sapError(w, http.StatusNotFound, "/IWFND/MED/170", "No service found for '"+r.URL.Path+"'")
		return
	}
	name, keyPred, hasKey := strings.Cut(rest, "(")
	s.mu.Lock()
	set := s.sets[name]
	s.mu.Unlock()
	if set == nil {
		sapError(w, http.StatusNotFound, "/IWBEP/CM_MGW_RT/021", "Resource not found for segment '"+name+"'")
		return
	}
	var body map[string]any
	if method != http.MethodDelete {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			sapError(w, http.StatusUnsupportedMediaType, "/IWFND/CM_MGW/006", "Content type must be application/json")
			return
		}
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil || body == nil {
			sapError(w, http.StatusBadRequest, "/IWBEP/CM_MGW_RT/010", "Malformed request body")
			return
		}
		if code, msg := validate(set, body); code != "" {
			sapError(w, http.StatusBadRequest, code, msg)
			return
		}
	}
	switch {
	case method == http.MethodPost && !hasKey:
		s.create(w, set, body)
	case hasKey && (method == "MERGE" || method == http.MethodPatch || method == http.MethodPut || method == http.MethodDelete):
		key, err := parseKey(set, strings.TrimSuffix(keyPred, ")"))
		if err != nil {
			sapError(w, http.StatusBadRequest, "/IWBEP/CM_MGW_RT/003", err.Error())
			return
		}
		s.change(w, set, key, method, body, r.Header.Get("If-Match"))
	default:
		sapError(w, http.StatusMethodNotAllowed, "/IWFND/CM_MGW/004", "Method "+method+" not allowed here")
	}
}

// validate checks a body's properties against the entity type; values are
// as SAP v2 JSON has them (Decimal and Int64 as strings, DateTime as
// "/Date(ms)/").
func validate(set *Set, body map[string]any) (code, msg string) {
	props := map[string]Prop{}
	for _, p := range set.Props {
		props[p.Name] = p
	}
	for k, v := range body {
		if k == "__metadata" {
			continue
		}
		p, ok := props[k]
		if !ok {
			navOK := false
			for _, n := range set.Navs {
				navOK = navOK || n == k
			}
			if !navOK {
				return "/IWBEP/CM_MGW_RT/020", "Property '" + k + "' is invalid"
			}
			continue
		}
		if v == nil {
			continue
		}
		if !fits(p.Type, v) {
			return "/IWBEP/CM_MGW_RT/001", fmt.Sprintf("Invalid value %v for property '%s' of type %s", v, k, p.Type)
		}
	}
	return "", ""
}

func fits(edm string, v any) bool {
	switch edm {
	case "Edm.String", "Edm.Guid", "Edm.Time", "Edm.Binary":
		_, ok := v.(string)
		return ok
	case "Edm.Boolean":
		_, ok := v.(bool)
		return ok
	case "Edm.Decimal", "Edm.Int64":
		x, ok := v.(string)
		_, err := strconv.ParseFloat(x, 64)
		return ok && err == nil
	case "Edm.DateTime", "Edm.DateTimeOffset":
		x, ok := v.(string)
		_, good := native(edm, x)
		return ok && strings.HasPrefix(x, "/Date(") && good
	default:
		_, ok := v.(json.Number)
		return ok
	}
}

// stored turns a decoded body value into the form rows hold.
func stored(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stored(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = stored(e)
		}
		return out
	}
	return v
}

func keyOf(set *Set, row map[string]any) map[string]string {
	k := map[string]string{}
	for _, p := range set.Props {
		if p.Key {
			k[p.Name] = fmt.Sprint(row[p.Name])
		}
	}
	return k
}

func sameKey(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

func (s *Server) create(w http.ResponseWriter, set *Set, body map[string]any) {
	row := map[string]any{}
	for k, v := range body {
		if k != "__metadata" {
			row[k] = stored(v)
		}
	}
	s.mu.Lock()
	for _, p := range set.Props {
		if p.Generated && (row[p.Name] == nil || row[p.Name] == "") {
			s.generated++
			row[p.Name] = strconv.Itoa(s.generated)
		}
	}
	s.mu.Unlock()
	for _, p := range set.Props {
		if p.Key && (row[p.Name] == nil || row[p.Name] == "") {
			sapError(w, http.StatusBadRequest, "/IWBEP/CM_MGW_RT/002", "Key property '"+p.Name+"' is missing")
			return
		}
	}
	key := keyOf(set, row)
	s.mu.Lock()
	for _, old := range set.Rows {
		if sameKey(keyOf(set, old), key) {
			s.mu.Unlock()
			sapError(w, http.StatusBadRequest, "/IWBEP/CM_MGW_RT/025", fmt.Sprintf("Entity %s with key %v already exists", set.Name, key))
			return
		}
	}
	set.Rows = append(set.Rows, row)
	s.mu.Unlock()
	loc := s.URL() + ServicePath + "/" + set.Name + keyPredicate(set, row)
	out := map[string]any{"__metadata": map[string]string{"uri": loc, "type": ServiceName + "." + set.Name + "Type"}}
	for k, v := range row {
		out[k] = v
		if arr, ok := v.([]any); ok {
			out[k] = map[string]any{"results": arr}
		}
	}
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	b, _ := json.Marshal(map[string]any{"d": out})
	w.Write(b)
}

// ProtectWithETags makes set's entities ETag-protected (see Set.ETags).
func (s *Server) ProtectWithETags(set string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets[set].ETags = true
}

// ETag is the current ETag of the entity of set with key (SAP's weak
// W/"..." form).
func (s *Server) ETag(set string, key map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return etag(s.sets[set], key)
}

func etag(set *Set, key map[string]string) string {
	return fmt.Sprintf("W/\"%d\"", set.versions[fmt.Sprint(key)]+1)
}

func (s *Server) change(w http.ResponseWriter, set *Set, key map[string]string, method string, body map[string]any, ifMatch string) {
	s.mu.Lock()
	idx := -1
	for i, old := range set.Rows {
		if sameKey(keyOf(set, old), key) {
			idx = i
			break
		}
	}
	if idx < 0 {
		s.mu.Unlock()
		sapError(w, http.StatusNotFound, "/IWBEP/CM_MGW_RT/021", fmt.Sprintf("Resource not found for segment '%s' with key %v", set.Name, key))
		return
	}
	if set.ETags {
		switch cur := etag(set, key); {
		case ifMatch == "":
			s.mu.Unlock()
			sapError(w, http.StatusPreconditionRequired, "/IWBEP/CM_MGW_RT/025", "Precondition required: send If-Match with the entity's ETag")
			return
		case ifMatch != "*" && ifMatch != cur:
			s.mu.Unlock()
			sapError(w, http.StatusPreconditionFailed, "/IWBEP/CM_MGW_RT/024", "Precondition failed: the entity was changed (ETag "+cur+")")
			return
		}
		if set.versions == nil {
			set.versions = map[string]int{}
		}
		set.versions[fmt.Sprint(key)]++
	}
	switch method {
	case http.MethodDelete:
		set.Rows = append(set.Rows[:idx:idx], set.Rows[idx+1:]...)
	case http.MethodPut:
		row := map[string]any{}
		for k, v := range key {
			row[k] = v
		}
		for k, v := range body {
			if _, isKey := key[k]; !isKey && k != "__metadata" {
				row[k] = stored(v)
			}
		}
		set.Rows[idx] = row
	default: // MERGE, PATCH
		for k, v := range body {
			if _, isKey := key[k]; !isKey && k != "__metadata" {
				set.Rows[idx][k] = stored(v)
			}
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// keyPredicate writes ('v') or (K1='a',K2='b') for string keys.
func keyPredicate(set *Set, row map[string]any) string {
	var parts []string
	for _, p := range set.Props {
		if p.Key {
			parts = append(parts, p.Name+"='"+strings.ReplaceAll(fmt.Sprint(row[p.Name]), "'", "''")+"'")
		}
	}
	if len(parts) == 1 {
		_, v, _ := strings.Cut(parts[0], "=")
		return "(" + v + ")"
	}
	return "(" + strings.Join(parts, ",") + ")"
}

// parseKey reads a key predicate's inside: 'v', 5, or K1='a',K2=5L.
func parseKey(set *Set, pred string) (map[string]string, error) {
	var keys []string
	for _, p := range set.Props {
		if p.Key {
			keys = append(keys, p.Name)
		}
	}
	var parts []string
	inQuote, start := false, 0
	for i := 0; i < len(pred); i++ {
		switch c := pred[i]; {
		case c == '\'':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			parts = append(parts, pred[start:i])
			start = i + 1
		}
	}
	parts = append(parts, pred[start:])
	out := map[string]string{}
	for _, part := range parts {
		name, lit, named := "", part, false
		if i := strings.IndexByte(part, '='); i >= 0 && !strings.HasPrefix(part, "'") {
			name, lit, named = part[:i], part[i+1:], true
		}
		if !named {
			if len(parts) != 1 || len(keys) != 1 {
				return nil, fmt.Errorf("Invalid key predicate (%s)", pred)
			}
			name = keys[0]
		}
		v, ok := strLit(lit)
		if !ok {
			v = strings.TrimRight(lit, "LMdf")
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return nil, fmt.Errorf("Invalid key literal %s", lit)
			}
		}
		out[name] = v
	}
	if len(out) != len(keys) {
		return nil, fmt.Errorf("Key predicate (%s) does not name every key of %s", pred, set.Name)
	}
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("Key predicate (%s) lacks key %s", pred, k)
		}
	}
	return out, nil
}
