package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/store/sqlitestore"
)

// TestHealthSaysWhetherTheStoreAnswers: 200 while the store reads, 503
// with its error once it cannot; only GET and HEAD.
func TestHealthSaysWhetherTheStoreAnswers(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	a := &App{Store: st, StoreKind: "sqlite"}
	get := func(method string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		a.health(w, httptest.NewRequest(method, "/health", nil), "000000000000")
		return w
	}
	if w := get("GET"); w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"status":"ok","store":"sqlite"}` {
		t.Errorf("healthy: %d %s", w.Code, w.Body.String())
	}
	if w := get("HEAD"); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := get("POST"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", w.Code)
	}
	st.Close()
	if w := get("GET"); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"status":"unavailable"`) {
		t.Errorf("store closed: %d %s, want 503", w.Code, w.Body.String())
	}
}
