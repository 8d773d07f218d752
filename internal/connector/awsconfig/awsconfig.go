// Package awsconfig builds AWS SDK configuration and clients for drivers,
// the one way appflowd needs them: the process's region, the default
// credential chain, an endpoint override, and an HTTP client that keeps a CA
// bundle (AWS_CA_BUNDLE) working.
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/lambda"
)

// DefaultRegion is used when neither the caller nor the process names one.
const DefaultRegion = "us-east-1"

// Load returns the SDK configuration for region (deps.Region when empty)
// with deps.HTTPClient's timeout. The SDK refuses to load a CA bundle into
// a plain *http.Client, so a client without its own transport is replaced
// by a buildable one with the same timeout.
func Load(ctx context.Context, deps connector.Deps, region string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	if region == "" {
		region = deps.Region
	}
	if region == "" {
		region = DefaultRegion
	}
	all := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if hc := deps.HTTPClient; hc != nil {
		if hc.Transport == nil {
			all = append(all, config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(hc.Timeout)))
		} else {
			all = append(all, config.WithHTTPClient(hc))
		}
	}
	// Loading must not be cut short by the caller's request: the config is
	// often cached beyond it.
	cfg, err := config.LoadDefaultConfig(context.WithoutCancel(ctx), append(all, opts...)...)
	if err != nil {
		return aws.Config{}, fault.Wrap(fault.Internal, err, "load the AWS configuration")
	}
	return cfg, nil
}

// Endpoint is the SDK BaseEndpoint for the AWS service name
// (connector.EndpointS3, ...) in deps.Endpoints: nil = the SDK's own
// resolution (which reads AWS_ENDPOINT_URL_<SERVICE> too).
func Endpoint(deps connector.Deps, name string) *string {
	if u := deps.Endpoints.URL(name); u != "" {
		return aws.String(u)
	}
	return nil
}

// S3Client returns a path-style client for the s3 endpoint, with checksums
// only where required: third-party S3 APIs refuse the SDK's default
// trailing checksums.
func S3Client(ctx context.Context, deps connector.Deps) (*s3.Client, error) {
	cfg, err := Load(ctx, deps, "",
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		return nil, err
	}
	endpoint := Endpoint(deps, connector.EndpointS3)
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = endpoint
		o.UsePathStyle = true
	}), nil
}

// LocalBuckets says buckets are folders under DataDir/s3: no s3 endpoint is set.
func LocalBuckets(deps connector.Deps) bool { return deps.Endpoints.URL(connector.EndpointS3) == "" }

// Buckets opens buckets by name: folders under DataDir/s3 when no S3
// endpoint is set, else buckets of that S3 API.
type Buckets struct {
	deps   connector.Deps
	client *s3.Client // nil for local buckets
}

// NewBuckets returns Buckets for deps.
func NewBuckets(ctx context.Context, deps connector.Deps) (*Buckets, error) {
	b := &Buckets{deps: deps}
	if LocalBuckets(deps) {
		if deps.DataDir == "" {
			return nil, fault.New(fault.Invalid, "no data dir for local buckets and no S3 endpoint")
		}
		return b, nil
	}
	c, err := S3Client(ctx, deps)
	if err != nil {
		return nil, err
	}
	b.client = c
	return b, nil
}

// Client is the S3 API client, nil for local buckets.
func (b *Buckets) Client() *s3.Client { return b.client }

// LocalDir is the folder of a local bucket (see LocalRoot).
func (b *Buckets) LocalDir(name string) string { return filepath.Join(LocalRoot(b.deps), name) }

// CheckKey refuses a key of a local bucket that passes through a symbolic
// link (see CheckLocalPath); an S3 API has no links to follow. Call it
// before reading or writing a key through a bucket Open returned.
func (b *Buckets) CheckKey(bucket, key string) error {
	if b.client != nil {
		return nil
	}
	return CheckLocalPath(b.LocalDir(bucket), bucket, key)
}

// CheckName refuses names that could escape the buckets folder.
func CheckName(name string) error {
	if name == "" {
		return fault.New(fault.Invalid, "bucketName is required")
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return fault.New(fault.Invalid, "invalid bucket name %q", name)
	}
	return nil
}

// OpenBucket opens the bucket name of deps (a folder or an S3 API's, as
// NewBuckets says); a missing one is NotFound.
func OpenBucket(ctx context.Context, deps connector.Deps, name string) (*blob.Bucket, error) {
	return OpenFolder(ctx, deps, name, "")
}

// OpenFolder opens the bucket name, as OpenBucket, for writing below the
// key prefix folder; in a local bucket, a folder on the way to it that is
// a symbolic link is refused (see CheckLocalPath), so what a connector
// stages or writes there stays inside the data dir.
func OpenFolder(ctx context.Context, deps connector.Deps, name, folder string) (*blob.Bucket, error) {
	b, err := NewBuckets(ctx, deps)
	if err != nil {
		return nil, err
	}
	bk, err := b.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	if folder != "" {
		if err := b.CheckKey(name, strings.TrimSuffix(folder, "/")+"/"); err != nil {
			bk.Close()
			return nil, err
		}
	}
	return bk, nil
}

// Open opens a bucket that must exist; a missing one is NotFound, named in
// the error. Local buckets write no metadata files beside objects.
func (b *Buckets) Open(ctx context.Context, name string) (*blob.Bucket, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if b.client == nil {
		return b.openLocal(name)
	}
	if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err != nil {
		var nf *s3types.NotFound
		var nsb *s3types.NoSuchBucket
		if errors.As(err, &nf) || errors.As(err, &nsb) {
			return nil, fault.New(fault.NotFound, "bucket %q does not exist", name)
		}
		return nil, fmt.Errorf("bucket %q: %w", name, err)
	}
	bk, err := s3blob.OpenBucket(ctx, b.client, name, &s3blob.Options{
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %q: %w", name, err)
	}
	return bk, nil
}

// SSEKMS returns opts (which may be nil) with SSE-KMS under keyArn added,
// for an object written through an S3 API; opts itself for "" (and local
// buckets ignore it). opts's own BeforeWrite still runs, after.
func SSEKMS(keyArn string, opts *blob.WriterOptions) *blob.WriterOptions {
	if keyArn == "" {
		return opts
	}
	var o blob.WriterOptions
	if opts != nil {
		o = *opts
	}
	then := o.BeforeWrite
	o.BeforeWrite = func(as func(any) bool) error {
		var in *transfermanager.UploadObjectInput
		if as(&in) {
			in.ServerSideEncryption = tmtypes.ServerSideEncryptionAwsKms
			in.SSEKMSKeyID = aws.String(keyArn)
		}
		if then != nil {
			return then(as)
		}
		return nil
	}
	return &o
}

// SSEKMSCopy is SSEKMS for a copy through an S3 API: the copy carries
// SSE-KMS under keyArn; nil (the bucket's default) for "".
func SSEKMSCopy(keyArn string) *blob.CopyOptions {
	if keyArn == "" {
		return nil
	}
	return &blob.CopyOptions{BeforeCopy: func(as func(any) bool) error {
		var in *s3.CopyObjectInput
		if as(&in) {
			in.ServerSideEncryption = s3types.ServerSideEncryptionAwsKms
			in.SSEKMSKeyId = aws.String(keyArn)
		}
		return nil
	}}
}

// Lambda is the AWS Lambda client custom connectors invoke their Lambdas
// with: the lambda endpoint (a Lambda API's base URL, or a Runtime
// Interface Emulator's .../invocations URL, called unsigned), the
// process's region, and the credentials of Load, loaded on the first
// signed call.
func Lambda(deps connector.Deps) *lambda.Client {
	region := deps.Region
	if region == "" {
		region = DefaultRegion
	}
	return &lambda.Client{Endpoint: deps.Endpoints.URL(connector.EndpointLambda), Region: region, HTTP: deps.HTTPClient,
		Credentials: &loadedCredentials{deps: deps}}
}

// loadedCredentials are the credentials of Load, loaded on first use.
type loadedCredentials struct {
	deps connector.Deps
	once sync.Once
	p    aws.CredentialsProvider
	err  error
}

func (l *loadedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	l.once.Do(func() {
		// Not the invocations' HTTP client: a test server's cannot take
		// AWS_CA_BUNDLE, and credentials come from elsewhere anyway.
		d := l.deps
		d.HTTPClient = nil
		cfg, err := Load(ctx, d, "")
		l.p, l.err = cfg.Credentials, err
		if err == nil && l.p == nil {
			l.err = errors.New("no AWS credentials found")
		}
	})
	if l.err != nil {
		return aws.Credentials{}, l.err
	}
	return l.p.Retrieve(ctx)
}

// AssumeRole is roleArn's credentials, assumed through STS at the sts
// endpoint with cfg's own (session names the caller in the role's
// sessions), cached and renewed before they expire.
func AssumeRole(cfg aws.Config, deps connector.Deps, roleArn, session string) aws.CredentialsProvider {
	c := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = Endpoint(deps, connector.EndpointSTS) })
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(c, roleArn, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = session
	}))
}
