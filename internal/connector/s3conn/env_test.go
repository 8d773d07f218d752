package s3conn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/connector"
)

// moto is one moto_server for the package's tests, started on first use.
var moto struct {
	once     sync.Once
	endpoint string
	err      error
	cmd      *exec.Cmd
}

func TestMain(m *testing.M) {
	// The SDK's default chain reads these; never reach for IMDS or a real profile.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_PROFILE": "",
	} {
		os.Setenv(k, v)
	}
	code := m.Run()
	if moto.cmd != nil && moto.cmd.Process != nil {
		_ = moto.cmd.Process.Kill()
		_ = moto.cmd.Wait()
	}
	os.Exit(code)
}

func startMoto() (string, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", errors.New("moto_server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", err
	}
	moto.cmd = cmd
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return endpoint, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", errors.New("moto_server did not start within 30s")
}

// env is a place buckets live: local folders or moto.
type env struct {
	name   string
	deps   connector.Deps
	client *s3.Client // moto only
	drv    *Driver
}

func localEnv(t testing.TB) *env {
	t.Helper()
	deps := connector.Deps{DataDir: t.TempDir(), Region: "us-east-1",
		Now: func() time.Time { return time.Date(2024, 3, 5, 14, 7, 30, 0, time.UTC) }}
	d, err := New(context.Background(), deps)
	if err != nil {
		t.Fatal(err)
	}
	return &env{name: "local", deps: deps, drv: d}
}

func motoEnv(t testing.TB) *env {
	t.Helper()
	moto.once.Do(func() { moto.endpoint, moto.err = startMoto() })
	if moto.err != nil {
		t.Skipf("skipping S3 API tests: %v", moto.err)
	}
	// The data dir holds the pointers to staging in the bucket.
	deps := connector.Deps{Endpoints: connector.Endpoints{connector.EndpointS3: moto.endpoint}, Region: "us-east-1", DataDir: t.TempDir(),
		Now: func() time.Time { return time.Date(2024, 3, 5, 14, 7, 30, 0, time.UTC) }}
	d, err := New(context.Background(), deps)
	if err != nil {
		t.Fatal(err)
	}
	return &env{name: "moto", deps: deps, client: d.client, drv: d}
}

func randName(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (e *env) makeBucket(t testing.TB) string {
	t.Helper()
	name := randName("bkt-")
	if e.client == nil {
		if err := os.MkdirAll(filepath.Join(e.deps.DataDir, "s3", name), 0o777); err != nil {
			t.Fatal(err)
		}
		return name
	}
	if _, err := e.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return name
}

func (e *env) put(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	if e.client == nil {
		p := filepath.Join(e.deps.DataDir, "s3", bucket, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o666); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
	}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func (e *env) get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	if e.client == nil {
		b, err := os.ReadFile(filepath.Join(e.deps.DataDir, "s3", bucket, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out, err := e.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// list returns key -> size of every object under prefix.
func (e *env) list(t testing.TB, bucket, prefix string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	if e.client == nil {
		root := filepath.Join(e.deps.DataDir, "s3", bucket)
		err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if de.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			key := filepath.ToSlash(rel)
			if strings.HasPrefix(key, prefix) {
				fi, err := de.Info()
				if err != nil {
					return err
				}
				out[key] = fi.Size()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	p := s3.NewListObjectsV2Paginator(e.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, o := range page.Contents {
			out[*o.Key] = *o.Size
		}
	}
	return out
}

// attrsFiles lists fileblob sidecar files anywhere in the local buckets.
func (e *env) attrsFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	if e.client != nil {
		return nil
	}
	_ = filepath.WalkDir(e.deps.DataDir, func(p string, de fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".attrs") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// checkStagingSettled checks that a bucket's staging folders hold nothing
// but publish intents (kept until collected), then collects every finished
// run's staging and checks that nothing is left, in the bucket or the data
// dir.
func (e *env) checkStagingSettled(t testing.TB, bucket string) {
	t.Helper()
	for k := range e.list(t, bucket, "") {
		if isStagingKey(k) && path.Base(k) != intentName {
			t.Errorf("%s: staged object left behind: %s", e.name, k)
		}
	}
	if err := e.drv.CollectStaging(context.Background(), func(string) bool { return false }); err != nil {
		t.Fatalf("CollectStaging: %v", err)
	}
	for k := range e.list(t, bucket, "") {
		if isStagingKey(k) {
			t.Errorf("%s: staging object left after collection: %s", e.name, k)
		}
	}
	if left := e.stagingLeft(t); len(left) != 0 {
		t.Errorf("%s: data dir staging left after collection: %v", e.name, left)
	}
}

// stagingFiles lists what lies under <DataDir>/s3-staging.
func (e *env) stagingFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	root := filepath.Join(e.deps.DataDir, stagingRoot)
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stagingLeft is stagingFiles without the pointers a roll back keeps for
// pointerGrace (they hold no data; collection deletes late arrivals by
// them).
func (e *env) stagingLeft(t testing.TB) []string {
	t.Helper()
	var out []string
	kept := map[string]bool{}
	for _, f := range e.stagingFiles(t) {
		if path.Base(f) == remoteName {
			ref, err := readRemote(filepath.Join(e.deps.DataDir, stagingRoot, path.Dir(f)))
			if err == nil && !ref.RolledBack.IsZero() {
				kept[path.Dir(f)] = true
				continue
			}
		}
		out = append(out, f)
	}
	return slices.DeleteFunc(out, func(f string) bool { return kept[f] })
}
