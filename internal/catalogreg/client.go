package catalogreg

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/wire"
)

// client is a Glue client at the glue endpoint. On real AWS (no glue
// endpoint set) it acts as the flow's roleArn, assumed through STS; with
// an endpoint (moto, a sandbox) it uses the process's credentials, and
// the role is only recorded in the flow.
func client(ctx context.Context, deps connector.Deps, cfg *wire.GlueDataCatalogConfig) (*glue.Client, error) {
	c, err := awsconfig.Load(ctx, deps, "")
	if err != nil {
		return nil, fmt.Errorf("glue: %w", err)
	}
	endpoint := awsconfig.Endpoint(deps, connector.EndpointGlue)
	if endpoint == nil && cfg.RoleArn != "" {
		stsc := sts.NewFromConfig(c, func(o *sts.Options) { o.BaseEndpoint = awsconfig.Endpoint(deps, connector.EndpointSTS) })
		c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, cfg.RoleArn, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "appflowd-glue"
		}))
	}
	return glue.NewFromConfig(c, func(o *glue.Options) { o.BaseEndpoint = endpoint }), nil
}
