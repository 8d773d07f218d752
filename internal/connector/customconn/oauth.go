package customconn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// OAuth2 for custom connector profiles (control-plane spec 6.3): appflowd,
// not the connector, obtains and refreshes tokens, at the token URL the
// profile's oAuth2Properties name (one the connector declares in its
// oAuth2Defaults), with the client id and secret of the profile's oauth2
// credentials (RFC 6749):
//
//   - AUTHORIZATION_CODE with oAuthRequest{authCode, redirectUri}: the code
//     is exchanged once (grant_type=authorization_code) and the tokens
//     replace it in the profile (connector.Profile.SaveCredentials);
//   - CLIENT_CREDENTIALS: a token is requested when the profile has none or
//     it expired;
//   - a token past its expiry (expires_in) is refreshed with the refresh
//     token (grant_type=refresh_token) when the profile is opened.
//
// The connector gets the resulting accessToken/refreshToken in its secret.

// oauth2Creds is connectorProfileCredentials.CustomConnector.oauth2 as
// stored; ExpiresAt is appflowd's own: when the access token expires.
type oauth2Creds struct {
	AccessToken  string        `json:"accessToken,omitempty"`
	RefreshToken string        `json:"refreshToken,omitempty"`
	ClientID     string        `json:"clientId,omitempty"`
	ClientSecret string        `json:"clientSecret,omitempty"`
	OAuthRequest *oauthRequest `json:"oAuthRequest,omitempty"`
	ExpiresAt    *time.Time    `json:"expiresAt,omitempty"`
}

type oauthRequest struct {
	AuthCode    string `json:"authCode,omitempty"`
	RedirectURI string `json:"redirectUri,omitempty"`
}

// oauth2Props is connectorProfileProperties.CustomConnector.oAuth2Properties.
type oauth2Props struct {
	OAuth2GrantType          string            `json:"oAuth2GrantType"`
	TokenURL                 string            `json:"tokenUrl"`
	TokenURLCustomProperties map[string]string `json:"tokenUrlCustomProperties"`
}

// expirySkew refreshes a token this long before it expires.
const expirySkew = time.Minute

// ensureOAuth2 obtains or refreshes the tokens of an OAUTH2 profile when it
// needs them, saves the new credentials through p.SaveCredentials, and
// returns the credentials JSON to use (raw when nothing changed).
func (d *driver) ensureOAuth2(ctx context.Context, deps connector.Deps, p connector.Profile, raw json.RawMessage) (json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "profile %s: connectorProfileCredentials.CustomConnector", p.Name)
	}
	var typ string
	_ = json.Unmarshal(all["authenticationType"], &typ)
	if typ != "OAUTH2" {
		return raw, nil
	}
	var creds oauth2Creds
	if b, ok := all["oauth2"]; ok {
		if err := json.Unmarshal(b, &creds); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "profile %s: oauth2 credentials", p.Name)
		}
	}
	var props struct {
		OAuth2Properties *oauth2Props `json:"oAuth2Properties"`
	}
	if len(p.Properties) > 0 {
		_ = json.Unmarshal(p.Properties, &props)
	}
	op := props.OAuth2Properties
	if op == nil {
		op = &oauth2Props{}
	}
	now := time.Now
	if deps.Now != nil {
		now = deps.Now
	}
	var form url.Values
	switch {
	case creds.OAuthRequest != nil && creds.OAuthRequest.AuthCode != "":
		if op.OAuth2GrantType != "" && op.OAuth2GrantType != "AUTHORIZATION_CODE" {
			return nil, fault.New(fault.Invalid, "oAuthRequest.authCode needs oAuth2GrantType AUTHORIZATION_CODE, not %s", op.OAuth2GrantType)
		}
		form = url.Values{"grant_type": {"authorization_code"}, "code": {creds.OAuthRequest.AuthCode}}
		if creds.OAuthRequest.RedirectURI != "" {
			form.Set("redirect_uri", creds.OAuthRequest.RedirectURI)
		}
	case creds.AccessToken != "" && (creds.ExpiresAt == nil || now().Add(expirySkew).Before(*creds.ExpiresAt)):
		return raw, nil // a token that is still good
	case creds.RefreshToken != "":
		form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {creds.RefreshToken}}
	case op.OAuth2GrantType == "CLIENT_CREDENTIALS":
		form = url.Values{"grant_type": {"client_credentials"}}
	case creds.AccessToken != "":
		return raw, nil // expired, but nothing to renew it with: the connector will say
	default:
		return nil, fault.New(fault.Invalid, "profile %s: OAUTH2 credentials need an accessToken, a refreshToken, an oAuthRequest.authCode or oAuth2GrantType CLIENT_CREDENTIALS", p.Name)
	}

	cfg, err := d.c.describeConfiguration(ctx, d.label)
	if err != nil {
		return nil, err
	}
	var defaults connector.OAuth2Defaults
	if a := cfg.AuthenticationConfig; a != nil && a.OAuth2Defaults != nil {
		defaults = *a.OAuth2Defaults
	}
	tok, err := exchange(ctx, deps.HTTPClient, &defaults, op, &creds, form)
	if err != nil {
		return nil, err
	}
	next := creds
	next.OAuthRequest = nil // a code is good once: the tokens replace it
	next.AccessToken = tok.AccessToken
	if tok.RefreshToken != "" {
		next.RefreshToken = tok.RefreshToken // else the old one stays good (RFC 6749 6)
	}
	next.ExpiresAt = nil
	if tok.expiresIn > 0 {
		at := now().Add(time.Duration(tok.expiresIn) * time.Second).UTC().Truncate(time.Second)
		next.ExpiresAt = &at
	}
	b, err := json.Marshal(next)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode oauth2 credentials")
	}
	all["oauth2"] = b
	out, err := json.Marshal(all)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode credentials")
	}
	if p.SaveCredentials != nil {
		if err := p.SaveCredentials(ctx, out); err != nil {
			return nil, fault.Wrap(fault.Internal, err, "save the tokens of profile %s", p.Name)
		}
	}
	return out, nil
}

// tokenResponse is RFC 6749 5.1's successful answer.
type tokenResponse struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"` // a number; some servers send a string
	Scope        string          `json:"scope"`
	expiresIn    int64
}

// tokenError is RFC 6749 5.2's error answer.
type tokenError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// exchange posts one token request to the profile's token URL as the
// connector's defaults say (content type, method, Basic client
// authentication, custom token URL parameters).
func exchange(ctx context.Context, hc *http.Client, def *connector.OAuth2Defaults, op *oauth2Props, creds *oauth2Creds, form url.Values) (*tokenResponse, error) {
	tokenURL, err := pickTokenURL(def.TokenURL, op.TokenURL)
	if err != nil {
		return nil, err
	}
	if g := op.OAuth2GrantType; g != "" && len(def.OAuth2GrantTypesSupported) > 0 && !slices.Contains(def.OAuth2GrantTypesSupported, g) {
		return nil, fault.New(fault.Invalid, "the connector does not support oAuth2GrantType %s (it supports %s)", g, strings.Join(def.OAuth2GrantTypesSupported, ", "))
	}
	for _, cp := range def.OAuth2CustomProperties {
		if cp.Type != "" && cp.Type != "TOKEN_URL" {
			continue
		}
		if cp.Required && op.TokenURLCustomProperties[cp.Key] == "" {
			return nil, fault.New(fault.Invalid, "oAuth2Properties.tokenUrlCustomProperties needs %s, which the connector requires", cp.Key)
		}
	}
	for k, v := range op.TokenURLCustomProperties {
		form.Set(k, v)
	}
	if form.Get("grant_type") == "client_credentials" && len(def.OAuthScopes) > 0 && form.Get("scope") == "" {
		form.Set("scope", strings.Join(def.OAuthScopes, " "))
	}
	basic := def.AddBasicAuthHeader
	if !basic {
		// client_secret_post (RFC 6749 2.3.1)
		if creds.ClientID != "" {
			form.Set("client_id", creds.ClientID)
		}
		if creds.ClientSecret != "" {
			form.Set("client_secret", creds.ClientSecret)
		}
	}
	var req *http.Request
	if def.OAuth2MethodType == "HTTP_GET" {
		u, err := url.Parse(tokenURL)
		if err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "tokenUrl")
		}
		q := u.Query()
		for k, vs := range form {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "tokenUrl")
		}
	} else {
		var body []byte
		ctype := "application/x-www-form-urlencoded"
		if def.OAuth2ContentType == "APPLICATION_JSON" {
			m := map[string]string{}
			for k := range form {
				m[k] = form.Get(k)
			}
			body, _ = json.Marshal(m)
			ctype = "application/json"
		} else {
			body = []byte(form.Encode())
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, bytes.NewReader(body))
		if err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "tokenUrl")
		}
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if basic {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(creds.ClientID)+":"+url.QueryEscape(creds.ClientSecret))))
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fault.Wrap(fault.Canceled, ctx.Err(), "OAuth2 token request")
		}
		return nil, fault.Wrap(fault.ConnectorServer, err, "OAuth2 token request to %s", tokenURL)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fault.Wrap(fault.ConnectorServer, err, "read the OAuth2 token response of %s", tokenURL)
	}
	grant := form.Get("grant_type")
	if resp.StatusCode != http.StatusOK {
		var te tokenError
		if json.Unmarshal(b, &te) == nil && te.Error != "" {
			msg := te.Error
			if te.ErrorDescription != "" {
				msg += ": " + te.ErrorDescription
			}
			code := fault.AuthFailed // invalid_grant, invalid_client, unauthorized_client, ...
			if resp.StatusCode >= 500 || te.Error == "temporarily_unavailable" || te.Error == "server_error" {
				code = fault.ConnectorServer
			}
			return nil, fault.New(code, "the OAuth2 token endpoint %s refused the %s grant: %s", tokenURL, grant, msg)
		}
		code := fault.ConnectorServer
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized {
			code = fault.AuthFailed
		}
		return nil, fault.New(code, "the OAuth2 token endpoint %s answered the %s grant with HTTP %d", tokenURL, grant, resp.StatusCode)
	}
	var tok tokenResponse
	if err := json.Unmarshal(b, &tok); err != nil {
		return nil, fault.Wrap(fault.ConnectorServer, err, "the OAuth2 token endpoint %s answered with invalid JSON", tokenURL)
	}
	if tok.AccessToken == "" {
		return nil, fault.New(fault.ConnectorServer, "the OAuth2 token endpoint %s answered without an access_token", tokenURL)
	}
	if len(tok.ExpiresIn) > 0 {
		s := strings.Trim(string(tok.ExpiresIn), `"`)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			tok.expiresIn = n
		}
	}
	return &tok, nil
}

var placeholder = regexp.MustCompile(`\\\{\\\{[^}]*\\\}\\\}`)

// pickTokenURL checks the profile's tokenUrl against the connector's
// declared token URLs, which may hold {{PLACEHOLDER}}s the user fills in;
// without one, the connector's only declared URL (when it has no
// placeholder) is used.
func pickTokenURL(declared []string, given string) (string, error) {
	if given == "" {
		if len(declared) == 1 && !strings.Contains(declared[0], "{{") {
			return declared[0], nil
		}
		return "", fault.New(fault.Invalid, "oAuth2Properties.tokenUrl is required: the connector declares %d token URLs", len(declared))
	}
	u, err := url.Parse(given)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fault.New(fault.Invalid, "oAuth2Properties.tokenUrl %q is not an http(s) URL", given)
	}
	if len(declared) == 0 {
		return given, nil
	}
	for _, d := range declared {
		pat := "^" + placeholder.ReplaceAllString(regexp.QuoteMeta(d), `[^/?#]+`) + "$"
		if ok, _ := regexp.MatchString(pat, given); ok {
			return given, nil
		}
	}
	return "", fault.New(fault.Invalid, "oAuth2Properties.tokenUrl %s is not one of the connector's token URLs (%s)", given, strings.Join(declared, ", "))
}

// String keeps tokens out of logs and errors.
func (c oauth2Creds) String() string { return fmt.Sprintf("oauth2Creds{clientId: %q}", c.ClientID) }
