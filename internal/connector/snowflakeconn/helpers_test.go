package snowflakeconn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/snowflakeconn/sfktest"
)

const (
	testToken  = "oauth-test-token"
	stageName  = "DB.PUBLIC.APPFLOW_STAGE"
	bucketName = "stagebucket"
	bucketPfx  = "appflow/in"
)

type fixture struct {
	fake    *sfktest.Server
	srv     *httptest.Server
	dataDir string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []string{bucketName, "errors"} {
		if err := os.MkdirAll(filepath.Join(dir, "s3", b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fake := sfktest.New(testToken)
	fake.Stages[stageName] = filepath.Join(dir, "s3", bucketName, filepath.FromSlash(bucketPfx))
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return &fixture{fake: fake, srv: srv, dataDir: dir}
}

func (fx *fixture) deps() connector.Deps {
	return connector.Deps{
		DataDir:    fx.dataDir,
		HTTPClient: fx.srv.Client(),
		Env: func(k string) string {
			if k == EndpointEnv {
				return fx.srv.URL
			}
			return ""
		},
	}
}

func (fx *fixture) profile(creds map[string]string) connector.Profile {
	props, _ := json.Marshal(Properties{Warehouse: "LOAD_WH", Stage: stageName, BucketName: bucketName, BucketPrefix: bucketPfx, AccountName: "xy12345"})
	if creds == nil {
		creds = map[string]string{"username": "appflow", "accessToken": testToken}
	}
	c, _ := json.Marshal(creds)
	return connector.Profile{Name: "sf", Properties: props, Credentials: c}
}

func (fx *fixture) driver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(fx.deps(), fx.profile(nil))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	d.api.pollEvery = 5 * time.Millisecond
	return d
}

var tableSeq atomic.Int64

// newTable creates DB.PUBLIC.T<n> in the fake and returns its object name.
func (fx *fixture) newTable(cols ...sfktest.Column) string {
	name := fmt.Sprintf("DB.PUBLIC.T%d", tableSeq.Add(1))
	fx.fake.CreateTable(name, cols...)
	return name
}

// stagedKeys lists the objects under the stage bucket.
func (fx *fixture) stagedKeys(t *testing.T) []string {
	t.Helper()
	root := filepath.Join(fx.dataDir, "s3", bucketName)
	var keys []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(root, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	return keys
}

func lowerKeys(rows []map[string]string) []map[string]string {
	out := make([]map[string]string, len(rows))
	for i, r := range rows {
		m := map[string]string{}
		for k, v := range r {
			if v != "" {
				m[strings.ToLower(k)] = v
			}
		}
		out[i] = m
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
