package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/console"
	"github.com/appflowd/appflowd/internal/pgtest"
	"github.com/appflowd/appflowd/internal/restjson"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/pgstore"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
)

// BenchmarkPageSession is the cost of finding a page's session in the
// store, on the not-found page (no service call): the open console, which
// looks nothing up, is the ceiling.
func BenchmarkPageSession(b *testing.B) {
	creds, err := restjson.ParseCredentials(strings.NewReader(keyA + " " + secretA + " " + accountA + "\n"))
	if err != nil {
		b.Fatal(err)
	}
	serve := func(b *testing.B, c *console.Console, cookies []*http.Cookie) {
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest("GET", "/console/nope", nil)
			for _, ck := range cookies {
				r.AddCookie(ck)
			}
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			if w.Code != http.StatusNotFound {
				b.Fatalf("status %d", w.Code)
			}
		}
	}
	signedIn := func(b *testing.B, st store.Store) {
		c := console.New(console.Deps{Credentials: creds, AccountID: "000000000000", Sessions: app.ConsoleSessions(st)})
		form := httptest.NewRecorder()
		c.ServeHTTP(form, httptest.NewRequest("GET", "/console/signin", nil))
		token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(form.Body.String())[1]
		post := httptest.NewRequest("POST", "/console/signin", strings.NewReader(url.Values{"csrf": {token},
			"access_key_id": {keyA}, "secret_access_key": {secretA}}.Encode()))
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, ck := range form.Result().Cookies() {
			post.AddCookie(ck)
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, post)
		if w.Code != http.StatusSeeOther {
			b.Fatalf("sign-in: %d", w.Code)
		}
		serve(b, c, w.Result().Cookies())
	}
	b.Run("open", func(b *testing.B) {
		serve(b, console.New(console.Deps{AccountID: "000000000000"}), nil)
	})
	b.Run("sqlite", func(b *testing.B) {
		st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "appflowd.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		signedIn(b, st)
	})
	b.Run("postgres", func(b *testing.B) {
		st, err := pgstore.Open(context.Background(), pgtest.Schema(b, "consolebench"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		signedIn(b, st)
	})
}
