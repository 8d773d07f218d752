package rejects_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/events/eventstest"
)

// TestErrorBucketSSEKMS: rejected records written to an error bucket
// through an S3 API carry SSE-KMS under the flow's key; without a key,
// none is asked for.
func TestErrorBucketSSEKMS(t *testing.T) {
	eventstest.SetAWSEnvFor(t)
	moto := eventstest.OwnMoto(t)
	ctx := context.Background()
	c := eventstest.S3(t, moto, "errors")
	deps := connector.Deps{Region: "us-east-1", Endpoints: connector.Endpoints{connector.EndpointS3: moto}}
	failures := []connector.RecordFailure{{Split: "rows.csv", Line: 2, Reason: "bad"}}
	const key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
	for _, tc := range []struct{ kms, wantSSE string }{{key, "aws:kms"}, {"", ""}} {
		k, _, err := rejects.Write(ctx, deps, &connector.WriteRequest{FlowName: "flow", ExecutionID: "exec", KMSKeyArn: tc.kms,
			ErrorHandling: &connector.ErrorHandling{BucketName: "errors", BucketPrefix: "p" + tc.wantSSE}}, "rejected.jsonl", failures)
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("errors"), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		if string(head.ServerSideEncryption) != tc.wantSSE || aws.ToString(head.SSEKMSKeyId) != tc.kms {
			t.Errorf("key %q: object %s has SSE %q key %q, want %q and the flow's key", tc.kms, k, head.ServerSideEncryption, aws.ToString(head.SSEKMSKeyId), tc.wantSSE)
		}
	}
}
