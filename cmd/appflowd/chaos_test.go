package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/events/eventstest"
)

// The one-outcome promise under kill -9 during publish: a flow writes one
// object per source object (aggregation None); the server is killed at a
// point picked at random among the run's events (files staged, intent
// stored, k of N files published), restarted, and the run must end either
// Successful with every object and row, or not Successful with none of
// them; no staged data may stay behind, and after a last restart (which
// collects staging) nothing of the staging at all.
//
// APPFLOWD_CHAOS_BIN runs another build (to measure an older one); the
// figures it logs are staging bytes and objects published under Error.

func TestChaosKillDuringPublishLocal(t *testing.T) {
	runChaos(t, &chaosLocal{}, 3000, 3, 8)
}

func TestChaosKillDuringPublishS3API(t *testing.T) {
	runChaos(t, &chaosMoto{}, 400, 3, 8)
}

// One object of 27 MB of JSON Lines: staged by a multipart upload,
// published by one server-side copy.
func TestChaosKillDuringLargePublishS3API(t *testing.T) {
	runChaos(t, &chaosMoto{}, 1, 500_000, 4)
}

// chaosBackend is where the buckets live.
type chaosBackend interface {
	setup(t *testing.T, dataDir string) (args, env []string)
	put(t *testing.T, bucket, key string, data []byte)
	// list returns key -> bytes of the objects under prefix.
	list(t *testing.T, bucket, prefix string) map[string][]byte
	count(t *testing.T, bucket, prefix string) int
	// staged returns the run's staging: data files (or objects) and
	// whether an intent is stored.
	staged(t *testing.T, dataDir, exec string) (files map[string]int64, intent bool)
	// leftovers lists every staging file or object, of any run.
	leftovers(t *testing.T, dataDir string) map[string]int64
	// lateRequests: requests of a killed process may still complete.
	lateRequests() bool
}

func runChaos(t *testing.T, be chaosBackend, objects, rowsPer, iterations int) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly; skipped with -short")
	}
	bin := os.Getenv("APPFLOWD_CHAOS_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "appflowd")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	dataDir := t.TempDir()
	args, env := be.setup(t, dataDir)
	putSources(t, be, objects, rowsPer)
	addr := freeAddr(t)
	logf := filepath.Join(t.TempDir(), "serve.log")
	srv := startChaosServe(t, bin, addr, dataDir, logf, args, env)
	client := newClient(addr)
	ctx := context.Background()
	if _, err := client.CreateFlow(ctx, chaosFlow()); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 10))
	var stagedBytes, underError, successful, failed int64
	for i := range iterations {
		out, err := client.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("chaos")})
		if err != nil {
			t.Fatalf("iteration %d: StartFlow: %v", i, err)
		}
		exec := aws.ToString(out.ExecutionId)
		point := killPoint(be, t, dataDir, exec, objects, rng)
		if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		srv.Wait()
		srv = startChaosServe(t, bin, addr, dataDir, logf, args, env)

		rec := waitFinal(t, client, exec)
		outs := be.list(t, "lake", "out/chaos/"+exec+"/")
		rows, size := 0, 0
		for _, b := range outs {
			rows += bytes.Count(b, []byte("\n"))
			size += len(b)
		}
		files, _ := be.staged(t, dataDir, exec)
		var left int64
		for _, n := range files {
			left += n
		}
		stagedBytes += left
		t.Logf("iteration %d: killed %s; %s with %d of %d objects, %d rows (%d bytes); %d staged bytes left",
			i, point, rec.ExecutionStatus, len(outs), objects, rows, size, left)
		if rec.ExecutionStatus == types.ExecutionStatusSuccessful {
			successful++
			want := int64(objects * rowsPer)
			if len(outs) != objects || rows != objects*rowsPer || aws.ToInt64(rec.ExecutionResult.RecordsProcessed) != want {
				t.Errorf("iteration %d (%s): Successful with %d objects, %d rows, recordsProcessed %d; want %d, %d, %d",
					i, point, len(outs), rows, aws.ToInt64(rec.ExecutionResult.RecordsProcessed), objects, want, want)
			}
		} else {
			failed++
			underError += int64(len(outs))
			if len(outs) != 0 {
				t.Errorf("iteration %d (%s): %s (%q) with %d objects published; want none", i, point,
					rec.ExecutionStatus, chaosMessage(rec), len(outs))
			}
		}
		if left != 0 && !be.lateRequests() {
			t.Errorf("iteration %d (%s): %d staged files (%d bytes) left after the run ended", i, point, len(files), left)
		}
	}

	// A restart collects the staging (intents included) of every run. An
	// S3 API may complete a request of a killed process after the restart
	// rolled its run back (a CompleteMultipartUpload in flight): the next
	// collection deletes it, so restart up to three times.
	var left map[string]int64
	for range 3 {
		if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		srv.Wait()
		srv = startChaosServe(t, bin, addr, dataDir, logf, args, env)
		deadline := time.Now().Add(20 * time.Second)
		for {
			left = be.leftovers(t, dataDir)
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if len(left) == 0 {
			break
		}
	}
	var total int64
	for _, n := range left {
		total += n
	}
	t.Logf("%d kills: %d Successful, %d not; %d objects published under Error; %d staged bytes left after the runs ended; "+
		"after a restart %d staging entries (%d bytes) left", iterations, successful, failed, underError, stagedBytes, len(left), total)
	if len(left) != 0 {
		t.Errorf("staging left after a restart: %d entries, %d bytes, e.g. %v", len(left), total, firstKeys(left, 5))
	}
	if t.Failed() {
		if b, err := os.ReadFile(logf); err == nil {
			t.Logf("serve log (tail):\n%s", tail(string(b), 4000))
		}
	}
}

// killPoint waits for an event of the run picked at random and returns it
// named: files being staged, the intent stored, k of the files published.
// A run that ends before its event is killed all the same.
func killPoint(be chaosBackend, t *testing.T, dataDir, exec string, objects int, rng *rand.Rand) (name string) {
	t.Helper()
	var done func() bool
	switch mode := rng.IntN(3); mode {
	case 0:
		n := 1 + rng.IntN(max(1, objects-1))
		name = fmt.Sprintf("after %d staged files", n)
		done = func() bool { f, _ := be.staged(t, dataDir, exec); return len(f) >= n }
	case 1:
		name = "after the intent was stored"
		done = func() bool { _, in := be.staged(t, dataDir, exec); return in }
	default:
		k := 1 + rng.IntN(max(1, objects-1))
		name = fmt.Sprintf("after %d published objects", k)
		done = func() bool { return be.count(t, "lake", "out/chaos/"+exec+"/") >= k }
	}
	ended := func() bool { return be.count(t, "lake", "out/chaos/"+exec+"/") >= objects }
	deadline := time.Now().Add(3 * time.Minute)
	defer func() {
		// Say whether the kill found an upload unfinished.
		f, _ := be.staged(t, dataDir, exec)
		for k := range f {
			if strings.HasPrefix(k, "upload:") {
				name += " (an upload unfinished)"
				break
			}
		}
	}()
	for !done() {
		if ended() {
			name += " (the publish ended first)"
			return name
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: no event %q within 3 minutes", exec, name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return name
}

func waitFinal(t *testing.T, client *appflow.Client, exec string) types.ExecutionRecord {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := client.DescribeFlowExecutionRecords(context.Background(),
			&appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("chaos")})
		if err != nil {
			t.Fatalf("DescribeFlowExecutionRecords: %v", err)
		}
		for _, r := range out.FlowExecutions {
			if aws.ToString(r.ExecutionId) != exec {
				continue
			}
			switch r.ExecutionStatus {
			case types.ExecutionStatusInprogress, types.ExecutionStatusCancelstarted:
			default:
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not end within 3 minutes of the restart", exec)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func chaosMessage(r types.ExecutionRecord) string {
	if r.ExecutionResult != nil && r.ExecutionResult.ErrorInfo != nil {
		return aws.ToString(r.ExecutionResult.ErrorInfo.ExecutionMessage)
	}
	return ""
}

func chaosFlow() *appflow.CreateFlowInput {
	return &appflow.CreateFlowInput{
		FlowName:      aws.String("chaos"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("raw"), BucketPrefix: aws.String("in"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("lake"), BucketPrefix: aws.String("out"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeJson,
					AggregationConfig: &types.AggregationConfig{AggregationType: types.AggregationTypeNone}}}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
	}
}

func putSources(t *testing.T, be chaosBackend, n, rows int) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				var b strings.Builder
				b.WriteString("id,name,amount\n")
				for r := range rows {
					fmt.Fprintf(&b, "%d,name %d-%d,%d.%02d\n", i*rows+r, i, r, i, r%100)
				}
				be.put(t, "raw", fmt.Sprintf("in/obj-%05d.csv", i), []byte(b.String()))
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func startChaosServe(t *testing.T, bin, addr, dataDir, logf string, args, env []string) *exec.Cmd {
	t.Helper()
	lf, err := os.OpenFile(logf, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "info"}, args...)...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitAnswers(t, addr)
	return cmd
}

func waitAnswers(t *testing.T, addr string) {
	t.Helper()
	client := newClient(addr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := client.ListFlows(context.Background(), &appflow.ListFlowsInput{})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("appflowd did not answer on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func firstKeys(m map[string]int64, n int) []string {
	var out []string
	for k := range m {
		if len(out) == n {
			break
		}
		out = append(out, k)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// ---- local buckets

type chaosLocal struct{ dataDir string }

func (b *chaosLocal) setup(t *testing.T, dataDir string) ([]string, []string) {
	b.dataDir = dataDir
	for _, d := range []string{"raw", "lake"} {
		if err := os.MkdirAll(filepath.Join(dataDir, "s3", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return nil, nil
}

func (b *chaosLocal) put(t *testing.T, bucket, key string, data []byte) {
	p := filepath.Join(b.dataDir, "s3", bucket, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Error(err)
	}
}

func (b *chaosLocal) list(t *testing.T, bucket, prefix string) map[string][]byte {
	out := map[string][]byte{}
	root := filepath.Join(b.dataDir, "s3", bucket)
	dir := filepath.Join(root, filepath.FromSlash(prefix))
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // a file moved meanwhile, or no folder yet
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	return out
}

func (b *chaosLocal) count(t *testing.T, bucket, prefix string) int {
	n := 0
	_ = filepath.WalkDir(filepath.Join(b.dataDir, "s3", bucket, filepath.FromSlash(prefix)), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// staged reads <data>/s3-staging/<exec>-*/: files but the intent.
func (b *chaosLocal) staged(t *testing.T, dataDir, exec string) (map[string]int64, bool) {
	files := map[string]int64{}
	intent := false
	dirs, _ := filepath.Glob(filepath.Join(dataDir, "s3-staging", exec+"-*"))
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.Name() == "intent.json" {
				intent = true
				continue
			}
			if fi, err := e.Info(); err == nil {
				files[filepath.Join(filepath.Base(d), e.Name())] = fi.Size()
			}
		}
	}
	return files, intent
}

func (b *chaosLocal) lateRequests() bool { return false }

func (b *chaosLocal) leftovers(t *testing.T, dataDir string) map[string]int64 {
	return walkSizes(filepath.Join(dataDir, "s3-staging"))
}

// walkSizes lists the files and folders under root with their sizes.
func walkSizes(root string) map[string]int64 {
	out := map[string]int64{}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return nil
		}
		var n int64
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			n = fi.Size()
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = n
		return nil
	})
	return out
}

// ---- an S3 API (moto)

type chaosMoto struct {
	c *s3.Client
}

func (b *chaosMoto) setup(t *testing.T, dataDir string) ([]string, []string) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull}
	for k, v := range env {
		t.Setenv(k, v)
	}
	endpoint := eventstest.OwnMoto(t)
	b.c = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	for _, name := range []string{"raw", "lake"} {
		if _, err := b.c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Fatalf("create bucket %s: %v", name, err)
		}
	}
	return []string{"--s3-endpoint", endpoint}, nil
}

func (b *chaosMoto) put(t *testing.T, bucket, key string, data []byte) {
	if _, err := b.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(data)}); err != nil {
		t.Errorf("put %s: %v", key, err)
	}
}

func (b *chaosMoto) keys(t *testing.T, bucket, prefix string) map[string]int64 {
	out := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(b.c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	return out
}

func (b *chaosMoto) count(t *testing.T, bucket, prefix string) int {
	return len(b.keys(t, bucket, prefix))
}

func (b *chaosMoto) list(t *testing.T, bucket, prefix string) map[string][]byte {
	out := map[string][]byte{}
	for k := range b.keys(t, bucket, prefix) {
		r, err := b.c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("get s3://%s/%s: %v", bucket, k, err)
		}
		data, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = data
	}
	return out
}

// staged lists lake/out/.appflowd-staging/<exec>-*/ and the run's
// unfinished multipart uploads there.
func (b *chaosMoto) staged(t *testing.T, dataDir, exec string) (map[string]int64, bool) {
	files := map[string]int64{}
	intent := false
	for k, n := range b.keys(t, "lake", "out/.appflowd-staging/"+exec+"-") {
		if strings.HasSuffix(k, "/intent.json") {
			intent = true
			continue
		}
		files[k] = n
	}
	for k, n := range b.uploads(t, "out/.appflowd-staging/"+exec+"-") {
		files[k] = n
	}
	return files, intent
}

// uploads lists unfinished multipart uploads under prefix with the bytes
// of their parts.
func (b *chaosMoto) uploads(t *testing.T, prefix string) map[string]int64 {
	out := map[string]int64{}
	res, err := b.c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("lake"), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatalf("list uploads: %v", err)
	}
	for _, u := range res.Uploads {
		var n int64
		parts, err := b.c.ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String("lake"), Key: u.Key, UploadId: u.UploadId})
		var nf interface{ ErrorCode() string }
		if err != nil && !(errors.As(err, &nf) && nf.ErrorCode() == "NoSuchUpload") {
			t.Fatalf("list parts: %v", err)
		}
		if err == nil {
			for _, p := range parts.Parts {
				n += aws.ToInt64(p.Size)
			}
		}
		out["upload:"+aws.ToString(u.Key)] = n
	}
	return out
}

func (b *chaosMoto) lateRequests() bool { return true }

// leftovers skips the pointers a roll back keeps in the data dir for a
// while (no data: they let collection delete requests of the killed
// process that land late).
func (b *chaosMoto) leftovers(t *testing.T, dataDir string) map[string]int64 {
	root := filepath.Join(dataDir, "s3-staging")
	out := walkSizes(root)
	for k := range out {
		if filepath.Base(k) != "remote.json" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, k))
		if err == nil && bytes.Contains(data, []byte(`"rolledBack"`)) {
			if entries, _ := os.ReadDir(filepath.Join(root, filepath.Dir(k))); len(entries) == 1 {
				delete(out, k)
				delete(out, filepath.Dir(k))
			}
		}
	}
	for k, n := range b.keys(t, "lake", "out/.appflowd-staging/") {
		out["s3://lake/"+k] = n
	}
	for k, n := range b.uploads(t, "out/.appflowd-staging/") {
		out[k] = n
	}
	return out
}
