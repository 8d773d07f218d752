package lambda

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// noCredentials is a process with no AWS setup at all.
type noCredentials struct{}

func (noCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("no EC2 IMDS role found")
}

// A Lambda API stand-in at an endpoint override is reached signed when the
// process has credentials and unsigned when it has none; AWS Lambda itself
// is never called unsigned.
func TestSigningAtAnOverride(t *testing.T) {
	const arn = "arn:aws:lambda:eu-west-1:123456789012:function:conn"
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/2015-03-31/functions/"+arn+"/invocations" && r.URL.EscapedPath() != "/2015-03-31/functions/"+strings.ReplaceAll(arn, ":", "%3A")+"/invocations" {
			http.Error(w, "path "+r.URL.EscapedPath(), http.StatusNotFound)
			return
		}
		auth = append(auth, r.Header.Get("Authorization"))
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("echo:"), b...))
	}))
	defer srv.Close()
	ctx := context.Background()

	signed := &Client{Endpoint: srv.URL, Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")}
	if out, err := signed.Invoke(ctx, arn, []byte(`{}`)); err != nil || string(out) != "echo:{}" {
		t.Fatalf("signed: %q, %v", out, err)
	}
	if len(auth) != 1 || !strings.Contains(auth[0], "Credential=AKIDTEST/") || !strings.Contains(auth[0], "/eu-west-1/lambda/aws4_request") {
		t.Fatalf("signed call's Authorization: %q", auth)
	}

	for _, c := range []*Client{{Endpoint: srv.URL, Credentials: noCredentials{}}, {Endpoint: srv.URL}} {
		if out, err := c.Invoke(ctx, arn, []byte(`{"a":1}`)); err != nil || string(out) != `echo:{"a":1}` {
			t.Fatalf("no credentials, override: %q, %v", out, err)
		}
		if got := auth[len(auth)-1]; got != "" {
			t.Fatalf("no credentials, override: sent Authorization %q", got)
		}
	}

	// AWS Lambda itself: the missing credentials are the error, and no
	// request leaves (the stand-in is not AWS, so nothing could answer).
	for _, c := range []*Client{{Credentials: noCredentials{}}, {}} {
		_, err := c.Invoke(ctx, arn, []byte(`{}`))
		if err == nil || !strings.Contains(err.Error(), "sign request") {
			t.Fatalf("AWS Lambda without credentials: %v, want the signing error", err)
		}
	}
}
