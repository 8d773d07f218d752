package redshiftconn

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

// openBucket opens the intermediate or error bucket the way the S3
// connector does: a folder <DataDir>/s3/<bucket> without Deps.S3Endpoint,
// any S3 API (path-style) with it. A missing bucket is NotFound.
func (d *Driver) openBucket(ctx context.Context, name string) (*blob.Bucket, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return nil, fault.New(fault.Invalid, "redshift: invalid bucket name %q", name)
	}
	if d.deps.S3Endpoint == "" {
		if d.deps.DataDir == "" {
			return nil, fault.New(fault.Invalid, "redshift: no data dir for local buckets and no S3 endpoint")
		}
		dir := filepath.Join(d.deps.DataDir, "s3", name)
		fi, err := os.Stat(dir)
		if errors.Is(err, os.ErrNotExist) || (err == nil && !fi.IsDir()) {
			return nil, fault.New(fault.NotFound, "redshift: bucket %q does not exist (no folder %s)", name, dir)
		}
		if err != nil {
			return nil, fmt.Errorf("redshift: bucket %q: %w", name, err)
		}
		b, err := fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			return nil, fmt.Errorf("redshift: open bucket %q: %w", name, err)
		}
		return b, nil
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
		opts = append(opts, awsHTTPClient(d.deps.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("redshift: load AWS config: %w", err)
	}
	endpoint := d.deps.S3Endpoint
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err != nil {
		return nil, fault.Wrap(fault.NotFound, err, "redshift: bucket %q", name)
	}
	b, err := s3blob.OpenBucket(ctx, client, name, &s3blob.Options{
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	if err != nil {
		return nil, fmt.Errorf("redshift: open bucket %q: %w", name, err)
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
