// Package cptest is a stand-in for Amazon Connect Customer Profiles, which
// moto does not implement, written from the Customer Profiles API
// reference (rest-json, signing name "profile"): CreateDomain (POST
// /domains/{DomainName}), GetDomain, ListDomains (GET /domains),
// PutProfileObjectType / GetProfileObjectType (PUT|GET
// /domains/{d}/object-types/{t}), ListProfileObjectTypes, and
// PutProfileObject (PUT /domains/{d}/profiles/objects, body
// {"ObjectTypeName", "Object"}, answer {"ProfileObjectUniqueKey"}).
//
// As the reference and the admin guide say: DomainName matches
// ^[a-zA-Z0-9_-]+$ (1..64), ObjectTypeName ^[a-zA-Z_][a-zA-Z_0-9-]*$
// (1..255), Object is 1..256000 characters; an object joins by its type's
// keys, and one with the same UNIQUE key value as a stored object replaces
// it. Errors carry X-Amzn-ErrorType and {"Message"}. Where the reference is
// silent (connectors-aws 5.3 [U]): an unknown object type and an object
// lacking its unique key's field are 400 BadRequestException, and the
// unique key is the hex SHA-256 of "<type>/<values>".
//
// Requests must be SigV4-signed for the "profile" service.
package cptest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

var (
	domainRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	typeRE   = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z_0-9-]{0,254}$`)
)

// MaxObject is PutProfileObject's limit on Object, in characters.
const MaxObject = 256000

// Field is an object type field mapping.
type Field struct {
	Source      string `json:"Source,omitempty"`
	Target      string `json:"Target,omitempty"`
	ContentType string `json:"ContentType,omitempty"`
}

// Key is an object type key.
type Key struct {
	StandardIdentifiers []string `json:"StandardIdentifiers,omitempty"`
	FieldNames          []string `json:"FieldNames,omitempty"`
}

type objectType struct {
	Description          string           `json:"Description"`
	Fields               map[string]Field `json:"Fields,omitempty"`
	Keys                 map[string][]Key `json:"Keys,omitempty"`
	AllowProfileCreation bool             `json:"AllowProfileCreation,omitempty"`
	ExpirationDays       int              `json:"ExpirationDays,omitempty"`
}

type domain struct {
	created time.Time
	types   map[string]*objectType
	objects map[string]map[string]string // type -> unique key -> Object
}

// Server is a running stand-in.
type Server struct {
	URL string
	srv *fakeapi.Server

	mu       sync.Mutex
	domains  map[string]*domain
	puts     int
	throttle fakeapi.Budget // the next PutProfileObject calls answered 429
	fail500  fakeapi.Budget
}

// New starts a stand-in, closed when t ends.
func New(t testing.TB) *Server {
	s := &Server{domains: map[string]*domain{}}
	s.srv = fakeapi.StartFunc(t, s.serve)
	s.URL = s.srv.URL()
	return s
}

// Objects returns the objects of a type stored in a domain, by unique key.
func (s *Server) Objects(domainName, typ string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	if d := s.domains[domainName]; d != nil {
		for k, v := range d.objects[typ] {
			out[k] = v
		}
	}
	return out
}

// Throttle makes the next n PutProfileObject calls answer 429
// ThrottlingException.
func (s *Server) Throttle(n int) { s.throttle.Set(n) }

// FailPuts makes the next n PutProfileObject calls answer 500.
func (s *Server) FailPuts(n int) { s.fail500.Set(n) }

// Puts counts PutProfileObject calls, refused ones included.
func (s *Server) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// DeleteDomain removes a domain and everything in it.
func (s *Server) DeleteDomain(name string) {
	s.mu.Lock()
	delete(s.domains, name)
	s.mu.Unlock()
}

func apiErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("X-Amzn-ErrorType", typ)
	fakeapi.WriteJSON(w, status, map[string]string{"Message": msg})
}

func writeJSON(w http.ResponseWriter, v any) { fakeapi.WriteJSON(w, http.StatusOK, v) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, "/profile/aws4_request") {
		apiErr(w, 403, "AccessDeniedException", "requests must be SigV4-signed for service profile")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(parts) == 1 && parts[0] == "domains" && r.Method == http.MethodGet:
		var items []map[string]any
		names := make([]string, 0, len(s.domains))
		for n := range s.domains {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			items = append(items, map[string]any{"DomainName": n, "CreatedAt": s.domains[n].created.Unix(), "LastUpdatedAt": s.domains[n].created.Unix()})
		}
		writeJSON(w, map[string]any{"Items": items})
	case len(parts) == 2 && parts[0] == "domains":
		s.domain(w, r, parts[1], body)
	case len(parts) >= 3 && parts[0] == "domains" && parts[2] == "object-types":
		s.objectTypes(w, r, parts[1], parts[3:], body)
	case len(parts) == 4 && parts[0] == "domains" && parts[2] == "profiles" && parts[3] == "objects" && r.Method == http.MethodPut:
		s.putObject(w, parts[1], body)
	default:
		apiErr(w, 404, "ResourceNotFoundException", "no such operation "+r.Method+" "+r.URL.Path)
	}
}

func (s *Server) domain(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	if !domainRE.MatchString(name) {
		apiErr(w, 400, "BadRequestException", "1 validation error detected: Value at 'domainName' failed to satisfy constraint")
		return
	}
	d := s.domains[name]
	switch r.Method {
	case http.MethodPost:
		var in struct{ DefaultExpirationDays int }
		if json.Unmarshal(body, &in) != nil || in.DefaultExpirationDays < 1 || in.DefaultExpirationDays > 1098 {
			apiErr(w, 400, "BadRequestException", "DefaultExpirationDays must be between 1 and 1098")
			return
		}
		if d != nil {
			apiErr(w, 400, "BadRequestException", "Domain "+name+" already exists")
			return
		}
		d = &domain{created: time.Now(), types: map[string]*objectType{}, objects: map[string]map[string]string{}}
		s.domains[name] = d
	case http.MethodGet:
		if d == nil {
			apiErr(w, 404, "ResourceNotFoundException", "Domain "+name+" does not exist")
			return
		}
	default:
		apiErr(w, 405, "BadRequestException", "method not allowed")
		return
	}
	writeJSON(w, map[string]any{"DomainName": name, "DefaultExpirationDays": 366, "CreatedAt": d.created.Unix(), "LastUpdatedAt": d.created.Unix()})
}

func (s *Server) objectTypes(w http.ResponseWriter, r *http.Request, domainName string, rest []string, body []byte) {
	d := s.domains[domainName]
	if d == nil {
		apiErr(w, 404, "ResourceNotFoundException", "Domain "+domainName+" does not exist")
		return
	}
	if len(rest) == 0 && r.Method == http.MethodGet {
		names := make([]string, 0, len(d.types))
		for n := range d.types {
			names = append(names, n)
		}
		sort.Strings(names)
		var items []map[string]any
		for _, n := range names {
			items = append(items, map[string]any{"ObjectTypeName": n, "Description": d.types[n].Description})
		}
		writeJSON(w, map[string]any{"Items": items})
		return
	}
	if len(rest) != 1 || !typeRE.MatchString(rest[0]) {
		apiErr(w, 400, "BadRequestException", "invalid object type name")
		return
	}
	name := rest[0]
	switch r.Method {
	case http.MethodPut:
		var ot objectType
		if err := json.Unmarshal(body, &ot); err != nil || ot.Description == "" {
			apiErr(w, 400, "BadRequestException", "Description is required")
			return
		}
		d.types[name] = &ot
	case http.MethodGet:
		if d.types[name] == nil {
			apiErr(w, 404, "ResourceNotFoundException", "Object type "+name+" does not exist")
			return
		}
	default:
		apiErr(w, 405, "BadRequestException", "method not allowed")
		return
	}
	ot := d.types[name]
	writeJSON(w, map[string]any{"ObjectTypeName": name, "Description": ot.Description, "Fields": ot.Fields, "Keys": ot.Keys,
		"AllowProfileCreation": ot.AllowProfileCreation})
}

func (s *Server) putObject(w http.ResponseWriter, domainName string, body []byte) {
	s.puts++
	if s.throttle.Take() {
		apiErr(w, 429, "ThrottlingException", "Rate exceeded")
		return
	}
	if s.fail500.Take() {
		apiErr(w, 500, "InternalServerException", "internal error")
		return
	}
	d := s.domains[domainName]
	if d == nil {
		apiErr(w, 404, "ResourceNotFoundException", "Domain "+domainName+" does not exist")
		return
	}
	var in struct {
		ObjectTypeName *string
		Object         *string
	}
	if err := json.Unmarshal(body, &in); err != nil || in.ObjectTypeName == nil || in.Object == nil {
		apiErr(w, 400, "BadRequestException", "ObjectTypeName and Object are required")
		return
	}
	ot := d.types[*in.ObjectTypeName]
	if ot == nil {
		apiErr(w, 400, "BadRequestException", "Object type "+*in.ObjectTypeName+" does not exist")
		return
	}
	if n := len([]rune(*in.Object)); n < 1 || n > MaxObject {
		apiErr(w, 400, "BadRequestException", "1 validation error detected: Value at 'object' failed to satisfy constraint: Member must have length less than or equal to 256000")
		return
	}
	var obj map[string]any
	if json.Unmarshal([]byte(*in.Object), &obj) != nil {
		apiErr(w, 400, "BadRequestException", "Object is not a JSON object")
		return
	}
	var unique []string
	for _, keys := range ot.Keys {
		for _, k := range keys {
			isUnique := false
			for _, id := range k.StandardIdentifiers {
				isUnique = isUnique || id == "UNIQUE"
			}
			if !isUnique {
				continue
			}
			for _, fn := range k.FieldNames {
				src, _ := strings.CutPrefix(ot.Fields[fn].Source, "_source.")
				v, ok := obj[src]
				if !ok || v == nil || v == "" {
					apiErr(w, 400, "BadRequestException", "Object is missing the unique key field "+src)
					return
				}
				b, _ := json.Marshal(v)
				unique = append(unique, string(b))
			}
		}
	}
	if len(unique) == 0 {
		apiErr(w, 400, "BadRequestException", "Object type "+*in.ObjectTypeName+" has no UNIQUE key")
		return
	}
	sum := sha256.Sum256([]byte(*in.ObjectTypeName + "/" + strings.Join(unique, "/")))
	key := hex.EncodeToString(sum[:])
	if d.objects[*in.ObjectTypeName] == nil {
		d.objects[*in.ObjectTypeName] = map[string]string{}
	}
	d.objects[*in.ObjectTypeName][key] = *in.Object
	writeJSON(w, map[string]string{"ProfileObjectUniqueKey": key})
}
