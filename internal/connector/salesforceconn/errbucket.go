package salesforceconn

import (
	"context"

	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/connector/rejects"
)

// writeFailures writes the records Salesforce rejected to the error bucket,
// when errorHandlingConfig names one.
func (w *writer) writeFailures(ctx context.Context) error {
	_, _, err := rejects.Write(ctx, w.d.deps, w.req, "salesforce-rejected-records.jsonl", w.Result.Failures)
	return err
}

// openBucket opens the error bucket the way the S3
// connector does (awsconfig.Buckets). A missing bucket is NotFound.
func (d *Driver) openBucket(ctx context.Context, name string) (*blob.Bucket, error) {
	b, err := awsconfig.NewBuckets(ctx, d.deps)
	if err != nil {
		return nil, err
	}
	return b.Open(ctx, name)
}
