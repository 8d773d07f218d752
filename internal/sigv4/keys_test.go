package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signedIn is a request the SDK signed for region at t.
func signedIn(t testing.TB, key, secret, region string, at time.Time, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8484/describe-flow", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), "appflow", region, at); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSigningKeyCache: cached signing keys verify what the derived ones
// would, per access key, day and region; refused requests cache nothing.
func TestSigningKeyCache(t *testing.T) {
	creds := testCreds(t)
	body := []byte(`{"flowName":"f"}`)
	day2 := signedAt.Add(24 * time.Hour)
	for round := range 2 { // the second round verifies with the cached keys
		for _, c := range []struct {
			key, secret, region string
			at                  time.Time
		}{
			{"AKID1", "secret1", "eu-west-1", signedAt},
			{"AKID1", "secret1", "us-east-1", signedAt},
			{"AKID2", "secret2", "eu-west-1", signedAt},
			{"AKID1", "secret1", "eu-west-1", day2},
		} {
			id, err := Verify(signedIn(t, c.key, c.secret, c.region, c.at, body), body, creds, "appflow", c.at)
			if err != nil || id.AccessKeyID != c.key || id.Region != c.region {
				t.Errorf("round %d, %+v: %+v, %v", round, c, id, err)
			}
			// The wrong secret stays wrong once the right key is cached.
			_, err = Verify(signedIn(t, c.key, "wrong", c.region, c.at, body), body, creds, "appflow", c.at)
			wantCode(t, err, "InvalidSignatureException", "does not match")
		}
	}
	if n := len(creds.signing.keys); n != 4 {
		t.Errorf("cached %d signing keys, want 4", n)
	}

	fresh := testCreds(t)
	for i := range 10 {
		_, err := Verify(signedIn(t, "AKID1", "wrong", fmt.Sprintf("made-up-%d", i), signedAt, body), body, fresh, "appflow", signedAt)
		wantCode(t, err, "InvalidSignatureException", "does not match")
	}
	if n := len(fresh.signing.keys); n != 0 {
		t.Errorf("refused requests cached %d signing keys", n)
	}
	for i := range maxSigningKeys + 10 {
		fresh.signing.put(scope{accessKey: "AKID1", date: "20240501", region: fmt.Sprint(i), service: "appflow"}, []byte("k"))
	}
	if n := len(fresh.signing.keys); n > maxSigningKeys {
		t.Errorf("cache holds %d keys, more than %d", n, maxSigningKeys)
	}
}

// BenchmarkVerify verifies a DescribeFlow request the SDK signed.
func BenchmarkVerify(b *testing.B) {
	creds, err := Parse(bytes.NewReader([]byte("AKID1 secret1 111111111111\n")))
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"flowName":"bench-000"}`)
	r := signedIn(b, "AKID1", "secret1", "us-east-1", signedAt, body)
	for b.Loop() {
		if _, err := Verify(r, body, creds, "appflow", signedAt); err != nil {
			b.Fatal(err)
		}
	}
}
