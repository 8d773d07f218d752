package e2e_test

import (
	"bytes"
	"context"
	"errors"

	"fmt"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
)

// runAt is the clock's start for every server: date folders and file names
// are then known (a run starts within seconds, inside the same minute).
var runAt = time.Date(2024, 3, 5, 14, 7, 0, 0, time.UTC)

// backend is where the buckets live.
type backend interface {
	Name() string
	Endpoint() string // the s3 endpoint of app.Config.Endpoints
	MakeBucket(t *testing.T, name string)
	Put(t *testing.T, bucket, key string, data []byte)
	// List returns every object in the bucket, keyed by key.
	List(t *testing.T, bucket string) map[string][]byte
}

// backends are the backends every S3 test runs against.
var backends = []string{"local", "moto"}

func newBackend(t *testing.T, name, dataDir string) backend {
	t.Helper()
	switch name {
	case "local":
		return &localBackend{dir: filepath.Join(dataDir, "s3")}
	case "moto":
		if motoURL == "" {
			t.Skip(motoSkip)
		}
		c := s3.New(s3.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(motoURL), UsePathStyle: true,
			Credentials:                credentials.NewStaticCredentialsProvider("test", "test", ""),
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
			ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		})
		return &motoBackend{c: c}
	}
	t.Fatalf("unknown backend %q", name)
	return nil
}

// localBackend: buckets are folders <data-dir>/s3/<bucket>.
type localBackend struct{ dir string }

func (b *localBackend) Name() string     { return "local" }
func (b *localBackend) Endpoint() string { return "" }
func (b *localBackend) MakeBucket(t *testing.T, name string) {
	if err := os.MkdirAll(filepath.Join(b.dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
}
func (b *localBackend) Put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	p := filepath.Join(b.dir, bucket, filepath.FromSlash(key))
	if strings.HasSuffix(key, "/") { // a folder marker is a folder here
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
func (b *localBackend) List(t *testing.T, bucket string) map[string][]byte {
	t.Helper()
	root := filepath.Join(b.dir, bucket)
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type motoBackend struct{ c *s3.Client }

func (b *motoBackend) Name() string     { return "moto" }
func (b *motoBackend) Endpoint() string { return motoURL }
func (b *motoBackend) MakeBucket(t *testing.T, name string) {
	t.Helper()
	if _, err := b.c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}
func (b *motoBackend) Put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	_, err := b.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}
func (b *motoBackend) List(t *testing.T, bucket string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(b.c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list s3://%s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			r, err := b.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			var gone *s3types.NoSuchKey
			if errors.As(err, &gone) {
				continue // removed since the listing: a finished run's publish intent
			}
			if err != nil {
				t.Fatalf("get s3://%s/%s: %v", bucket, *o.Key, err)
			}
			data, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[*o.Key] = data
		}
	}
	return out
}

var bucketSeq atomic.Int64

// env is one appflowd server on its own data dir, a backend, a source and a
// destination bucket, and the AppFlow client.
type env struct {
	t       *testing.T
	ctx     context.Context
	be      backend
	dataDir string
	app     *app.App
	client  *appflow.Client
	src     string
	dst     string
}

// newEnv starts appflowd on a fresh data dir over the named backend;
// configure, when given, adjusts its configuration first.
func newEnv(t *testing.T, backendName string, configure ...func(*app.Config)) *env {
	t.Helper()
	dataDir := t.TempDir()
	be := newBackend(t, backendName, dataDir)
	ctx := context.Background()
	start := time.Now()
	cfg := app.Config{
		DataDir: dataDir, Region: "us-east-1", AccountID: "123456789012", Endpoints: connector.Endpoints{connector.EndpointS3: be.Endpoint()},
		Now: func() time.Time { return runAt.Add(time.Since(start)) },
	}
	for _, c := range configure {
		c(&cfg)
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		a.Close()
	})
	client := appflow.New(appflow.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:  srv.Client(), RetryMaxAttempts: 1,
	})
	n := bucketSeq.Add(1)
	frag := safeName(t.Name())
	if len(frag) > 40 {
		frag = frag[len(frag)-40:]
	}
	frag = strings.Trim(frag, "-")
	e := &env{t: t, ctx: ctx, be: be, dataDir: dataDir, app: a, client: client,
		src: fmt.Sprintf("src-%d-%s", n, frag), dst: fmt.Sprintf("dst-%d-%s", n, frag)}
	be.MakeBucket(t, e.src)
	be.MakeBucket(t, e.dst)
	return e
}

// put stores objects in the source bucket.
func (e *env) put(objs map[string]string) {
	e.t.Helper()
	for k, v := range objs {
		e.be.Put(e.t, e.src, k, []byte(v))
	}
}

// output is the destination bucket's objects, with the execution id in the
// keys replaced by "{exec}".
func (e *env) output(execID string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for k, v := range e.be.List(e.t, e.dst) {
		out[strings.ReplaceAll(k, execID, "{exec}")] = string(v)
	}
	return out
}

// flowSpec is what varies between the tests' flows.
type flowSpec struct {
	name      string
	srcPrefix string // default "in"
	inType    types.S3InputFileType
	out       *types.S3OutputFormatConfig // default JSON
	dstPrefix string                      // default "out"
	tasks     []types.Task
}

func (e *env) createFlow(f flowSpec) {
	e.t.Helper()
	if f.srcPrefix == "" {
		f.srcPrefix = "in"
	}
	if f.dstPrefix == "" {
		f.dstPrefix = "out"
	}
	if f.inType == "" {
		f.inType = types.S3InputFileTypeCsv
	}
	if f.out == nil {
		f.out = &types.S3OutputFormatConfig{FileType: types.FileTypeJson}
	}
	_, err := e.client.CreateFlow(e.ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String(f.name),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String(e.src), BucketPrefix: aws.String(f.srcPrefix),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: f.inType}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String(e.dst), BucketPrefix: aws.String(f.dstPrefix), S3OutputFormatConfig: f.out}}}},
		Tasks: f.tasks,
	})
	if err != nil {
		e.t.Fatalf("CreateFlow %s: %v", f.name, err)
	}
}

// start starts an on-demand flow and returns the execution id.
func (e *env) start(flow string) string {
	e.t.Helper()
	out, err := e.client.StartFlow(e.ctx, &appflow.StartFlowInput{FlowName: aws.String(flow)})
	if err != nil {
		e.t.Fatalf("StartFlow %s: %v", flow, err)
	}
	if out.ExecutionId == nil || *out.ExecutionId == "" {
		e.t.Fatalf("StartFlow %s: no executionId", flow)
	}
	return *out.ExecutionId
}

// record returns the execution record of id, or nil.
func (e *env) record(flow, id string) *types.ExecutionRecord {
	e.t.Helper()
	p := appflow.NewDescribeFlowExecutionRecordsPaginator(e.client, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
	for p.HasMorePages() {
		page, err := p.NextPage(e.ctx)
		if err != nil {
			e.t.Fatalf("DescribeFlowExecutionRecords %s: %v", flow, err)
		}
		for i := range page.FlowExecutions {
			if r := &page.FlowExecutions[i]; aws.ToString(r.ExecutionId) == id {
				return r
			}
		}
	}
	return nil
}

// wait polls the execution record until it is neither InProgress nor
// CancelStarted.
func (e *env) wait(flow, id string) *types.ExecutionRecord {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.record(flow, id)
		if r == nil {
			e.t.Fatalf("flow %s: no execution record %s", flow, id)
		}
		switch r.ExecutionStatus {
		case types.ExecutionStatusInprogress, types.ExecutionStatusCancelstarted:
		default:
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("flow %s execution %s still %s after 60s", flow, id, r.ExecutionStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run creates, starts and waits for a flow.
func (e *env) run(f flowSpec) (string, *types.ExecutionRecord) {
	e.t.Helper()
	e.createFlow(f)
	id := e.start(f.name)
	return id, e.wait(f.name, id)
}

// mustSucceed fails the test unless r is Successful.
func mustSucceed(t *testing.T, r *types.ExecutionRecord) {
	t.Helper()
	if r.ExecutionStatus != types.ExecutionStatusSuccessful {
		msg := ""
		if r.ExecutionResult != nil && r.ExecutionResult.ErrorInfo != nil {
			msg = aws.ToString(r.ExecutionResult.ErrorInfo.ExecutionMessage)
		}
		t.Fatalf("execution status %s (%s), want Successful", r.ExecutionStatus, msg)
	}
}

func execMessage(r *types.ExecutionRecord) string {
	if r.ExecutionResult == nil || r.ExecutionResult.ErrorInfo == nil {
		return ""
	}
	return aws.ToString(r.ExecutionResult.ErrorInfo.ExecutionMessage)
}

// forEachBackend runs f as a parallel subtest per backend, in parallel
// with the other tests: runs mostly wait, so this keeps `go test` short.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			f(t, newEnv(t, b))
		})
	}
}

// keys lists a map's keys, sorted, for messages.
func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// outputUnder is output(execID) restricted to keys under dir (which the
// keys lose), the execution id folder "{exec}/" included.
func (e *env) outputUnder(execID, dir string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for k, v := range e.output(execID) {
		if rest, ok := strings.CutPrefix(k, dir+"{exec}/"); ok {
			out[rest] = v
		} else if strings.HasPrefix(k, dir) {
			out[strings.TrimPrefix(k, dir)] = v
		}
	}
	return out
}
