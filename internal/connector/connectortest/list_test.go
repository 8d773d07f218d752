package connectortest

import "testing"

// listLen reads the list as the drivers' own decoding would: a missing,
// null or mistyped list is none; the key matches without regard to case.
func TestListLen(t *testing.T) {
	for _, c := range []struct {
		body string
		n    int
		ok   bool
	}{
		{`{"values":[1,{"a":2}]}`, 2, true},
		{`{"values":[]}`, 0, true},
		{`{"Values":[1]}`, 1, true},
		{`{"other":[1]}`, 0, false},
		{`{"values":null}`, 0, false},
		{`{"values":{}}`, 0, false},
		{`<html>`, 0, false},
	} {
		if n, ok := listLen(c.body, "values"); n != c.n || ok != c.ok {
			t.Errorf("%s: got %d, %v; want %d, %v", c.body, n, ok, c.n, c.ok)
		}
	}
}
