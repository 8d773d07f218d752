package salesforceconn

import (
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
)

func TestParseClientSecret(t *testing.T) {
	for _, c := range []struct{ in, id, secret, err string }{
		{`{"clientId":"a","clientSecret":"b"}`, "a", "b", ""},
		{`{"client_id":"a","client_secret":"b"}`, "a", "b", ""},
		{`{"clientId":"a"}`, "a", "", ""},
		{`{"clientSecret":"hunter2"}`, "", "", "no clientId"},
		{`hunter2`, "", "", "not a JSON object"},
	} {
		id, secret, err := parseClientSecret(c.in)
		if c.err != "" {
			if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: err %v, want AuthFailed with %q and no secret value", c.in, err, c.err)
			}
			continue
		}
		if err != nil || id != c.id || secret != c.secret {
			t.Errorf("%s: got %q %q %v", c.in, id, secret, err)
		}
	}
}
