package eventbridgeconn

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/events/eventstest"
	"github.com/appflowd/appflowd/internal/retry"
)

func TestMain(m *testing.M) {
	eventstest.SetAWSEnv()
	code := m.Run()
	eventstest.Stop()
	os.Exit(code)
}

// target is a fresh partner-named destination on moto: moto resolves an
// EventBusName by its last "/" segment, so the bus is created under that
// name and a rule sends the object's events to a queue.
type target struct {
	object string
	queue  *eventstest.Queue
}

func newTarget(t testing.TB, endpoint string) target {
	t.Helper()
	name := eventstest.Name("flow-")
	object := "aws.partner/appflow/salesforce.com/123456789012/" + name
	q := eventstest.Subscribe(t, endpoint, name, `{"source":["`+object+`"]}`)
	return target{object: object, queue: q}
}

// newDriver builds a driver on an EventBridge endpoint and, when s3 is
// not "", an S3 endpoint for large events and rejected records; retries
// do not wait.
func newDriver(t testing.TB, eventBridge, s3 string) *Driver {
	t.Helper()
	deps := connector.Deps{Endpoints: connector.Endpoints{connector.EndpointEventBridge: eventBridge, connector.EndpointS3: s3}, Region: "us-east-1", DataDir: t.TempDir(),
		Now: func() time.Time { return time.Date(2024, 3, 5, 14, 7, 30, 0, time.UTC) }}
	d, err := New(context.Background(), deps)
	if err != nil {
		t.Fatal(err)
	}
	d.Retry = retry.Policy{Attempts: 4, Sleep: func(context.Context, time.Duration) error { return nil }}
	return d
}

func s3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

func makeBucket(t testing.TB, endpoint string) string {
	t.Helper()
	name := eventstest.Name("err-")
	if _, err := s3Client(endpoint).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return name
}

func getObject(t testing.TB, endpoint, bucket, key string) []byte {
	t.Helper()
	out, err := s3Client(endpoint).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b
}

// detailRow renders an event's detail as a connectortest.Row: strings as
// they are, numbers and booleans as their JSON text, null dropped.
func detailRow(t testing.TB, detail json.RawMessage) connectortest.Row {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(detail, &m); err != nil {
		t.Fatalf("detail %s: %v", detail, err)
	}
	row := connectortest.Row{}
	for k, raw := range m {
		var s string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			row[k] = s
		case string(raw) != "null":
			row[k] = string(raw)
		}
	}
	return row
}
