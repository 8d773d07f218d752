package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Sessions keeps sign-ins, and failed sign-ins, where every replica sees
// them (the app keeps them in the store: app.ConsoleSessions).
type Sessions interface {
	SessionCreate(ctx context.Context, s *Session) error
	// SessionGet returns the session whose token hashes to tokenHash, or
	// nil if there is none or it expired by now.
	SessionGet(ctx context.Context, tokenHash []byte, now time.Time) (*Session, error)
	// SessionDelete ends a session; ending an unknown one is not an error.
	SessionDelete(ctx context.Context, tokenHash []byte) error
	SessionDeleteExpired(ctx context.Context, now time.Time) error
	// FailureAdd counts a failed sign-in against each subject at at, and
	// forgets failures before forgetBefore.
	FailureAdd(ctx context.Context, subjects []string, at, forgetBefore time.Time) error
	// FailureList returns, by subject, its failures since then, oldest first.
	FailureList(ctx context.Context, subjects []string, since time.Time) (map[string][]time.Time, error)
	FailureClear(ctx context.Context, subject string) error
}

// Session is a person signed in. The cookie holds a random token; the
// store holds only its hash.
type Session struct {
	TokenHash   []byte
	AccountID   string
	AccessKeyID string
	// KeyProof is the key's proof of the token (restjson.Credentials.Proof)
	// at sign-in: a key deleted or given another secret or account since
	// no longer matches it, and its sessions end.
	KeyProof  []byte
	CSRF      string // what the session's forms carry
	ExpiresAt time.Time
}

// At most MaxSignInFailures failed sign-ins per SignInFailureWindow for one
// access key id, and as many from one client address; more are refused
// without checking the secret until the oldest age out.
const (
	MaxSignInFailures   = 10
	SignInFailureWindow = 15 * time.Minute
)

const (
	cookieName     = "appflowd_console"
	formCookieName = "appflowd_console_form" // the CSRF token of pages without a session, double-submitted
)

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// session returns the live session of r's cookie, or nil. A session whose
// key was deleted, or changed secret or account, is refused, as the API
// would refuse that key's requests.
func (c *Console) session(r *http.Request) (*Session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	s, err := c.d.Sessions.SessionGet(r.Context(), hashToken(ck.Value), c.d.Now())
	if s == nil || err != nil {
		return nil, err
	}
	account, proof, ok := c.d.Credentials.Proof(s.AccessKeyID, []byte(ck.Value))
	if !ok || account != s.AccountID || !hmac.Equal(proof, s.KeyProof) {
		// Refused, not deleted: during a rolling change of the credentials
		// file another replica may still know the key.
		c.d.Logger.Info("console session refused: its access key was removed or changed", "access_key_id", s.AccessKeyID)
		return nil, nil
	}
	return s, nil
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	if c.open() {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	c.render(w, r, nil, http.StatusOK, "signin", signInView{Next: safeNext(r.URL.Query().Get("next"))})
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	if c.open() {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	id := strings.TrimSpace(r.PostFormValue("access_key_id"))
	view := signInView{AccessKeyID: id, Next: safeNext(r.PostFormValue("next"))}
	if !c.checkCSRF(r, nil) {
		view.Error = "This sign-in form is out of date. Reload the page and try again."
		c.render(w, r, nil, http.StatusForbidden, "signin", view)
		return
	}
	ctx, now := r.Context(), c.d.Now()
	subjects := c.signInSubjects(r, id)
	if until, err := c.signInRefusedUntil(ctx, subjects, now); err != nil {
		c.fail(w, r, nil, "Sign in", err)
		return
	} else if !until.IsZero() {
		wait := until.Sub(now)
		c.d.Logger.Info("console sign-in refused: too many failures", "access_key_id", id, "client", subjects[0])
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		view.Error = "Too many failed sign-ins for this access key ID or from this address: try again in " + minutes(wait) + "."
		c.render(w, r, nil, http.StatusTooManyRequests, "signin", view)
		return
	}
	account, ok := c.d.Credentials.SignIn(id, r.PostFormValue("secret_access_key"))
	if !ok {
		c.d.Logger.Info("console sign-in refused", "access_key_id", id, "client", subjects[0])
		if err := c.d.Sessions.FailureAdd(ctx, subjects, now, now.Add(-SignInFailureWindow)); err != nil {
			c.fail(w, r, nil, "Sign in", err)
			return
		}
		view.Error = "Sign-in refused: the access key ID and secret access key do not match a key of this server."
		c.render(w, r, nil, http.StatusUnauthorized, "signin", view)
		return
	}
	token := randomToken()
	_, proof, _ := c.d.Credentials.Proof(id, []byte(token))
	s := &Session{TokenHash: hashToken(token), AccountID: account, AccessKeyID: id, KeyProof: proof, CSRF: randomToken(),
		ExpiresAt: now.Add(c.d.SessionTTL)}
	if err := c.d.Sessions.SessionCreate(ctx, s); err != nil {
		c.fail(w, r, nil, "Sign in", err)
		return
	}
	// Housekeeping that a failure of must not fail the sign-in.
	if err := c.d.Sessions.FailureClear(ctx, subjects[1]); err != nil {
		c.d.Logger.Warn("console: clear failed sign-ins", "access_key_id", id, "err", err)
	}
	if err := c.d.Sessions.SessionDeleteExpired(ctx, now); err != nil {
		c.d.Logger.Warn("console: delete expired sessions", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: Prefix, HttpOnly: true, Secure: c.secure(r),
		SameSite: http.SameSiteStrictMode, Expires: s.ExpiresAt, MaxAge: int(c.d.SessionTTL.Seconds())})
	http.Redirect(w, r, view.Next, http.StatusSeeOther)
}

// signInSubjects are what a failed sign-in counts against: the client's
// address first, then the access key id asked for (ids longer than any
// real one are cut, so a row stays small).
func (c *Console) signInSubjects(r *http.Request, id string) []string {
	return []string{"addr:" + c.clientAddr(r), "key:" + id[:min(len(id), 128)]}
}

// signInRefusedUntil is when the subjects may try again: zero if now.
func (c *Console) signInRefusedUntil(ctx context.Context, subjects []string, now time.Time) (time.Time, error) {
	failures, err := c.d.Sessions.FailureList(ctx, subjects, now.Add(-SignInFailureWindow))
	if err != nil {
		return time.Time{}, err
	}
	var until time.Time
	for _, times := range failures {
		// The window is (now-SignInFailureWindow, now]: a failure ages out
		// exactly SignInFailureWindow after it.
		for len(times) > 0 && !times[0].After(now.Add(-SignInFailureWindow)) {
			times = times[1:]
		}
		if n := len(times); n >= MaxSignInFailures {
			// Tries are let in again once fewer than the limit are in the window.
			if t := times[n-MaxSignInFailures].Add(SignInFailureWindow); t.After(until) {
				until = t
			}
		}
	}
	return until, nil
}

// minutes says d in whole minutes, rounded up: "1 minute", "15 minutes".
func minutes(d time.Duration) string {
	n := int((d + time.Minute - 1) / time.Minute)
	if n <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// clientAddr is the address a request comes from: the peer's, or, when
// the peer is a trusted proxy, the nearest address in X-Forwarded-For that
// is not one.
func (c *Console) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	forwarded := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(forwarded) - 1; i >= 0 && c.trusted(addr); i-- {
		next, err := netip.ParseAddr(strings.TrimSpace(forwarded[i]))
		if err != nil {
			break
		}
		addr = next.Unmap()
	}
	return addr.String()
}

// secure reports whether the browser reached us over HTTPS: directly, or
// through a trusted proxy that ended TLS and says so in X-Forwarded-Proto.
// Cookies are then marked Secure, so they never travel in clear text.
func (c *Console) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !c.trusted(addr.Unmap()) {
		return false
	}
	proto := r.Header.Get("X-Forwarded-Proto")
	if i := strings.IndexByte(proto, ','); i >= 0 { // the first proxy's view
		proto = proto[:i]
	}
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

func (c *Console) trusted(addr netip.Addr) bool {
	for _, p := range c.d.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	s, err := c.session(r)
	if err != nil {
		c.fail(w, r, nil, "Sign out", err)
		return
	}
	if s != nil {
		if !c.checkCSRF(r, &viewer{s: s}) {
			http.Error(w, "CSRF check failed", http.StatusForbidden)
			return
		}
		// Deleted from the store: every replica refuses the cookie at once.
		if err := c.d.Sessions.SessionDelete(r.Context(), s.TokenHash); err != nil {
			c.fail(w, r, nil, "Sign out", err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: c.secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

type signInView struct {
	AccessKeyID string
	Next        string
	Error       string
}

func (signInView) title() string { return "Sign in" }
