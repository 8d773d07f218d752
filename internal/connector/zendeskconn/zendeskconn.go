// Package zendeskconn is the Zendesk connector: a source, a destination and
// a catalog over the Zendesk Support API v2 ({instanceUrl}/api/v2/...),
// authenticated with an OAuth bearer token (connectors-saas-1 §1).
//
// Choices where AppFlow is silent (connectors-saas-1 §1, tagged [I]/[U]):
//   - Entities: tickets, users, organizations (source and destination) and
//     the read-only groups, ticket_fields, ticket_metrics and
//     satisfaction_ratings. Ticket custom fields appear as
//     custom_field_<id>, one per active ticket_fields entry.
//   - One split per flow: the incremental exports are one cursor.
//   - tickets and users are read through the cursor-based incremental
//     export, organizations through the time-based one (de-duplicated by
//     id, the last copy kept), the others through cursor pagination
//     (page[size]=100). The window's lower bound and a GREATER_THAN on
//     updated_at become start_time (whole seconds, never later than a
//     minute ago, which the API refuses); the window is then enforced on
//     updated_at here, and the engine re-applies every filter.
//   - Writes are buffered and sent at Commit in jobs of at most 100
//     records, polled through /api/v2/job_statuses/{id}.json; per-record
//     failures become WriteResult.Failures and, when errorHandlingConfig
//     names a bucket, JSON Lines at
//     <bucketPrefix>/<flow>/<execution>/zendesk-rejected-records.jsonl.
//     UPDATE matches on id (update_many) or on external_id (looked up
//     first); UPSERT matches on external_id only: users through
//     create_or_update_many, organizations through create_or_update (one
//     per call), tickets by looking up then creating or updating. A
//     record an UPDATE cannot match is a failure. DELETE is refused.
//   - New tokens (an exchanged oAuthRequest code, a refreshed token) are
//     handed to Profile.SaveCredentials; the refresh token is kept in the
//     stored credentials under refreshToken, which the model lacks.
//
// Its tests run against the documented-API fake in package zdtest.
package zendeskconn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/retry"
)

// Type is the connector type this package registers.
const Type = "Zendesk"

// Options configure the driver beyond what a profile says.
type Options struct {
	// Retry is the backoff for 429 and 5xx answers.
	Retry retry.Policy
	// PollWait waits before poll number n of a job status; nil waits
	// 250ms doubling to 5s on a real timer.
	PollWait func(ctx context.Context, n int) error
}

func init() { connector.Register(Spec(Options{})) }

// Spec registers the driver; the catalog entry supplies the rest of the
// capabilities.
func Spec(opts Options) connector.Spec {
	return connector.Spec{
		Capabilities: connector.Capabilities{Type: Type, CanUseAsSource: true, CanUseAsDestination: true, NeedsProfile: true},
		Open: func(ctx context.Context, deps connector.Deps, p connector.Profile) (connector.Driver, error) {
			return open(deps, p, opts)
		},
	}
}

type profileProps struct {
	InstanceURL string `json:"instanceUrl"`
}

type profileCreds struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"` // appflowd's own, after an exchange
	OAuthRequest *struct {
		AuthCode    string `json:"authCode"`
		RedirectURI string `json:"redirectUri"`
	} `json:"oAuthRequest"`
}

// Driver is one opened Zendesk profile.
type Driver struct {
	c    *client
	opts Options
	deps connector.Deps
}

var (
	_ connector.SourceDriver      = (*Driver)(nil)
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
	_ connector.ProfileChecker    = (*Driver)(nil)
)

func open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	var props profileProps
	var creds profileCreds
	if len(p.Properties) > 0 {
		if err := json.Unmarshal(p.Properties, &props); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "decode Zendesk profile properties")
		}
	}
	if len(p.Credentials) > 0 {
		if err := json.Unmarshal(p.Credentials, &creds); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "decode Zendesk profile credentials")
		}
	}
	base := strings.TrimRight(props.InstanceURL, "/")
	if base == "" {
		return nil, fault.New(fault.Invalid, "the Zendesk profile %s has no instanceUrl", p.Name)
	}
	if u, err := url.Parse(base); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fault.New(fault.Invalid, "the Zendesk instanceUrl %q is not an http(s) URL such as https://<subdomain>.zendesk.com", props.InstanceURL)
	}
	hc := deps.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &client{http: hc, now: now, log: log, retry: opts.Retry, base: base,
		clientID: creds.ClientID, clientSecret: creds.ClientSecret,
		token: creds.AccessToken, refreshToken: creds.RefreshToken}
	if r := creds.OAuthRequest; r != nil && r.AuthCode != "" && c.token == "" {
		c.authCode, c.redirectURI = r.AuthCode, r.RedirectURI
	}
	if p.SaveCredentials != nil {
		c.save = p.SaveCredentials
		_ = json.Unmarshal(p.Credentials, &c.saved)
	}
	if c.token == "" && c.authCode == "" && c.refreshToken == "" {
		return nil, fault.New(fault.AuthFailed, "the Zendesk profile %s has neither an accessToken nor an oAuthRequest with an authCode", p.Name)
	}
	return &Driver{c: c, opts: opts, deps: deps}, nil
}

// CheckProfile reads the authenticated user, the cheapest authenticated call.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, err := d.c.do(ctx, req{method: http.MethodGet, path: "/api/v2/users/me.json"})
	return err
}

// client speaks HTTP to one Zendesk account.
type client struct {
	http  *http.Client
	now   func() time.Time
	log   *slog.Logger
	retry retry.Policy
	base  string

	clientID, clientSecret string
	authCode, redirectURI  string

	mu           sync.Mutex
	token        string
	refreshToken string
	tokenGen     int

	save  func(context.Context, json.RawMessage) error
	saved map[string]json.RawMessage
}

type req struct {
	method string
	path   string // under the instance, or a full URL (a next page)
	query  url.Values
	body   []byte
	// idempotent lets a transport error be retried; 429/5xx refusals are
	// retried either way (Zendesk refuses before doing anything).
	idempotent bool
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// APIError is a Zendesk error answer: {"error", "description", "details"},
// or OAuth's {"error", "error_description"}; plain-text bodies (a 429) as is.
type APIError struct {
	Status      int
	Code        string
	Description string
	Details     string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("Zendesk responded %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Details != "" {
		s += " (" + e.Details + ")"
	}
	return s
}

func parseAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var v struct {
		Error            json.RawMessage `json:"error"`
		Description      string          `json:"description"`
		ErrorDescription string          `json:"error_description"`
		Details          json.RawMessage `json:"details"`
	}
	if json.Unmarshal(body, &v) == nil && len(v.Error) > 0 {
		var s string
		if json.Unmarshal(v.Error, &s) == nil {
			e.Code = s
		} else {
			// {"error":{"title":..., "message":...}} on some endpoints.
			var o struct{ Title, Message string }
			_ = json.Unmarshal(v.Error, &o)
			e.Code, e.Description = o.Title, o.Message
		}
		if v.Description != "" {
			e.Description = v.Description
		} else if v.ErrorDescription != "" {
			e.Description = v.ErrorDescription
		}
		e.Details = detailsText(v.Details)
		return e
	}
	e.Description = strings.TrimSpace(string(body[:min(len(body), 300)]))
	return e
}

// detailsText flattens {"field":[{"description": ...}]} (or a string).
func detailsText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var m map[string][]struct {
		Description string `json:"description"`
		Error       string `json:"error"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		for _, d := range m[k] {
			t := d.Description
			if t == "" {
				t = d.Error
			}
			parts = append(parts, k+": "+t)
		}
	}
	return strings.Join(parts, "; ")
}

func classify(e *APIError) error {
	switch {
	case e.Status == http.StatusUnauthorized || e.Code == "invalid_grant" || e.Code == "invalid_client" || e.Code == "invalid_token":
		return fault.Wrap(fault.AuthFailed, e, "Zendesk authentication failed")
	case e.Status == http.StatusForbidden:
		return fault.Wrap(fault.AccessDenied, e, "Zendesk")
	case e.Status == http.StatusTooManyRequests:
		return fault.Wrap(fault.Throttled, e, "Zendesk rate limit")
	case e.Status == http.StatusNotFound:
		return fault.Wrap(fault.NotFound, e, "Zendesk")
	case e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity:
		return fault.Wrap(fault.Invalid, e, "Zendesk")
	}
	return fault.Wrap(fault.ConnectorServer, e, "Zendesk")
}

func (c *client) url(r req) string {
	u := r.path
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = c.base + u
	}
	if len(r.query) > 0 {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + r.query.Encode()
	}
	return u
}

// do sends r with the bearer token, logging in first when there is only a
// code, refreshing once on 401 when a refresh token is known and backing
// off on 429 and 5xx. Non-2xx answers become classified errors.
func (c *client) do(ctx context.Context, r req) (*resp, error) {
	var out *resp
	refreshed := false
	err := c.retry.Do(ctx, func(ctx context.Context, _ int) error {
		for {
			c.mu.Lock()
			token, gen := c.token, c.tokenGen
			c.mu.Unlock()
			if token == "" {
				if err := c.login(ctx, gen); err != nil {
					return err
				}
				refreshed = true
				continue
			}
			res, err := c.send(ctx, r, token)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if r.idempotent {
					return retry.Retryable(fault.Wrap(fault.ConnectorServer, err, "Zendesk %s", r.method), 0)
				}
				return fault.Wrap(fault.ConnectorServer, err, "Zendesk %s", r.method)
			}
			if res.status >= 200 && res.status < 300 {
				out = res
				return nil
			}
			e := parseAPIError(res.status, res.body)
			if res.status == http.StatusUnauthorized && !refreshed && c.canRefresh() {
				c.log.Info("zendesk: access token refused, refreshing", "code", e.Code)
				if err := c.login(ctx, gen); err != nil {
					return err
				}
				refreshed = true
				continue
			}
			if retry.Status(res.status) || res.status == http.StatusInternalServerError {
				return retry.Retryable(classify(e), retry.RetryAfter(res.header, c.now()))
			}
			return classify(e)
		}
	})
	return out, err
}

func (c *client) send(ctx context.Context, r req, token string) (*resp, error) {
	var body io.Reader
	if r.body != nil {
		body = strings.NewReader(string(r.body))
	}
	hr, err := http.NewRequestWithContext(ctx, r.method, c.url(r), body)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Accept", "application/json")
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hres, err := c.http.Do(hr)
	if err != nil {
		return nil, err
	}
	defer hres.Body.Close()
	b, err := io.ReadAll(hres.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", r.method, hr.URL.Path, err)
	}
	return &resp{status: hres.StatusCode, header: hres.Header, body: b}, nil
}

func (c *client) canRefresh() bool { return c.refreshToken != "" }

// login exchanges the authorization code, or refreshes the token, at
// POST {instanceUrl}/oauth/tokens (ZD grant_type_tokens), unless another
// goroutine already did since gen.
func (c *client) login(ctx context.Context, gen int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokenGen != gen && c.token != "" {
		return nil
	}
	body := map[string]string{"client_id": c.clientID, "client_secret": c.clientSecret}
	switch {
	case c.authCode != "":
		body["grant_type"] = "authorization_code"
		body["code"] = c.authCode
		body["scope"] = "read write"
		if c.redirectURI != "" {
			body["redirect_uri"] = c.redirectURI
		}
	case c.refreshToken != "":
		body["grant_type"] = "refresh_token"
		body["refresh_token"] = c.refreshToken
	default:
		return fault.New(fault.AuthFailed, "Zendesk refused the access token and the profile has no refresh token")
	}
	b, _ := json.Marshal(body)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/oauth/tokens", strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	hres, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fault.Wrap(fault.ConnectorServer, err, "Zendesk token request")
	}
	defer hres.Body.Close()
	rb, err := io.ReadAll(hres.Body)
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "Zendesk token request")
	}
	if hres.StatusCode != http.StatusOK {
		e := parseAPIError(hres.StatusCode, rb)
		if hres.StatusCode >= 500 || hres.StatusCode == http.StatusTooManyRequests {
			return retry.Retryable(classify(e), retry.RetryAfter(hres.Header, c.now()))
		}
		return fault.Wrap(fault.AuthFailed, e, "Zendesk token request (%s)", body["grant_type"])
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(rb, &tok); err != nil || tok.AccessToken == "" {
		return fault.New(fault.AuthFailed, "Zendesk token response has no access_token")
	}
	c.token = tok.AccessToken
	c.tokenGen++
	c.authCode = ""
	if tok.RefreshToken != "" {
		c.refreshToken = tok.RefreshToken
	}
	return c.persist(ctx)
}

// persist hands the new tokens to the profile's owner.
func (c *client) persist(ctx context.Context) error {
	if c.save == nil {
		return nil
	}
	creds := map[string]json.RawMessage{}
	for k, v := range c.saved {
		creds[k] = v
	}
	delete(creds, "oAuthRequest") // exchanged: a code is good once
	creds["accessToken"], _ = json.Marshal(c.token)
	if c.refreshToken != "" {
		creds["refreshToken"], _ = json.Marshal(c.refreshToken)
	}
	raw, err := json.Marshal(creds)
	if err != nil {
		return err
	}
	if err := c.save(ctx, raw); err != nil {
		return fault.Wrap(fault.Internal, err, "store the new Zendesk tokens")
	}
	return nil
}

// getJSON GETs path and decodes the answer into v.
func (c *client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	res, err := c.do(ctx, req{method: http.MethodGet, path: path, query: q, idempotent: true})
	if err != nil {
		return err
	}
	return decodeJSON(res.body, v, path)
}

func decodeJSON(b []byte, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "decode the Zendesk %s response", what)
	}
	return nil
}
