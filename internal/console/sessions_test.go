package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/console"
	"github.com/appflowd/appflowd/internal/pgtest"
	"github.com/appflowd/appflowd/internal/restjson"
)

// newClock is a fake time at a whole second, so the stores' microseconds
// keep it exactly.
func newClock() *apptest.Clock { return apptest.NewClock(time.Now().UTC().Truncate(time.Second)) }

// startSigned serves appflowd with the two keys of credentialsFile on cfg.
func startSigned(t *testing.T, cfg app.Config) *server {
	t.Helper()
	cfg.Credentials = credentialsFile(t)
	return &server{Server: apptest.Start(t, cfg, "src", "dst")}
}

// at is the same browser (the same cookies: a cookie is per host, not per
// port) talking to another replica.
func (v *visitor) at(base string) *visitor {
	w := *v
	w.base = base
	return &w
}

// signIn fills in and posts the sign-in form, as a person would.
func (v *visitor) signIn(key, secret string) response {
	v.t.Helper()
	return v.post("/console/signin", url.Values{"csrf": {v.csrf("/console/signin")}, "access_key_id": {key}, "secret_access_key": {secret}})
}

func wantSignedIn(t *testing.T, what string, r response) {
	t.Helper()
	if r.status != http.StatusOK || !strings.Contains(r.body, "Signed in as") {
		t.Fatalf("%s: %d to %q, want the page, signed in:\n%s", what, r.status, r.location, r.body)
	}
}

func wantSignedOut(t *testing.T, what string, r response) {
	t.Helper()
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/console/signin") {
		t.Fatalf("%s: %d to %q, want the sign-in page", what, r.status, r.location)
	}
}

// TestSessionsLastEightHoursAndActForTheirAccount: a session acts as its
// key's account and ends eight hours after the sign-in.
func TestSessionsLastEightHoursAndActForTheirAccount(t *testing.T) {
	clk := newClock()
	s := startSigned(t, app.Config{Now: clk.Now})
	createS3Flow(t, s.client(keyA, secretA), "alice-flow", "dst")
	createS3Flow(t, s.client(keyB, secretB), "bob-flow", "dst")
	v := newVisitor(t, s.URL)

	r := v.signIn(keyA, secretA)
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", r.status, r.body)
	}
	ck := r.header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Max-Age=28800", "Path=/console/"} {
		if !strings.Contains(ck, want) {
			t.Errorf("session cookie %q: no %s", ck, want)
		}
	}
	list := v.get("/console/")
	wantSignedIn(t, "signed in", list)
	mustContain(t, "alice's list", list.body, "alice-flow", "account "+accountA)
	mustNotContain(t, "alice's list", list.body, "bob-flow")

	clk.Add(8*time.Hour - time.Second)
	wantSignedIn(t, "a second before eight hours", v.get("/console/"))
	clk.Add(time.Second)
	wantSignedOut(t, "after eight hours", v.get("/console/"))
}

// TestSessionsAcrossReplicas: two appflowd replicas on one PostgreSQL
// database behind a load balancer. The sign-in form of one is accepted by
// the other, a session made on one is good on the other, and a sign-out on
// either ends it on both. Failed sign-ins count across replicas too.
func TestSessionsAcrossReplicas(t *testing.T) {
	dsn := pgtest.Schema(t, "consoletest")
	clk := newClock()
	creds := credentialsFile(t)
	replicaA := &server{Server: apptest.Start(t, app.Config{Database: dsn, Credentials: creds, Now: clk.Now}, "src", "dst")}
	replicaB := &server{Server: apptest.Start(t, app.Config{Database: dsn, Credentials: creds, Now: clk.Now}, "src", "dst")}
	createS3Flow(t, replicaA.client(keyA, secretA), "alice-flow", "dst")

	onA := newVisitor(t, replicaA.URL)
	onB := onA.at(replicaB.URL)
	form := onA.csrf("/console/signin")
	r := onB.post("/console/signin", url.Values{"csrf": {form}, "access_key_id": {keyA}, "secret_access_key": {secretA}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("replica B refused replica A's sign-in form: %d\n%s", r.status, r.body)
	}
	mustContain(t, "replica A, signed in on B", onA.get("/console/").body, "alice-flow", "Signed in as <strong>"+keyA)
	wantSignedIn(t, "replica B", onB.get("/console/flows/alice-flow"))

	// A form from one replica posts to the other: the CSRF token is the session's.
	if r := onA.post("/console/flows/alice-flow/start", url.Values{"csrf": {onB.csrf("/console/flows/alice-flow")}}); r.status != http.StatusSeeOther {
		t.Fatalf("run now on A with B's form: %d\n%s", r.status, r.body)
	}

	stolen := onA.c.Jar.Cookies(mustURL(t, replicaA.URL+"/console/"))
	r = onB.post("/console/signout", url.Values{"csrf": {onB.csrf("/console/")}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign out on B: %d", r.status)
	}
	// The browser dropped its cookie; a copy taken before must not work either.
	replay := newVisitor(t, replicaA.URL)
	replay.c.Jar.SetCookies(mustURL(t, replicaA.URL+"/console/"), stolen)
	wantSignedOut(t, "replica A after signing out on B", replay.get("/console/"))
	wantSignedOut(t, "replica A in the browser", onA.get("/console/"))

	// Five failures on each replica are ten for the key: B refuses the
	// eleventh try even with the right secret.
	for i := range console.MaxSignInFailures {
		at := onA
		if i%2 == 1 {
			at = onB
		}
		if r := at.signIn(keyA, "wrong"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, r.status)
		}
	}
	r = onB.signIn(keyA, secretA)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("after ten failures across replicas: %d, want 429\n%s", r.status, r.body)
	}
	mustContain(t, "refusal", r.body, "Too many failed sign-ins", "try again in 15 minutes")
}

// TestSignInLimit: ten failed sign-ins within fifteen minutes for one key,
// or from one address, refuse further tries, even with the right secret,
// saying for how long; they are let in again as the failures age out, and
// a successful sign-in forgets the key's failures. X-Forwarded-For is not
// believed from a peer that is not a trusted proxy.
func TestSignInLimit(t *testing.T) {
	clk := newClock()
	s := startSigned(t, app.Config{Now: clk.Now})
	v := newVisitor(t, s.URL)

	start := clk.Now()
	for i := range console.MaxSignInFailures {
		if i > 0 {
			clk.Add(time.Minute)
		}
		if r := v.signIn(keyA, "guess"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Sign-in refused") {
			t.Fatalf("failure %d: %d\n%s", i+1, r.status, r.body)
		}
	}
	// Nine minutes after the first failure: six more until it ages out.
	r := v.signIn(keyA, secretA)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "360" || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("eleventh try: %d, Retry-After %q, cookie %q; want 429, 360, none\n%s", r.status, r.header.Get("Retry-After"), r.header.Get("Set-Cookie"), r.body)
	}
	mustContain(t, "refusal", r.body, "Too many failed sign-ins for this access key ID or from this address: try again in 6 minutes.", `value="`+keyA+`"`)
	// The address has ten failures too: another key is refused from it.
	if r := v.signIn(keyB, secretB); r.status != http.StatusTooManyRequests {
		t.Fatalf("another key from the same address: %d, want 429", r.status)
	}
	// A forged X-Forwarded-For from an untrusted peer changes nothing.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/console/signin", strings.NewReader(url.Values{
		"csrf": {v.csrf("/console/signin")}, "access_key_id": {keyB}, "secret_access_key": {secretB}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	if r := v.do(req); r.status != http.StatusTooManyRequests {
		t.Fatalf("with a forged X-Forwarded-For: %d, want 429", r.status)
	}

	clk.Set(start.Add(console.SignInFailureWindow - time.Second))
	if r := v.signIn(keyA, secretA); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" ||
		!strings.Contains(r.body, "try again in 1 minute.") {
		t.Fatalf("a second before fifteen minutes: %d, Retry-After %q, want 429 (try again in 1 minute)\n%s", r.status, r.header.Get("Retry-After"), r.body)
	}
	clk.Add(time.Second)
	if r := v.signIn(keyA, secretA); r.status != http.StatusSeeOther {
		t.Fatalf("once the first failure aged out: %d, want the sign-in\n%s", r.status, r.body)
	}
	wantSignedIn(t, "signed in", v.get("/console/"))

	// The key's failures are forgotten; the address keeps its nine, so one
	// more failure (with any key) refuses the address again.
	other := newVisitor(t, s.URL)
	if r := other.signIn(keyA, "guess"); r.status != http.StatusUnauthorized {
		t.Fatalf("a failure after the sign-in: %d, want 401", r.status)
	}
	if r := other.signIn(keyB, secretB); r.status != http.StatusTooManyRequests {
		t.Fatalf("the address's tenth failure: %d, want 429", r.status)
	}
}

// TestSignInLimitBehindAProxy: behind a trusted proxy the client is the
// nearest untrusted address of X-Forwarded-For, so one client's failures
// do not lock out another's.
func TestSignInLimitBehindAProxy(t *testing.T) {
	clk := newClock()
	s := startSigned(t, app.Config{Now: clk.Now, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	v := newVisitor(t, s.URL)
	from := func(forwardedFor, key, secret string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/console/signin", strings.NewReader(url.Values{
			"csrf": {v.csrf("/console/signin")}, "access_key_id": {key}, "secret_access_key": {secret}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", forwardedFor)
		return v.do(req)
	}
	for i := range console.MaxSignInFailures {
		// A different key each time: only the address adds up. The first
		// entry is what the client claims; the proxy appended the rest.
		if r := from("10.9.9.9, 198.51.100.7", "AKIDGUESS"+string(rune('A'+i)), "guess"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, r.status)
		}
	}
	if r := from("10.1.1.1, 198.51.100.7", keyA, secretA); r.status != http.StatusTooManyRequests {
		t.Fatalf("the failing client: %d, want 429", r.status)
	}
	if r := from("198.51.100.8", keyA, secretA); r.status != http.StatusSeeOther {
		t.Fatalf("another client behind the proxy: %d, want the sign-in\n%s", r.status, r.body)
	}

	// A sign-in forgets its key's failures: nine, a sign-in, nine more
	// (each from an address of its own) leave the key free.
	for round := range 2 {
		for i := range console.MaxSignInFailures - 1 {
			if r := from(fmt.Sprintf("203.0.113.%d", round*10+i), keyB, "guess"); r.status != http.StatusUnauthorized {
				t.Fatalf("round %d, failure %d: %d", round, i+1, r.status)
			}
		}
		if r := from("192.0.2.1", keyB, secretB); r.status != http.StatusSeeOther {
			t.Fatalf("round %d: the sign-in after nine failures: %d\n%s", round, r.status, r.body)
		}
	}
}

// TestSessionEndsWithItsKey: a session ends when its access key leaves the
// credentials file or gets another secret, as the API then refuses the
// key; a replica (or a restart) with the new file refuses the cookie.
func TestSessionEndsWithItsKey(t *testing.T) {
	clk := newClock()
	s := startSigned(t, app.Config{Now: clk.Now})
	bob, alice := newVisitor(t, s.URL), newVisitor(t, s.URL)
	if r := bob.signIn(keyB, secretB); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.status)
	}
	if r := alice.signIn(keyA, secretA); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.status)
	}

	// The same store served with another credentials file.
	replica := func(file string) *visitor {
		creds, err := restjson.ParseCredentials(strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		c := console.New(console.Deps{Service: s.App.Service, Credentials: creds, AccountID: "000000000000", Region: "us-east-1",
			Now: clk.Now, Sessions: app.ConsoleSessions(s.App.Store)})
		srv := httptest.NewServer(c)
		t.Cleanup(srv.Close)
		return alice.at(srv.URL)
	}
	same := replica(keyA + " " + secretA + " " + accountA + "\n" + keyB + " " + secretB + " " + accountB + "\n")
	wantSignedIn(t, "the same keys", same.get("/console/"))
	wantSignedIn(t, "the same keys, bob", bob.at(same.base).get("/console/"))

	rotated := replica(keyA + " new-secret " + accountA + "\n" + keyB + " " + secretB + " " + accountB + "\n")
	wantSignedOut(t, "alice's key with a new secret", rotated.get("/console/"))
	wantSignedIn(t, "bob's key unchanged", bob.at(rotated.base).get("/console/"))

	moved := replica(keyA + " " + secretA + " " + accountB + "\n")
	wantSignedOut(t, "alice's key now acting for another account", moved.get("/console/"))
	wantSignedOut(t, "bob's key removed", bob.at(moved.base).get("/console/"))

	// Back on the old file the sessions were refused, not deleted.
	wantSignedIn(t, "the old file again", alice.get("/console/"))
}

// TestOpenConsoleFormsAcrossReplicas: without credentials a form's token is
// the browser's own (a cookie), not the serving process's, so a form from
// one replica posts to another; a token copied into another browser is
// refused.
func TestOpenConsoleFormsAcrossReplicas(t *testing.T) {
	s := start(t, false)
	createS3Flow(t, s.Client, "orders", "dst")
	other := httptest.NewServer(console.New(console.Deps{Service: s.App.Service, AccountID: "000000000000", Region: "us-east-1"}))
	t.Cleanup(other.Close)

	v := newVisitor(t, s.URL)
	token := v.csrf("/console/flows/orders")
	if r := v.at(other.URL).post("/console/flows/orders/start", url.Values{"csrf": {token}}); r.status != http.StatusSeeOther {
		t.Fatalf("run now on the other replica with this one's form: %d\n%s", r.status, r.body)
	}
	stranger := newVisitor(t, other.URL)
	stranger.csrf("/console/flows/orders") // has a form cookie of its own
	if r := stranger.post("/console/flows/orders/start", url.Values{"csrf": {token}}); r.status != http.StatusForbidden {
		t.Fatalf("another browser posting this browser's token: %d, want 403", r.status)
	}
}

// TestCookiesSecureBehindATLSProxy: a load balancer that ends TLS says so
// in X-Forwarded-Proto; from a trusted proxy the console then marks its
// cookies Secure, and from anyone else the header changes nothing.
func TestCookiesSecureBehindATLSProxy(t *testing.T) {
	secureCookies := func(s *server, proto string) (secure, all int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/console/signin", nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			all++
			if c.Secure {
				secure++
			}
		}
		if all == 0 {
			t.Fatalf("the sign-in page set no cookie")
		}
		return secure, all
	}
	trusting := startSigned(t, app.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if sec, all := secureCookies(trusting, "https"); sec != all {
		t.Errorf("trusted proxy, https: %d of %d cookies Secure, want all", sec, all)
	}
	if sec, all := secureCookies(trusting, "https, http"); sec != all {
		t.Errorf("trusted proxies, the first saw https: %d of %d cookies Secure, want all", sec, all)
	}
	if sec, _ := secureCookies(trusting, "http"); sec != 0 {
		t.Errorf("trusted proxy, http: %d cookies Secure, want none", sec)
	}
	if sec, _ := secureCookies(trusting, ""); sec != 0 {
		t.Errorf("trusted proxy, no header: %d cookies Secure, want none", sec)
	}
	plain := startSigned(t, app.Config{})
	if sec, _ := secureCookies(plain, "https"); sec != 0 {
		t.Errorf("untrusted peer claiming https: %d cookies Secure, want none", sec)
	}
}
