package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/console"
	"github.com/appflowd/appflowd/internal/restjson"
	"github.com/appflowd/appflowd/internal/store"
)

// withConsole serves the console under /console/ and GET /health on the
// API's address, beside the API (DESIGN.md), outside the API's metrics.
func (a *App) withConsole(api http.Handler, c Config, creds *restjson.Credentials, deps connector.Deps) http.Handler {
	cons := console.New(console.Deps{Service: a.Service, Credentials: creds, AccountID: c.AccountID, Region: c.Region,
		Connector: deps, Logger: c.Logger, Now: c.Now, Sessions: ConsoleSessions(a.Store), TrustedProxies: c.TrustedProxies})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/health":
			a.health(w, r, c.AccountID)
		case p == "/console" || strings.HasPrefix(p, console.Prefix):
			cons.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// health answers 200 when the store answers a read, else 503; it is
// public, like /metrics, and says nothing about any account.
func (a *App) health(w http.ResponseWriter, r *http.Request, account string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	status, body := http.StatusOK, map[string]string{"status": "ok", "store": a.StoreKind}
	if _, _, err := a.Store.FlowList(ctx, &store.FlowListParams{AccountID: account, Page: store.Page{Limit: 1}}); err != nil {
		status = http.StatusServiceUnavailable
		body["status"], body["message"] = "unavailable", "store: "+err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_ = json.NewEncoder(w).Encode(body)
	}
}
