package awsconfig

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// SecretsManager returns a client of the secrets_manager endpoint (none:
// AWS) in region (deps.Region when empty), kept in deps.Shared: drivers
// read secrets on every open, and a client loads its configuration once.
func SecretsManager(ctx context.Context, deps connector.Deps, region string) (*secretsmanager.Client, error) {
	if region == "" {
		region = deps.Region
	}
	endpoint := Endpoint(deps, connector.EndpointSecretsManager)
	v, err := deps.Shared.Get("awsconfig.SecretsManager\x00"+aws.ToString(endpoint)+"\x00"+region, func() (any, error) {
		cfg, err := Load(ctx, deps, region)
		if err != nil {
			return nil, err
		}
		return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint }), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*secretsmanager.Client), nil
}

// SecretString reads the secret arn names in the region the ARN names
// (arn:aws:secretsmanager:<region>:<account>:secret:<name>). A secret that
// does not exist is fault.NotFound; the value never appears in an error.
func SecretString(ctx context.Context, deps connector.Deps, arn string) (string, error) {
	region := ""
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
		region = parts[3]
	}
	client, err := SecretsManager(ctx, deps, region)
	if err != nil {
		return "", err
	}
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", SecretsManagerError("GetSecretValue", arn, err)
	}
	return aws.ToString(out.SecretString), nil
}

// SecretsManagerError words a Secrets Manager failure of op on the secret
// name: a missing secret is fault.NotFound, anything else
// fault.ConnectorServer.
func SecretsManagerError(op, name string, err error) error {
	code := fault.ConnectorServer
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		code = fault.NotFound
	}
	return fault.Wrap(code, err, "Secrets Manager %s %s", op, name)
}
