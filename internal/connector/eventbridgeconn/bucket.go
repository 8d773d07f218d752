package eventbridgeconn

import (
	"context"
	"fmt"

	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector/awsconfig"
)

// openBucket opens the error bucket (large events, rejected records) the way
// every driver opens buckets: a folder <DataDir>/s3/<bucket> without
// an s3 endpoint in Deps.Endpoints, any S3 API with it. A missing bucket is NotFound.
func (d *Driver) openBucket(ctx context.Context, name string) (*blob.Bucket, error) {
	bs, err := awsconfig.NewBuckets(ctx, d.deps)
	if err != nil {
		return nil, fmt.Errorf("eventbridge: %w", err)
	}
	b, err := bs.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("eventbridge: %w", err)
	}
	return b, nil
}
