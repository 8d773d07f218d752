package httpconn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

// Auth puts a driver's credentials on its requests.
type Auth interface {
	// Apply sets the credentials on req, logging in first when there are
	// none yet, and returns their generation, for Renew.
	Apply(ctx context.Context, req *http.Request) (gen int, err error)
	// Renew replaces credentials of generation gen that the server
	// refused; when another request already renewed them it returns at
	// once. ErrCannotRenew: these credentials cannot be renewed.
	Renew(ctx context.Context, gen int) error
}

// ErrCannotRenew is Renew's answer for fixed credentials.
var ErrCannotRenew = errors.New("the credentials cannot be renewed")

type headers http.Header

func (h headers) Apply(_ context.Context, req *http.Request) (int, error) {
	for k, vs := range h {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	return 0, nil
}

func (headers) Renew(context.Context, int) error { return ErrCannotRenew }

// Header sends a fixed credential header: an API key, "Api-Token <t>".
func Header(name, value string) Auth { return headers{name: {value}} }

// Headers sends fixed credential headers (Datadog's two keys).
func Headers(h http.Header) Auth { return headers(h) }

// Basic sends HTTP Basic credentials.
func Basic(user, password string) Auth {
	return Header("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
}

// Bearer sends a fixed bearer token.
func Bearer(token string) Auth { return Header("Authorization", "Bearer "+token) }

// Session is an Auth whose credential comes from a login (a session
// login, a token request) and is sent as Header: Prefix+credential. Logins
// run one at a time, and requests refused together log in once.
type Session struct {
	// Login fetches a new credential; a zero expires never expires.
	Login func(ctx context.Context) (cred string, expires time.Time, err error)
	// Header is where the credential goes; "" means Authorization.
	Header string
	// Prefix precedes it: "Bearer ".
	Prefix string

	now     func() time.Time
	mu      sync.Mutex
	cred    string
	expires time.Time
	gen     int
}

// NewSession starts a Session from a credential the profile already holds
// ("" to log in at the first request).
func NewSession(cred, prefix string, login func(ctx context.Context) (string, time.Time, error)) *Session {
	return &Session{Login: login, Prefix: prefix, cred: cred}
}

func (s *Session) bind(c *Client) {
	if s.now == nil {
		s.now = c.now
	}
}

func (s *Session) clock() time.Time {
	if s.now == nil {
		return time.Now()
	}
	return s.now()
}

// Apply logs in when there is no credential or it has expired.
func (s *Session) Apply(ctx context.Context, req *http.Request) (int, error) {
	cred, gen, err := s.Token(ctx)
	if err != nil {
		return 0, err
	}
	h := s.Header
	if h == "" {
		h = "Authorization"
	}
	req.Header.Set(h, s.Prefix+cred)
	return gen, nil
}

// Renew logs in again unless another request did since gen.
func (s *Session) Renew(ctx context.Context, gen int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return nil
	}
	return s.login(ctx)
}

// Token is the current credential and its generation, logging in first
// when there is none or it has expired: for a protocol the Client does not
// carry (a Bayeux long poll), which then renews with Renew(gen).
func (s *Session) Token(ctx context.Context) (cred string, gen int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cred == "" || !s.expires.IsZero() && !s.clock().Before(s.expires) {
		if err := s.login(ctx); err != nil {
			return "", 0, err
		}
	}
	return s.cred, s.gen, nil
}

// login runs with s.mu held.
func (s *Session) login(ctx context.Context) error {
	if s.Login == nil {
		return ErrCannotRenew
	}
	cred, exp, err := s.Login(ctx)
	if err != nil {
		return err
	}
	s.cred, s.expires = cred, exp
	s.gen++
	return nil
}

// Token is a token endpoint's answer.
type Token struct {
	AccessToken  string
	RefreshToken string
	Expires      time.Time // zero: not said
	// Raw is the whole answer, for vendor fields (Salesforce's instance_url).
	Raw []byte
}

// OAuth2 configures a bearer token from an OAuth 2.0 token endpoint (RFC
// 6749): an authorization code is exchanged first, a refresh token (or,
// without one, Grant) gets the next token when the last is refused.
type OAuth2 struct {
	TokenURL               string
	ClientID, ClientSecret string
	// ClientBasic sends the client id and secret as HTTP Basic rather than
	// in the body.
	ClientBasic bool
	// JSON posts the token request as JSON rather than a form (Zendesk).
	JSON bool
	// AccessToken and RefreshToken are what the profile holds.
	AccessToken, RefreshToken string
	// Code and RedirectURI: an authorization code to exchange first.
	Code, RedirectURI string
	// CodeParams are added to the code exchange (a scope).
	CodeParams map[string]string
	// Grant is the request when there is neither code nor refresh token:
	// {"grant_type": "client_credentials"}, a JWT bearer assertion; nil:
	// none, and a refused token is final.
	Grant url.Values
	// NoClient leaves the client id and secret out of Grant's request
	// (a JWT bearer assertion carries its own).
	NoClient bool
	// Client reads the client id and secret when a token is requested (a
	// secret store); nil: ClientID and ClientSecret.
	Client func(ctx context.Context) (id, secret string, err error)
	// Decode reads a token answer; nil: RFC 6749's access_token,
	// refresh_token and expires_in.
	Decode func(body []byte) (Token, error)
	// Early renews a token that far before it expires; 0 means 30 s.
	Early time.Duration
	// Saved receives every new token, to persist it (see SaveTokens).
	Saved func(ctx context.Context, t Token) error
}

// NewOAuth2 builds the Auth; the Client it is configured on sends its
// token requests.
func NewOAuth2(o OAuth2) *OAuth2Auth {
	a := &OAuth2Auth{o: o, refresh: o.RefreshToken, code: o.Code}
	a.Session = NewSession(o.AccessToken, "Bearer ", a.request)
	return a
}

// OAuth2Auth is an OAuth 2.0 bearer Auth.
type OAuth2Auth struct {
	*Session
	o       OAuth2
	c       *Client
	refresh string // guarded by Session.mu, as is code
	code    string
}

func (a *OAuth2Auth) bind(c *Client) {
	a.c = c
	a.Session.bind(c)
}

// Login gets a new token now, whatever the current one (a profile check).
func (a *OAuth2Auth) Login(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.login(ctx)
}

// CanRenew says whether a refused token can be replaced.
func (a *OAuth2Auth) CanRenew() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.code != "" || a.refresh != "" || a.o.Grant != nil
}

// request asks the token endpoint for a token; Session.mu is held.
func (a *OAuth2Auth) request(ctx context.Context) (string, time.Time, error) {
	if a.c == nil {
		return "", time.Time{}, fault.New(fault.Internal, "httpconn: an OAuth2 Auth used outside a Client")
	}
	name := a.c.cfg.Name
	params := map[string]string{}
	client := true
	switch {
	case a.code != "":
		params["grant_type"] = "authorization_code"
		params["code"] = a.code
		if a.o.RedirectURI != "" {
			params["redirect_uri"] = a.o.RedirectURI
		}
		for k, v := range a.o.CodeParams {
			params[k] = v
		}
	case a.refresh != "":
		params["grant_type"] = "refresh_token"
		params["refresh_token"] = a.refresh
	case a.o.Grant != nil:
		for k := range a.o.Grant {
			params[k] = a.o.Grant.Get(k)
		}
		client = !a.o.NoClient
	default:
		return "", time.Time{}, fault.Wrap(fault.AuthFailed, ErrCannotRenew, "%s: the profile has no access token and no refresh token", name)
	}
	r := &Request{Method: http.MethodPost, Path: a.o.TokenURL, NoAuth: true, Header: http.Header{"Accept": {"application/json"}}}
	if client {
		id, secret := a.o.ClientID, a.o.ClientSecret
		if a.o.Client != nil {
			var err error
			if id, secret, err = a.o.Client(ctx); err != nil {
				return "", time.Time{}, err
			}
		}
		switch {
		case a.o.ClientBasic:
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
		default:
			params["client_id"] = id
			if secret != "" {
				params["client_secret"] = secret
			}
		}
	}
	if a.o.JSON {
		r.Body, _ = json.Marshal(params)
	} else {
		form := url.Values{}
		for k, v := range params {
			form.Set(k, v)
		}
		r.Body, r.ContentType = []byte(form.Encode()), "application/x-www-form-urlencoded"
	}
	grant := params["grant_type"]
	res, err := a.c.roundTrip(ctx, r, 0, new(int))
	if err != nil {
		return "", time.Time{}, err
	}
	if !res.OK() {
		e := oauthError(name, res)
		if res.Status >= 500 || res.Status == http.StatusTooManyRequests {
			return "", time.Time{}, Retry(fault.Wrap(fault.ConnectorServer, e, "%s token request (%s)", name, grant), res.RetryAfter())
		}
		return "", time.Time{}, fault.Wrap(fault.AuthFailed, e, "%s token request (%s)", name, grant)
	}
	decode := a.o.Decode
	if decode == nil {
		decode = a.decode
	}
	tok, err := decode(res.Body)
	if err != nil {
		return "", time.Time{}, err
	}
	if tok.AccessToken == "" {
		return "", time.Time{}, fault.New(fault.AuthFailed, "%s token response has no access_token", name)
	}
	tok.Raw = res.Body
	a.code = "" // a code is good for one exchange
	if tok.RefreshToken != "" {
		a.refresh = tok.RefreshToken
	} else {
		tok.RefreshToken = a.refresh
	}
	exp := tok.Expires
	if !exp.IsZero() {
		early := a.o.Early
		if early <= 0 {
			early = 30 * time.Second
		}
		exp = exp.Add(-early)
	}
	if a.o.Saved != nil {
		if err := a.o.Saved(ctx, tok); err != nil {
			return "", time.Time{}, fault.Wrap(fault.Internal, err, "store the new %s tokens", name)
		}
	}
	return tok.AccessToken, exp, nil
}

func (a *OAuth2Auth) decode(b []byte) (Token, error) {
	var v struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Token{}, fault.Wrap(fault.AuthFailed, err, "%s token response is not JSON", a.c.cfg.Name)
	}
	t := Token{AccessToken: v.AccessToken, RefreshToken: v.RefreshToken}
	if v.ExpiresIn > 0 {
		t.Expires = a.c.now().Add(time.Duration(v.ExpiresIn) * time.Second)
	}
	return t, nil
}

// OAuthError is a token endpoint's refusal (RFC 6749 §5.2).
type OAuthError struct {
	Vendor      string
	Status      int
	Code        string
	Description string
}

func (e *OAuthError) Error() string {
	s := e.Vendor + " token endpoint responded " + http.StatusText(e.Status)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	return s
}

func oauthError(name string, r *Response) *OAuthError {
	e := &OAuthError{Vendor: name, Status: r.Status}
	var v struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
	}
	if json.Unmarshal(r.Body, &v) == nil && len(v.Error) > 0 {
		if json.Unmarshal(v.Error, &e.Code) != nil {
			e.Code = string(v.Error)
		}
		e.Description = v.Description
		return e
	}
	e.Description = strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)]))
	return e
}

// SaveTokens returns an OAuth2.Saved that writes each new token into the
// profile's credentials JSON (inside member when not ""): accessToken,
// refreshToken when known, and without the used-up oAuthRequest; the other
// keys stay as they were. nil save: nil (tokens live in memory only).
func SaveTokens(save func(context.Context, json.RawMessage) error, creds json.RawMessage, member string) func(context.Context, Token) error {
	if save == nil {
		return nil
	}
	var mu sync.Mutex
	current := append(json.RawMessage(nil), creds...)
	return func(ctx context.Context, t Token) error {
		mu.Lock()
		defer mu.Unlock()
		top := map[string]json.RawMessage{}
		_ = json.Unmarshal(current, &top)
		if top == nil {
			top = map[string]json.RawMessage{}
		}
		m := top
		if member != "" {
			m = map[string]json.RawMessage{}
			_ = json.Unmarshal(top[member], &m)
			if m == nil {
				m = map[string]json.RawMessage{}
			}
		}
		delete(m, "oAuthRequest")
		m["accessToken"], _ = json.Marshal(t.AccessToken)
		if t.RefreshToken != "" {
			m["refreshToken"], _ = json.Marshal(t.RefreshToken)
		}
		if member != "" {
			top[member], _ = json.Marshal(m)
		}
		raw, err := json.Marshal(top)
		if err != nil {
			return err
		}
		if err := save(ctx, raw); err != nil {
			return err
		}
		current = raw
		return nil
	}
}
