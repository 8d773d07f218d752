package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// Vendor is a fake vendor for fuzzing a driver's decoders: an http.Client
// whose every request gets the answer Answer gives (a status and body), the
// same bytes to every page a driver asks for. It counts requests, so
// FuzzRead can tell a driver that pages forever on one answer.
type Vendor struct {
	Answer func(r *http.Request) (status int, body string)
	// Header, if set, adds headers to an answer (a paging header); the
	// Content-Type is application/json unless it says otherwise.
	Header func(r *http.Request) http.Header
	// Next, if set, answers what Answer leaves (status 0): a vendor test
	// server's client, for logins and job steps around the fuzzed answer.
	Next     *http.Client
	requests atomic.Int64
}

// maxRequests is more requests than any driver makes for one split of
// the same repeated answer unless it loops.
const maxRequests = 200

// Client returns the client to give the driver (Deps.HTTPClient).
func (v *Vendor) Client() *http.Client {
	return &http.Client{Transport: vendorTransport{v}}
}

type vendorTransport struct{ v *Vendor }

var errLooping = errors.New("connectortest: the driver keeps asking for pages")

func (t vendorTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	if t.v.requests.Add(1) > maxRequests {
		return nil, errLooping
	}
	status, body := t.v.Answer(r)
	if r.Body != nil && status != 0 {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	if status == 0 && t.v.Next != nil {
		return t.v.Next.Transport.RoundTrip(r)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if t.v.Header != nil {
		for k, vs := range t.v.Header(r) {
			h[http.CanonicalHeaderKey(k)] = vs
		}
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// Requests counts the requests answered since the last FuzzRead began.
func (v *Vendor) Requests() int64 { return v.requests.Load() }

// FuzzRead reads every split of req from d with a deadline and checks
// what any answer must give: each batch well formed, and either an error
// (classified: a fault code, or the context's) or exactly one Final batch.
// It fails t when the driver pages forever or hangs, and returns the
// rows read and the error.
func FuzzRead(t *testing.T, v *Vendor, d connector.SourceDriver, req *connector.ReadRequest) ([]*record.Batch, error) {
	t.Helper()
	v.requests.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*record.Batch
	err := func() error {
		splits, err := d.Splits(ctx, req)
		if err != nil {
			return err
		}
		for _, s := range splits {
			finals := 0
			err := d.ReadSplit(ctx, req, s, func(b *record.Batch) error {
				if finals > 0 {
					t.Fatalf("split %s: a batch after the Final one", s.Name)
				}
				if b.Final {
					finals++
				}
				if w := len(b.Fields); (w == 0 && len(b.Cells) != 0) || (w > 0 && len(b.Cells)%w != 0) {
					t.Fatalf("split %s: %d cells for %d fields", s.Name, len(b.Cells), w)
				}
				out = append(out, b)
				return nil
			})
			if err != nil {
				return err
			}
			if finals != 1 {
				t.Fatalf("split %s: %d Final batches and no error, want 1", s.Name, finals)
			}
		}
		return nil
	}()
	if v.requests.Load() > maxRequests || errors.Is(err, errLooping) {
		t.Fatalf("more than %d requests for one answer repeated: the driver pages forever (%v)", maxRequests, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the read did not end within its deadline: %v", err)
	}
	if err != nil && fault.CodeOf(err) == fault.Unknown {
		t.Fatalf("unclassified error: %v", err)
	}
	return out, err
}

// Rows counts the rows of batches.
func Rows(bs []*record.Batch) int {
	n := 0
	for _, b := range bs {
		n += b.Len()
	}
	return n
}

// FuzzList fuzzes a source whose answers carry their records in one JSON
// list: read(t, body) reads with body answering every call and returns the
// rows read. Whatever the body, the read fails, or it gives a row for each
// item of the answer's list under key; an answer without that list (absent
// or null) must fail the read, not read as no records.
func FuzzList(f *testing.F, key string, seeds []string, read func(t *testing.T, body string) (int, error)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rows, err := read(t, body)
		if err != nil {
			return
		}
		if n, ok := listLen(body, key); !ok || rows != n {
			t.Fatalf("read %d rows of %q, want an error or a row for each item of %q", rows, body, key)
		}
	})
}

// listLen is how many items body's list under key holds, and whether it
// holds one (not absent, not null). The key is matched as encoding/json
// matches a struct field's tag, as the drivers decode it.
func listLen(body, key string) (int, bool) {
	typ := reflect.StructOf([]reflect.StructField{{Name: "List", Type: reflect.TypeFor[*[]json.RawMessage](), Tag: reflect.StructTag(`json:"` + key + `"`)}})
	page := reflect.New(typ)
	if json.Unmarshal([]byte(body), page.Interface()) != nil {
		return 0, false
	}
	list := page.Elem().Field(0).Interface().(*[]json.RawMessage)
	if list == nil {
		return 0, false
	}
	return len(*list), true
}
