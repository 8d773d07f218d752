// Package s3conn is the S3 connector: a source of CSV and JSON Lines objects,
// a destination that writes CSV, JSON Lines and Parquet in AppFlow's key
// layout, and a catalog of buckets and folders.
//
// Buckets go through gocloud.dev/blob. Without Deps.S3Endpoint a bucket is
// the folder <Deps.DataDir>/s3/<bucket> (fileblob, no sidecar files); with it,
// any S3 API through s3blob on aws-sdk-go-v2, path-style.
package s3conn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// Type is the ConnectorType enum value this package registers.
const Type = "S3"

// stagingDir is the folder, under the destination's bucket prefix, where an
// S3-API run stages its files until Commit. Sources skip it.
const stagingDir = ".appflowd-staging"

func init() { connector.Register(Spec()) }

// Spec is what DescribeConnectors says about S3, plus the opener.
func Spec() connector.Spec {
	return connector.Spec{
		Capabilities: connector.Capabilities{
			Type:                Type,
			Description:         "Amazon S3",
			CanUseAsSource:      true,
			CanUseAsDestination: true,
			NeedsProfile:        false,
			TriggerTypes:        []string{"Scheduled", "OnDemand", "Event"},
			// The user guide lets an S3 source run once a minute (control-plane 7.3).
			Frequencies:        []string{"BYMINUTE", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "ONCE"},
			MinScheduleMinutes: 1,
			SupportedDestinations: []string{"S3", "Snowflake", "Redshift", "Salesforce", "EventBridge",
				"LookoutMetrics", "Honeycode", "Upsolver", "CustomerProfiles", "Zendesk", "Marketo", "CustomConnector"},
			// The model's S3ConnectorOperator enum.
			Operators: []string{"PROJECTION", "LESS_THAN", "GREATER_THAN", "BETWEEN",
				"LESS_THAN_OR_EQUAL_TO", "GREATER_THAN_OR_EQUAL_TO", "EQUAL_TO", "NOT_EQUAL_TO",
				"ADDITION", "MULTIPLICATION", "DIVISION", "SUBTRACTION",
				"MASK_ALL", "MASK_FIRST_N", "MASK_LAST_N",
				"VALIDATE_NON_NULL", "VALIDATE_NON_ZERO", "VALIDATE_NON_NEGATIVE", "VALIDATE_NUMERIC", "NO_OP"},
		},
		Open: Open,
	}
}

// Driver is the S3 driver. It implements connector.SourceDriver,
// connector.DestinationDriver and connector.CatalogDriver.
type Driver struct {
	deps   connector.Deps
	client *s3.Client // nil: local buckets
}

var (
	_ connector.SourceDriver      = (*Driver)(nil)
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
)

// Open is the connector.Opener for S3; the profile is ignored (S3 takes none).
func Open(ctx context.Context, deps connector.Deps, _ connector.Profile) (connector.Driver, error) {
	return New(ctx, deps)
}

// New builds a driver. With deps.S3Endpoint set it loads the default AWS
// credential chain (env AWS_ACCESS_KEY_ID etc.) for region deps.Region.
func New(ctx context.Context, deps connector.Deps) (*Driver, error) {
	d := &Driver{deps: deps}
	if deps.S3Endpoint == "" {
		if deps.DataDir == "" {
			return nil, fault.New(fault.Invalid, "s3: no data dir for local buckets and no S3 endpoint")
		}
		return d, nil
	}
	region := deps.Region
	if region == "" {
		region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		// Third-party S3 APIs reject the SDK's default trailing checksums.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if hc := deps.HTTPClient; hc != nil {
		if hc.Transport == nil {
			// A plain client: hand the SDK a buildable one with the same
			// timeout, so a CA bundle (AWS_CA_BUNDLE, ca_bundle) still
			// applies; the SDK refuses to load one into an *http.Client.
			opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(hc.Timeout)))
		} else {
			opts = append(opts, config.WithHTTPClient(hc))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS config: %w", err)
	}
	endpoint := deps.S3Endpoint
	d.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	return d, nil
}

func (d *Driver) now() time.Time {
	if d.deps.Now != nil {
		return d.deps.Now().UTC()
	}
	return time.Now().UTC()
}

// localDir is the folder of a local bucket.
func (d *Driver) localDir(bucket string) string {
	return filepath.Join(d.deps.DataDir, "s3", bucket)
}

func checkBucketName(name string) error {
	if name == "" {
		return fault.New(fault.Invalid, "s3: bucketName is required")
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return fault.New(fault.Invalid, "s3: invalid bucket name %q", name)
	}
	return nil
}

// openBucket opens a bucket that must exist; a missing one is NotFound,
// named in the error.
func (d *Driver) openBucket(ctx context.Context, name string) (*blob.Bucket, error) {
	if err := checkBucketName(name); err != nil {
		return nil, err
	}
	if d.client == nil {
		dir := d.localDir(name)
		fi, err := os.Stat(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fault.New(fault.NotFound, "s3: bucket %q does not exist (no folder %s)", name, dir)
		}
		if err != nil {
			return nil, fmt.Errorf("s3: bucket %q: %w", name, err)
		}
		if !fi.IsDir() {
			return nil, fault.New(fault.NotFound, "s3: bucket %q does not exist (%s is not a folder)", name, dir)
		}
		b, err := fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			return nil, fmt.Errorf("s3: open bucket %q: %w", name, err)
		}
		return b, nil
	}
	if _, err := d.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err != nil {
		var nf *s3types.NotFound
		var nsb *s3types.NoSuchBucket
		if errors.As(err, &nf) || errors.As(err, &nsb) {
			return nil, fault.New(fault.NotFound, "s3: bucket %q does not exist", name)
		}
		return nil, fmt.Errorf("s3: bucket %q: %w", name, err)
	}
	b, err := s3blob.OpenBucket(ctx, d.client, name, &s3blob.Options{
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: open bucket %q: %w", name, err)
	}
	return b, nil
}

// classify turns a blob error into a fault code, naming what failed.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if fault.CodeOf(err) != fault.Unknown {
		return err
	}
	msg := fmt.Sprintf(format, args...)
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return fault.Wrap(fault.NotFound, err, "%s", msg)
	case gcerrors.PermissionDenied:
		return fault.Wrap(fault.AccessDenied, err, "%s", msg)
	case gcerrors.ResourceExhausted:
		return fault.Wrap(fault.Throttled, err, "%s", msg)
	case gcerrors.Canceled, gcerrors.DeadlineExceeded:
		return fault.Wrap(fault.Canceled, err, "%s", msg)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// isStagingKey reports whether key lies in a destination's staging folder.
func isStagingKey(key string) bool {
	return strings.HasPrefix(key, stagingDir+"/") || strings.Contains(key, "/"+stagingDir+"/")
}
