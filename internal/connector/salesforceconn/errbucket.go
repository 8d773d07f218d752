package salesforceconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"

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

// openBucket opens the error bucket the way the S3 connector does: a
// folder <DataDir>/s3/<bucket> without Deps.S3Endpoint, any S3 API
// (path-style) with it. A missing bucket is NotFound.
func (d *Driver) openBucket(ctx context.Context, name string) (*blob.Bucket, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return nil, fault.New(fault.Invalid, "invalid bucket name %q", name)
	}
	if d.deps.S3Endpoint == "" {
		if d.deps.DataDir == "" {
			return nil, fault.New(fault.Invalid, "no data dir for local buckets and no S3 endpoint")
		}
		dir := filepath.Join(d.deps.DataDir, "s3", name)
		fi, err := os.Stat(dir)
		if errors.Is(err, os.ErrNotExist) || (err == nil && !fi.IsDir()) {
			return nil, fault.New(fault.NotFound, "bucket %q does not exist (no folder %s)", name, dir)
		}
		if err != nil {
			return nil, fmt.Errorf("bucket %q: %w", name, err)
		}
		return fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
	}
	region := d.deps.Region
	if region == "" {
		region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if d.deps.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(d.deps.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(d.deps.S3Endpoint)
		o.UsePathStyle = true
	})
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err != nil {
		return nil, fault.Wrap(fault.NotFound, err, "bucket %q", name)
	}
	return s3blob.OpenBucket(ctx, client, name, &s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
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
