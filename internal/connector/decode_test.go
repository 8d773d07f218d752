package connector

import (
	"encoding/json"
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
)

func TestDecode(t *testing.T) {
	p := Profile{Properties: json.RawMessage(`{"instanceUrl":"u"}`), Credentials: json.RawMessage(`{"apiKey":"k"}`)}
	props, creds, err := DecodeProfile[struct{ InstanceURL string }, struct{ APIKey string }](p, "V")
	if err != nil || props.InstanceURL != "u" || creds.APIKey != "k" {
		t.Fatalf("DecodeProfile = %+v %+v %v", props, creds, err)
	}
	if _, _, err := DecodeProfile[struct{}, struct{}](Profile{Properties: json.RawMessage(`{`)}, "V"); !fault.Is(err, fault.Invalid) {
		t.Errorf("bad properties: %v, want Invalid", err)
	}
	v, err := DecodeProperties[struct{ Object string }](json.RawMessage(`{"object":"o"}`), "V", "source")
	if err != nil || v.Object != "o" {
		t.Errorf("DecodeProperties = %+v %v", v, err)
	}
	if _, err := DecodeProperties[struct{}](nil, "V", "source"); err != nil {
		t.Errorf("no properties: %v", err)
	}
}
