package restjson

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/sigv4"
)

// MetricsAuth guards GET /metrics with the API's own credentials: when
// Credentials is set (or a TokenFile is), a scrape must be SigV4-signed
// for the "appflow" service by one of the access keys, or carry
// "Authorization: Bearer <token>" with the token file's contents (what a
// Prometheus scrape config's authorization / bearer_token_file sends).
type MetricsAuth struct {
	Credentials *Credentials
	TokenFile   string // "" = no bearer token
	Now         func() time.Time
}

// Wrap returns h with /metrics guarded; other paths pass through.
func (m MetricsAuth) Wrap(h http.Handler) (http.Handler, error) {
	var token []byte
	if m.TokenFile != "" {
		b, err := os.ReadFile(m.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("metrics token file: %w", err)
		}
		token = []byte(strings.TrimSpace(string(b)))
		if len(token) < 16 {
			return nil, errors.New("metrics token file: the token must be at least 16 characters")
		}
	}
	if m.Credentials == nil && token == nil {
		return h, nil // the API is open, so are its metrics
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			h.ServeHTTP(w, r)
			return
		}
		if aerr := m.authorize(r, token); aerr != nil {
			w.Header().Set("X-Amzn-RequestId", newRequestID())
			writeError(w, aerr)
			return
		}
		h.ServeHTTP(w, r)
	}), nil
}

func (m MetricsAuth) authorize(r *http.Request, token []byte) *apiError {
	authz := r.Header.Get("Authorization")
	if bearer, ok := strings.CutPrefix(authz, "Bearer "); ok {
		if token != nil && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(bearer)), token) == 1 {
			return nil
		}
		return &apiError{http.StatusForbidden, "UnrecognizedClientException", "The bearer token included in the request is invalid."}
	}
	if m.Credentials == nil {
		return &apiError{http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token: send Authorization: Bearer <token>"}
	}
	if _, err := sigv4.Verify(r, nil, m.Credentials, signingName, m.Now()); err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			return &apiError{se.Status, se.Code, se.Message}
		}
		return &apiError{http.StatusForbidden, "InvalidSignatureException", err.Error()}
	}
	return nil
}
