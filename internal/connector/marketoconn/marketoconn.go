// Package marketoconn is the Marketo connector (connectors-saas-1 §4): a
// catalog, a source and a destination over the Marketo REST and Bulk Extract APIs
// ({instanceUrl}/rest/v1/..., {instanceUrl}/bulk/v1/...), authenticated with
// the client-credentials grant at {instanceUrl}/identity/oauth/token.
//
// Choices where AppFlow is silent (connectors-saas-1 §4, tagged [I]/[U]):
//
//   - Entities: leads (fields from leads/describe2.json) and activities
//     (the fixed Glue field list), in group "Objects".
//
//   - Reads go through Bulk Extract: create, enqueue, poll status, fetch
//     the CSV file. One split per read; the date range is cut into jobs
//     of at most 31 days (Marketo's limit), run one after another.
//
//   - The range filtered on: the incremental window (field updatedAt for
//     leads, activityDate for activities, which the activity export
//     filters as createdAt); else a LESS_THAN/GREATER_THAN/BETWEEN on
//     updatedAt or createdAt (activities: activityDate); else createdAt
//     from Options.Earliest (default 2006-01-01) to now. Bounds widen to
//     whole seconds; the window is enforced here on the exported field,
//     and the engine re-applies every filter.
//
//   - Marketo answers errors in HTTP 200 bodies: 601/602 (token invalid
//     or expired) fetch a new token and retry once; 604, 606, 615 and
//     1029 "Too many jobs in queue" are retried by the shared retry layer
//     as throttling; 607 and the daily export quota fail the run.
//
//   - Writes (leads only) are buffered and sent at Commit through Bulk Lead
//     Import (format=csv, lookupField=email: insert-or-update on email,
//     so INSERT and UPSERT behave alike; UPDATE and DELETE are refused),
//     in files under 10 MB, one job at a time, each polled to Complete.
//     Rows in the job's failures file become WriteResult.Failures (matched
//     back to the rows sent by content) and, when errorHandlingConfig
//     names a bucket, JSON Lines at
//     <bucketPrefix>/<flow>/<execution>/marketo-rejected-records.jsonl.
//
// Not done: custom objects, the
// createdAt fallback for subscriptions without the updatedAt filter
// (1035 fails the run). Its tests run against the fake in mktotest.
package marketoconn

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
const Type = "Marketo"

// Options configure the driver beyond what a profile says.
type Options struct {
	// Retry is the backoff for throttling (606, 615, 604, queue full),
	// HTTP 429 and 5xx.
	Retry retry.Policy
	// PollWait waits before poll number n of an export job; nil waits 2s
	// doubling to 30s on a real timer.
	PollWait func(ctx context.Context, n int) error
	// Earliest is where a read with no date bound starts; zero means
	// 2006-01-01 (before any Marketo instance existed).
	Earliest time.Time
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
}

// Driver is one opened Marketo profile.
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
			return nil, fault.Wrap(fault.Invalid, err, "decode Marketo profile properties")
		}
	}
	if len(p.Credentials) > 0 {
		if err := json.Unmarshal(p.Credentials, &creds); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "decode Marketo profile credentials")
		}
	}
	base := strings.TrimRight(props.InstanceURL, "/")
	if u, err := url.Parse(base); base == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fault.New(fault.Invalid, "the Marketo instanceUrl %q is not an http(s) URL such as https://<munchkin-id>.mktorest.com", props.InstanceURL)
	}
	if creds.ClientID == "" || creds.ClientSecret == "" {
		return nil, fault.New(fault.AuthFailed, "the Marketo profile %s needs a clientId and a clientSecret", p.Name)
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
	if opts.Earliest.IsZero() {
		opts.Earliest = time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c := &client{http: hc, now: now, log: log, retry: opts.Retry, base: base,
		clientID: creds.ClientID, clientSecret: creds.ClientSecret, token: creds.AccessToken}
	return &Driver{c: c, opts: opts, deps: deps}, nil
}

// CheckProfile asks for a new token, then describes leads, a cheap call.
func (d *Driver) CheckProfile(ctx context.Context) error {
	d.c.mu.Lock()
	gen := d.c.tokenGen
	d.c.mu.Unlock()
	if err := d.c.login(ctx, gen, true); err != nil {
		return err
	}
	_, err := d.c.do(ctx, req{method: http.MethodGet, path: "/rest/v1/leads/describe2.json"})
	return err
}

// client speaks HTTP to one Marketo instance.
type client struct {
	http  *http.Client
	now   func() time.Time
	log   *slog.Logger
	retry retry.Policy
	base  string

	clientID, clientSecret string

	mu       sync.Mutex
	token    string
	expires  time.Time // zero: unknown (a token from the profile)
	tokenGen int
}

type req struct {
	method string
	path   string
	query  url.Values
	body   []byte // JSON
	// contentType of body; "" means JSON.
	contentType string
	// raw: a 2xx answer that is not a JSON envelope (a CSV file) is
	// returned as is.
	raw bool
}

// APIError is a Marketo error: an {"errors":[{code,message}]} envelope in
// a 200, an identity error, or a bare HTTP failure.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("Marketo error %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("Marketo responded %d: %s", e.Status, e.Message)
}

type envelope struct {
	RequestID string          `json:"requestId"`
	Success   *bool           `json:"success"`
	Errors    []apiErr        `json:"errors"`
	Result    json.RawMessage `json:"result"`
}

type apiErr struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
}

func (a apiErr) code() string {
	var s string
	if json.Unmarshal(a.Code, &s) == nil {
		return s
	}
	return strings.Trim(string(a.Code), `"`)
}

// classify maps an error code to a fault, marking what may be retried.
func classify(e *APIError) error {
	switch e.Code {
	case "601", "602":
		return fault.Wrap(fault.AuthFailed, e, "Marketo access token")
	case "603":
		return fault.Wrap(fault.AccessDenied, e, "Marketo")
	case "604", "606", "615":
		return retry.Retryable(fault.Wrap(fault.Throttled, e, "Marketo"), 0)
	case "607":
		return fault.Wrap(fault.QuotaExceeded, e, "Marketo daily API quota")
	case "1029", "1016":
		if strings.Contains(strings.ToLower(e.Message), "quota") {
			return fault.Wrap(fault.QuotaExceeded, e, "Marketo")
		}
		return retry.Retryable(fault.Wrap(fault.Throttled, e, "Marketo job queue"), 0)
	case "":
	default:
		if strings.HasPrefix(e.Code, "7") || strings.HasPrefix(e.Code, "10") || e.Code == "609" || e.Code == "610" {
			return fault.Wrap(fault.Invalid, e, "Marketo")
		}
		return fault.Wrap(fault.ConnectorServer, e, "Marketo")
	}
	switch {
	case e.Status == http.StatusUnauthorized:
		return fault.Wrap(fault.AuthFailed, e, "Marketo")
	case retry.Status(e.Status) || e.Status >= 500:
		return retry.Retryable(fault.Wrap(fault.ConnectorServer, e, "Marketo"), 0)
	case e.Status == http.StatusNotFound:
		return fault.Wrap(fault.NotFound, e, "Marketo")
	case e.Status >= 400:
		return fault.Wrap(fault.Invalid, e, "Marketo")
	}
	return fault.Wrap(fault.ConnectorServer, e, "Marketo")
}

// do sends r with the bearer token (logging in first when there is none
// or it has expired), fetches a new token once on 601/602, and lets the
// retry policy repeat throttled calls. It returns the body: the envelope's
// result for JSON answers, the whole body for raw ones.
func (c *client) do(ctx context.Context, r req) ([]byte, error) {
	var out []byte
	refreshed := false
	err := c.retry.Do(ctx, func(ctx context.Context, _ int) error {
		for {
			c.mu.Lock()
			token, gen := c.token, c.tokenGen
			stale := !c.expires.IsZero() && !c.now().Before(c.expires)
			c.mu.Unlock()
			if token == "" || stale {
				if err := c.login(ctx, gen, false); err != nil {
					return err
				}
				continue
			}
			status, ctype, body, err := c.send(ctx, r, token)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return retry.Retryable(fault.Wrap(fault.ConnectorServer, err, "Marketo %s %s", r.method, r.path), 0)
			}
			isJSON := strings.Contains(ctype, "json") || (len(body) > 0 && body[0] == '{')
			if status/100 == 2 && r.raw && !isJSON {
				out = body
				return nil
			}
			var env envelope
			if status/100 != 2 || json.Unmarshal(body, &env) != nil {
				msg := strings.TrimSpace(string(body[:min(len(body), 300)]))
				if status/100 == 2 {
					return fault.New(fault.ConnectorServer, "Marketo %s answered something other than JSON: %s", r.path, msg)
				}
				return classify(&APIError{Status: status, Message: msg})
			}
			if env.Success != nil && !*env.Success {
				e := &APIError{Status: status, Message: "request failed"}
				if len(env.Errors) > 0 {
					e.Code, e.Message = env.Errors[0].code(), env.Errors[0].Message
				}
				if (e.Code == "601" || e.Code == "602") && !refreshed {
					c.log.Info("marketo: access token refused, fetching a new one", "code", e.Code)
					refreshed = true
					if err := c.login(ctx, gen, true); err != nil {
						return err
					}
					continue
				}
				return classify(e)
			}
			if r.raw {
				out = body
			} else {
				out = env.Result
			}
			return nil
		}
	})
	return out, err
}

func (c *client) send(ctx context.Context, r req, token string) (int, string, []byte, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = strings.NewReader(string(r.body))
	}
	hr, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return 0, "", nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	if r.body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	hres, err := c.http.Do(hr)
	if err != nil {
		return 0, "", nil, err
	}
	defer hres.Body.Close()
	b, err := io.ReadAll(hres.Body)
	if err != nil {
		return 0, "", nil, fmt.Errorf("read %s %s: %w", r.method, r.path, err)
	}
	return hres.StatusCode, hres.Header.Get("Content-Type"), b, nil
}

// login fetches a token with the client-credentials grant (MK:authentication),
// unless another goroutine already did since gen (and force is unset).
// The client id and secret travel in a form body, not the query string.
func (c *client) login(ctx context.Context, gen int, force bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokenGen != gen && c.token != "" && !force {
		return nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.clientID}, "client_secret": {c.clientSecret}}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/identity/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hres, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return retry.Retryable(fault.Wrap(fault.ConnectorServer, err, "Marketo token request"), 0)
	}
	defer hres.Body.Close()
	b, err := io.ReadAll(hres.Body)
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "Marketo token request")
	}
	var tok struct {
		AccessToken      string `json:"access_token"`
		ExpiresIn        int64  `json:"expires_in"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	_ = json.Unmarshal(b, &tok)
	if hres.StatusCode != http.StatusOK || tok.AccessToken == "" {
		msg := tok.ErrorDescription
		if msg == "" {
			msg = tok.Error
		}
		if msg == "" {
			msg = strings.TrimSpace(string(b[:min(len(b), 300)]))
		}
		e := &APIError{Status: hres.StatusCode, Message: msg}
		if hres.StatusCode >= 500 || hres.StatusCode == http.StatusTooManyRequests {
			return retry.Retryable(fault.Wrap(fault.ConnectorServer, e, "Marketo token request"), retry.RetryAfter(hres.Header, c.now()))
		}
		return fault.Wrap(fault.AuthFailed, e, "Marketo token request")
	}
	c.token = tok.AccessToken
	c.tokenGen++
	c.expires = time.Time{}
	if tok.ExpiresIn > 0 {
		// Renew a little early rather than meet a 602 mid-read.
		c.expires = c.now().Add(time.Duration(tok.ExpiresIn)*time.Second - 30*time.Second)
	}
	return nil
}
