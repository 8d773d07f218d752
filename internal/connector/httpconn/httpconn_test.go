package httpconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/retry"
)

// sleeps records the waits of a retry policy instead of sleeping.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) policy() retry.Policy {
	return retry.Policy{Attempts: 5, Jitter: func() float64 { return 0 }, Sleep: func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		s.waits = append(s.waits, d)
		s.mu.Unlock()
		return ctx.Err()
	}}
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func newClient(t *testing.T, srv *httptest.Server, cfg Config) *Client {
	t.Helper()
	cfg.Base = srv.URL
	return New(connector.Deps{HTTPClient: srv.Client()}, cfg)
}

func get(path string) *Request { return &Request{Method: http.MethodGet, Path: path, Idempotent: true} }

// Refusals the server marks transient are retried, waiting what
// Retry-After asks in seconds or as an HTTP date; others fail at once
// with the vendor's parsed message and fault code.
func TestRetryAndRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case r.URL.Path == "/bad":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"message":"field Foo is unknown"}`)
		case n == 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case n == 2:
			w.Header().Set("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
		case n == 3:
			w.WriteHeader(http.StatusBadGateway)
		default:
			fmt.Fprint(w, `{"ok":true}`)
		}
	}))
	defer srv.Close()
	var sl sleeps
	vendorErr := func(r *Response) error {
		var b struct{ Message string }
		_ = json.Unmarshal(r.Body, &b)
		code := fault.ConnectorServer
		if r.Status == http.StatusBadRequest {
			code = fault.Invalid
		}
		return fault.New(code, "Acme responded %d: %s", r.Status, b.Message)
	}
	c := New(connector.Deps{HTTPClient: srv.Client(), Now: func() time.Time { return now }},
		Config{Name: "Acme", Base: srv.URL, Check: StatusCheck(vendorErr), Retry: sl.policy()})
	res, err := c.Do(context.Background(), get("/ok"))
	if err != nil || string(res.Body) != `{"ok":true}` {
		t.Fatalf("Do = %v, %v; want the 200 after three refusals", res, err)
	}
	want := []time.Duration{7 * time.Second, 90 * time.Second, 0}
	if got := sl.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits = %v, want %v (Retry-After seconds, Retry-After date, backoff)", got, want)
	}
	calls.Store(10)
	_, err = c.Do(context.Background(), get("/bad"))
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "field Foo is unknown") || calls.Load() != 11 {
		t.Errorf("400: got %v after %d calls, want the vendor's Invalid message after one", err, calls.Load()-10)
	}
}

// A 60 s rate-limit reset is waited when the run's deadline allows it, and
// refused at once, clearly and without sleeping, when it does not.
func TestRateLimitWaitBoundedByDeadline(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 1 {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()
	var sl sleeps
	c := newClient(t, srv, Config{Name: "Acme", Retry: sl.policy()})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.Do(ctx, get("/")); err != nil || fmt.Sprint(sl.got()) != "[1m0s]" {
		t.Fatalf("deadline in 10m: Do = %v, waits %v; want success after waiting 1m", err, sl.got())
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	_, err := c.Do(ctx2, get("/"))
	var we *retry.WaitError
	if !errors.As(err, &we) || !fault.Is(err, fault.Throttled) || len(sl.got()) != 1 {
		t.Fatalf("deadline in 20s: Do = %v, waits %v; want a Throttled WaitError and no new sleep", err, sl.got())
	}
	if we.Wait != time.Minute || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("WaitError %q: want it to say the 1m wait does not fit the deadline", err)
	}
}

// A transport failure is retried only for idempotent requests: a POST
// whose outcome is unknown must not be sent twice.
func TestTransportFailureRetriedOnlyWhenIdempotent(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close() // the connection drops before an answer
			return
		}
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()
	var sl sleeps
	c := newClient(t, srv, Config{Name: "Acme", Retry: sl.policy()})
	if _, err := c.Do(context.Background(), get("/")); err != nil || calls.Load() != 2 {
		t.Errorf("idempotent GET: %v after %d calls, want success after 2", err, calls.Load())
	}
	calls.Store(0)
	_, err := c.Do(context.Background(), &Request{Method: http.MethodPost, Path: "/", Body: []byte(`{}`)})
	if !fault.Is(err, fault.ConnectorServer) || calls.Load() != 1 {
		t.Errorf("POST: %v after %d calls, want a ConnectorServer error after 1", err, calls.Load())
	}
}

// tokenServer is an OAuth 2.0 resource and token server (RFC 6749): the
// API accepts only the current access token; /token exchanges a code or a
// refresh token for a new one. release, when set, holds token requests
// until the test closes it.
type tokenServer struct {
	*httptest.Server
	mu        sync.Mutex
	current   string
	refreshes int
	forms     []url.Values
	basic     []string
	refuseAll bool // the API refuses every token, renewed or not
	release   chan struct{}
	arrived   chan struct{}
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{current: "at-1"}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			_ = r.ParseForm()
			if ts.arrived != nil {
				ts.arrived <- struct{}{}
			}
			if ts.release != nil {
				<-ts.release
			}
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.forms = append(ts.forms, r.PostForm)
			ts.basic = append(ts.basic, r.Header.Get("Authorization"))
			switch r.PostForm.Get("grant_type") {
			case "refresh_token":
				if r.PostForm.Get("refresh_token") != "rt-secret" {
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprint(w, `{"error":"invalid_grant","error_description":"expired refresh token"}`)
					return
				}
			case "authorization_code":
				if r.PostForm.Get("code") != "code-secret" {
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprint(w, `{"error":"invalid_grant"}`)
					return
				}
			}
			ts.refreshes++
			ts.current = "at-" + strconv.Itoa(ts.refreshes+1)
			fmt.Fprintf(w, `{"access_token":%q,"refresh_token":"rt-secret","token_type":"Bearer","expires_in":3600}`, ts.current)
			return
		}
		ts.mu.Lock()
		ok := !ts.refuseAll && r.Header.Get("Authorization") == "Bearer "+ts.current
		ts.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_token"}`)
			return
		}
		fmt.Fprint(w, `{"data":1}`)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// Concurrent requests refused together renew the token once; each
// resends with the new token, and the new tokens are saved into the
// profile's credentials, the used-up code dropped and other keys kept.
func TestRefreshIsSingleFlight(t *testing.T) {
	ts := newTokenServer(t)
	ts.current = "at-fresh" // the profile's token is stale
	ts.release = make(chan struct{})
	ts.arrived = make(chan struct{}, 10)
	var saved []json.RawMessage
	var smu sync.Mutex
	save := func(_ context.Context, b json.RawMessage) error {
		smu.Lock()
		saved = append(saved, b)
		smu.Unlock()
		return nil
	}
	creds := json.RawMessage(`{"oAuth2Credentials":{"clientId":"cid","accessToken":"at-stale","refreshToken":"rt-secret","oAuthRequest":{"authCode":"old"}},"other":"kept"}`)
	auth := NewOAuth2(OAuth2{TokenURL: ts.URL + "/token", ClientID: "cid", ClientSecret: "cs-secret",
		AccessToken: "at-stale", RefreshToken: "rt-secret", Saved: SaveTokens(save, creds, "oAuth2Credentials")})
	var sl sleeps
	c := newClient(t, ts.Server, Config{Name: "Acme", Auth: auth, Retry: sl.policy()})

	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.Do(context.Background(), get("/data"))
			errs <- err
		}()
	}
	<-ts.arrived // one request is renewing; the others queue behind it
	close(ts.release)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Do = %v, want success after the refresh", err)
		}
	}
	if ts.refreshes != 1 || len(ts.forms) != 1 {
		t.Fatalf("token requests = %d, want 1 for %d concurrent refusals", len(ts.forms), n)
	}
	f := ts.forms[0]
	if f.Get("grant_type") != "refresh_token" || f.Get("client_id") != "cid" || f.Get("client_secret") != "cs-secret" {
		t.Errorf("token request form = %v, want a refresh_token grant with the client's id and secret", f)
	}
	if len(saved) != 1 {
		t.Fatalf("saved %d times, want 1", len(saved))
	}
	var got struct {
		O     map[string]any `json:"oAuth2Credentials"`
		Other string         `json:"other"`
	}
	_ = json.Unmarshal(saved[0], &got)
	if got.O["accessToken"] != "at-2" || got.O["refreshToken"] != "rt-secret" || got.O["clientId"] != "cid" || got.O["oAuthRequest"] != nil || got.Other != "kept" {
		t.Errorf("saved credentials = %s, want the new token under oAuth2Credentials, oAuthRequest gone, the rest kept", saved[0])
	}
}

// A code is exchanged before the first request (client as HTTP Basic when
// asked); a token refused again right after a renewal is final, with the
// vendor's error, and renewed only once.
func TestCodeExchangeAndReauthOnce(t *testing.T) {
	ts := newTokenServer(t)
	var sl sleeps
	auth := NewOAuth2(OAuth2{TokenURL: ts.URL + "/token", ClientID: "cid", ClientSecret: "cs-secret", ClientBasic: true,
		Code: "code-secret", RedirectURI: "https://app/cb"})
	c := newClient(t, ts.Server, Config{Name: "Acme", Auth: auth, Retry: sl.policy()})
	if _, err := c.Do(context.Background(), get("/data")); err != nil {
		t.Fatalf("Do after a code exchange = %v", err)
	}
	if f := ts.forms[0]; f.Get("grant_type") != "authorization_code" || f.Get("redirect_uri") != "https://app/cb" || f.Get("client_secret") != "" {
		t.Errorf("exchange form = %v, want authorization_code with redirect_uri and no secret in the body", f)
	}
	if u, p, ok := (&http.Request{Header: http.Header{"Authorization": {ts.basic[0]}}}).BasicAuth(); !ok || u != "cid" || p != "cs-secret" {
		t.Errorf("exchange Authorization = %q, want Basic cid:cs-secret", ts.basic[0])
	}

	// The server now refuses every token: one renewal, then the refusal.
	ts.mu.Lock()
	ts.refuseAll = true
	ts.mu.Unlock()
	before := len(ts.forms)
	_, err := c.Do(context.Background(), get("/data"))
	if !fault.Is(err, fault.AuthFailed) || len(ts.forms) != before+1 {
		t.Errorf("Do = %v after %d token requests, want AuthFailed after exactly 1", err, len(ts.forms)-before)
	}

	// A token without a way to renew it: the vendor's 401 is the answer.
	c2 := newClient(t, ts.Server, Config{Name: "Acme", Auth: NewOAuth2(OAuth2{TokenURL: ts.URL + "/token", AccessToken: "old"}), Retry: sl.policy()})
	before = len(ts.forms)
	_, err = c2.Do(context.Background(), get("/data"))
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "invalid_token") || len(ts.forms) != before {
		t.Errorf("no refresh token: Do = %v, %d token requests; want the 401 body, none", err, len(ts.forms)-before)
	}

	// A refused refresh token fails with the token endpoint's error.
	c3 := newClient(t, ts.Server, Config{Name: "Acme", Auth: NewOAuth2(OAuth2{TokenURL: ts.URL + "/token", RefreshToken: "rt-wrong"}), Retry: sl.policy()})
	_, err = c3.Do(context.Background(), get("/data"))
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "expired refresh token") {
		t.Errorf("bad refresh token: Do = %v, want AuthFailed with the endpoint's error_description", err)
	}
}

// A first login may name the base URL (an instance_url): the request that
// logged in goes there.
func TestBaseLearntAtLogin(t *testing.T) {
	ts := newTokenServer(t)
	var c *Client
	auth := NewOAuth2(OAuth2{TokenURL: ts.URL + "/token", RefreshToken: "rt-secret",
		Saved: func(context.Context, Token) error { c.SetBase(ts.URL); return nil }})
	c = New(connector.Deps{HTTPClient: ts.Client()}, Config{Name: "Acme", Auth: auth})
	if _, err := c.Do(context.Background(), get("/data")); err != nil {
		t.Fatalf("Do with the base learnt at login = %v", err)
	}
}

// A token that says when it expires is renewed before it does, on the
// client's clock, without a refusal first.
func TestTokenExpiry(t *testing.T) {
	ts := newTokenServer(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := New(connector.Deps{HTTPClient: ts.Client(), Now: clock}, Config{Name: "Acme", Base: ts.URL,
		Auth: NewOAuth2(OAuth2{TokenURL: ts.URL + "/token", ClientID: "cid", ClientSecret: "cs", Grant: url.Values{"grant_type": {"client_credentials"}}})})
	for range 2 {
		if _, err := c.Do(context.Background(), get("/data")); err != nil {
			t.Fatal(err)
		}
	}
	if len(ts.forms) != 1 || ts.forms[0].Get("grant_type") != "client_credentials" {
		t.Fatalf("token requests = %v, want one client_credentials grant", ts.forms)
	}
	mu.Lock()
	now = now.Add(3580 * time.Second) // inside the 30 s before expires_in=3600
	mu.Unlock()
	if _, err := c.Do(context.Background(), get("/data")); err != nil {
		t.Fatal(err)
	}
	if len(ts.forms) != 2 {
		t.Errorf("token requests = %d, want a second one as the token nears expiry", len(ts.forms))
	}
}

// Fixed credentials go where the vendor wants them.
func TestFixedAuth(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	for _, c := range []struct {
		auth       Auth
		name, want string
	}{
		{Header("Authorization", "Api-Token dt0c01.x"), "Authorization", "Api-Token dt0c01.x"},
		{Headers(http.Header{"Dd-Api-Key": {"k1"}, "Dd-Application-Key": {"k2"}}), "DD-APPLICATION-KEY", "k2"},
		{Basic("u", "p"), "Authorization", "Basic dTpw"},
		{Bearer("t"), "Authorization", "Bearer t"},
	} {
		cl := newClient(t, srv, Config{Auth: c.auth})
		if _, err := cl.Do(context.Background(), get("/")); err != nil || got.Get(c.name) != c.want {
			t.Errorf("%s = %q (%v), want %q", c.name, got.Get(c.name), err, c.want)
		}
	}
}

// The process's HTTP client is the one used.
func TestUsesDepsHTTPClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var used atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return srv.Client().Transport.RoundTrip(r)
	})}
	c := New(connector.Deps{HTTPClient: hc}, Config{Base: srv.URL})
	if _, err := c.Do(context.Background(), get("/")); err != nil || used.Load() != 1 {
		t.Errorf("Do = %v with %d requests through Deps.HTTPClient, want 1", err, used.Load())
	}
	if New(connector.Deps{}, Config{}).http == http.DefaultClient {
		t.Error("without Deps.HTTPClient the client is http.DefaultClient")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Logs name every request and retry but no secret: not the Authorization
// or API key headers, not tokens, codes, passwords or keys in URLs or in
// token requests, not the credentials in a transport error either.
func TestLogsCarryNoSecrets(t *testing.T) {
	ts := newTokenServer(t)
	var buf bytes.Buffer
	var bmu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&buf, &bmu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps := connector.Deps{HTTPClient: ts.Client(), Logger: log}
	var sl sleeps
	secrets := []string{"code-secret", "cs-secret", "rt-secret", "at-2", "at-stale", "key-secret", "pw-secret", "sig-secret", "dXNlcjpwdy1zZWNyZXQ"}
	var errs []error

	oc := New(deps, Config{Name: "Acme", Base: ts.URL, Retry: sl.policy(),
		Auth: NewOAuth2(OAuth2{TokenURL: ts.URL + "/token?client_secret=cs-secret", ClientID: "cid", ClientSecret: "cs-secret", Code: "code-secret", RefreshToken: "rt-secret"})})
	_, err := oc.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/data", Query: url.Values{"api_key": {"key-secret"}, "page": {"2"}}})
	errs = append(errs, err)
	ts.mu.Lock()
	ts.refuseAll = true // a refusal, a renewal, a refusal
	ts.mu.Unlock()
	_, err = oc.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/data?access_token=at-stale&sig=sig-secret"})
	errs = append(errs, err)

	kc := New(deps, Config{Name: "Keyed", Base: ts.URL, Retry: sl.policy(), Auth: Headers(http.Header{"DD-API-KEY": {"key-secret"}})})
	_, err = kc.Do(context.Background(), get("/data"))
	errs = append(errs, err)

	// A transport failure names the URL, user info and query included.
	bc := New(connector.Deps{HTTPClient: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection reset")
	})}, Logger: log}, Config{Name: "Basic", Base: "https://user:pw-secret@example.invalid", Retry: sl.policy(), Auth: Basic("user", "pw-secret")})
	_, err = bc.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/x?password=pw-secret", Idempotent: true})
	errs = append(errs, err)

	bmu.Lock()
	logs := buf.String()
	bmu.Unlock()
	if !strings.Contains(logs, "/data") || !strings.Contains(logs, "renewing") || !strings.Contains(logs, "REDACTED") {
		t.Fatalf("logs do not show the requests, the renewal and the redactions:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold the secret %q:\n%s", s, logs)
		}
		for _, e := range errs {
			if e != nil && strings.Contains(e.Error(), s) {
				t.Errorf("the error %q holds the secret %q", e, s)
			}
		}
	}
	if errs[3] == nil {
		t.Error("the transport failure returned no error")
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// The pagers against a server that pages each way.
func TestPaging(t *testing.T) {
	rows := make([]int, 23)
	for i := range rows {
		rows[i] = i + 1
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		size, _ := strconv.Atoi(q.Get("limit"))
		var from int
		switch r.URL.Path {
		case "/cursor", "/link":
			from, _ = strconv.Atoi(q.Get("cursor"))
		case "/offset":
			from, _ = strconv.Atoi(q.Get("offset"))
		case "/keyset":
			after, _ := strconv.Atoi(q.Get("after"))
			for from < len(rows) && rows[from] <= after {
				from++
			}
		}
		to := min(from+size, len(rows))
		next := ""
		if to < len(rows) {
			next = strconv.Itoa(to)
			if r.URL.Path == "/link" {
				w.Header().Add("Link", fmt.Sprintf(`<http://%s/link?limit=%d&cursor=%s>; rel="next", <http://x/first>; rel="first"`, r.Host, size, next))
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"rows": rows[from:to], "next": next})
	}))
	defer srv.Close()
	c := newClient(t, srv, Config{Name: "Acme"})
	type page struct {
		Rows []int
		Next string
	}
	fetch := func(ctx context.Context, r *Request) (page, *Response, error) {
		var p page
		res, err := c.Do(ctx, r)
		if err == nil {
			err = res.JSON(&p)
		}
		return p, res, err
	}
	ctx := context.Background()
	check := func(name string, got []int, err error) {
		t.Helper()
		if err != nil || fmt.Sprint(got) != fmt.Sprint(rows) {
			t.Errorf("%s: read %v (%v), want every row once", name, got, err)
		}
	}

	var got []int
	err := Cursor(ctx, func(ctx context.Context, cursor string) (string, error) {
		p, _, err := fetch(ctx, &Request{Method: "GET", Path: "/cursor", Query: url.Values{"limit": {"5"}, "cursor": {cursor}}})
		got = append(got, p.Rows...)
		return p.Next, err
	})
	check("cursor", got, err)

	got = nil
	err = Cursor(ctx, func(ctx context.Context, next string) (string, error) {
		if next == "" {
			next = "/link?limit=4"
		}
		p, res, err := fetch(ctx, &Request{Method: "GET", Path: next})
		got = append(got, p.Rows...)
		if err != nil {
			return "", err
		}
		return NextLink(res.Header), nil
	})
	check("next link", got, err)

	got = nil
	err = Offset(ctx, func(ctx context.Context, offset int) (int, bool, error) {
		p, _, err := fetch(ctx, &Request{Method: "GET", Path: "/offset", Query: url.Values{"limit": {"10"}, "offset": {strconv.Itoa(offset)}}})
		got = append(got, p.Rows...)
		return len(p.Rows), len(p.Rows) == 10, err
	})
	check("offset", got, err)

	got = nil
	err = Keyset(ctx, func(ctx context.Context, after int) (int, bool, error) {
		p, _, err := fetch(ctx, &Request{Method: "GET", Path: "/keyset", Query: url.Values{"limit": {"6"}, "after": {strconv.Itoa(after)}}})
		got = append(got, p.Rows...)
		if len(p.Rows) == 0 {
			return after, false, err
		}
		return p.Rows[len(p.Rows)-1], len(p.Rows) == 6, err
	})
	check("keyset", got, err)

	// A service that loops is stopped, not followed forever.
	if err := Cursor(ctx, func(context.Context, string) (string, error) { return "same", nil }); !fault.Is(err, fault.ConnectorServer) {
		t.Errorf("a repeated cursor: %v, want ConnectorServer", err)
	}
	if err := Keyset(ctx, func(context.Context, int) (int, bool, error) { return 0, true, nil }); !fault.Is(err, fault.ConnectorServer) {
		t.Errorf("a keyset page that does not advance: %v, want ConnectorServer", err)
	}
}
