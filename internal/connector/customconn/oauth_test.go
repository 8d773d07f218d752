package customconn

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// tokenServer is an RFC 6749 token endpoint: client_secret_post client
// authentication, the authorization_code, refresh_token and
// client_credentials grants, and 5.2 error bodies.
type tokenServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []map[string]string // the forms received
	issued   int
}

const (
	oauthClientID     = "client-1"
	oauthClientSecret = "secret-1"
	oauthCode         = "code-abc"
	oauthRedirect     = "https://app.example.com/oauth/callback"
)

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, code, desc string) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
		}
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			fail(http.StatusBadRequest, "invalid_request", "POST /oauth/token only")
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			fail(http.StatusBadRequest, "invalid_request", "content type "+ct)
			return
		}
		if err := r.ParseForm(); err != nil {
			fail(http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		form := map[string]string{}
		for k := range r.PostForm {
			form[k] = r.PostForm.Get(k)
		}
		ts.mu.Lock()
		ts.requests = append(ts.requests, form)
		ts.mu.Unlock()
		if form["client_id"] != oauthClientID || form["client_secret"] != oauthClientSecret {
			fail(http.StatusUnauthorized, "invalid_client", "Client authentication failed")
			return
		}
		refresh := ""
		switch form["grant_type"] {
		case "authorization_code":
			if form["code"] != oauthCode || form["redirect_uri"] != oauthRedirect {
				fail(http.StatusBadRequest, "invalid_grant", "The authorization code is invalid or expired")
				return
			}
			refresh = "refresh-1"
		case "refresh_token":
			if form["refresh_token"] != "refresh-1" {
				fail(http.StatusBadRequest, "invalid_grant", "The refresh token is invalid")
				return
			}
		case "client_credentials":
			if form["scope"] != "read write" {
				fail(http.StatusBadRequest, "invalid_scope", "scope "+form["scope"])
				return
			}
		default:
			fail(http.StatusBadRequest, "unsupported_grant_type", form["grant_type"])
			return
		}
		ts.mu.Lock()
		ts.issued++
		n := ts.issued
		ts.mu.Unlock()
		out := map[string]any{"access_token": "access-" + string(rune('0'+n)), "token_type": "Bearer", "expires_in": 3600}
		if refresh != "" {
			out["refresh_token"] = refresh
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) grants() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var g []string
	for _, f := range ts.requests {
		g = append(g, f["grant_type"])
	}
	return g
}

func oauthProfile(tokenURL, grant string, oauth2 map[string]any, saved *json.RawMessage) connector.Profile {
	props, _ := json.Marshal(map[string]any{"oAuth2Properties": map[string]any{"tokenUrl": tokenURL, "oAuth2GrantType": grant}})
	creds, _ := json.Marshal(map[string]any{"authenticationType": "OAUTH2", "oauth2": oauth2})
	return connector.Profile{Name: "oauth-profile", Label: "example", Properties: props, Credentials: creds,
		SaveCredentials: func(_ context.Context, c json.RawMessage) error { *saved = c; return nil }}
}

func savedOAuth2(t *testing.T, raw json.RawMessage) oauth2Creds {
	t.Helper()
	var c struct {
		AuthenticationType string      `json:"authenticationType"`
		OAuth2             oauth2Creds `json:"oauth2"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.AuthenticationType != "OAUTH2" {
		t.Fatalf("saved credentials %s: %v", raw, err)
	}
	return c.OAuth2
}

func TestOAuth2AuthorizationCodeThenRefresh(t *testing.T) {
	ctx := context.Background()
	ts := newTokenServer(t)
	e := newTestEnv(t)
	tokenURL := ts.URL + "/oauth/token"
	e.conn.OAuth2TokenURL = tokenURL
	valid := map[string]bool{}
	var validMu sync.Mutex
	e.conn.AcceptToken = func(tok string) bool { validMu.Lock(); defer validMu.Unlock(); return valid[tok] }
	validMu.Lock()
	valid["access-1"], valid["access-2"] = true, true
	validMu.Unlock()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	deps := e.deps()
	deps.Now = func() time.Time { return now }

	var saved json.RawMessage
	p := oauthProfile(tokenURL, "AUTHORIZATION_CODE", map[string]any{"clientId": oauthClientID, "clientSecret": oauthClientSecret,
		"oAuthRequest": map[string]any{"authCode": oauthCode, "redirectUri": oauthRedirect}}, &saved)
	d, err := Open(ctx, deps, p)
	if err != nil {
		t.Fatalf("Open with an authorization code: %v", err)
	}
	if err := d.(*driver).CheckProfile(ctx); err != nil {
		t.Fatalf("CheckProfile: %v (the connector should read the exchanged access token from its secret)", err)
	}
	_ = d.(*driver).Close()
	c := savedOAuth2(t, saved)
	if c.AccessToken != "access-1" || c.RefreshToken != "refresh-1" || c.OAuthRequest != nil || c.ClientID != oauthClientID ||
		c.ExpiresAt == nil || !c.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("saved oauth2 = %+v (expires %v), want the tokens instead of the code", c, c.ExpiresAt)
	}
	if g := ts.grants(); len(g) != 1 || g[0] != "authorization_code" {
		t.Fatalf("token requests = %v", g)
	}

	// The saved tokens, still good: no token request.
	p.Credentials, saved = saved, nil
	if d, err = Open(ctx, deps, p); err != nil {
		t.Fatalf("Open with a good token: %v", err)
	}
	_ = d.(*driver).Close()
	if g := ts.grants(); len(g) != 1 || saved != nil {
		t.Errorf("a good token was renewed: %v, saved %s", g, saved)
	}

	// An hour later the token has expired: refreshed at open, the refresh token kept.
	now = now.Add(time.Hour - 30*time.Second)
	if d, err = Open(ctx, deps, p); err != nil {
		t.Fatalf("Open with an expired token: %v", err)
	}
	if err := d.(*driver).CheckProfile(ctx); err != nil {
		t.Errorf("CheckProfile after the refresh: %v", err)
	}
	_ = d.(*driver).Close()
	if g := ts.grants(); len(g) != 2 || g[1] != "refresh_token" {
		t.Fatalf("token requests = %v, want a refresh", g)
	}
	c = savedOAuth2(t, saved)
	if c.AccessToken != "access-2" || c.RefreshToken != "refresh-1" || !c.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("after the refresh, saved oauth2 = %+v", c)
	}
	// What the connector read for the check.
	var sawNewToken bool
	for _, r := range e.conn.Requests() {
		if r.Type == "ValidateCredentialsRequest" && strings.Contains(string(r.Body), `"OAuth2"`) {
			sawNewToken = true
		}
	}
	if !sawNewToken {
		t.Error("the connector was never asked to validate OAuth2 credentials")
	}
}

func TestOAuth2ClientCredentials(t *testing.T) {
	ctx := context.Background()
	ts := newTokenServer(t)
	e := newTestEnv(t)
	tokenURL := ts.URL + "/oauth/token"
	e.conn.OAuth2TokenURL = tokenURL
	var saved json.RawMessage
	p := oauthProfile(tokenURL, "CLIENT_CREDENTIALS", map[string]any{"clientId": oauthClientID, "clientSecret": oauthClientSecret}, &saved)
	d, err := Open(ctx, e.deps(), p)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := d.(*driver).CheckProfile(ctx); err != nil {
		t.Errorf("CheckProfile: %v", err)
	}
	_ = d.(*driver).Close()
	if g := ts.grants(); len(g) != 1 || g[0] != "client_credentials" {
		t.Errorf("token requests = %v", g)
	}
	if c := savedOAuth2(t, saved); c.AccessToken != "access-1" || c.RefreshToken != "" {
		t.Errorf("saved oauth2 = %+v", c)
	}
}

func TestOAuth2Refusals(t *testing.T) {
	ctx := context.Background()
	ts := newTokenServer(t)
	e := newTestEnv(t)
	tokenURL := ts.URL + "/oauth/token"
	e.conn.OAuth2TokenURL = tokenURL
	var saved json.RawMessage
	for _, c := range []struct {
		name     string
		url      string
		grant    string
		oauth2   map[string]any
		code     fault.Code
		contains string
	}{
		{"an invalid code", tokenURL, "AUTHORIZATION_CODE", map[string]any{"clientId": oauthClientID, "clientSecret": oauthClientSecret,
			"oAuthRequest": map[string]any{"authCode": "stale", "redirectUri": oauthRedirect}},
			fault.AuthFailed, "invalid_grant: The authorization code is invalid or expired"},
		{"a wrong client secret", tokenURL, "CLIENT_CREDENTIALS", map[string]any{"clientId": oauthClientID, "clientSecret": "nope"},
			fault.AuthFailed, "invalid_client: Client authentication failed"},
		{"a token URL the connector does not declare", "https://evil.example.com/token", "CLIENT_CREDENTIALS",
			map[string]any{"clientId": oauthClientID, "clientSecret": oauthClientSecret}, fault.Invalid, "is not one of the connector's token URLs"},
		{"nothing to get a token with", tokenURL, "AUTHORIZATION_CODE", map[string]any{"clientId": oauthClientID},
			fault.Invalid, "need an accessToken"},
	} {
		saved = nil
		d, err := Open(ctx, e.deps(), oauthProfile(c.url, c.grant, c.oauth2, &saved))
		if err == nil {
			_ = d.(*driver).Close()
		}
		if !fault.Is(err, c.code) || !strings.Contains(fault.Message(err), c.contains) || saved != nil {
			t.Errorf("%s: %v (code %v), saved %s; want %v containing %q", c.name, err, fault.CodeOf(err), saved, c.code, c.contains)
		}
		if err != nil && strings.Contains(err.Error(), oauthClientSecret) {
			t.Errorf("%s: the error shows the client secret: %v", c.name, err)
		}
	}
}

func TestPickTokenURL(t *testing.T) {
	declared := []string{"https://{{instance}}.example.com/oauth2/token", "https://login.example.com/token"}
	for given, ok := range map[string]bool{
		"https://acme.example.com/oauth2/token":            true,
		"https://login.example.com/token":                  true,
		"https://acme.evil.com/x.example.com/oauth2/token": false,
		"https://a/b.example.com/oauth2/token":             false,
		"https://login.example.com/token/extra":            false,
		"ftp://login.example.com/token":                    false,
	} {
		_, err := pickTokenURL(declared, given)
		if (err == nil) != ok {
			t.Errorf("pickTokenURL(%q) = %v, want ok=%v", given, err, ok)
		}
	}
	if got, err := pickTokenURL([]string{"https://login.example.com/token"}, ""); err != nil || got != "https://login.example.com/token" {
		t.Errorf("the only declared URL: %q, %v", got, err)
	}
	if _, err := pickTokenURL(declared, ""); !fault.Is(err, fault.Invalid) {
		t.Errorf("no tokenUrl with several declared: %v", err)
	}
}
