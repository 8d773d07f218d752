// Package httpconn is the HTTP client every SaaS driver is built on. A
// driver configures one Client with its vendor's hooks — how to
// authenticate (Auth), how to read an answer (Check) — and gets, once for
// all drivers: the retry loop (internal/retry) with Retry-After in seconds
// or as an HTTP date, rate-limit waits bounded by the run's deadline, one
// re-authentication per request when credentials are refused (concurrent
// refusals renew once), OAuth 2.0 token requests whose new tokens go to
// Profile.SaveCredentials, paging helpers, request logging with no secret
// in it, and connector.Deps.HTTPClient (never http.DefaultClient).
//
// A driver keeps only its vendor's specifics (zendeskconn is a whole one):
//
//	func init() { httpconn.Register(Type, httpconn.Source, Open) }
//
//	func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
//		props, creds, err := connector.DecodeProfile[httpconn.Instance, httpconn.OAuthCredentials](p, "Acme")
//		if err != nil {
//			return nil, err
//		}
//		o := creds.OAuth2(props.InstanceURL + "/oauth/token") // code, refresh token, client
//		o.Saved = httpconn.SaveTokens(p.SaveCredentials, p.Credentials, "") // new tokens persist
//		c := httpconn.New(deps, httpconn.Config{Name: "Acme", Base: props.InstanceURL,
//			Auth: httpconn.NewOAuth2(o), // or Header, Headers, Basic, Bearer, NewSession
//			// 2xx is accepted; 401 renews the token once; 429/502/503/504
//			// wait for Retry-After; the rest fails with the vendor's message.
//			Check: httpconn.StatusCheck(func(r *httpconn.Response) error {
//				return httpconn.ParseError("Acme", r.Status, r.Body, nil) // or the vendor's own shape
//			}),
//			Retry: opts.Retry}) // tests inject Sleep and Jitter
//		return &Driver{c: c}, nil
//	}
//
//	// In ReadSplit: p, err := httpconn.Plan[*plan](ctx, s, "Acme"), then page:
//	err = httpconn.Cursor(ctx, func(ctx context.Context, cursor string) (string, error) {
//		res, err := d.c.Do(ctx, &httpconn.Request{Method: "GET", Path: "/api/items",
//			Query: url.Values{"cursor": {cursor}}, Idempotent: true})
//		if err != nil {
//			return "", err
//		}
//		var page struct {
//			Items []map[string]json.RawMessage
//			Next  string
//		}
//		if err := res.JSON(&page); err != nil {
//			return "", err
//		}
//		// ... httpconn.Value(raw) per cell, emit a batch ...
//		return page.Next, nil
//	})
//
// A vendor that answers errors inside 200 bodies (Slack's ok:false,
// Marketo's success:false) writes its own Check, marking what to retry
// with Retry and what to re-authenticate with Reauth. Paging uses Cursor
// (cursor tokens and next links, NextLink for Link headers), Offset and
// Keyset; a destination that sends at Commit embeds Buffer. A wait the
// server asks for (Retry-After, a rate-limit reset) is waited in full when
// the run's context deadline allows it and refused at once, as throttled,
// when it does not (retry.WaitError). Logs carry method, URL (secret query
// values hidden), status and attempt; never headers or bodies.
package httpconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/retry"
)

// Config is what a driver says about its vendor.
type Config struct {
	// Name is the vendor in errors and logs: "Zendesk".
	Name string
	// Base is prepended to a Request.Path that is not a full URL.
	Base string
	// Auth puts credentials on every request; nil sends none.
	Auth Auth
	// Check reads an answer: nil accepts it; an error refuses it, marked
	// with Retry to try again or Reauth to renew credentials and resend
	// once. nil: StatusCheck with the vendor's body as the message.
	Check func(*Response) error
	// Header is sent on every request (Accept, an API version).
	Header http.Header
	// Observe sees every answer, refused or not (rate-limit headers).
	Observe func(*Response)
	// Retry is the backoff; its Now defaults to the deps' clock.
	Retry retry.Policy
}

// Client sends a driver's requests; it is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
	now  func() time.Time
	log  *slog.Logger

	mu   sync.Mutex
	base string
}

// defaultHTTP serves a driver opened without Deps.HTTPClient (a test of
// profile validation): a client of our own with a bound on every request,
// not the process-wide http.DefaultClient that anything may reconfigure.
var defaultHTTP = &http.Client{Timeout: 5 * time.Minute}

// New builds a Client on the process's HTTP client, clock and logger.
func New(deps connector.Deps, cfg Config) *Client {
	c := &Client{cfg: cfg, http: deps.HTTPClient, now: deps.Now, log: deps.Logger, base: strings.TrimRight(cfg.Base, "/")}
	if c.http == nil {
		c.http = defaultHTTP
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.cfg.Retry.Now == nil {
		c.cfg.Retry.Now = c.now
	}
	if c.cfg.Name == "" {
		c.cfg.Name = "the service"
	}
	if b, ok := cfg.Auth.(interface{ bind(*Client) }); ok {
		b.bind(c)
	}
	return c
}

// Name is the vendor's name, as configured.
func (c *Client) Name() string { return c.cfg.Name }

// Now reads the client's clock.
func (c *Client) Now() time.Time { return c.now() }

// HTTP is the process's HTTP client, for a protocol Do does not carry.
func (c *Client) HTTP() *http.Client { return c.http }

// Logger is the client's logger.
func (c *Client) Logger() *slog.Logger { return c.log }

// Base is the URL relative paths are resolved against.
func (c *Client) Base() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base
}

// SetBase changes it, for vendors whose token answer names the instance.
func (c *Client) SetBase(base string) {
	c.mu.Lock()
	c.base = strings.TrimRight(base, "/")
	c.mu.Unlock()
}

// Request is one API call.
type Request struct {
	Method string
	// Path is under the client's Base, or a full URL (a next link).
	Path string
	// Query is added to the URL; RawQuery after it, as it is (OData's
	// hand-escaped, ordered options).
	Query    url.Values
	RawQuery string
	Body     []byte
	// ContentType of Body; "" means application/json.
	ContentType string
	Header      http.Header
	// Idempotent lets a transport failure, whose outcome is unknown, be
	// retried; refusals are retried as Check says either way.
	Idempotent bool
	// Check overrides the client's Check for this request.
	Check func(*Response) error
	// NoAuth sends no credentials (a token request).
	NoAuth bool
}

// URL is where r goes.
func (c *Client) URL(r *Request) string {
	u := r.Path
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = c.Base() + u
	}
	for _, q := range []string{r.Query.Encode(), r.RawQuery} {
		if q == "" {
			continue
		}
		if strings.Contains(u, "?") {
			u += "&" + q
		} else {
			u += "?" + q
		}
	}
	return u
}

// Response is an answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Request is what was sent, Date when the answer came (the client's
	// clock, for Retry-After dates).
	Request *Request
	Date    time.Time
}

// OK says the status is 2xx.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// RetryAfter is the wait the answer's Retry-After header asks for
// (seconds or an HTTP date); zero without one.
func (r *Response) RetryAfter() time.Duration { return retry.RetryAfter(r.Header, r.Date) }

// JSON decodes the body into v, naming the call on failure.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		what := "an answer"
		if r.Request != nil {
			what = "the answer to " + r.Request.Method + " " + redactPath(r.Request.Path)
		}
		return fault.Wrap(fault.ConnectorServer, err, "decode %s: %s", what, Excerpt(r.Body))
	}
	return nil
}

// Excerpt quotes the start of a body for an error message.
func Excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strconv.Quote(s)
}

// Retry marks err as worth another attempt after at least after (zero:
// the policy's backoff alone).
func Retry(err error, after time.Duration) error { return retry.Retryable(err, after) }

// Reauth marks err as a refusal of the credentials: the client renews them
// and resends once; if they cannot be renewed, err is the answer.
func Reauth(err error) error {
	if err == nil {
		return nil
	}
	return &reauthError{err}
}

type reauthError struct{ err error }

func (e *reauthError) Error() string { return e.err.Error() }
func (e *reauthError) Unwrap() error { return e.err }

// Refusal marks a refused answer's classified error the usual way: 401
// re-authenticates, 429, 502, 503 and 504 are retried after Retry-After,
// the rest is final.
func Refusal(r *Response, err error) error {
	switch {
	case r.Status == http.StatusUnauthorized:
		return Reauth(err)
	case retry.Status(r.Status):
		return Retry(err, r.RetryAfter())
	}
	return err
}

// StatusCheck is the Check of a vendor whose HTTP status tells success:
// 2xx is accepted, and a refusal is the vendor's error (vendorErr reads it
// from the body) marked by Refusal; the statuses alsoRetry are retried
// too (a vendor that answers 500 for a passing failure).
func StatusCheck(vendorErr func(*Response) error, alsoRetry ...int) func(*Response) error {
	return func(r *Response) error {
		if r.OK() {
			return nil
		}
		if slices.Contains(alsoRetry, r.Status) {
			return Retry(vendorErr(r), r.RetryAfter())
		}
		return Refusal(r, vendorErr(r))
	}
}

// StatusCode is the fault a refused answer's HTTP status means: 401
// AuthFailed, 403 AccessDenied, 404 NotFound, 429 Throttled, 400 and 422
// Invalid, anything else ConnectorServer.
func StatusCode(status int) fault.Code {
	switch status {
	case http.StatusUnauthorized:
		return fault.AuthFailed
	case http.StatusForbidden:
		return fault.AccessDenied
	case http.StatusNotFound:
		return fault.NotFound
	case http.StatusTooManyRequests:
		return fault.Throttled
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return fault.Invalid
	}
	return fault.ConnectorServer
}

// KeyRefusal is the fault of a refusal by a vendor whose credentials are
// fixed keys, with msg its account of it: 401 and 403 are the keys
// refused (AuthFailed), 429 Throttled, 404 NotFound naming the path, and
// the rest ConnectorServer.
func KeyRefusal(vendor string, r *Response, msg string) error {
	switch r.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fault.New(fault.AuthFailed, "%s refused the credentials: HTTP %d: %s", vendor, r.Status, msg)
	case http.StatusTooManyRequests:
		return fault.New(fault.Throttled, "%s: %s", vendor, msg)
	case http.StatusNotFound:
		return fault.New(fault.NotFound, "%s %s: %s", vendor, r.Request.Path, msg)
	}
	return fault.New(fault.ConnectorServer, "%s %s: HTTP %d: %s", vendor, r.Request.Path, r.Status, msg)
}

// Do sends r until Check accepts the answer, retrying what it marks, and
// returns the accepted answer. Credentials a Check refuses with Reauth
// are renewed once per call.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	var out *Response
	renewed := false
	err := c.cfg.Retry.Do(ctx, func(ctx context.Context, attempt int) error {
		for {
			gen := 0
			res, err := c.roundTrip(ctx, r, attempt, &gen)
			if err != nil {
				return err
			}
			check := r.Check
			if check == nil {
				check = c.cfg.Check
			}
			if check == nil {
				check = StatusCheck(c.plainError)
			}
			err = check(res)
			if err == nil {
				out = res
				return nil
			}
			var re *reauthError
			if errors.As(err, &re) {
				if renewed || r.NoAuth || c.cfg.Auth == nil {
					return re.err
				}
				c.log.Info(c.cfg.Name+": credentials refused, renewing", "status", res.Status)
				renewed = true
				if rerr := c.cfg.Auth.Renew(ctx, gen); rerr != nil {
					if errors.Is(rerr, ErrCannotRenew) {
						return re.err
					}
					return rerr
				}
				continue
			}
			if retry.IsRetryable(err) {
				c.log.Info(c.cfg.Name+": refused, retrying", "method", r.Method, "url", redactURL(c.URL(r)),
					"status", res.Status, "retryAfter", res.Header.Get("Retry-After"), "attempt", attempt)
			}
			return err
		}
	})
	return out, err
}

// plainError is the message of a vendor with no parser: the body's start.
func (c *Client) plainError(r *Response) error {
	e := fault.New(fault.ConnectorServer, "%s responded %d: %s", c.cfg.Name, r.Status, strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)])))
	switch {
	case r.Status == http.StatusUnauthorized:
		e.Code = fault.AuthFailed
	case r.Status == http.StatusForbidden:
		e.Code = fault.AccessDenied
	case r.Status == http.StatusTooManyRequests:
		e.Code = fault.Throttled
	case r.Status == http.StatusNotFound:
		e.Code = fault.NotFound
	}
	return e
}

// roundTrip sends r once and reads the answer; a transport failure is
// retryable when r is idempotent. gen receives the credentials' generation.
func (c *Client) roundTrip(ctx context.Context, r *Request, attempt int, gen *int) (*Response, error) {
	// Credentials first: a first login may name the base URL (Salesforce's
	// instance_url), which the URL is then built on.
	auth := http.Header{}
	if !r.NoAuth && c.cfg.Auth != nil {
		// Method and URL as they stand, for an Auth that signs them (Infor
		// Nexus's HMAC); a login may still change the base after.
		areq := &http.Request{Method: r.Method, Header: auth}
		areq.URL, _ = url.Parse(c.URL(r))
		var err error
		if *gen, err = c.cfg.Auth.Apply(ctx, areq); err != nil {
			return nil, err
		}
	}
	u := c.URL(r)
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, r.Method, u, body)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, redactErr(err), "%s %s", c.cfg.Name, r.Method)
	}
	for k, vs := range c.cfg.Header {
		hr.Header[k] = vs
	}
	if r.Body != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	for k, vs := range r.Header {
		hr.Header[http.CanonicalHeaderKey(k)] = vs
	}
	for k, vs := range auth {
		hr.Header[k] = vs
	}
	start := c.now()
	hres, err := c.http.Do(hr)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(hres.Body)
		hres.Body.Close()
		if err == nil {
			res := &Response{Status: hres.StatusCode, Header: hres.Header, Body: b, Request: r, Date: c.now()}
			c.log.Debug(c.cfg.Name+": request", "method", r.Method, "url", redactURL(u), "status", res.Status,
				"bytes", len(b), "attempt", attempt, "took", res.Date.Sub(start))
			if c.cfg.Observe != nil {
				c.cfg.Observe(res)
			}
			return res, nil
		}
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	err = fault.Wrap(fault.ConnectorServer, redactErr(err), "%s %s %s", c.cfg.Name, r.Method, redactPath(r.Path))
	c.log.Debug(c.cfg.Name+": request failed", "method", r.Method, "url", redactURL(u), "attempt", attempt, "err", err)
	if r.Idempotent {
		return nil, Retry(err, 0)
	}
	return nil, err
}
