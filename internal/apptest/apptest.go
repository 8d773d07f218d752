// Package apptest starts a whole appflowd (app.New) behind an httptest
// server for end-to-end tests, with the real AppFlow SDK client pointed at
// it, so each test states only what is particular to it.
package apptest

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"

	"github.com/appflowd/appflowd/internal/app"
)

// Server is a running appflowd.
type Server struct {
	App     *app.App
	URL     string
	DataDir string
	Client  *appflow.Client
}

// Start assembles an App on cfg and serves it until the test ends. Empty
// cfg fields get test defaults: DataDir t.TempDir(), Region us-east-1,
// AccountID 000000000000. Each named bucket is created as a local bucket
// folder. The client never retries, so a test sees every error as sent.
func Start(t testing.TB, cfg app.Config, buckets ...string) *Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	for _, b := range buckets {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, "s3", b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		a.Close()
	})
	return &Server{
		App: a, URL: srv.URL, DataDir: cfg.DataDir,
		Client: appflow.New(appflow.Options{
			Region: cfg.Region, BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
			HTTPClient:  srv.Client(), RetryMaxAttempts: 1,
		}),
	}
}
