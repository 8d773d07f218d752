// Package eventstest reads back what appflowd puts on EventBridge, for
// tests: it starts one moto_server per test process (all AWS services on
// one loopback port) and captures a bus's events through a rule whose
// target is an SQS queue, which moto supports (connectors-aws 2.3).
package eventstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

var moto struct {
	once     sync.Once
	endpoint string
	err      error
	cmd      *exec.Cmd
}

// SetAWSEnv points the SDK's default credential chain at static test
// credentials, never at IMDS or a real profile. Call it from TestMain.
func SetAWSEnv() {
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		os.Setenv(k, v)
	}
	// Unset, not empty: moto_server inherits the environment, and boto3
	// takes an empty AWS_PROFILE for a profile named "".
	os.Unsetenv("AWS_SESSION_TOKEN")
	os.Unsetenv("AWS_PROFILE")
}

// Moto returns the endpoint of the process's moto_server, starting it on
// first use; it skips t when moto_server is not installed. The package's
// TestMain must call Stop; packages without one use OwnMoto.
func Moto(t testing.TB) string {
	t.Helper()
	moto.once.Do(func() { moto.endpoint, moto.cmd, moto.err = start() })
	if moto.err != nil {
		t.Skipf("skipping: EventBridge tests need moto_server (%v)", moto.err)
	}
	return moto.endpoint
}

// Stop ends the moto_server Moto started; call it from TestMain.
func Stop() { stop(moto.cmd) }

// OwnMoto starts a moto_server for t alone, stopped when t ends; it skips
// t when moto_server is not installed.
func OwnMoto(t testing.TB) string {
	t.Helper()
	endpoint, cmd, err := start()
	t.Cleanup(func() { stop(cmd) })
	if err != nil {
		t.Skipf("skipping: EventBridge tests need moto_server (%v)", err)
	}
	return endpoint
}

func stop(cmd *exec.Cmd) {
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

func start() (string, *exec.Cmd, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", nil, errors.New("moto_server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if p := os.Getenv("EVENTSTEST_MOTO_LOG"); p != "" {
		if f, err := os.Create(p); err == nil {
			cmd.Stdout, cmd.Stderr = f, f
		}
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return endpoint, cmd, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", cmd, errors.New("moto_server did not start within 30s")
}

// Name returns prefix plus a random suffix, for resources unique per test.
func Name(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Client is an EventBridge client on endpoint with test credentials.
func Client(endpoint string) *eventbridge.Client {
	return eventbridge.New(eventbridge.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Event is an EventBridge event as a rule target receives it.
type Event struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Resources  []string        `json:"resources"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

// Queue captures the events a rule matches.
type Queue struct {
	endpoint, url string
	got           []Event
}

// Subscribe creates bus (unless it is "default" or already exists), an SQS
// queue, and a rule on bus with pattern (an EventBridge event pattern)
// whose target is the queue.
func Subscribe(t testing.TB, endpoint, bus, pattern string) *Queue {
	t.Helper()
	ctx := context.Background()
	eb := Client(endpoint)
	if bus != "default" {
		_, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)})
		var exists *ebtypes.ResourceAlreadyExistsException
		if err != nil && !errors.As(err, &exists) {
			t.Fatalf("create event bus %s: %v", bus, err)
		}
	}
	q := &Queue{endpoint: endpoint}
	var created struct{ QueueUrl string }
	q.call(t, "CreateQueue", map[string]any{"QueueName": Name("q-")}, &created)
	q.url = created.QueueUrl
	var attrs struct{ Attributes map[string]string }
	q.call(t, "GetQueueAttributes", map[string]any{"QueueUrl": q.url, "AttributeNames": []string{"QueueArn"}}, &attrs)
	rule := Name("rule-")
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(bus), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatalf("put rule: %v", err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
		t.Fatalf("put targets: %v", err)
	}
	return q
}

// Events returns every event the queue has received so far. Messages are
// read once and kept, so calling it again is cheap and never loses any.
func (q *Queue) Events(t testing.TB) []Event {
	t.Helper()
	for {
		var out struct {
			Messages []struct{ Body string }
		}
		q.call(t, "ReceiveMessage", map[string]any{"QueueUrl": q.url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 43200}, &out)
		if len(out.Messages) == 0 {
			return q.got
		}
		for _, m := range out.Messages {
			var e Event
			if err := json.Unmarshal([]byte(m.Body), &e); err != nil {
				t.Fatalf("event %q: %v", m.Body, err)
			}
			q.got = append(q.got, e)
		}
	}
}

// Wait returns the events once there are at least n, or fails t after timeout.
func (q *Queue) Wait(t testing.TB, n int, timeout time.Duration) []Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := q.Events(t); len(got) >= n {
			return got
		} else if time.Now().After(deadline) {
			t.Fatalf("got %d events after %s, want %d: %+v", len(got), timeout, n, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call makes one SQS call in the AWS JSON 1.0 protocol, which moto serves.
func (q *Queue) call(t testing.TB, op string, in, out any) {
	t.Helper()
	body, _ := json.Marshal(in)
	req, err := http.NewRequest(http.MethodPost, q.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+op)
	// moto routes a request by the service in its credential scope; it
	// checks no signature.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sqs %s: %v", op, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sqs %s: %s: %s", op, resp.Status, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("sqs %s: %v in %s", op, err, raw)
	}
}
