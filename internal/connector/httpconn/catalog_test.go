package httpconn

import (
	"slices"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

func TestFlat(t *testing.T) {
	ents := []connector.Entity{{Name: "a", Label: "A"}}
	for _, path := range []string{"", "/", "//"} {
		got, err := Flat("Acme", path, ents)
		if err != nil || len(got) != 1 || !slices.Equal(got["Objects"], ents) {
			t.Errorf("Flat(%q) = %v, %v; want Objects: %v", path, got, err, ents)
		}
	}
	got, err := Flat("Acme", "a/b", ents)
	if fault.CodeOf(err) != fault.NotFound || got != nil || !strings.Contains(err.Error(), `Acme has no nested entities under "a/b"`) {
		t.Errorf("Flat(a/b) = %v, %v; want NotFound naming Acme and the path", got, err)
	}
}

func TestDescribedAndProjection(t *testing.T) {
	eq := []string{"EQUAL_TO"}
	table := []connector.EntityField{
		{Name: "id", IsPrimaryKey: true},
		{Name: "title"},
		{Name: "query", FilterOperators: eq},
	}
	got := Described(table)
	for i, f := range got {
		if f.Nullable == (i == 0) || !f.Queryable || f.Name != table[i].Name {
			t.Errorf("Described()[%d] = %+v, want %s queryable, nullable %v", i, f, table[i].Name, i != 0)
		}
	}
	if table[1].Queryable || table[1].Nullable {
		t.Errorf("Described changed its table: %+v", table[1])
	}
	if p := Projection(nil, table); !slices.Equal(p, []string{"id", "title"}) {
		t.Errorf("Projection(nil) = %v, want the data fields [id title]", p)
	}
	if p := Projection([]string{"query"}, table); !slices.Equal(p, []string{"query"}) {
		t.Errorf("Projection([query]) = %v, want [query]", p)
	}
	if p := Projection([]string{}, table); p == nil || len(p) != 0 {
		t.Errorf("Projection([]) = %#v, want the empty projection kept", p)
	}
}

func TestKeyRefusal(t *testing.T) {
	for _, c := range []struct {
		status int
		code   fault.Code
		text   string
	}{
		{401, fault.AuthFailed, "Acme refused the credentials: HTTP 401: nope"},
		{403, fault.AuthFailed, "Acme refused the credentials: HTTP 403: nope"},
		{429, fault.Throttled, "Acme: nope"},
		{404, fault.NotFound, "Acme /things: nope"},
		{500, fault.ConnectorServer, "Acme /things: HTTP 500: nope"},
	} {
		err := KeyRefusal("Acme", &Response{Status: c.status, Request: &Request{Path: "/things"}}, "nope")
		if fault.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%d: %v (%v), want %v with %q", c.status, err, fault.CodeOf(err), c.code, c.text)
		}
	}
}
