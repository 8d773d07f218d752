package salesforceconn

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// secretTTL is how long a connected app's client id and secret are reused
// before Secrets Manager is asked again (a rotated secret is seen within it).
const secretTTL = 5 * time.Minute

// secretCache holds clientCredentialsArn values across opened drivers: a
// profile is opened for every run and every API call.
var secretCache struct {
	sync.Mutex
	m map[string]cachedSecret
}

type cachedSecret struct {
	id, secret string
	until      time.Time
}

// secretsManagerReader reads a connected app's client id and secret from
// the AWS Secrets Manager secret a profile's clientCredentialsArn names,
// through GetSecretValue at the secrets_manager endpoint (none = AWS, in the ARN's
// region) with the default AWS credential chain. AppFlow documents only
// that the secret "contains the client ID and client secret of the
// connected app"; the JSON keys read are clientId and clientSecret, with
// client_id and client_secret as fallbacks. Values are never logged nor
// put in errors.
func secretsManagerReader(deps connector.Deps) func(ctx context.Context, arn string) (string, string, error) {
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context, arn string) (string, string, error) {
		key := deps.Endpoints.URL(connector.EndpointSecretsManager) + "\x00" + arn
		secretCache.Lock()
		c, ok := secretCache.m[key]
		secretCache.Unlock()
		if ok && now().Before(c.until) {
			return c.id, c.secret, nil
		}
		client, err := secretsClient(ctx, deps, arn)
		if err != nil {
			return "", "", err
		}
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			var nf *smtypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				return "", "", fault.New(fault.AuthFailed, "Secrets Manager has no secret %s", arn)
			}
			return "", "", fault.Wrap(fault.ConnectorServer, err, "Secrets Manager GetSecretValue")
		}
		id, secret, err := parseClientSecret(aws.ToString(out.SecretString))
		if err != nil {
			return "", "", err
		}
		secretCache.Lock()
		if secretCache.m == nil {
			secretCache.m = map[string]cachedSecret{}
		}
		secretCache.m[key] = cachedSecret{id: id, secret: secret, until: now().Add(secretTTL)}
		secretCache.Unlock()
		return id, secret, nil
	}
}

// parseClientSecret reads {"clientId": ..., "clientSecret": ...}; its
// errors never quote the value.
func parseClientSecret(s string) (id, secret string, err error) {
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return "", "", fault.New(fault.AuthFailed, "the clientCredentialsArn secret is not a JSON object with clientId and clientSecret")
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := m[k].(string); ok && v != "" {
				return v
			}
		}
		return ""
	}
	id, secret = str("clientId", "client_id"), str("clientSecret", "client_secret")
	if id == "" {
		return "", "", fault.New(fault.AuthFailed, "the clientCredentialsArn secret has no clientId")
	}
	return id, secret, nil
}

func secretsClient(ctx context.Context, deps connector.Deps, arn string) (*secretsmanager.Client, error) {
	region := deps.Region
	// arn:aws:secretsmanager:<region>:<account>:secret:<name>
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 && parts[3] != "" {
		region = parts[3]
	}
	cfg, err := awsconfig.Load(ctx, deps, region)
	if err != nil {
		return nil, err
	}
	endpoint := awsconfig.Endpoint(deps, connector.EndpointSecretsManager)
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint }), nil
}

// ClientSecretReader reads a clientCredentialsArn secret as Salesforce
// does, for drivers whose connected app is a Salesforce one (Pardot).
func ClientSecretReader(deps connector.Deps) func(ctx context.Context, arn string) (id, secret string, err error) {
	return secretsManagerReader(deps)
}
