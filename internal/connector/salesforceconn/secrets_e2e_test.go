package salesforceconn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
)

// startMoto runs moto_server on a free loopback port until the test ends,
// skipping the test when it is not installed.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not installed (pip install 'moto[server]'): clientCredentialsArn against Secrets Manager is not tested")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(url + "/moto-api/"); err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s in 30 s", url)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestE2EClientCredentialsArn: the connected app's client id and secret
// come from the Secrets Manager secret the profile names, not from
// appflowd's default connected app (APPFLOWD_SALESFORCE_CLIENT_ID, set
// here to an app the org does not know).
func TestE2EClientCredentialsArn(t *testing.T) {
	moto := startMoto(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	e := newE2E(t, func(c *app.Config) { c.Endpoints = connector.Endpoints{connector.EndpointSecretsManager: moto} })
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_ID", "default-app")
	t.Setenv("APPFLOWD_SALESFORCE_CLIENT_SECRET", "default-secret")
	e.org.SetClient("own-app", "own-secret")
	seedAccounts(e.org)

	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	created, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("salesforce/connected-app"), SecretString: aws.String(`{"clientId":"own-app","clientSecret":"own-secret"}`)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.ARN)

	// A refresh token exchanged with the secret's client id and secret.
	e.mustProfile("sf", &types.SalesforceConnectorProfileCredentials{
		RefreshToken: aws.String(sftest.RefreshToken), ClientCredentialsArn: aws.String(arn)})
	// The client credentials grant with them.
	e.mustProfile("sf-cc", &types.SalesforceConnectorProfileCredentials{
		OAuth2GrantType: types.OAuth2GrantTypeClientCredentials, ClientCredentialsArn: aws.String(arn)})
	if n := e.org.Logged("POST /services/oauth2/token"); n != 2 {
		t.Errorf("token requests: %d, want 2", n)
	}

	// Without the secret, the default app is used, and the org refuses it.
	err = e.createProfile("sf-default", &types.SalesforceConnectorProfileCredentials{RefreshToken: aws.String(sftest.RefreshToken)})
	var ae *types.ConnectorAuthenticationException
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "client identifier invalid") {
		t.Errorf("profile on the default app = %v, want ConnectorAuthenticationException from the org", err)
	}
	// A secret that does not exist.
	missing := "arn:aws:secretsmanager:us-east-1:123456789012:secret:salesforce/none-AbCdEf"
	err = e.createProfile("sf-missing", &types.SalesforceConnectorProfileCredentials{
		RefreshToken: aws.String(sftest.RefreshToken), ClientCredentialsArn: aws.String(missing)})
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("profile on a missing secret = %v, want ConnectorAuthenticationException naming it", err)
	}

	// A run logs in again (its stored access token has expired) with the secret.
	if _, err := e.client.CreateFlow(e.ctx, sfSourceFlow("accounts", "sf", "REST_SYNC", accountTasks(), "lake")); err != nil {
		t.Fatal(err)
	}
	e.org.ExpireTokens()
	r := e.run("accounts")
	mustSucceed(t, r)
	// Two profiles, the default app's refusal (the missing secret stops
	// before asking the org), and the run's refresh.
	if n := e.org.Logged("POST /services/oauth2/token"); n != 4 {
		t.Errorf("token requests: %d, want 4", n)
	}
}
