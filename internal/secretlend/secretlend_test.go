package secretlend

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/appflowd/appflowd/internal/sigv4"
)

// getSecret reads arn from the server at url as a connector would, with
// the AWS SDK: signed with key/secret, or unsigned when key is "".
func getSecret(t *testing.T, url, key, secret, arn string) (string, error) {
	t.Helper()
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if key != "" {
		creds = credentials.NewStaticCredentialsProvider(key, secret, "")
	}
	c := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(url),
		RetryMaxAttempts: 1})
	out, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.SecretString), nil
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSecretServerLoopbackOnlyWithoutCredentials(t *testing.T) {
	s := NewServer("us-east-1", nil)
	arn, release := s.Lend("123456789012", "p", []byte(`{"username":"u"}`))
	srv := httptest.NewServer(s) // listens on 127.0.0.1
	t.Cleanup(srv.Close)

	got, err := getSecret(t, srv.URL, "", "", arn)
	if err != nil || got != `{"username":"u"}` {
		t.Fatalf("loopback GetSecretValue = %q, %v", got, err)
	}

	// The same request from another host is refused before the secret is looked up.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"SecretId":"`+arn+`"}`))
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	req.RemoteAddr = "10.1.2.3:40000"
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || rec.Header().Get("X-Amzn-ErrorType") != "AccessDeniedException" || strings.Contains(rec.Body.String(), "username") {
		t.Errorf("remote caller: %d %s %s", rec.Code, rec.Header().Get("X-Amzn-ErrorType"), rec.Body)
	}
	req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"SecretId":"`+arn+`"}`))
	req.RemoteAddr = "[::1]:40000"
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("IPv6 loopback caller: %d %s", rec.Code, rec.Body)
	}

	release()
	if _, err := getSecret(t, srv.URL, "", "", arn); errorCode(err) != "ResourceNotFoundException" {
		t.Errorf("released secret: %v, want ResourceNotFoundException", err)
	}
}

func TestSecretServerRequiresSignatureWithCredentials(t *testing.T) {
	creds, err := sigv4.Parse(strings.NewReader(
		"AKIDALICE alice-secret 111111111111\nAKIDBOB bob-secret 222222222222\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer("us-east-1", nil)
	s.Credentials = creds
	aliceArn, _ := s.Lend("111111111111", "alice-profile", []byte(`{"apiKey":"a"}`))
	bobArn, _ := s.Lend("222222222222", "bob-profile", []byte(`{"apiKey":"b"}`))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)

	if got, err := getSecret(t, srv.URL, "AKIDALICE", "alice-secret", aliceArn); err != nil || got != `{"apiKey":"a"}` {
		t.Errorf("alice reads her secret: %q, %v", got, err)
	}
	if got, err := getSecret(t, srv.URL, "AKIDBOB", "bob-secret", bobArn); err != nil || got != `{"apiKey":"b"}` {
		t.Errorf("bob reads his secret: %q, %v", got, err)
	}
	for _, c := range []struct {
		name, key, secret, arn, want string
	}{
		{"another account's secret", "AKIDALICE", "alice-secret", bobArn, "AccessDeniedException"},
		{"unsigned, even from loopback", "", "", aliceArn, "MissingAuthenticationTokenException"},
		{"unknown key", "AKIDEVE", "eve-secret", aliceArn, "UnrecognizedClientException"},
		{"wrong secret key", "AKIDALICE", "not-alice-secret", aliceArn, "InvalidSignatureException"},
	} {
		got, err := getSecret(t, srv.URL, c.key, c.secret, c.arn)
		if errorCode(err) != c.want || got != "" {
			t.Errorf("%s: %q, %v; want %s", c.name, got, err, c.want)
		}
	}

	// A signature for another service does not open secrets.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"SecretId":"`+aliceArn+`"}`))
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDALICE/20260101/us-east-1/appflow/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code == http.StatusOK {
		t.Errorf("a forged appflow-scoped signature was accepted: %s", rec.Body)
	}
}
