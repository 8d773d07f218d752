// Package console is appflowd's web console: server-rendered pages under
// /console/ on the API's address, over wire.Service like any other client
// (it adds no model and no API route). Pages are Go templates; one small
// embedded script refreshes a page while a run is in progress.
//
// Without credentials the console is open and acts for the default account
// (the server listens on loopback, as the API does). With credentials a
// person signs in with an access key pair from the credentials file and
// acts for that key's account only. Sessions and failed sign-ins are kept
// in the store (Deps.Sessions), so every replica on one database shares them.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/restjson"
	"github.com/appflowd/appflowd/internal/wire"
)

// Prefix is where the console is served.
const Prefix = "/console/"

// DefaultSessionTTL is how long a sign-in lasts when Deps.SessionTTL is 0.
const DefaultSessionTTL = 8 * time.Hour

// Deps is what the console needs.
type Deps struct {
	Service wire.Service
	// Credentials, when set, are the access keys a person signs in with;
	// nil: the console is open and acts for AccountID.
	Credentials *restjson.Credentials
	AccountID   string
	Region      string
	// Connector reaches the buckets destinations write rejected records to.
	Connector  connector.Deps
	Logger     *slog.Logger
	Now        func() time.Time
	SessionTTL time.Duration
	// Sessions keeps sign-ins and failed sign-ins where every replica sees
	// them; required with Credentials.
	Sessions Sessions
	// TrustedProxies are the peers (load balancers, reverse proxies) whose
	// X-Forwarded-For names the client a failed sign-in counts against;
	// from any other peer the peer's own address counts.
	TrustedProxies []netip.Prefix
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Console serves the pages.
type Console struct {
	d     Deps
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New returns the console handler; mount it at Prefix.
func New(d Deps) *Console {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SessionTTL <= 0 {
		d.SessionTTL = DefaultSessionTTL
	}
	if d.Credentials != nil && d.Sessions == nil {
		panic("console: Deps.Sessions is required with Credentials")
	}
	c := &Console{d: d, mux: http.NewServeMux()}
	c.pages = parsePages()
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", staticHandler(static)))
	c.mux.HandleFunc("GET /console/signin", c.signInPage)
	c.mux.HandleFunc("POST /console/signin", c.signIn)
	c.mux.HandleFunc("POST /console/signout", c.signOut)
	c.handle("GET /console/{$}", c.flowsPage)
	c.handle("GET /console/flows/{name}", c.flowPage)
	c.handle("GET /console/flows/{name}/runs/{id}", c.runPage)
	c.handle("POST /console/flows/{name}/start", c.startFlow)
	c.handle("POST /console/flows/{name}/stop", c.stopFlow)
	c.handle("POST /console/flows/{name}/cancel", c.cancelRun)
	c.handle("GET /console/flows/{name}/delete", c.deletePage)
	c.handle("POST /console/flows/{name}/delete", c.deleteFlow)
	c.handle("GET /console/flows/{name}/edit", c.editPage)
	c.handle("POST /console/flows/{name}/edit", c.updateFlow)
	c.handle("GET /console/new", c.newPage)
	c.handle("POST /console/new", c.createFlow)
	c.handle("GET /console/profiles", c.profilesPage)
	c.handle("GET /console/connectors", c.connectorsPage)
	c.handle("/console/", c.notFound)
	return c
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/console" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	h := w.Header()
	// Pages are never framed, never sniffed, and load nothing from elsewhere.
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	c.mux.ServeHTTP(w, r)
}

// viewer is who is looking: their session (nil when the console is open)
// and the context their calls to the service carry.
type viewer struct {
	s   *Session
	ctx context.Context
}

// handle routes pattern to a page that needs a viewer: one signed in, or
// anyone when the console is open. Posts must carry the viewer's CSRF token.
func (c *Console) handle(pattern string, page func(http.ResponseWriter, *http.Request, *viewer)) {
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		v, err := c.viewer(r)
		if err != nil {
			c.fail(w, r, nil, "Sign-in check", err)
			return
		}
		if v == nil {
			http.Redirect(w, r, "/console/signin?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 2*maxDefinition)
		}
		if r.Method == http.MethodPost && !c.checkCSRF(r, v) {
			c.render(w, r, v, http.StatusForbidden, "error", errorView{Title: "Request refused",
				Message: "This form is out of date or did not come from this console (CSRF check failed). Go back, reload the page and try again."})
			return
		}
		page(w, r, v)
	})
}

func (c *Console) open() bool { return c.d.Credentials == nil }

// viewer returns who makes r: nil when the console needs a sign-in.
func (c *Console) viewer(r *http.Request) (*viewer, error) {
	caller := wire.Caller{AccountID: c.d.AccountID, Region: c.d.Region}
	if c.open() {
		return &viewer{ctx: wire.WithCaller(r.Context(), caller)}, nil
	}
	s, err := c.session(r)
	if s == nil || err != nil {
		return nil, err
	}
	caller.AccessKeyID, caller.AccountID = s.AccessKeyID, s.AccountID
	return &viewer{s: s, ctx: wire.WithCaller(r.Context(), caller)}, nil
}

// csrfToken is what the forms of a page carry: the session's own token,
// or, for a page without one (the console open, the sign-in form), the
// browser's form token, set in a cookie here if it has none yet. Neither
// depends on which replica serves the page.
func (c *Console) csrfToken(w http.ResponseWriter, r *http.Request, v *viewer) string {
	if v != nil && v.s != nil {
		return v.s.CSRF
	}
	if ck, err := r.Cookie(formCookieName); err == nil && len(ck.Value) >= 32 && len(ck.Value) <= 64 {
		return ck.Value
	}
	token := randomToken()
	http.SetCookie(w, &http.Cookie{Name: formCookieName, Value: token, Path: Prefix, HttpOnly: true, Secure: c.secure(r),
		SameSite: http.SameSiteStrictMode})
	return token
}

// checkCSRF says whether a post carries the token its page's forms carry
// (csrfToken): the session's, or the one in the browser's form cookie.
func (c *Console) checkCSRF(r *http.Request, v *viewer) bool {
	var want string
	if v != nil && v.s != nil {
		want = v.s.CSRF
	} else if ck, err := r.Cookie(formCookieName); err == nil {
		want = ck.Value
	}
	got := r.PostFormValue("csrf")
	return want != "" && hmac.Equal([]byte(got), []byte(want))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error())
	}
	return b
}

func randomToken() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

// staticHandler serves the embedded script and style sheet.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
