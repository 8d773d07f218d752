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
//     first); UPSERT matches on external_id only: organizations through
//     create_or_update (one per call), tickets and users by looking up
//     then updating or creating (users' create_or_update_many would also
//     match on email). A record an UPDATE cannot match is a failure.
//     DELETE is refused.
//   - New tokens (an exchanged oAuthRequest code, a refreshed token) are
//     handed to Profile.SaveCredentials; the refresh token is kept in the
//     stored credentials under refreshToken, which the model lacks.
//
// Its tests run against the documented-API fake in package zdtest.
package zendeskconn

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
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

func init() { httpconn.Register(Type, httpconn.Source|httpconn.Destination, open) }

// Driver is one opened Zendesk profile.
type Driver struct {
	c    *httpconn.Client
	opts Options
	deps connector.Deps
}

func open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	props, creds, err := connector.DecodeProfile[httpconn.Instance, httpconn.OAuthCredentials](p, "Zendesk")
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(props.InstanceURL, "/")
	if base == "" {
		return nil, fault.New(fault.Invalid, "the Zendesk profile %s has no instanceUrl", p.Name)
	}
	if u, err := url.Parse(base); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fault.New(fault.Invalid, "the Zendesk instanceUrl %q is not an http(s) URL such as https://<subdomain>.zendesk.com", props.InstanceURL)
	}
	if !creds.Usable() {
		return nil, fault.New(fault.AuthFailed, "the Zendesk profile %s has neither an accessToken nor an oAuthRequest with an authCode", p.Name)
	}
	o := creds.OAuth2(base + "/oauth/tokens") // ZD grant_type_tokens
	o.JSON, o.CodeParams = true, map[string]string{"scope": "read write"}
	o.Saved = httpconn.SaveTokens(p.SaveCredentials, p.Credentials, "")
	c := httpconn.New(deps, httpconn.Config{Name: "Zendesk", Base: base, Retry: opts.Retry,
		Auth:   httpconn.NewOAuth2(o),
		Header: http.Header{"Accept": {"application/json"}},
		Check:  check})
	return &Driver{c: c, opts: opts, deps: deps}, nil
}

// CheckProfile reads the authenticated user, the cheapest authenticated call.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: "/api/v2/users/me.json", Idempotent: true})
	return err
}

// APIError is a Zendesk error answer: {"error", "description", "details"},
// or OAuth's {"error", "error_description"}; plain-text bodies (a 429) as is.
type APIError = httpconn.Error

func parseAPIError(status int, body []byte) *APIError {
	return httpconn.ParseError("Zendesk", status, body, func(body []byte, e *APIError) bool {
		var v struct {
			Error            json.RawMessage `json:"error"`
			Description      string          `json:"description"`
			ErrorDescription string          `json:"error_description"`
			Details          json.RawMessage `json:"details"`
		}
		if json.Unmarshal(body, &v) != nil || len(v.Error) == 0 {
			return false
		}
		if json.Unmarshal(v.Error, &e.Code) != nil {
			// {"error":{"title":..., "message":...}} on some endpoints.
			var o struct{ Title, Message string }
			_ = json.Unmarshal(v.Error, &o)
			e.Code, e.Message = o.Title, o.Message
		}
		if v.Description != "" {
			e.Message = v.Description
		} else if v.ErrorDescription != "" {
			e.Message = v.ErrorDescription
		}
		e.Detail = detailsText(v.Details)
		return true
	})
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

// refusal reads a refused answer; an OAuth error code is an
// authentication failure whatever the status.
func refusal(r *httpconn.Response) error {
	e := parseAPIError(r.Status, r.Body)
	if e.Code == "invalid_grant" || e.Code == "invalid_client" || e.Code == "invalid_token" {
		return fault.Wrap(fault.AuthFailed, e, "Zendesk authentication failed")
	}
	return fault.Wrap(httpconn.StatusCode(e.Status), e, "Zendesk")
}

// check retries 429 and 5xx (Zendesk refuses before doing anything) and
// renews a refused token once.
var check = httpconn.StatusCheck(refusal, http.StatusInternalServerError)

// getJSON GETs path and decodes the answer into v.
func getJSON(ctx context.Context, c *httpconn.Client, path string, q url.Values, v any) error {
	res, err := c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: path, Query: q, Idempotent: true})
	if err != nil {
		return err
	}
	return decodeJSON(res.Body, v, path)
}

func decodeJSON(b []byte, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "decode the Zendesk %s response", what)
	}
	return nil
}
