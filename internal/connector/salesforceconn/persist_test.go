package salesforceconn

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
)

// New tokens go back to the profile's owner: an exchanged code is good
// once, so a profile that kept only its oAuthRequest could never log in
// again.
func TestNewTokensAreSaved(t *testing.T) {
	o := sftest.NewOrg(t)
	o.AddCode("code-9")
	for _, c := range []struct{ name, creds string }{
		{"authorization code", `{"oAuthRequest":{"authCode":"code-9","redirectUri":"https://example.com/cb"},"instanceUrl":"kept"}`},
		{"refresh", `{"accessToken":"stale","refreshToken":"refresh-1"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var saved []json.RawMessage
			props, _ := json.Marshal(map[string]any{"instanceUrl": o.URL()})
			d, err := open(connector.Deps{HTTPClient: o.Client()}, connector.Profile{
				Name: "sf", Properties: props, Credentials: json.RawMessage(c.creds),
				SaveCredentials: func(_ context.Context, creds json.RawMessage) error {
					saved = append(saved, creds)
					return nil
				},
			}, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := d.CheckProfile(context.Background()); err != nil {
				t.Fatalf("CheckProfile: %v", err)
			}
			if len(saved) != 1 {
				t.Fatalf("saved %d times, want once", len(saved))
			}
			var got map[string]any
			if err := json.Unmarshal(saved[0], &got); err != nil {
				t.Fatal(err)
			}
			if tok, _ := got["accessToken"].(string); tok == "" || tok == "stale" {
				t.Errorf("saved accessToken %q, want the new token", tok)
			}
			if _, ok := got["oAuthRequest"]; ok {
				t.Errorf("saved credentials still hold the used oAuthRequest: %s", saved[0])
			}
			if c.name == "authorization code" && got["instanceUrl"] != "kept" {
				t.Errorf("other keys were dropped: %s", saved[0])
			}
			// A driver opened from the saved credentials works without the code.
			d2 := openTest(t, o, testOptions(), string(saved[0]))
			if err := d2.CheckProfile(context.Background()); err != nil {
				t.Errorf("CheckProfile with the saved credentials: %v", err)
			}
		})
	}
}
