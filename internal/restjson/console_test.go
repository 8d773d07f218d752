package restjson

import (
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

func TestCredentialsSignIn(t *testing.T) {
	c, err := ParseCredentials(strings.NewReader("AKID1 secret1 111111111111\nAKID2 secret2 222222222222\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, secret, account string
		ok                  bool
	}{
		{"AKID1", "secret1", "111111111111", true},
		{"AKID2", "secret2", "222222222222", true},
		{"AKID1", "secret2", "", false},
		{"AKID1", "", "", false},
		{"AKID3", "secret1", "", false},
		{"", "", "", false},
	} {
		account, ok := c.SignIn(tc.id, tc.secret)
		if account != tc.account || ok != tc.ok {
			t.Errorf("SignIn(%q, %q) = %q, %v; want %q, %v", tc.id, tc.secret, account, ok, tc.account, tc.ok)
		}
	}
	if _, ok := (*Credentials)(nil).SignIn("AKID1", "secret1"); ok {
		t.Error("nil credentials signed someone in")
	}
}

func TestDecodeInputSpeaksAsTheAPI(t *testing.T) {
	for body, want := range map[string]string{
		`{"flowName": 1}`:   "Unable to parse request body: member 'flowName' must be a string, got number",
		`{"flowName": "x"`:  "Unable to parse request body: unexpected end of JSON",
		`{} {}`:             "Unable to parse request body: unexpected data after the JSON object",
		`{"flowName": "f"}`: "Value null at 'sourceFlowConfig' failed to satisfy constraint",
	} {
		err := DecodeInput([]byte(body), &wire.StartFlowRequest{})
		if body == `{"flowName": "f"}` {
			err = DecodeInput([]byte(body), &wire.CreateFlowRequest{})
		}
		if !fault.Is(err, fault.Invalid) || !strings.Contains(fault.Message(err), want) {
			t.Errorf("DecodeInput(%s) = %v; want Invalid containing %q", body, err, want)
		}
	}
	var in wire.StartFlowRequest
	if err := DecodeInput([]byte(`{"flowName": "ok-flow"}`), &in); err != nil || in.FlowName != "ok-flow" {
		t.Errorf("DecodeInput of a good body: %v, %+v", err, in)
	}
}
