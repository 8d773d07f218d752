package customconn_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/customconn"
)

// TestE2ESecretsEndpoint: with --secrets-endpoint, a custom connector
// profile's credentials are kept in that Secrets Manager (moto here): the
// connector gets the real secret's ARN and reads it there; a refused
// profile leaves no secret behind; deleting the profile deletes it.
func TestE2ESecretsEndpoint(t *testing.T) {
	moto := startMoto(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	ctx := context.Background()
	e := newE2E(t, func(c *app.Config) { c.Endpoints[connector.EndpointSecretsManager] = moto })
	e.conn.SecretsEndpoint = moto // the connector reads the real secret, signed as a Lambda role would
	e.conn.AccessKeyID, e.conn.SecretAccessKey = "test", "test"
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	name := customconn.ProfileSecretName("123456789012", "sm-profile")
	if name != "appflow_123456789012-sm-profile" {
		t.Errorf("secret name = %s", name)
	}
	gone := func(what string) {
		t.Helper()
		_, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		var nf *smtypes.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("%s: DescribeSecret %s = %v, want ResourceNotFoundException", what, name, err)
		}
	}

	e.register(t)
	if _, err := e.c.CreateConnectorProfile(ctx, basicProfile("sm-profile", "wrong")); err == nil || !strings.Contains(err.Error(), "username or password is wrong") {
		t.Fatalf("CreateConnectorProfile with a wrong password: %v", err)
	}
	gone("after a refused CreateConnectorProfile")

	if _, err := e.c.CreateConnectorProfile(ctx, basicProfile("sm-profile", "demo-password")); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatalf("GetSecretValue %s: %v", name, err)
	}
	var secret map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &secret); err != nil || secret["username"] != "demo" || secret["password"] != "demo-password" {
		t.Errorf("secret = %s, %v", aws.ToString(got.SecretString), err)
	}
	// Every call the connector got named that secret's ARN.
	if _, err := e.c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("sm-profile")}); err != nil {
		t.Fatalf("ListConnectorEntities: %v", err)
	}
	for _, r := range e.conn.Requests() {
		var req struct {
			Credentials      *struct{ SecretArn string } `json:"credentials"`
			ConnectorContext *struct {
				Credentials *struct{ SecretArn string } `json:"credentials"`
			} `json:"connectorContext"`
		}
		_ = json.Unmarshal(r.Body, &req)
		arn := ""
		if req.Credentials != nil {
			arn = req.Credentials.SecretArn
		} else if req.ConnectorContext != nil && req.ConnectorContext.Credentials != nil {
			arn = req.ConnectorContext.Credentials.SecretArn
		} else {
			continue
		}
		if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:") || !strings.Contains(arn, ":secret:"+name) {
			t.Errorf("%s named secret %q, want the ARN of %s", r.Type, arn, name)
		}
	}

	// New credentials replace the secret's value.
	upd := basicProfile("sm-profile", "demo-password")
	upd.ConnectorProfileConfig.ConnectorProfileCredentials.CustomConnector.Basic.Username = aws.String("demo")
	e.conn.Password = "rotated"
	upd.ConnectorProfileConfig.ConnectorProfileCredentials.CustomConnector.Basic.Password = aws.String("rotated")
	if _, err := e.c.UpdateConnectorProfile(ctx, &appflow.UpdateConnectorProfileInput{ConnectorProfileName: aws.String("sm-profile"),
		ConnectionMode: upd.ConnectionMode, ConnectorProfileConfig: upd.ConnectorProfileConfig}); err != nil {
		t.Fatalf("UpdateConnectorProfile: %v", err)
	}
	got, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil || !strings.Contains(aws.ToString(got.SecretString), `"rotated"`) {
		t.Errorf("after UpdateConnectorProfile the secret is %v, %v", aws.ToString(got.SecretString), err)
	}

	if _, err := e.c.DeleteConnectorProfile(ctx, &appflow.DeleteConnectorProfileInput{ConnectorProfileName: aws.String("sm-profile")}); err != nil {
		t.Fatalf("DeleteConnectorProfile: %v", err)
	}
	gone("after DeleteConnectorProfile")

	// The name is free again: a new profile of that name gets a new secret.
	if _, err := e.c.CreateConnectorProfile(ctx, basicProfile("sm-profile", "rotated")); err != nil {
		t.Fatalf("CreateConnectorProfile again: %v", err)
	}
	if _, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); err != nil {
		t.Errorf("the re-created profile has no secret: %v", err)
	}
}

func TestProfileSecretName(t *testing.T) {
	if got := customconn.ProfileSecretName("123456789012", "a/b_c+d=e.f@g-h"); got != "appflow_123456789012-a/b_c+d=e.f@g-h" {
		t.Errorf("allowed characters: %s", got)
	}
	a, b := customconn.ProfileSecretName("123456789012", "x!y"), customconn.ProfileSecretName("123456789012", "x#y")
	if a == b || !strings.HasPrefix(a, "appflow_123456789012-x_y-") || strings.ContainsAny(a+b, "!#") {
		t.Errorf("x!y -> %s, x#y -> %s: want distinct names without ! or #", a, b)
	}
}
