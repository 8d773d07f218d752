package redshiftconn

import (
	"context"
	"strings"

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

// joinKey joins key parts with "/", dropping empty parts and stray slashes.
func joinKey(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}
