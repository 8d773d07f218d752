package eventbridgeconn

import (
	"context"
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

// openBucket opens the error bucket the way the S3 connector opens
// buckets: a folder <DataDir>/s3/<bucket> without Deps.S3Endpoint, any S3
// API (path-style) with it. A missing bucket is NotFound.
func (d *Driver) openBucket(ctx context.Context, name string) (*blob.Bucket, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return nil, fault.New(fault.Invalid, "eventbridge: invalid bucket name %q", name)
	}
	if d.deps.S3Endpoint == "" {
		if d.deps.DataDir == "" {
			return nil, fault.New(fault.Invalid, "eventbridge: no data dir for local buckets and no S3 endpoint")
		}
		dir := filepath.Join(d.deps.DataDir, "s3", name)
		fi, err := os.Stat(dir)
		if errors.Is(err, os.ErrNotExist) || (err == nil && !fi.IsDir()) {
			return nil, fault.New(fault.NotFound, "eventbridge: bucket %q does not exist (no folder %s)", name, dir)
		}
		if err != nil {
			return nil, fmt.Errorf("eventbridge: bucket %q: %w", name, err)
		}
		b, err := fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			return nil, fmt.Errorf("eventbridge: open bucket %q: %w", name, err)
		}
		return b, nil
	}
	region := d.deps.Region
	if region == "" {
		region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		// Third-party S3 APIs reject the SDK's default trailing checksums.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if d.deps.HTTPClient != nil && d.deps.HTTPClient.Transport != nil {
		opts = append(opts, config.WithHTTPClient(d.deps.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("eventbridge: load AWS config: %w", err)
	}
	endpoint := d.deps.S3Endpoint
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err != nil {
		return nil, fault.Wrap(fault.NotFound, err, "eventbridge: bucket %q", name)
	}
	b, err := s3blob.OpenBucket(ctx, client, name, &s3blob.Options{
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	if err != nil {
		return nil, fmt.Errorf("eventbridge: open bucket %q: %w", name, err)
	}
	return b, nil
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
