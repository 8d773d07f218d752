package customconn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
)

// With a secrets_manager endpoint set (--endpoint secrets_manager=URL), a custom
// connector profile's credentials live in that Secrets Manager instead of
// the built-in lender, as AppFlow keeps them: one secret per profile, created
// on first use, overwritten when the credentials change, deleted with the
// profile (deleteProfileSecret). The connector gets the secret's real ARN and
// reads it there. appflowd calls Secrets Manager with the default AWS
// credential chain (AWS_ACCESS_KEY_ID, a profile, a role).
//
// The secret is named appflow_<account>-<profile>: AppFlow's own secrets
// are named appflow!<account>-<profile>-..., but '!' is reserved to AWS
// services; CreateSecret refuses it from anyone else. Characters of a
// profile name a secret name cannot hold are replaced by '_', and then a
// hash of the name is appended so that two profiles never share a secret.

// ProfileSecretName is the Secrets Manager name of a profile's credentials.
func ProfileSecretName(accountID, profile string) string {
	clean := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("/_+=.@-", r) {
			return r
		}
		return '_'
	}, profile)
	name := "appflow_" + accountID + "-" + clean
	if clean != profile {
		sum := sha256.Sum256([]byte(profile))
		name += "-" + hex.EncodeToString(sum[:4])
	}
	return name
}

// smStore keeps profile secrets in one Secrets Manager endpoint.
type smStore struct {
	client *secretsmanager.Client

	mu   sync.Mutex
	have map[string]storedSecret // by name: what this process last wrote or read
}

type storedSecret struct {
	arn string
	sum [32]byte
	at  time.Time
}

// storedTTL bounds how long put trusts what it last wrote: a secret deleted
// or changed outside appflowd is noticed within it.
const storedTTL = 5 * time.Minute

// storeFor is the store of deps' Secrets Manager endpoint and region,
// kept in deps.Shared: a profile is opened for each run and API call, and
// most opens find the secret as it was.
func storeFor(ctx context.Context, deps connector.Deps) (*smStore, error) {
	endpoint := deps.Endpoints.URL(connector.EndpointSecretsManager)
	client, err := awsconfig.SecretsManager(ctx, deps, "")
	if err != nil {
		return nil, err
	}
	v, err := deps.Shared.Get("customconn.smStore\x00"+endpoint+"\x00"+deps.Region, func() (any, error) {
		return &smStore{client: client, have: map[string]storedSecret{}}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*smStore), nil
}

// put makes the secret name hold value and returns its ARN; created says
// the secret did not exist before.
func (s *smStore) put(ctx context.Context, name string, value []byte) (arn string, created bool, err error) {
	sum := sha256.Sum256(value)
	s.mu.Lock()
	h, ok := s.have[name]
	s.mu.Unlock()
	if ok && h.sum == sum && time.Since(h.at) < storedTTL {
		return h.arn, false, nil
	}
	arn, created, err = s.write(ctx, name, value)
	if err != nil {
		return "", false, err
	}
	s.mu.Lock()
	s.have[name] = storedSecret{arn: arn, sum: sum, at: time.Now()}
	s.mu.Unlock()
	return arn, created, nil
}

func (s *smStore) write(ctx context.Context, name string, value []byte) (string, bool, error) {
	cur, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	var nf *smtypes.ResourceNotFoundException
	switch {
	case err == nil && aws.ToString(cur.SecretString) == string(value):
		return aws.ToString(cur.ARN), false, nil
	case err == nil:
		out, err := s.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(string(value))})
		if err != nil {
			return "", false, awsconfig.SecretsManagerError("PutSecretValue", name, err)
		}
		return aws.ToString(out.ARN), false, nil
	case !errors.As(err, &nf):
		var ir *smtypes.InvalidRequestException
		if errors.As(err, &ir) && strings.Contains(strings.ToLower(ir.ErrorMessage()), "deletion") {
			// Scheduled for deletion (deleted outside appflowd with a
			// recovery window): bring it back and overwrite it.
			if _, err := s.client.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(name)}); err != nil {
				return "", false, awsconfig.SecretsManagerError("RestoreSecret", name, err)
			}
			out, err := s.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(string(value))})
			if err != nil {
				return "", false, awsconfig.SecretsManagerError("PutSecretValue", name, err)
			}
			return aws.ToString(out.ARN), false, nil
		}
		return "", false, awsconfig.SecretsManagerError("GetSecretValue", name, err)
	}
	out, err := s.client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		SecretString: aws.String(string(value)),
		Description:  aws.String("AppFlow custom connector profile credentials, kept by appflowd"),
	})
	var exists *smtypes.ResourceExistsException
	if errors.As(err, &exists) { // created meanwhile by another open
		out, err := s.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(string(value))})
		if err != nil {
			return "", false, awsconfig.SecretsManagerError("PutSecretValue", name, err)
		}
		return aws.ToString(out.ARN), false, nil
	}
	if err != nil {
		return "", false, awsconfig.SecretsManagerError("CreateSecret", name, err)
	}
	return aws.ToString(out.ARN), true, nil
}

// remove deletes the secret at once (no recovery window: the profile is
// gone, and its name may be reused).
func (s *smStore) remove(ctx context.Context, name string) error {
	s.mu.Lock()
	delete(s.have, name)
	s.mu.Unlock()
	_, err := s.client.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	var nf *smtypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return awsconfig.SecretsManagerError("DeleteSecret", name, err)
	}
	return nil
}

// deleteProfileSecret deletes the Secrets Manager secret holding a custom
// connector profile's credentials, when appflowd keeps them in one
// (a secrets_manager endpoint set); the service calls it when the profile is
// deleted. Without a secrets endpoint there is nothing to delete: lent
// secrets end with the driver that lent them.
func deleteProfileSecret(ctx context.Context, deps connector.Deps, accountID, profile string) error {
	if deps.Endpoints.URL(connector.EndpointSecretsManager) == "" {
		return nil
	}
	s, err := storeFor(ctx, deps)
	if err != nil {
		return err
	}
	return s.remove(ctx, ProfileSecretName(accountID, profile))
}
