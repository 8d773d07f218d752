// Package slacktest is a documented-API stand-in for a Slack workspace's Web
// API (connectors-saas-1 §2.3): oauth.v2.access, auth.test,
// conversations.list and conversations.history with cursor paging, the
// HTTP 200 {"ok":false,"error":...} error bodies, and HTTP 429 with
// Retry-After when a history rate limit is set.
package slacktest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/fakeapi"
)

// Credentials the workspace accepts.
const (
	ClientID       = "cid"
	ClientSecret   = "secret"
	UserToken      = "xoxp-1"       // every scope AppFlow asks for
	ScopelessToken = "xoxp-noscope" // only "identify"
	GoodCode       = "good"         // an authorization code oauth.v2.access exchanges for UserToken
)

// Channel is one conversation.
type Channel struct {
	ID, Name  string
	Type      string // public_channel, private_channel, mpim, im
	User      string // the other member, for an im
	Archived  bool
	malformed bool
	messages  []map[string]any
}

// Malformed makes conversations.history of the channel answer a body that
// is not JSON.
func (c *Channel) Malformed() { c.malformed = true }

// Workspace is a running stand-in.
type Workspace struct {
	srv   *fakeapi.Server
	calls fakeapi.Counter
	// WorkspaceURL is what auth.test reports as url.
	WorkspaceURL string

	mu       sync.Mutex
	channels []*Channel
	nextTS   int64 // microseconds
	queries  fakeapi.Log
	// history rate limit: at most limitN calls per limitPer; 0: none.
	limitN     int
	limitPer   time.Duration
	limitCalls []time.Time
	limitRetry int
	now        func() time.Time
}

// New starts a workspace, closed when t ends.
func New(t testing.TB) *Workspace {
	w := &Workspace{WorkspaceURL: "https://acme.slack.com/", nextTS: 1704067200 * 1000000, now: time.Now}
	w.srv = fakeapi.StartFunc(t, w.serve)
	return w
}

// URL is the Web API base, as https://slack.com/api is for Slack.
func (w *Workspace) URL() string { return w.srv.URL() + "/api" }

// Client is an HTTP client for the workspace.
func (w *Workspace) Client() *http.Client { return w.srv.Client() }

// AddChannel adds a conversation.
func (w *Workspace) AddChannel(id, name, typ string) *Channel {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := &Channel{ID: id, Name: name, Type: typ}
	w.channels = append(w.channels, c)
	return c
}

// Post adds a message to a channel; a message without "ts" gets the next
// one (100 µs apart from 1704067200.000000). It returns the ts.
func (w *Workspace) Post(channel string, msg map[string]any) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.find(channel)
	if c == nil {
		panic("slacktest: no channel " + channel)
	}
	m := map[string]any{}
	for k, v := range msg {
		m[k] = v
	}
	if _, ok := m["ts"]; !ok {
		m["ts"] = FormatTS(w.nextTS)
		w.nextTS += 100
	}
	c.messages = append(c.messages, m)
	return m["ts"].(string)
}

// LimitHistory answers conversations.history with HTTP 429, Retry-After:
// retryAfter seconds and {"ok":false,"error":"ratelimited"} once n calls
// were made within per.
func (w *Workspace) LimitHistory(n int, per time.Duration, retryAfter int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.limitN, w.limitPer, w.limitRetry = n, per, retryAfter
}

// Calls counts the calls of a method.
func (w *Workspace) Calls(method string) int { return w.calls.Get(method) }

// Queries lists the query strings of every conversations.history call.
func (w *Workspace) Queries() []string { return w.queries.Lines() }

// FormatTS renders microseconds since the epoch as a Slack ts.
func FormatTS(us int64) string { return fmt.Sprintf("%d.%06d", us/1000000, us%1000000) }

// ParseTS reads a Slack ts ("1704067200.000100") as microseconds.
func ParseTS(s string) (int64, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	if len(frac) > 6 {
		return 0, false
	}
	frac += strings.Repeat("0", 6-len(frac))
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return a*1000000 + b, true
}

func (w *Workspace) find(id string) *Channel {
	for _, c := range w.channels {
		if c.ID == id {
			return c
		}
	}
	return nil
}

var write = fakeapi.JSONAs("application/json; charset=utf-8")

func fail(rw http.ResponseWriter, code string, extra ...string) {
	body := map[string]any{"ok": false, "error": code}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	write(rw, http.StatusOK, body)
}

func cursor(off int) string {
	return base64.StdEncoding.EncodeToString([]byte("off:" + strconv.Itoa(off)))
}

func uncursor(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), "off:") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "off:"))
	return n, err == nil && n >= 0
}

func limitOf(s string, def, maxN int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return def
	}
	return min(n, maxN)
}

func (w *Workspace) serve(rw http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		http.NotFound(rw, r)
		return
	}
	_ = r.ParseForm()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls.Inc(method)
	if method == "oauth.v2.access" {
		w.oauth(rw, r)
		return
	}
	token, _ := fakeapi.Bearer(r)
	if token == "" {
		token = r.Form.Get("token")
	}
	switch token {
	case "":
		fail(rw, "not_authed")
		return
	case UserToken, ScopelessToken:
	default:
		fail(rw, "invalid_auth")
		return
	}
	switch method {
	case "auth.test":
		write(rw, http.StatusOK, map[string]any{"ok": true, "url": w.WorkspaceURL, "team": "acme", "user": "u", "team_id": "T1", "user_id": "U1"})
	case "conversations.list":
		if token == ScopelessToken {
			fail(rw, "missing_scope", "needed", "channels:read", "provided", "identify")
			return
		}
		w.list(rw, r)
	case "conversations.history":
		if token == ScopelessToken {
			fail(rw, "missing_scope", "needed", "channels:history", "provided", "identify")
			return
		}
		w.queries.Add(r.URL.RawQuery)
		if w.limitN > 0 {
			now := w.now()
			keep := w.limitCalls[:0]
			for _, t := range w.limitCalls {
				if now.Sub(t) < w.limitPer {
					keep = append(keep, t)
				}
			}
			w.limitCalls = keep
			if len(keep) >= w.limitN {
				rw.Header().Set("Retry-After", strconv.Itoa(w.limitRetry))
				write(rw, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
				return
			}
			w.limitCalls = append(w.limitCalls, now)
		}
		w.history(rw, r)
	default:
		fail(rw, "unknown_method")
	}
}

func (w *Workspace) oauth(rw http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
	}
	switch {
	case id != ClientID:
		fail(rw, "invalid_client_id")
	case secret != ClientSecret:
		fail(rw, "bad_client_secret")
	case r.Form.Get("code") != GoodCode:
		fail(rw, "invalid_code")
	default:
		write(rw, http.StatusOK, map[string]any{"ok": true, "app_id": "A1",
			"authed_user": map[string]any{"id": "U1", "scope": "channels:history,channels:read,groups:history,groups:read,im:history,im:read,mpim:history,mpim:read",
				"access_token": UserToken, "token_type": "user"},
			"team": map[string]any{"id": "T1", "name": "acme"}, "token_type": "bot", "scope": ""})
	}
}

func (w *Workspace) list(rw http.ResponseWriter, r *http.Request) {
	types := map[string]bool{}
	for _, t := range strings.Split(r.Form.Get("types"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			types[t] = true
		}
	}
	if len(types) == 0 {
		types["public_channel"] = true
	}
	exclude := r.Form.Get("exclude_archived") == "true" || r.Form.Get("exclude_archived") == "1"
	var match []*Channel
	for _, c := range w.channels {
		if types[c.Type] && !(exclude && c.Archived) {
			match = append(match, c)
		}
	}
	off, ok := uncursor(r.Form.Get("cursor"))
	if !ok {
		fail(rw, "invalid_cursor")
		return
	}
	limit := limitOf(r.Form.Get("limit"), 100, 1000)
	end := min(off+limit, len(match))
	chans := []map[string]any{}
	for _, c := range match[min(off, len(match)):end] {
		ch := map[string]any{"id": c.ID, "is_channel": c.Type == "public_channel" || c.Type == "private_channel",
			"is_private": c.Type != "public_channel", "is_im": c.Type == "im", "is_mpim": c.Type == "mpim", "is_archived": c.Archived}
		if c.Type == "im" {
			ch["user"] = c.User
		} else {
			ch["name"] = c.Name
		}
		chans = append(chans, ch)
	}
	next := ""
	if end < len(match) {
		next = cursor(end)
	}
	write(rw, http.StatusOK, map[string]any{"ok": true, "channels": chans, "response_metadata": map[string]any{"next_cursor": next}})
}

func (w *Workspace) history(rw http.ResponseWriter, r *http.Request) {
	c := w.find(r.Form.Get("channel"))
	if c == nil {
		fail(rw, "channel_not_found")
		return
	}
	if c.malformed {
		fakeapi.WriteRawJSON(rw, http.StatusOK, `{"ok":true,"messages":[{"ts":`)
		return
	}
	inclusive := r.Form.Get("inclusive") == "true" || r.Form.Get("inclusive") == "1"
	var oldest, latest int64 = 0, 1 << 62
	hasOldest, hasLatest := false, false
	if s := r.Form.Get("oldest"); s != "" {
		v, ok := ParseTS(s)
		if !ok {
			fail(rw, "invalid_ts_oldest")
			return
		}
		oldest, hasOldest = v, true
	}
	if s := r.Form.Get("latest"); s != "" {
		v, ok := ParseTS(s)
		if !ok {
			fail(rw, "invalid_ts_latest")
			return
		}
		latest, hasLatest = v, true
	}
	type tm struct {
		us int64
		m  map[string]any
	}
	var match []tm
	for _, m := range c.messages {
		ts, _ := m["ts"].(string)
		us, _ := ParseTS(ts)
		if hasOldest && (us < oldest || us == oldest && !inclusive) {
			continue
		}
		if hasLatest && (us > latest || us == latest && !inclusive) {
			continue
		}
		match = append(match, tm{us, m})
	}
	sort.SliceStable(match, func(i, j int) bool { return match[i].us > match[j].us }) // newest first
	off, ok := uncursor(r.Form.Get("cursor"))
	if !ok {
		fail(rw, "invalid_cursor")
		return
	}
	limit := limitOf(r.Form.Get("limit"), 100, 999)
	end := min(off+limit, len(match))
	msgs := []map[string]any{}
	for _, x := range match[min(off, len(match)):end] {
		msgs = append(msgs, x.m)
	}
	next := ""
	if end < len(match) {
		next = cursor(end)
	}
	write(rw, http.StatusOK, map[string]any{"ok": true, "messages": msgs, "has_more": next != "", "pin_count": 0,
		"response_metadata": map[string]any{"next_cursor": next}})
}
