package httpconn

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

func TestProfileHelpers(t *testing.T) {
	p := connector.Profile{Name: "prof", Credentials: json.RawMessage(`{"apiKey":"k"}`)}
	for in, want := range map[string]string{
		" acme.example.com/ ": "https://acme.example.com",
		"http://127.0.0.1:9/": "http://127.0.0.1:9",
	} {
		if got, err := InstanceURL(p, in, "V", "https://x"); err != nil || got != want {
			t.Errorf("InstanceURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"  ", "ftp://files.example.com", "https:///path"} {
		if _, err := InstanceURL(p, bad, "V", "https://x"); !fault.Is(err, fault.Invalid) {
			t.Errorf("instanceUrl %q: %v, want Invalid", bad, err)
		}
	}
	p.Properties = json.RawMessage(`{"instanceUrl":"acme.example.com"}`)
	base, creds, err := InstanceProfile[struct{ APIKey string }](p, "V", "https://x")
	if base != "https://acme.example.com" || creds.APIKey != "k" || err != nil {
		t.Errorf("InstanceProfile = %q %+v %v", base, creds, err)
	}
	c, err := connector.Credentials[struct{ APIKey, Secret string }](p, "V")
	if err != nil || c.APIKey != "k" {
		t.Fatalf("Credentials = %+v, %v", c, err)
	}
	if err := Need(p, "V", "a key", c.APIKey); err != nil {
		t.Errorf("Need with the key: %v", err)
	}
	if err := Need(p, "V", "a key and a secret", c.APIKey, c.Secret); !fault.Is(err, fault.AuthFailed) {
		t.Errorf("Need without the secret: %v, want AuthFailed", err)
	}
	if _, err := connector.Credentials[struct{}](connector.Profile{Credentials: json.RawMessage(`[`)}, "V"); !fault.Is(err, fault.Invalid) {
		t.Errorf("bad credentials JSON: %v, want Invalid", err)
	}
	for _, c := range [][4]int{{0, 10, 0, 10}, {-1, 10, 0, 10}, {50, 10, 0, 50}, {50, 10, 20, 10}, {20, 10, 20, 20}} {
		if got := Size(c[0], c[1], c[2]); got != c[3] {
			t.Errorf("Size(%d, %d, %d) = %d, want %d", c[0], c[1], c[2], got, c[3])
		}
	}
}

func TestRows(t *testing.T) {
	objs := []map[string]json.RawMessage{
		{"id": json.RawMessage(`1`), "zeta": json.RawMessage(`"z"`)},
		{"id": json.RawMessage(`2`), "alpha": json.RawMessage(`true`)},
	}
	b := Rows(nil, []string{"id", "name"}, objs)
	if want := []string{"id", "name", "alpha", "zeta"}; !slices.Equal(b.Fields, want) {
		t.Fatalf("fields %v, want the schema then the rest sorted %v", b.Fields, want)
	}
	want := []record.Value{record.IntVal(1), {}, {}, record.Str("z"), record.IntVal(2), {}, record.BoolVal(true), {}}
	if !slices.Equal(b.Cells, want) {
		t.Errorf("cells %v, want %v", b.Cells, want)
	}
	b = Rows([]string{"zeta"}, []string{"id"}, objs)
	if !slices.Equal(b.Fields, []string{"zeta"}) || !slices.Equal(b.Cells, []record.Value{record.Str("z"), {}}) {
		t.Errorf("projection: %v %v", b.Fields, b.Cells)
	}
}

type catalogOnly struct{}

func (catalogOnly) ListEntities(context.Context, string) (map[string][]connector.Entity, error) {
	return nil, nil
}
func (catalogOnly) DescribeEntity(context.Context, string) ([]connector.EntityField, error) {
	return nil, nil
}
func (catalogOnly) CheckProfile(context.Context) error { return nil }

// TestSpecRefusesWrongRoles: a driver registered as a source or a
// destination it cannot be panics when its package registers it.
func TestSpecRefusesWrongRoles(t *testing.T) {
	open := func(connector.Deps, connector.Profile, struct{}) (catalogOnly, error) { return catalogOnly{}, nil }
	for _, roles := range []Roles{Source, Destination} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("roles %d: no panic for a driver that neither reads nor writes", roles)
				}
			}()
			Spec("Acme", roles, struct{}{}, open)
		}()
	}
	s := Spec("Acme", 0, struct{}{}, open)
	if !s.Capabilities.NeedsProfile || s.Capabilities.CanUseAsSource || s.Capabilities.CanUseAsDestination {
		t.Errorf("capabilities %+v", s.Capabilities)
	}
}

func TestWriteProps(t *testing.T) {
	var props struct {
		Object string `json:"object"`
		WriteProps
	}
	if err := json.Unmarshal([]byte(`{"object":"o","writeOperationType":"upsert","idFieldNames":["k"]}`), &props); err != nil {
		t.Fatal(err)
	}
	r := &connector.WriteRequest{}
	if op, ids := props.Operation(r), props.IDFields(r); op != "UPSERT" || !slices.Equal(ids, []string{"k"}) {
		t.Errorf("from the properties: %s %v", op, ids)
	}
	r = &connector.WriteRequest{WriteOperation: "update", IDFields: []string{"id"}}
	if op, ids := props.Operation(r), props.IDFields(r); op != "UPDATE" || !slices.Equal(ids, []string{"id"}) {
		t.Errorf("the request first: %s %v", op, ids)
	}
	if op := (WriteProps{}).Operation(&connector.WriteRequest{}); op != "INSERT" {
		t.Errorf("default operation %s, want INSERT", op)
	}
}

func TestStatusCheckAndCode(t *testing.T) {
	refused := func(r *Response) error { return fault.New(StatusCode(r.Status), "refused %d", r.Status) }
	check := StatusCheck(refused, http.StatusInternalServerError)
	for _, c := range []struct {
		status    int
		code      fault.Code
		retryable bool
	}{
		{200, 0, false},
		{400, fault.Invalid, false},
		{422, fault.Invalid, false},
		{403, fault.AccessDenied, false},
		{404, fault.NotFound, false},
		{429, fault.Throttled, true},
		{500, fault.ConnectorServer, true}, // alsoRetry
		{501, fault.ConnectorServer, false},
		{503, fault.ConnectorServer, true},
	} {
		err := check(&Response{Status: c.status, Header: http.Header{}})
		if c.status == 200 {
			if err != nil {
				t.Errorf("200: %v", err)
			}
			continue
		}
		if fault.CodeOf(err) != c.code || retry.IsRetryable(err) != c.retryable {
			t.Errorf("%d: %v (%v, retryable %v), want %v retryable %v", c.status, err, fault.CodeOf(err), retry.IsRetryable(err), c.code, c.retryable)
		}
	}
	if StatusCheck(refused)(&Response{Status: 500, Header: http.Header{}}) != nil && retry.IsRetryable(StatusCheck(refused)(&Response{Status: 500, Header: http.Header{}})) {
		t.Error("500 retried without alsoRetry")
	}
}

func TestBetween(t *testing.T) {
	lo, hi, err := Between(connector.Filter{Field: "d", Values: []string{"1000", "2026-01-02"}}, "V", "datetimes", ParseMillis)
	if err != nil || lo != 1000 || hi != 1767312000000 {
		t.Errorf("Between = %d %d %v", lo, hi, err)
	}
	for _, vs := range [][]string{{"1"}, {"1", "2", "3"}, {"1", "yesterday"}} {
		if _, _, err := Between(connector.Filter{Field: "d", Values: vs}, "V", "datetimes", ParseMillis); !fault.Is(err, fault.Invalid) {
			t.Errorf("%q: %v, want Invalid", vs, err)
		}
	}
}
