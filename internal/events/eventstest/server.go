package eventstest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server is a stand-in for the EventBridge PutEvents API (AWS JSON 1.1,
// X-Amz-Target AWSEvents.PutEvents) that keeps every accepted event by
// bus. moto serves PutEvents, but delivers to a rule's SQS target at about
// 0.4 s an event, too slow to read back thousands; Server reads back fast
// and checks what moto does not: the 256 KB request limit.
//
// It follows the API reference: 1..10 entries and at most 256 KB (the sum
// of Source, DetailType, Detail and Resources bytes) per request, else a
// 400 ValidationException; per entry, a missing Source or DetailType is
// InvalidArgument and a Detail that is not a JSON object MalformedDetail,
// reported in Entries (in request order) with FailedEntryCount.
type Server struct {
	URL string
	// Reject, if set, may fail an entry the checks passed: a non-empty code
	// becomes its ErrorCode (ThrottlingException, AccessDeniedException...).
	Reject func(e Event) (code, message string)
	// Unavailable is how many of the next requests get a 503
	// ServiceUnavailable before any check.
	Unavailable int

	mu    sync.Mutex
	buses map[string][]Event
	puts  int
}

// NewServer starts a Server for the test.
func NewServer(t testing.TB) *Server {
	s := &Server{buses: map[string][]Event{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Events returns the events accepted on bus ("default" for the default bus).
func (s *Server) Events(bus string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.buses[bus]...)
}

// Puts is how many PutEvents requests arrived.
func (s *Server) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

const maxRequestBytes = 256 * 1024

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", typ)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
		fail(http.StatusBadRequest, "UnknownOperationException", "only PutEvents is served")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		fail(http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	var in struct {
		Entries []struct {
			Source, DetailType, Detail, EventBusName *string
			Resources                                []string
		}
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail(http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	s.mu.Lock()
	s.puts++
	down := s.Unavailable > 0
	if down {
		s.Unavailable--
	}
	s.mu.Unlock()
	if down {
		fail(http.StatusServiceUnavailable, "ServiceUnavailable", "the service is unavailable, try again")
		return
	}
	if n := len(in.Entries); n < 1 || n > 10 {
		fail(http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10 (got %d)", n))
		return
	}
	size := 0
	for _, e := range in.Entries {
		size += len(str(e.Source)) + len(str(e.DetailType)) + len(str(e.Detail))
		for _, res := range e.Resources {
			size += len(res)
		}
	}
	if size > maxRequestBytes {
		fail(http.StatusBadRequest, "ValidationException", fmt.Sprintf("Total size of the entries in the request is over the limit (%d bytes)", size))
		return
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	var out struct {
		FailedEntryCount int
		Entries          []result
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range in.Entries {
		ev := Event{Source: str(e.Source), DetailType: str(e.DetailType), Resources: e.Resources, Region: "us-east-1"}
		var obj map[string]json.RawMessage
		var res result
		switch {
		case ev.Source == "":
			res = result{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter Source is not valid. Reason: Source is a required argument."}
		case ev.DetailType == "":
			res = result{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter DetailType is not valid. Reason: DetailType is a required argument."}
		case json.Unmarshal([]byte(str(e.Detail)), &obj) != nil || obj == nil:
			res = result{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}
		}
		ev.Detail = json.RawMessage(str(e.Detail))
		if res.ErrorCode == "" && s.Reject != nil {
			res.ErrorCode, res.ErrorMessage = s.Reject(ev)
		}
		if res.ErrorCode != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, res)
			continue
		}
		var id [16]byte
		_, _ = rand.Read(id[:])
		ev.ID = hex.EncodeToString(id[:])
		bus := str(e.EventBusName)
		if i := strings.LastIndex(bus, ":event-bus/"); i >= 0 {
			bus = bus[i+len(":event-bus/"):]
		}
		if bus == "" {
			bus = "default"
		}
		s.buses[bus] = append(s.buses[bus], ev)
		out.Entries = append(out.Entries, result{EventId: ev.ID})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(&out)
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
