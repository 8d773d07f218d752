package runner

import (
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/secrets"
)

// TestFlowKey: a flow's own kmsArn reaches the error bucket; the stand-in
// for AppFlow's managed key (what flows without one report) does not.
func TestFlowKey(t *testing.T) {
	deps := connector.Deps{Region: "eu-west-1", AccountID: "123456789012"}
	own := "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
	for _, tc := range []struct{ in, want string }{
		{own, own},
		{secrets.DefaultKeyArn("eu-west-1", "123456789012"), ""},
		{"", ""},
	} {
		if got := flowKey(tc.in, deps); got != tc.want {
			t.Errorf("flowKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
