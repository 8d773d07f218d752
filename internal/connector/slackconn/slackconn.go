// Package slackconn is the Slack source (connectors-saas-1 §2): a
// conversation's messages read with conversations.history, the nested
// catalog "conversations" → "conversations/<channel id>" from
// conversations.list, and a profile check with auth.test, over Slack's Web
// API with a user token (or an authorization code exchanged through
// oauth.v2.access).
//
// Choices where AppFlow is silent:
//   - The Web API base is https://slack.com/api; Options.APIURL, else the
//     APPFLOWD_SLACK_API_URL setting read through connector.Deps.Env,
//     overrides it (tests point it at slacktest).
//   - One split per flow: the channel the object names.
//   - Only top-level messages are read; thread replies are not.
//   - ts, thread_ts and latest_reply are emitted as datetimes (millisecond
//     precision), not as Slack's "seconds.microseconds" strings: the engine
//     re-applies filters and the incremental window with datetime
//     comparisons that cannot read those strings.
//   - Filters and the window on ts become one [oldest, latest) range in
//     microseconds, sent with inclusive=true; the driver trims the upper
//     end itself, so Slack's "on or after" never leaks into GREATER_THAN.
//   - Errors are classified on the body's ok/error, never on HTTP status;
//     HTTP 429 with Retry-After (and error "ratelimited") is retried by
//     internal/retry.
package slackconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// Type is the connector type this package registers.
const Type = "Slack"

// DefaultAPIURL is Slack's Web API.
const DefaultAPIURL = "https://slack.com/api"

// Options configure the driver beyond the profile.
type Options struct {
	// APIURL is the Web API base; "": APPFLOWD_SLACK_API_URL, else DefaultAPIURL.
	APIURL string
	// Retry is the backoff for throttled and unavailable responses.
	Retry retry.Policy
	// PageSize is the limit of conversations.history and
	// conversations.list; 0 means 200.
	PageSize int
}

func init() { httpconn.Register(Type, httpconn.Source, Open) }

// Driver is one opened Slack profile.
type Driver struct {
	c        *client
	instance string
	pageSize int
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	props, creds, err := connector.DecodeProfile[httpconn.Instance, httpconn.OAuthCredentials](p, "Slack")
	if err != nil {
		return nil, err
	}
	api := opts.APIURL
	if api == "" && deps.Env != nil {
		api = deps.Env("APPFLOWD_SLACK_API_URL")
	}
	if api == "" {
		api = DefaultAPIURL
	}
	base := strings.TrimRight(api, "/")
	if !creds.Usable() {
		return nil, fault.New(fault.AuthFailed, "the Slack profile %s has no accessToken or oAuthRequest authCode", p.Name)
	}
	// A code is exchanged for a user token (oauth.v2.access, the app's
	// id and secret as HTTP Basic).
	o := creds.OAuth2(base + "/oauth.v2.access")
	o.ClientBasic, o.Decode = true, decodeToken
	o.Saved = httpconn.SaveTokens(p.SaveCredentials, p.Credentials, "")
	c := httpconn.New(deps, httpconn.Config{Name: "Slack", Base: base, Auth: httpconn.NewOAuth2(o), Retry: opts.Retry, Check: check})
	return &Driver{c: &client{c}, instance: props.InstanceURL, pageSize: httpconn.Size(opts.PageSize, 200, 0)}, nil
}

// CheckProfile calls auth.test and checks the token belongs to the
// profile's workspace.
func (d *Driver) CheckProfile(ctx context.Context) error {
	var out struct {
		URL  string `json:"url"`
		Team string `json:"team"`
	}
	if _, err := d.c.call(ctx, http.MethodPost, "auth.test", nil, &out); err != nil {
		return err
	}
	norm := func(s string) string { return strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/")) }
	if d.instance != "" && out.URL != "" && norm(out.URL) != norm(d.instance) {
		return fault.New(fault.Invalid, "the Slack token belongs to workspace %s, but the profile's instanceUrl is %s", out.URL, d.instance)
	}
	return nil
}

// client is the Web API with one user token.
type client struct{ *httpconn.Client }

// APIError is an {"ok":false,"error":...} answer, or an HTTP failure.
type APIError struct {
	Method   string
	Status   int
	Code     string
	Needed   string
	Provided string
}

func (e *APIError) Error() string {
	s := "Slack " + e.Method + ": "
	if e.Code != "" {
		s += e.Code
	} else {
		s += fmt.Sprintf("HTTP %d", e.Status)
	}
	if e.Needed != "" {
		s += fmt.Sprintf(" (needed %s, provided %s)", e.Needed, e.Provided)
	}
	return s
}

func classify(e *APIError) error {
	switch e.Code {
	case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope",
		"invalid_code", "bad_client_secret", "invalid_client_id", "bad_redirect_uri", "no_permission":
		return fault.Wrap(fault.AuthFailed, e, "Slack authentication failed")
	case "ratelimited":
		return fault.Wrap(fault.Throttled, e, "Slack rate limit")
	}
	if e.Status == http.StatusTooManyRequests {
		return fault.Wrap(fault.Throttled, e, "Slack rate limit")
	}
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return fault.Wrap(fault.AuthFailed, e, "Slack authentication failed")
	}
	return fault.Wrap(fault.ConnectorServer, e, "Slack")
}

// envelope is what every Web API answer carries.
type envelope struct {
	OK       *bool  `json:"ok"`
	Error    string `json:"error"`
	Needed   string `json:"needed"`
	Provided string `json:"provided"`
}

// check classifies on the body's ok/error, never on HTTP status alone;
// HTTP 429 and "ratelimited" wait for Retry-After.
func check(r *httpconn.Response) error {
	method := strings.TrimPrefix(r.Request.Path, "/")
	var env envelope
	jerr := json.Unmarshal(r.Body, &env)
	if r.Status != http.StatusOK || jerr == nil && env.OK != nil && !*env.OK {
		e := &APIError{Method: method, Status: r.Status, Code: env.Error, Needed: env.Needed, Provided: env.Provided}
		if retry.Status(r.Status) || e.Code == "ratelimited" {
			return httpconn.Retry(classify(e), r.RetryAfter())
		}
		return classify(e)
	}
	if jerr != nil || env.OK == nil {
		return fault.New(fault.ConnectorServer, "Slack %s answered a body that is not a Web API response: %s", method, httpconn.Excerpt(r.Body))
	}
	return nil
}

// decodeToken reads oauth.v2.access: the user token is authed_user's.
func decodeToken(b []byte) (httpconn.Token, error) {
	var out struct {
		envelope
		AuthedUser struct {
			AccessToken string `json:"access_token"`
		} `json:"authed_user"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.OK == nil {
		return httpconn.Token{}, fault.New(fault.ConnectorServer, "Slack oauth.v2.access answered a body that is not a Web API response: %s", httpconn.Excerpt(b))
	}
	if !*out.OK {
		return httpconn.Token{}, classify(&APIError{Method: "oauth.v2.access", Status: http.StatusOK, Code: out.Error})
	}
	if out.AuthedUser.AccessToken == "" {
		return httpconn.Token{}, fault.New(fault.AuthFailed, "Slack oauth.v2.access returned no user token (authed_user.access_token); ask for user scopes")
	}
	return httpconn.Token{AccessToken: out.AuthedUser.AccessToken}, nil
}

// call invokes a Web API method (GET with a query, POST with a form);
// out receives the body. It returns the body size.
func (c *client) call(ctx context.Context, httpMethod, method string, q url.Values, out any) (int, error) {
	r := &httpconn.Request{Method: httpMethod, Path: "/" + method, Idempotent: true}
	if httpMethod == http.MethodGet {
		r.Query = q
	} else {
		r.Body, r.ContentType = []byte(q.Encode()), "application/x-www-form-urlencoded"
	}
	res, err := c.Do(ctx, r)
	if err != nil {
		return 0, err
	}
	if out != nil {
		if err := json.Unmarshal(res.Body, out); err != nil {
			return 0, fault.Wrap(fault.ConnectorServer, err, "Slack %s: decode response", method)
		}
	}
	return len(res.Body), nil
}

// ---- catalog ----

const objectPrefix = "conversations/"

// ListEntities lists "conversations" at the top, and the workspace's
// conversations under "conversations".
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	switch strings.Trim(path, "/") {
	case "":
		return map[string][]connector.Entity{"Objects": {{Name: "conversations", Label: "Conversations", HasNestedEntities: true}}}, nil
	case "conversations":
	default:
		return nil, fault.New(fault.NotFound, "Slack has no entities under %q; use \"conversations\"", path)
	}
	var out []connector.Entity
	cursor := ""
	for {
		q := url.Values{"types": {"public_channel,private_channel,mpim,im"}, "exclude_archived": {"true"},
			"limit": {strconv.Itoa(min(d.pageSize, 1000))}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Channels []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
				User string `json:"user"`
			} `json:"channels"`
			Meta struct {
				NextCursor string `json:"next_cursor"`
			} `json:"response_metadata"`
		}
		if _, err := d.c.call(ctx, http.MethodGet, "conversations.list", q, &page); err != nil {
			return nil, err
		}
		for _, ch := range page.Channels {
			label := ch.Name
			if label == "" {
				label = ch.User // a DM has no name: label it with the other member
			}
			out = append(out, connector.Entity{Name: objectPrefix + ch.ID, Label: label})
		}
		if page.Meta.NextCursor == "" {
			break
		}
		if page.Meta.NextCursor == cursor {
			return nil, fault.New(fault.ConnectorServer, "Slack conversations.list answered the same next_cursor twice (%.80s)", cursor)
		}
		cursor = page.Meta.NextCursor
	}
	if out == nil {
		out = []connector.Entity{}
	}
	return map[string][]connector.Entity{"Channels": out}, nil
}

var (
	timeOps = []string{"LESS_THAN", "GREATER_THAN", "BETWEEN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN_OR_EQUAL_TO", "EQUAL_TO"}
	strOps  = []string{"EQUAL_TO"}
)

// messageFields are the fields of a Slack message, in output order.
var messageFields = []connector.EntityField{
	{Name: "type", Label: "Type", Type: "string", FilterOperators: strOps},
	{Name: "subtype", Label: "Subtype", Type: "string", FilterOperators: strOps},
	{Name: "ts", Label: "Timestamp", Type: "datetime", IsPrimaryKey: true, FilterOperators: timeOps, IsTimestampForIncremental: true},
	{Name: "user", Label: "User", Type: "string", FilterOperators: strOps},
	{Name: "bot_id", Label: "Bot ID", Type: "string", FilterOperators: strOps},
	{Name: "text", Label: "Text", Type: "string", FilterOperators: strOps},
	{Name: "thread_ts", Label: "Thread timestamp", Type: "datetime", FilterOperators: timeOps},
	{Name: "reply_count", Label: "Reply count", Type: "integer", FilterOperators: timeOps},
	{Name: "reply_users_count", Label: "Reply users count", Type: "integer", FilterOperators: timeOps},
	{Name: "latest_reply", Label: "Latest reply", Type: "datetime"},
	{Name: "reactions", Label: "Reactions", Type: "array"},
	{Name: "attachments", Label: "Attachments", Type: "array"},
	{Name: "blocks", Label: "Blocks", Type: "array"},
	{Name: "files", Label: "Files", Type: "array"},
	{Name: "edited", Label: "Edited", Type: "struct"},
	{Name: "client_msg_id", Label: "Client message ID", Type: "string", FilterOperators: strOps},
	{Name: "team", Label: "Team", Type: "string", FilterOperators: strOps},
}

var timeFields = map[string]bool{"ts": true, "thread_ts": true, "latest_reply": true}

// DescribeEntity returns the message fields of a conversation.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	if name != "conversations" && !strings.HasPrefix(name, objectPrefix) {
		return nil, fault.New(fault.NotFound, "Slack has no entity %q; entities are conversations/<channel id>", name)
	}
	return httpconn.Described(messageFields), nil
}

// ---- source ----

type split struct{ channel string }

// Splits returns the one channel the object names.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	id, ok := strings.CutPrefix(req.Object, objectPrefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return nil, fault.New(fault.Invalid, "Slack object %q is not conversations/<channel id>", req.Object)
	}
	return []connector.Split{{Name: req.Object, Opaque: split{id}}}, nil
}

// tsRange is [lo, hi) in microseconds; hi == math.MaxInt64 means none.
type tsRange struct{ lo, hi int64 }

// rangeOf folds the window and the pushable ts filters into one range that
// holds every record the engine would keep (it compares milliseconds).
func rangeOf(req *connector.ReadRequest) tsRange {
	r := tsRange{lo: 0, hi: math.MaxInt64}
	raise := func(us int64) { r.lo = max(r.lo, us) }
	lower := func(us int64) { r.hi = min(r.hi, us) }
	if w := req.Window; w != nil && w.Field == "ts" {
		raise(w.Start.UnixMicro())
		lower(w.End.UnixMicro())
	}
	for _, f := range req.Filters {
		if f.Field != "ts" || len(f.Values) == 0 {
			continue
		}
		var ms []int64
		for _, v := range f.Values {
			m, ok := httpconn.ParseMillis(v)
			if !ok {
				ms = nil
				break
			}
			ms = append(ms, m)
		}
		if len(ms) == 0 {
			continue
		}
		lo, hi := ms[0], ms[0]
		for _, m := range ms {
			lo, hi = min(lo, m), max(hi, m)
		}
		const msUS = 1000
		switch f.Operator {
		case "GREATER_THAN": // floor_ms(ts) > v  <=>  ts >= v+1ms
			raise((lo + 1) * msUS)
		case "GREATER_THAN_OR_EQUAL_TO":
			raise(lo * msUS)
		case "LESS_THAN":
			lower(hi * msUS)
		case "LESS_THAN_OR_EQUAL_TO":
			lower((hi + 1) * msUS)
		case "BETWEEN":
			if len(f.Values) == 2 {
				raise(ms[0] * msUS)
				lower((ms[1] + 1) * msUS)
			}
		}
	}
	return r
}

func formatTS(us int64) string { return fmt.Sprintf("%d.%06d", us/1000000, us%1000000) }

func parseTS(s string) (int64, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	if len(frac) > 6 || sec == "" {
		return 0, false
	}
	frac += strings.Repeat("0", 6-len(frac))
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || a < 0 {
		return 0, false
	}
	return a*1000000 + b, true
}

// ReadSplit pages through conversations.history of the channel.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	sp, ok := s.Opaque.(split)
	if !ok {
		return fault.New(fault.Internal, "Slack split %s was not made by this driver", s.Name)
	}
	fields := req.Fields
	if fields == nil {
		for _, f := range messageFields {
			fields = append(fields, f.Name)
		}
	}
	rg := rangeOf(req)
	if rg.lo >= rg.hi {
		return emit(&record.Batch{Fields: fields, Split: s.Name, FirstLine: 1, Final: true})
	}
	q := url.Values{"channel": {sp.channel}, "limit": {strconv.Itoa(min(d.pageSize, 999))}}
	if rg.lo > 0 {
		q.Set("oldest", formatTS(rg.lo))
	}
	if rg.hi != math.MaxInt64 {
		q.Set("latest", formatTS(rg.hi))
	}
	if rg.lo > 0 || rg.hi != math.MaxInt64 {
		q.Set("inclusive", "true") // the upper end is trimmed below
	}
	line := int64(1)
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Messages *[]map[string]json.RawMessage `json:"messages"`
			HasMore  bool                          `json:"has_more"`
			Meta     struct {
				NextCursor string `json:"next_cursor"`
			} `json:"response_metadata"`
		}
		n, err := d.c.call(ctx, http.MethodGet, "conversations.history", q, &page)
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && (ae.Code == "channel_not_found" || ae.Code == "not_in_channel") {
				return fault.Wrap(fault.ConnectorServer, err, "read %s (channel %s): the authorising user cannot read it", s.Name, sp.channel)
			}
			return fmt.Errorf("read %s: %w", s.Name, err)
		}
		if page.Messages == nil {
			return fault.New(fault.ConnectorServer, "read %s: conversations.history answered no messages", s.Name)
		}
		msgs := *page.Messages
		if page.Meta.NextCursor != "" && page.Meta.NextCursor == cursor {
			return fault.New(fault.ConnectorServer, "read %s: conversations.history answered the same next_cursor twice (%.80s)", s.Name, cursor)
		}
		b := &record.Batch{Fields: fields, Split: s.Name, FirstLine: line, SourceBytes: int64(n)}
		b.Cells = make([]record.Value, 0, len(fields)*len(msgs))
		for i, m := range msgs {
			var tsRaw string
			if raw, ok := m["ts"]; ok {
				_ = json.Unmarshal(raw, &tsRaw)
			}
			us, ok := parseTS(tsRaw)
			if !ok {
				return fault.New(fault.ConnectorServer, "read %s: message %d has no valid ts (%s)", s.Name, line+int64(i), httpconn.Excerpt(m["ts"]))
			}
			if us < rg.lo || us >= rg.hi {
				continue
			}
			for _, f := range fields {
				b.Cells = append(b.Cells, value(f, m[f]))
			}
		}
		line += int64(len(msgs))
		b.Final = page.Meta.NextCursor == ""
		if err := emit(b); err != nil {
			return err
		}
		if b.Final {
			return nil
		}
		cursor = page.Meta.NextCursor
	}
}

// value converts one message field.
func value(field string, raw json.RawMessage) record.Value {
	v := httpconn.Value(raw)
	if v.K == record.String && timeFields[field] {
		if us, ok := parseTS(v.S); ok {
			return record.MillisVal(us / 1000)
		}
	}
	return v
}
