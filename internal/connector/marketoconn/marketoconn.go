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
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
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

func init() { httpconn.Register(Type, httpconn.Source|httpconn.Destination, open) }

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

func open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	base, creds, err := httpconn.InstanceProfile[profileCreds](p, "Marketo", "https://<munchkin-id>.mktorest.com")
	if err != nil {
		return nil, err
	}
	if err := httpconn.Need(p, "Marketo", "a clientId and a clientSecret", creds.ClientID, creds.ClientSecret); err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Earliest.IsZero() {
		opts.Earliest = time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	// MK:authentication: the client-credentials grant, the id and secret in
	// a form body rather than the query string; a token says when it
	// expires and is renewed shortly before.
	auth := httpconn.NewOAuth2(httpconn.OAuth2{TokenURL: base + "/identity/oauth/token",
		ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, AccessToken: creds.AccessToken,
		Grant: url.Values{"grant_type": {"client_credentials"}}})
	c := &client{auth: auth, log: log, Client: httpconn.New(deps, httpconn.Config{Name: "Marketo", Base: base, Auth: auth, Retry: opts.Retry, Check: check})}
	return &Driver{c: c, opts: opts, deps: deps}, nil
}

// CheckProfile asks for a new token, then describes leads, a cheap call.
func (d *Driver) CheckProfile(ctx context.Context) error {
	if err := d.c.auth.Login(ctx); err != nil {
		return err
	}
	_, err := d.c.do(ctx, req{method: http.MethodGet, path: "/rest/v1/leads/describe2.json"})
	return err
}

// client speaks HTTP to one Marketo instance.
type client struct {
	*httpconn.Client
	auth *httpconn.OAuth2Auth
	log  *slog.Logger
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

// isRaw says a 2xx answer is a file (a CSV export), not a JSON envelope.
func isRaw(r *httpconn.Response) bool {
	return !strings.Contains(r.Header.Get("Content-Type"), "json") && (len(r.Body) == 0 || r.Body[0] != '{')
}

// check reads Marketo's envelope: errors come in HTTP 200 bodies, 601/602
// (token invalid or expired) fetch a new token once, and classify marks
// what may be retried.
func check(r *httpconn.Response) error { return checkAs(r, false) }

// checkAs is check for a call that may answer a file when raw.
func checkAs(r *httpconn.Response, raw bool) error {
	if r.Status/100 == 2 && raw && isRaw(r) {
		return nil
	}
	var env envelope
	if r.Status/100 != 2 || json.Unmarshal(r.Body, &env) != nil {
		msg := strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)]))
		if r.Status/100 == 2 {
			return fault.New(fault.ConnectorServer, "Marketo %s answered something other than JSON: %s", r.Request.Path, msg)
		}
		return classify(&APIError{Status: r.Status, Message: msg})
	}
	if env.Success != nil && !*env.Success {
		e := &APIError{Status: r.Status, Message: "request failed"}
		if len(env.Errors) > 0 {
			e.Code, e.Message = env.Errors[0].code(), env.Errors[0].Message
		}
		if e.Code == "601" || e.Code == "602" {
			return httpconn.Reauth(classify(e))
		}
		return classify(e)
	}
	return nil
}

// do sends r and returns the envelope's result for JSON answers, the whole
// body for raw ones. Marketo refuses before doing anything, so a call
// whose answer was lost is sent again.
func (c *client) do(ctx context.Context, r req) ([]byte, error) {
	hr := &httpconn.Request{Method: r.method, Path: r.path, Query: r.query, Body: r.body, ContentType: r.contentType, Idempotent: true}
	if r.raw {
		hr.Check = func(res *httpconn.Response) error { return checkAs(res, true) }
	}
	res, err := c.Do(ctx, hr)
	if err != nil {
		return nil, err
	}
	if r.raw {
		return res.Body, nil
	}
	var env envelope
	_ = json.Unmarshal(res.Body, &env) // check decoded it already
	return env.Result, nil
}
