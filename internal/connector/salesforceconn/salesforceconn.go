// Package salesforceconn is the Salesforce connector: a source, a
// destination and a catalog over Salesforce's documented REST API (query,
// queryAll, sObject describe, sObject Collections) and Bulk API 2.0 (query
// and ingest jobs), authenticated with OAuth 2.0 against the org's
// /services/oauth2/token endpoint.
//
// Choices where AppFlow is silent:
//   - One split per flow: a SOQL query cannot be partitioned without an
//     index the connector does not know.
//   - Filters are pushed down only where SOQL's answer is a superset of the
//     engine's (the engine re-applies every filter): string comparisons in
//     SOQL ignore case, so NOT_EQUAL_TO and ordering on strings stay in the
//     engine; datetime bounds are widened to whole seconds, since SOQL
//     literals carry none.
//   - Records Salesforce rejects, and those a task rejected on the way
//     (connector.FailureRecorder), go, when errorHandlingConfig names a
//     bucket, to <bucketPrefix>/<flow>/<execution>/salesforce-rejected-records.jsonl
//     as JSON Lines {split, line, reason, record}, as the Redshift writer
//     does; with failOnFirstDestinationError, the one that stopped the run.
//   - New tokens (an exchanged authorization code, a refreshed access
//     token) are handed to Profile.SaveCredentials, which stores them in
//     the profile; without it they live as long as the opened driver.
//
// Its tests, and end-to-end tests of the server, run against the
// documented-API test org in package sftest.
package salesforceconn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/retry"
)

// Type is the connector type this package registers.
const Type = "Salesforce"

// apiVersion is the newest Platform API version AppFlow uses (data-plane
// §9.4: 47.0 -> 50.0 -> 55.0 -> 58.0).
const apiVersion = "v58.0"

// AppFlow's AUTOMATIC thresholds (data-plane §9.4): Bulk API 2.0 from 1,000
// records written and from 1,000,000 records read.
const (
	bulkWriteThreshold = 1000
	bulkReadThreshold  = 1000000
	collectionSize     = 200 // sObject Collections take at most 200 records
)

// Options configure the driver beyond what a profile says.
type Options struct {
	// ClientID and ClientSecret are appflowd's default connected app; empty:
	// APPFLOWD_SALESFORCE_CLIENT_ID / APPFLOWD_SALESFORCE_CLIENT_SECRET read
	// through connector.Deps.Env when a profile is opened.
	ClientID, ClientSecret string
	// ClientCredentials reads a profile's clientCredentialsArn secret
	// ({"clientId": ..., "clientSecret": ...}); nil: AWS Secrets Manager at
	// the secrets_manager endpoint of connector.Deps.Endpoints.
	ClientCredentials func(ctx context.Context, arn string) (id, secret string, err error)
	// Retry is the backoff for throttled and unavailable responses.
	Retry retry.Policy
	// PollWait waits before poll number n of a Bulk API job; nil waits
	// 250ms doubling to 5s on a real timer.
	PollWait func(ctx context.Context, n int) error
	// PageSize is the Bulk API 2.0 maxRecords per result set and the REST
	// query batch size (Sforce-Query-Options); 0 means Salesforce's defaults.
	PageSize int
}

// EnvOptions reads the default connected app from the environment.
func EnvOptions(getenv func(string) string) Options {
	return Options{ClientID: getenv("APPFLOWD_SALESFORCE_CLIENT_ID"), ClientSecret: getenv("APPFLOWD_SALESFORCE_CLIENT_SECRET")}
}

// The environment is read when a profile is opened (connector.Deps.Env),
// not here: the process, and a test, may set it after init.
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
	InstanceURL          string `json:"instanceUrl"`
	IsSandboxEnvironment bool   `json:"isSandboxEnvironment"`
}

type profileCreds struct {
	AccessToken          string `json:"accessToken"`
	RefreshToken         string `json:"refreshToken"`
	ClientCredentialsArn string `json:"clientCredentialsArn"`
	OAuth2GrantType      string `json:"oAuth2GrantType"`
	JwtToken             string `json:"jwtToken"`
	OAuthRequest         *struct {
		AuthCode    string `json:"authCode"`
		RedirectURI string `json:"redirectUri"`
	} `json:"oAuthRequest"`
}

// Driver is one opened Salesforce profile.
type Driver struct {
	c    *client
	opts Options
	log  *slog.Logger
	deps connector.Deps // for the error bucket
}

var (
	_ connector.SourceDriver      = (*Driver)(nil)
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
	_ connector.ProfileChecker    = (*Driver)(nil)
)

func open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	if opts.ClientID == "" && deps.Env != nil {
		env := EnvOptions(deps.Env)
		opts.ClientID, opts.ClientSecret = env.ClientID, env.ClientSecret
	}
	if opts.ClientCredentials == nil {
		opts.ClientCredentials = secretsManagerReader(deps)
	}
	var props profileProps
	var creds profileCreds
	if len(p.Properties) > 0 {
		if err := json.Unmarshal(p.Properties, &props); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "decode Salesforce profile properties")
		}
	}
	if len(p.Credentials) > 0 {
		if err := json.Unmarshal(p.Credentials, &creds); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "decode Salesforce profile credentials")
		}
	}
	base := strings.TrimRight(props.InstanceURL, "/")
	login := base
	if login == "" {
		// Without a My Domain URL, log in where Salesforce's docs say: the
		// sandbox or production login host; the token response names the instance.
		// The salesforce_login endpoint, when set, stands for both.
		login = "https://login.salesforce.com"
		if props.IsSandboxEnvironment {
			login = "https://test.salesforce.com"
		}
		login = deps.Endpoints.Or(connector.EndpointSalesforceLogin, login)
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
	c := &client{
		http: hc, now: now, log: log, retry: opts.Retry,
		base: base, tokenURL: login + "/services/oauth2/token",
		token: creds.AccessToken, refreshToken: creds.RefreshToken,
		grant: creds.OAuth2GrantType, jwt: creds.JwtToken,
		clientID: opts.ClientID, clientSecret: opts.ClientSecret,
		credsArn: creds.ClientCredentialsArn, readCreds: opts.ClientCredentials,
	}
	if c.base == "" {
		c.token = "" // the instance is learnt from a token response
	}
	if p.SaveCredentials != nil {
		c.save = p.SaveCredentials
		_ = json.Unmarshal(p.Credentials, &c.saved)
	}
	if r := creds.OAuthRequest; r != nil && r.AuthCode != "" && c.token == "" {
		c.authCode, c.redirectURI = r.AuthCode, r.RedirectURI
	}
	if c.token == "" && c.refreshToken == "" && c.authCode == "" && c.grant != "CLIENT_CREDENTIALS" && c.jwt == "" {
		return nil, fault.New(fault.AuthFailed, "the Salesforce profile %s has no accessToken, refreshToken, oAuthRequest or client credentials grant", p.Name)
	}
	return &Driver{c: c, opts: opts, log: log, deps: deps}, nil
}

// CheckProfile logs in (exchanging a code or refreshing as the profile
// says) and reads the org's limits, the cheapest authenticated call.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, err := d.c.do(ctx, req{method: http.MethodGet, path: "/limits"})
	return err
}

// client speaks HTTP to one org: bearer tokens, refresh on
// INVALID_SESSION_ID, backoff on throttling, Sforce-Limit-Info.
type client struct {
	http  *http.Client
	now   func() time.Time
	log   *slog.Logger
	retry retry.Policy

	tokenURL                                    string
	grant, jwt, authCode, redirectURI, credsArn string
	clientID, clientSecret                      string
	readCreds                                   func(context.Context, string) (string, string, error)

	mu           sync.Mutex
	base         string // the instance URL, once known
	token        string
	refreshToken string
	tokenGen     int // bumps on every new token, so concurrent 401s refresh once

	// save persists new tokens into the profile; saved is the profile's
	// credentials member, whose other keys are kept as they were.
	save  func(context.Context, json.RawMessage) error
	saved map[string]json.RawMessage

	apiUsed, apiMax atomic.Int64
}

// req is one API call; path is under /services/data/vXX.X unless it starts
// with /services/.
type req struct {
	method      string
	path        string
	query       url.Values
	body        []byte
	contentType string // default application/json when body is set
	accept      string
	// idempotent lets a transport error be retried; refusals the server
	// reports before doing anything (429, 503, REQUEST_LIMIT_EXCEEDED) are
	// retried either way.
	idempotent bool
	header     map[string]string
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// APIError is a Salesforce error response: the first entry of the
// documented [{"message": ..., "errorCode": ..., "fields": [...]}] list, or
// an OAuth {"error", "error_description"} body.
type APIError struct {
	Status  int
	Code    string
	Message string
	Fields  []string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("Salesforce responded %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func parseAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var list []struct {
		Message   string   `json:"message"`
		ErrorCode string   `json:"errorCode"`
		Fields    []string `json:"fields"`
	}
	var oauth struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	switch {
	case json.Unmarshal(body, &list) == nil && len(list) > 0:
		e.Code, e.Message, e.Fields = list[0].ErrorCode, list[0].Message, list[0].Fields
	case json.Unmarshal(body, &oauth) == nil && oauth.Error != "":
		e.Code, e.Message = oauth.Error, oauth.Description
	default:
		e.Message = strings.TrimSpace(string(body[:min(len(body), 300)]))
	}
	return e
}

// classify gives an API error its fault code.
func classify(e *APIError) error {
	switch {
	case e.Status == http.StatusUnauthorized || e.Code == "invalid_grant" || e.Code == "invalid_client" || e.Code == "invalid_client_id":
		return fault.Wrap(fault.AuthFailed, e, "Salesforce authentication failed")
	case e.Code == "REQUEST_LIMIT_EXCEEDED" || e.Status == http.StatusTooManyRequests:
		return fault.Wrap(fault.Throttled, e, "Salesforce API limit")
	case e.Status == http.StatusNotFound || e.Code == "NOT_FOUND" || e.Code == "INVALID_TYPE":
		return fault.Wrap(fault.NotFound, e, "Salesforce")
	}
	return fault.Wrap(fault.ConnectorServer, e, "Salesforce")
}

func (c *client) url(r req) string {
	c.mu.Lock()
	base := c.base
	c.mu.Unlock()
	p := r.path
	if !strings.HasPrefix(p, "/services/") {
		p = "/services/data/" + apiVersion + p
	}
	u := base + p
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	return u
}

// do sends r, logging in first if there is no token yet, refreshing the
// token once on INVALID_SESSION_ID and backing off on throttling. Non-2xx
// answers become classified errors; 2xx bodies are read whole.
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
				if r.idempotent && ctx.Err() == nil {
					return retry.Retryable(err, 0)
				}
				return err
			}
			if res.status >= 200 && res.status < 300 {
				out = res
				return nil
			}
			e := parseAPIError(res.status, res.body)
			if res.status == http.StatusUnauthorized && !refreshed && c.canRefresh() {
				c.log.Info("salesforce: access token refused, refreshing", "code", e.Code)
				if err := c.login(ctx, gen); err != nil {
					return err
				}
				refreshed = true
				continue
			}
			if retry.Status(res.status) || e.Code == "REQUEST_LIMIT_EXCEEDED" || e.Code == "SERVER_UNAVAILABLE" {
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
	if r.body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if r.accept != "" {
		hr.Header.Set("Accept", r.accept)
	} else {
		hr.Header.Set("Accept", "application/json")
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
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
	c.noteLimits(hres.Header.Get("Sforce-Limit-Info"))
	return &resp{status: hres.StatusCode, header: hres.Header, body: b}, nil
}

// noteLimits records "api-usage=25/5000" and warns once usage passes 90%:
// Salesforce enforces the limit itself with REQUEST_LIMIT_EXCEEDED.
func (c *client) noteLimits(h string) {
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k != "api-usage" {
			continue
		}
		u, m, ok := strings.Cut(v, "/")
		used, err1 := strconv.ParseInt(u, 10, 64)
		limit, err2 := strconv.ParseInt(m, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		prev := c.apiUsed.Swap(used)
		c.apiMax.Store(limit)
		if limit > 0 && used*10 >= limit*9 && prev*10 < limit*9 {
			c.log.Warn("salesforce: the org has used most of its daily API requests", "used", used, "max", limit)
		}
	}
}

// APIUsage is the last Sforce-Limit-Info api-usage seen: used and max.
func (d *Driver) APIUsage() (used, limit int64) { return d.c.apiUsed.Load(), d.c.apiMax.Load() }

func (c *client) canRefresh() bool {
	return c.refreshToken != "" || c.grant == "CLIENT_CREDENTIALS" || c.jwt != ""
}

// login gets a new access token, unless another goroutine already did
// since gen.
func (c *client) login(ctx context.Context, gen int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokenGen != gen && c.token != "" {
		return nil
	}
	form := url.Values{}
	needClient := true
	switch {
	case c.authCode != "":
		form.Set("grant_type", "authorization_code")
		form.Set("code", c.authCode)
		if c.redirectURI != "" {
			form.Set("redirect_uri", c.redirectURI)
		}
	case c.refreshToken != "":
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", c.refreshToken)
	case c.grant == "CLIENT_CREDENTIALS":
		form.Set("grant_type", "client_credentials")
	case c.jwt != "":
		form.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
		form.Set("assertion", c.jwt)
		needClient = false
	default:
		return fault.New(fault.AuthFailed, "Salesforce refused the access token and the profile has no refresh token")
	}
	if needClient {
		id, secret := c.clientID, c.clientSecret
		if c.credsArn != "" {
			if c.readCreds == nil {
				return fault.New(fault.AuthFailed, "cannot read clientCredentialsArn %s: this appflowd has no secret reader for Salesforce connected apps", c.credsArn)
			}
			var err error
			if id, secret, err = c.readCreds(ctx, c.credsArn); err != nil {
				return fault.Wrap(fault.AuthFailed, err, "read clientCredentialsArn %s", c.credsArn)
			}
		}
		if id == "" {
			return fault.New(fault.AuthFailed, "no Salesforce connected app: set clientCredentialsArn on the profile or APPFLOWD_SALESFORCE_CLIENT_ID and APPFLOWD_SALESFORCE_CLIENT_SECRET")
		}
		form.Set("client_id", id)
		if secret != "" {
			form.Set("client_secret", secret)
		}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Accept", "application/json")
	hres, err := c.http.Do(hr)
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "Salesforce token request")
	}
	defer hres.Body.Close()
	b, err := io.ReadAll(hres.Body)
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "Salesforce token request")
	}
	if hres.StatusCode != http.StatusOK {
		e := parseAPIError(hres.StatusCode, b)
		if hres.StatusCode >= 500 {
			return classify(e)
		}
		return fault.Wrap(fault.AuthFailed, e, "Salesforce token request (%s)", form.Get("grant_type"))
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		InstanceURL  string `json:"instance_url"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		return fault.New(fault.AuthFailed, "Salesforce token response has no access_token")
	}
	c.token = tok.AccessToken
	c.tokenGen++
	c.authCode = "" // a code is good for one exchange
	if tok.RefreshToken != "" {
		c.refreshToken = tok.RefreshToken
	}
	if c.base == "" {
		c.base = strings.TrimRight(tok.InstanceURL, "/")
	}
	return c.persist(ctx)
}

// persist hands the new tokens to the profile's owner, so the next run
// starts from them: the code was used up, the old access token expired.
func (c *client) persist(ctx context.Context) error {
	if c.save == nil {
		return nil
	}
	creds := map[string]json.RawMessage{}
	for k, v := range c.saved {
		creds[k] = v
	}
	delete(creds, "oAuthRequest") // exchanged: its code is good once
	creds["accessToken"], _ = json.Marshal(c.token)
	if c.refreshToken != "" {
		creds["refreshToken"], _ = json.Marshal(c.refreshToken)
	}
	raw, err := json.Marshal(creds)
	if err != nil {
		return err
	}
	if err := c.save(ctx, raw); err != nil {
		return fault.Wrap(fault.Internal, err, "store the new Salesforce tokens")
	}
	return nil
}

// decodeJSON decodes a response body, naming what it was.
func decodeJSON(b []byte, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "decode Salesforce %s response", what)
	}
	return nil
}
