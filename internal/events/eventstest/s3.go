package eventstest

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// What tests of other AWS services need of the same moto_server: S3
// buckets to stage in and KMS keys to encrypt under.

// SetAWSEnvFor is SetAWSEnv for t alone: the settings are restored when
// t ends.
func SetAWSEnvFor(t testing.TB) {
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
	} {
		t.Setenv(k, v)
	}
	os.Unsetenv("AWS_SESSION_TOKEN") // unset, not empty (see SetAWSEnv); t.Setenv restores them
	os.Unsetenv("AWS_PROFILE")
}

// S3 is a path-style S3 client on endpoint with test credentials; it
// creates buckets, failing t on an error.
func S3(t testing.TB, endpoint string, buckets ...string) *s3.Client {
	t.Helper()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	for _, b := range buckets {
		if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("CreateBucket %s: %v", b, err)
		}
	}
	return c
}

// Heads lists bucket's objects under prefix with what HeadObject says of
// each (its encryption, content type, ...), by key.
func Heads(t testing.TB, c *s3.Client, bucket, prefix string) map[string]*s3.HeadObjectOutput {
	t.Helper()
	ctx := context.Background()
	out := map[string]*s3.HeadObjectOutput{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListObjectsV2 %s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("HeadObject %s/%s: %v", bucket, aws.ToString(o.Key), err)
			}
			out[aws.ToString(o.Key)] = h
		}
	}
	return out
}

// KMSKey creates a symmetric key in the KMS at endpoint and returns its
// id and ARN.
func KMSKey(t testing.TB, endpoint string) (id, arn string) {
	t.Helper()
	c := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("appflowd test")})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId), aws.ToString(out.KeyMetadata.Arn)
}

// NotUnderKey lists, of objects from Heads, those not encrypted as a
// flow's kmsArn asks: SSE-KMS under keyArn, or for "" no SSE-KMS at all
// (the bucket's default), each with what it has instead.
func NotUnderKey(objects map[string]*s3.HeadObjectOutput, keyArn string) []string {
	want := "aws:kms"
	if keyArn == "" {
		want = ""
	}
	var out []string
	for k, h := range objects {
		if string(h.ServerSideEncryption) != want || aws.ToString(h.SSEKMSKeyId) != keyArn {
			out = append(out, k+" (SSE "+string(h.ServerSideEncryption)+" under "+aws.ToString(h.SSEKMSKeyId)+")")
		}
	}
	slices.Sort(out)
	return out
}
