package customconn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/sigv4"
)

// TestE2ELambdaAPISigned: with --endpoint lambda=<a Lambda API's base
// URL>, connector Lambdas are invoked at the standard Invoke path, SigV4-
// signed for "lambda" in the function's region with the credentials of
// the default chain (awsconfig, like every AWS client); a signature the
// API refuses fails RegisterConnector with the API's message.
func TestE2ELambdaAPISigned(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDA")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "lambda-secret")
	creds, err := sigv4.Parse(strings.NewReader("AKIDLAMBDA lambda-secret 123456789012\n"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string // "path key region" of every verified invocation
	var e *e2e
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, err := sigv4.Verify(r, body, creds, "lambda", time.Now())
		if err != nil {
			se := err.(*sigv4.Error)
			w.Header().Set("X-Amzn-ErrorType", se.Code)
			w.WriteHeader(se.Status)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": se.Message})
			return
		}
		mu.Lock()
		seen = append(seen, r.URL.EscapedPath()+" "+id.AccessKeyID+" "+id.Region)
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		e.conn.ServeHTTP(w, r)
	}))
	t.Cleanup(api.Close)
	e = newE2E(t, func(c *app.Config) {
		c.Region = "eu-west-1" // the function's ARN names its own region
		c.Endpoints = connector.Endpoints{connector.EndpointLambda: api.URL}
	})
	e.register(t)
	mu.Lock()
	want := "/2015-03-31/functions/" + url.PathEscape(e2eLambdaArn) + "/invocations AKIDLAMBDA us-east-1"
	if len(seen) == 0 || seen[0] != want {
		t.Errorf("invocations %q, want them at %q", seen, want)
	}
	mu.Unlock()

	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret") // each register builds its client anew
	_, err = e.c.RegisterConnector(context.Background(), &appflow.RegisterConnectorInput{
		ConnectorLabel: aws.String("example2"), ConnectorProvisioningType: types.ConnectorProvisioningTypeLambda,
		ConnectorProvisioningConfig: &types.ConnectorProvisioningConfig{Lambda: &types.LambdaConnectorProvisioningConfig{LambdaArn: aws.String(e2eLambdaArn)}},
	})
	if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Errorf("RegisterConnector signed with a wrong secret: %v, want the Lambda API's InvalidSignatureException", err)
	}
}
