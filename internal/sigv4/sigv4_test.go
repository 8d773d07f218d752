package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var signedAt = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func testCreds(t *testing.T) *Credentials {
	t.Helper()
	c, err := Parse(strings.NewReader("# keys\nAKID1 secret1 111111111111\n\nAKID2\tsecret2\t222222222222\n"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signed is a request signed by the AWS SDK's own signer, as a client
// (a custom connector reading its secret) sends it.
func signed(t *testing.T, key, secret, service string, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8484/some%3Apath?b=2&a=1", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), service, "eu-west-1", signedAt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantCode(t *testing.T, err error, code, part string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || se.Code != code || !strings.Contains(se.Message, part) {
		t.Errorf("got %v, want %s containing %q", err, code, part)
	}
}

func TestVerify(t *testing.T) {
	creds := testCreds(t)
	body := []byte(`{"SecretId":"arn:x"}`)
	id, err := Verify(signed(t, "AKID2", "secret2", "secretsmanager", body), body, creds, "secretsmanager", signedAt.Add(time.Minute))
	if err != nil {
		t.Fatalf("a request the SDK signed: %v", err)
	}
	if id != (Identity{AccessKeyID: "AKID2", AccountID: "222222222222", Region: "eu-west-1"}) {
		t.Errorf("identity %+v", id)
	}

	_, err = Verify(signed(t, "AKID2", "secret2", "secretsmanager", body), []byte(`{"SecretId":"arn:y"}`), creds, "secretsmanager", signedAt)
	wantCode(t, err, "InvalidSignatureException", "") // the body changed after signing
	_, err = Verify(signed(t, "AKID2", "wrong", "secretsmanager", body), body, creds, "secretsmanager", signedAt)
	wantCode(t, err, "InvalidSignatureException", "does not match")
	_, err = Verify(signed(t, "AKID2", "secret2", "appflow", body), body, creds, "secretsmanager", signedAt)
	wantCode(t, err, "InvalidSignatureException", "'secretsmanager'")
	_, err = Verify(signed(t, "NOPE", "secret2", "secretsmanager", body), body, creds, "secretsmanager", signedAt)
	wantCode(t, err, "UnrecognizedClientException", "")
	_, err = Verify(signed(t, "AKID1", "secret1", "secretsmanager", body), body, creds, "secretsmanager", signedAt.Add(16*time.Minute))
	wantCode(t, err, "InvalidSignatureException", "Signature expired")
	_, err = Verify(signed(t, "AKID1", "secret1", "secretsmanager", body), body, creds, "secretsmanager", signedAt.Add(-16*time.Minute))
	wantCode(t, err, "InvalidSignatureException", "not yet current")

	unsigned := httptest.NewRequest(http.MethodPost, "/", nil)
	_, err = Verify(unsigned, nil, creds, "secretsmanager", signedAt)
	wantCode(t, err, "MissingAuthenticationTokenException", "")
	_, err = Verify(signed(t, "AKID1", "secret1", "secretsmanager", body), body, nil, "secretsmanager", signedAt)
	wantCode(t, err, "MissingAuthenticationTokenException", "")
	garbled := signed(t, "AKID1", "secret1", "secretsmanager", body)
	garbled.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID1/20240501")
	_, err = Verify(garbled, body, creds, "secretsmanager", signedAt)
	wantCode(t, err, "IncompleteSignatureException", "")
	unsignedBody := signed(t, "AKID1", "secret1", "secretsmanager", body)
	unsignedBody.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	_, err = Verify(unsignedBody, body, creds, "secretsmanager", signedAt)
	wantCode(t, err, "InvalidSignatureException", "UNSIGNED-PAYLOAD")
}

func TestRegion(t *testing.T) {
	body := []byte("{}")
	if got := Region(signed(t, "AKID1", "secret1", "appflow", body)); got != "eu-west-1" {
		t.Errorf("Region of a signed request = %q, want eu-west-1", got)
	}
	if got := Region(httptest.NewRequest(http.MethodGet, "/", nil)); got != "" {
		t.Errorf("Region of an unsigned request = %q, want none", got)
	}
}

func TestCredentials(t *testing.T) {
	c := testCreds(t)
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	if acct, ok := c.SignIn("AKID1", "secret1"); !ok || acct != "111111111111" {
		t.Errorf("SignIn with the right secret = %q, %v", acct, ok)
	}
	for _, bad := range [][2]string{{"AKID1", "secret2"}, {"NOPE", "secret1"}, {"AKID1", ""}} {
		if _, ok := c.SignIn(bad[0], bad[1]); ok {
			t.Errorf("SignIn(%q, %q) succeeded", bad[0], bad[1])
		}
	}
	if _, ok := (*Credentials)(nil).SignIn("AKID1", "secret1"); ok {
		t.Error("SignIn without credentials succeeded")
	}
	for _, text := range []string{"", "# only a comment\n", "AKID secret\n", "AKID secret 12345\n", "A s 111111111111\nA t 222222222222\n"} {
		if _, err := Parse(strings.NewReader(text)); err == nil {
			t.Errorf("Parse(%q): want an error", text)
		}
	}
	if _, err := Load("/nonexistent/creds"); err == nil {
		t.Error("Load of a missing file: want an error")
	}
}

// TestProof: a proof changes with the key's secret and the message, and
// there is none for an unknown key.
func TestProof(t *testing.T) {
	c := testCreds(t)
	acct, p1, ok := c.Proof("AKID1", []byte("token"))
	if !ok || acct != "111111111111" || len(p1) != 32 {
		t.Fatalf("Proof(AKID1) = %q, %x, %v; want the key's account and a 32-byte proof", acct, p1, ok)
	}
	if _, again, _ := c.Proof("AKID1", []byte("token")); !bytes.Equal(again, p1) {
		t.Error("two proofs of one message under one key differ")
	}
	if _, other, _ := c.Proof("AKID1", []byte("token2")); bytes.Equal(other, p1) {
		t.Error("two messages have the same proof")
	}
	rotated, err := Parse(strings.NewReader("AKID1 secret1-rotated 111111111111\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, p2, ok := rotated.Proof("AKID1", []byte("token")); !ok || bytes.Equal(p2, p1) {
		t.Errorf("a new secret gives the same proof (ok %v)", ok)
	}
	if _, _, ok := c.Proof("NOPE", []byte("token")); ok {
		t.Error("a proof for an unknown key")
	}
	if _, _, ok := (*Credentials)(nil).Proof("AKID1", []byte("token")); ok {
		t.Error("a proof without credentials")
	}
}
