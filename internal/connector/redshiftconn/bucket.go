package redshiftconn

import (
	"context"

	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector/awsconfig"
)

// openBucket opens the intermediate or error bucket the way the S3
// connector does (awsconfig.Buckets). A missing bucket is NotFound.
func (d *Driver) openBucket(ctx context.Context, name string) (*blob.Bucket, error) {
	b, err := awsconfig.NewBuckets(ctx, d.deps)
	if err != nil {
		return nil, err
	}
	return b.Open(ctx, name)
}
