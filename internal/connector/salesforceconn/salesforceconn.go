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
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
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

// Spec registers the driver with opts.
func Spec(opts Options) connector.Spec {
	return httpconn.Spec(Type, httpconn.Source|httpconn.Destination, opts, open)
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

func open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	if opts.ClientID == "" && deps.Env != nil {
		env := EnvOptions(deps.Env)
		opts.ClientID, opts.ClientSecret = env.ClientID, env.ClientSecret
	}
	if opts.ClientCredentials == nil {
		opts.ClientCredentials = secretsManagerReader(deps)
	}
	props, creds, err := connector.DecodeProfile[profileProps, profileCreds](p, "Salesforce")
	if err != nil {
		return nil, err
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
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := httpconn.OAuth2{TokenURL: login + "/services/oauth2/token",
		AccessToken: creds.AccessToken, RefreshToken: creds.RefreshToken}
	if base == "" {
		o.AccessToken = "" // the instance is learnt from a token response
	}
	if r := creds.OAuthRequest; r != nil && r.AuthCode != "" && o.AccessToken == "" {
		o.Code, o.RedirectURI = r.AuthCode, r.RedirectURI
	}
	switch {
	case creds.OAuth2GrantType == "CLIENT_CREDENTIALS":
		o.Grant = url.Values{"grant_type": {"client_credentials"}}
	case creds.JwtToken != "":
		o.Grant = url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {creds.JwtToken}}
		o.NoClient = true
	}
	if o.AccessToken == "" && o.RefreshToken == "" && o.Code == "" && o.Grant == nil {
		return nil, fault.New(fault.AuthFailed, "the Salesforce profile %s has no accessToken, refreshToken, oAuthRequest or client credentials grant", p.Name)
	}
	o.Client = connectedApp(opts, creds.ClientCredentialsArn)
	c := &client{log: log}
	save := httpconn.SaveTokens(p.SaveCredentials, p.Credentials, "")
	o.Saved = func(ctx context.Context, t httpconn.Token) error {
		if c.Base() == "" {
			var v struct {
				InstanceURL string `json:"instance_url"`
			}
			_ = json.Unmarshal(t.Raw, &v)
			c.SetBase(v.InstanceURL)
		}
		if save == nil {
			return nil
		}
		return save(ctx, t)
	}
	c.auth = httpconn.NewOAuth2(o)
	c.Client = httpconn.New(deps, httpconn.Config{Name: "Salesforce", Base: base, Auth: c.auth, Retry: opts.Retry,
		Check: check, Observe: func(r *httpconn.Response) { c.noteLimits(r.Header.Get("Sforce-Limit-Info")) }})
	return &Driver{c: c, opts: opts, log: log, deps: deps}, nil
}

// connectedApp reads the connected app's id and secret when a token is
// requested: the profile's clientCredentialsArn secret, else appflowd's own.
func connectedApp(opts Options, arn string) func(ctx context.Context) (string, string, error) {
	return func(ctx context.Context) (string, string, error) {
		id, secret := opts.ClientID, opts.ClientSecret
		if arn != "" {
			if opts.ClientCredentials == nil {
				return "", "", fault.New(fault.AuthFailed, "cannot read clientCredentialsArn %s: this appflowd has no secret reader for Salesforce connected apps", arn)
			}
			var err error
			if id, secret, err = opts.ClientCredentials(ctx, arn); err != nil {
				return "", "", fault.Wrap(fault.AuthFailed, err, "read clientCredentialsArn %s", arn)
			}
		}
		if id == "" {
			return "", "", fault.New(fault.AuthFailed, "no Salesforce connected app: set clientCredentialsArn on the profile or APPFLOWD_SALESFORCE_CLIENT_ID and APPFLOWD_SALESFORCE_CLIENT_SECRET")
		}
		return id, secret, nil
	}
}

// CheckProfile logs in (exchanging a code or refreshing as the profile
// says) and reads the org's limits, the cheapest authenticated call.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, err := d.c.do(ctx, req{method: http.MethodGet, path: "/limits"})
	return err
}

// client speaks HTTP to one org: bearer tokens renewed on
// INVALID_SESSION_ID, backoff on throttling, Sforce-Limit-Info.
type client struct {
	*httpconn.Client
	auth *httpconn.OAuth2Auth
	log  *slog.Logger

	firstLogin sync.Mutex // one login finds the instance

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

// APIError is a Salesforce error response: the first entry of the
// documented [{"message": ..., "errorCode": ..., "fields": [...]}] list, or
// an OAuth {"error", "error_description"} body.
type APIError = httpconn.Error

func parseAPIError(status int, body []byte) *APIError {
	return httpconn.ParseError("Salesforce", status, body, func(body []byte, e *APIError) bool {
		var list []struct {
			Message   string   `json:"message"`
			ErrorCode string   `json:"errorCode"`
			Fields    []string `json:"fields"`
		}
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return false
		}
		e.Code, e.Message, e.Detail = list[0].ErrorCode, list[0].Message, strings.Join(list[0].Fields, ", ")
		return true
	})
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

// check renews the token once on 401 (INVALID_SESSION_ID) and retries
// refusals Salesforce makes before doing anything.
func check(r *httpconn.Response) error {
	if r.OK() {
		return nil
	}
	e := parseAPIError(r.Status, r.Body)
	if e.Code == "REQUEST_LIMIT_EXCEEDED" || e.Code == "SERVER_UNAVAILABLE" {
		return httpconn.Retry(classify(e), r.RetryAfter())
	}
	return httpconn.Refusal(r, classify(e))
}

// do sends r under /services/data/vXX.X (unless its path starts with
// /services/), asking for JSON unless it says otherwise.
func (c *client) do(ctx context.Context, r req) (*httpconn.Response, error) {
	if err := c.findInstance(ctx); err != nil {
		return nil, err
	}
	p := r.path
	if !strings.HasPrefix(p, "/services/") && !strings.HasPrefix(p, "http") {
		p = "/services/data/" + apiVersion + p
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	h := http.Header{"Accept": {accept}}
	for k, v := range r.header {
		h.Set(k, v)
	}
	return c.Do(ctx, &httpconn.Request{Method: r.method, Path: p, Query: r.query, Body: r.body,
		ContentType: r.contentType, Header: h, Idempotent: r.idempotent})
}

// findInstance logs in first when the profile names no instance: the
// token response's instance_url is the base of every API call.
func (c *client) findInstance(ctx context.Context) error {
	if c.Base() != "" {
		return nil
	}
	c.firstLogin.Lock()
	defer c.firstLogin.Unlock()
	if c.Base() != "" {
		return nil
	}
	if err := c.auth.Login(ctx); err != nil {
		return err
	}
	if c.Base() == "" {
		return fault.New(fault.AuthFailed, "the Salesforce token response named no instance_url; set instanceUrl on the profile")
	}
	return nil
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

// decodeJSON decodes a response body, naming what it was.
func decodeJSON(b []byte, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "decode Salesforce %s response", what)
	}
	return nil
}
