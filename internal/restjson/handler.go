// Package restjson is the hand-written HTTP side of the AppFlow API: routing
// from the generated wire.Operations table, body limits, JSON decoding and
// encoding, SigV4 verification (internal/sigv4), request ids and AWS-style errors.
package restjson

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 5 << 20

// Options configure NewHandler. The zero value serves without SigV4 checks.
type Options struct {
	Logger           *slog.Logger // nil: slog.Default()
	MaxBodyBytes     int64        // 0: DefaultMaxBodyBytes
	Credentials      *Credentials // nil: signatures are not checked
	Now              func() time.Time
	DefaultAccountID string // the caller's account when Credentials is nil
	DefaultRegion    string // the caller's region when the request carries no credential scope
}

type handler struct {
	svc    wire.Service
	opts   Options
	routes []route
}

type route struct {
	op       wire.Operation
	segments []string // template split on "/", labels kept as "{name}"
}

// NewHandler serves the AppFlow API on svc.
func NewHandler(svc wire.Service, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &handler{svc: svc, opts: opts}
	for _, op := range wire.Operations {
		h.routes = append(h.routes, route{op: op, segments: strings.Split(strings.TrimPrefix(op.Path, "/"), "/")})
	}
	return h
}

// apiError is an error response: status, X-Amzn-ErrorType and message.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func validationError(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, args...)}
}

// responseWriter remembers whether the header went out, so a late panic
// does not try to write a second response.
type responseWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *responseWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w := &responseWriter{ResponseWriter: rw}
	// Header names are case-insensitive and every SDK reads them so; Set
	// canonicalizes, which keeps Header().Get working for in-process callers.
	w.Header().Set("X-Amzn-RequestId", reqID)
	// The request's logger is made only when something is logged.
	log := func() *slog.Logger {
		return h.opts.Logger.With("request_id", reqID, "method", r.Method, "path", r.URL.Path)
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			log().Error("panic serving request", "panic", p, "stack", string(debug.Stack()))
			if !w.wrote {
				writeError(w, &apiError{http.StatusInternalServerError, "InternalServerException", "Internal server error. Request id: " + reqID})
			}
		}
	}()
	if aerr := h.serve(w, r, log); aerr != nil {
		writeError(w, aerr)
	}
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, log func() *slog.Logger) *apiError {
	body, aerr := h.readBody(w, r)
	if aerr != nil {
		return aerr
	}
	caller, aerr := h.authenticate(r, body)
	if aerr != nil {
		return aerr
	}
	op, labels, aerr := h.match(w, r)
	if aerr != nil {
		return aerr
	}

	in := op.NewInput()
	if op.HasBody {
		if aerr := decodeBody(body, in); aerr != nil {
			return aerr
		}
	}
	if op.Bind != nil {
		op.Bind(in, labels, r.URL.Query())
	}
	if err := in.Validate(); err != nil {
		return validationError("%s", fault.Message(err))
	}

	ctx := wire.WithCaller(r.Context(), caller)
	if jr, ok := h.svc.(JSONResponder); ok {
		body, handled, err := jr.RespondJSON(ctx, in)
		if handled {
			if err != nil {
				return operationError(w, log, op, err)
			}
			writeBody(w, body)
			return nil
		}
	}
	out, err := op.Invoke(ctx, h.svc, in)
	if err != nil {
		return operationError(w, log, op, err)
	}
	if aerr := writeJSON(w, out); aerr != nil {
		log().Error("encode response", "operation", op.Name, "error", aerr.msg)
		return aerr
	}
	return nil
}

// JSONResponder is a wire.Service that writes some operations' response
// bodies itself, from the JSON documents it keeps, instead of returning a
// value to encode. For other inputs RespondJSON returns handled false and
// the operation is invoked as usual. The handler only reads body, which the
// service may keep and return again.
type JSONResponder interface {
	RespondJSON(ctx context.Context, in wire.Input) (body []byte, handled bool, err error)
}

// operationError is the response to an operation's error.
func operationError(w http.ResponseWriter, log func() *slog.Logger, op wire.Operation, err error) *apiError {
	name, status := wire.ExceptionFor(fault.CodeOf(err))
	msg := fault.Message(err)
	if status >= 500 {
		// Internal details stay in the log; the caller gets the request id.
		log().Error("operation failed", "operation", op.Name, "error", err)
		msg = "Internal server error. Request id: " + w.Header().Get("X-Amzn-RequestId")
	}
	return &apiError{status, name, msg}
}

func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := &apiError{http.StatusRequestEntityTooLarge, "ValidationException",
		fmt.Sprintf("Request body is larger than the limit of %d bytes", h.opts.MaxBodyBytes)}
	if r.ContentLength > h.opts.MaxBodyBytes {
		return nil, tooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The server's read timeout: the client sent its body too slowly.
			return nil, &apiError{http.StatusRequestTimeout, "ValidationException", "The request body did not arrive within the server's read timeout"}
		}
		return nil, &apiError{http.StatusBadRequest, "ValidationException", "Unable to read the request body"}
	}
	return body, nil
}

// match finds the operation for the request. Paths are matched on their
// escaped form: the tags ARN arrives percent-encoded (%3A, %2F) and its
// slashes must not split segments. A trailing label takes the rest of the
// path, so clients that send the ARN unencoded work too.
func (h *handler) match(w http.ResponseWriter, r *http.Request) (wire.Operation, map[string]string, *apiError) {
	path := escapedPath(r)
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var allowed []string
	for _, rt := range h.routes {
		labels, ok := matchSegments(rt.segments, segs)
		if !ok {
			continue
		}
		if rt.op.Method != r.Method {
			allowed = append(allowed, rt.op.Method)
			continue
		}
		return rt.op, labels, nil
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return wire.Operation{}, nil, &apiError{http.StatusMethodNotAllowed, "UnknownOperationException",
			fmt.Sprintf("Method %s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or "))}
	}
	return wire.Operation{}, nil, &apiError{http.StatusNotFound, "UnknownOperationException",
		fmt.Sprintf("No operation matches %s %s", r.Method, r.URL.Path)}
}

func matchSegments(tmpl, segs []string) (map[string]string, bool) {
	var labels map[string]string
	for i, t := range tmpl {
		if i >= len(segs) {
			return nil, false
		}
		if !strings.HasPrefix(t, "{") {
			if segs[i] != t {
				return nil, false
			}
			continue
		}
		raw := segs[i]
		last := i == len(tmpl)-1
		if last {
			raw = strings.Join(segs[i:], "/")
		}
		v, err := url.PathUnescape(raw)
		if err != nil || v == "" {
			return nil, false
		}
		if labels == nil {
			labels = map[string]string{}
		}
		labels[strings.Trim(t, "{}")] = v
		if last {
			return labels, true
		}
	}
	return labels, len(segs) == len(tmpl)
}

// escapedPath is the path exactly as the client sent it.
func escapedPath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	return r.URL.EscapedPath()
}

// decodeBody reads a JSON object into in. An empty body is {} (botocore
// sends {}, other clients send nothing); unknown members are ignored, as
// AWS does.
func decodeBody(body []byte, in any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(in); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return validationError("Unable to parse request body: unexpected data after the JSON object")
	}
	return nil
}

func decodeError(err error) *apiError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return validationError("Unable to parse request body: expected a JSON object, got %s", te.Value)
		}
		return validationError("Unable to parse request body: member '%s' must be %s, got %s", te.Field, jsonKind(te.Type), te.Value)
	case errors.As(err, &se):
		return validationError("Unable to parse request body: invalid JSON at offset %d: %s", se.Offset, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return validationError("Unable to parse request body: unexpected end of JSON")
	}
	return validationError("Unable to parse request body: %s", err.Error())
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int32:
		return "a 32-bit integer"
	case reflect.Int64:
		return "a 64-bit integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}

// writeJSON writes a 200 response. A nil output is an empty object.
func writeJSON(w http.ResponseWriter, out any) *apiError {
	var buf bytes.Buffer
	if out == nil {
		buf.WriteString("{}")
	} else {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			return &apiError{http.StatusInternalServerError, "InternalServerException", "Unable to encode the response: " + err.Error()}
		}
	}
	writeBody(w, buf.Bytes())
	return nil
}

// writeBody writes a 200 response with a JSON body.
func writeBody(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeError sends an error the way AWS does for rest-json: the status, the
// X-Amzn-ErrorType header and {"message": ...}. No __type or code in the
// body: aws-sdk-go-v2 prefers those over the header, botocore the header;
// leaving them out means both read the same code.
func writeError(w http.ResponseWriter, e *apiError) {
	body, _ := json.Marshal(map[string]string{"message": e.msg})
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// newRequestID returns a random (version 4) UUID.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
