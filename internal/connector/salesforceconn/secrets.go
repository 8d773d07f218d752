package salesforceconn

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// secretTTL is how long a connected app's client id and secret are reused
// before Secrets Manager is asked again (a rotated secret is seen within it).
const secretTTL = 5 * time.Minute

// secretCache holds clientCredentialsArn values across opened drivers (a
// profile is opened for every run and every API call), by secrets_manager
// endpoint and ARN. The process keeps one in Deps.Shared.
type secretCache struct {
	mu sync.Mutex
	m  map[string]cachedSecret
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
		v, err := deps.Shared.Get("salesforceconn.secretCache", func() (any, error) {
			return &secretCache{m: map[string]cachedSecret{}}, nil
		})
		if err != nil {
			return "", "", err
		}
		cache := v.(*secretCache)
		key := deps.Endpoints.URL(connector.EndpointSecretsManager) + "\x00" + arn
		cache.mu.Lock()
		c, ok := cache.m[key]
		cache.mu.Unlock()
		if ok && now().Before(c.until) {
			return c.id, c.secret, nil
		}
		s, err := awsconfig.SecretString(ctx, deps, arn)
		if fault.Is(err, fault.NotFound) {
			return "", "", fault.New(fault.AuthFailed, "Secrets Manager has no secret %s", arn)
		}
		if err != nil {
			return "", "", err
		}
		id, secret, err := parseClientSecret(s)
		if err != nil {
			return "", "", err
		}
		cache.mu.Lock()
		cache.m[key] = cachedSecret{id: id, secret: secret, until: now().Add(secretTTL)}
		cache.mu.Unlock()
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

// ClientSecretReader reads a clientCredentialsArn secret as Salesforce
// does, for drivers whose connected app is a Salesforce one (Pardot).
func ClientSecretReader(deps connector.Deps) func(ctx context.Context, arn string) (id, secret string, err error) {
	return secretsManagerReader(deps)
}
