package catalogreg

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/glue"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/wire"
)

// client is a Glue client at the glue endpoint acting as the flow's
// roleArn, assumed through STS at the sts endpoint as AppFlow assumes it
// (session names the run, or "appflowd-glue" for checks). One exception:
// with Glue at an endpoint (moto, a sandbox) and no sts endpoint, there
// is no STS to assume the role at, and the process's credentials are used.
func client(ctx context.Context, deps connector.Deps, cfg *wire.GlueDataCatalogConfig, session string) (*glue.Client, error) {
	c, err := awsconfig.Load(ctx, deps, "")
	if err != nil {
		return nil, fmt.Errorf("glue: %w", err)
	}
	endpoint := awsconfig.Endpoint(deps, connector.EndpointGlue)
	if cfg.RoleArn != "" && (endpoint == nil || awsconfig.Endpoint(deps, connector.EndpointSTS) != nil) {
		c.Credentials = awsconfig.AssumeRole(c, deps, cfg.RoleArn, session)
	}
	return glue.NewFromConfig(c, func(o *glue.Options) { o.BaseEndpoint = endpoint }), nil
}
