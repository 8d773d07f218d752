package restjson

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func TestMetricsNeedTheAPIsCredentials(t *testing.T) {
	creds := mustCreds(t, "AKIDALICE alice-secret 111111111111\n")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("prometheus-scrape-token-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics " + r.URL.Path)) })
	h, err := MetricsAuth{Credentials: creds, TokenFile: tokenFile}.Wrap(inner)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	get := func(authz string, sign *struct{ akid, secret string }) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if sign != nil {
			sum := sha256.Sum256(nil)
			err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: sign.akid, SecretAccessKey: sign.secret},
				req, hex.EncodeToString(sum[:]), "appflow", "us-east-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	expectError(t, get("", nil), 403, "MissingAuthenticationTokenException")
	expectError(t, get("Bearer wrong-token-wrong-token", nil), 403, "UnrecognizedClientException")
	expectError(t, get("", &struct{ akid, secret string }{"AKIDALICE", "not-the-secret"}), 403, "InvalidSignatureException")
	if resp := get("Bearer prometheus-scrape-token-0123", nil); resp.StatusCode != 200 {
		t.Errorf("bearer token: got %d, want 200", resp.StatusCode)
	}
	if resp := get("", &struct{ akid, secret string }{"AKIDALICE", "alice-secret"}); resp.StatusCode != 200 {
		t.Errorf("SigV4: got %d, want 200", resp.StatusCode)
	}

	// Without credentials or a token the API is open, and so are metrics.
	if open, err := (MetricsAuth{}).Wrap(inner); err != nil || open == nil {
		t.Fatalf("open: %v", err)
	}
	// A token file that is missing or too short stops start-up.
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	for _, f := range []string{short, filepath.Join(t.TempDir(), "missing")} {
		if _, err := (MetricsAuth{Credentials: creds, TokenFile: f}).Wrap(inner); err == nil {
			t.Errorf("token file %s: want an error", f)
		}
	}
}
