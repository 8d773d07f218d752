package salesforceconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// writeFailures puts the records Salesforce rejected, as JSON Lines, at
// s3://bucketName/bucketPrefix/<flow>/<execution>/salesforce-rejected-records.jsonl
// when errorHandlingConfig names a bucket (data-plane spec §8: the error
// file's layout is appflowd's choice, the same as the Redshift writer's).
// Each line is {"split", "line", "reason", "record"}: where the record came
// from, Salesforce's error code and message, and the fields as sent.
func (w *writer) writeFailures(ctx context.Context) error {
	eh := w.eh
	if len(w.res.Failures) == 0 || eh == nil || eh.BucketName == "" {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, f := range w.res.Failures {
		_ = enc.Encode(struct {
			Split  string            `json:"split"`
			Line   int64             `json:"line"`
			Reason string            `json:"reason"`
			Record map[string]string `json:"record"`
		}{f.Split, f.Line, f.Reason, f.Record})
	}
	// The error file outlives a canceled run: the records were rejected.
	ctx = context.WithoutCancel(ctx)
	b, err := w.d.openBucket(ctx, eh.BucketName)
	if err != nil {
		return fmt.Errorf("salesforce: error bucket: %w", err)
	}
	defer b.Close()
	key := joinKey(eh.BucketPrefix, w.flow, w.execution, "salesforce-rejected-records.jsonl")
	if err := b.WriteAll(ctx, key, buf.Bytes(), nil); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "salesforce: write rejected records to s3://%s/%s", eh.BucketName, key)
	}
	return nil
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
