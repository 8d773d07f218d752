package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	_ "github.com/appflowd/appflowd/internal/connector/all"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/restjson"
	"github.com/appflowd/appflowd/internal/runner"
	"github.com/appflowd/appflowd/internal/secrets"
	"github.com/appflowd/appflowd/internal/service"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/pgstore"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
)

func serveCmd(ctx context.Context, args []string) error {
	var c config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	if err := c.check(); err != nil {
		return err
	}
	logger := newLogger(c.LogLevel)
	srv, err := newServer(ctx, &c, logger)
	if err != nil {
		return err
	}
	defer srv.close()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	httpSrv := &http.Server{Handler: srv.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	logger.Info("appflowd serving", "addr", ln.Addr().String(), "data_dir", c.DataDir,
		"store", srv.storeKind, "sigv4", c.Credentials != "", "version", version)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		logger.Warn("http shutdown", "err", err)
	}
	if err := srv.runner.Shutdown(shutCtx); err != nil {
		logger.Warn("runs still going at shutdown", "err", err)
	}
	return nil
}

// server is the assembled process: store, engine, API.
type server struct {
	store     store.Store
	storeKind string
	runner    *runner.Runner
	handler   http.Handler
}

func (s *server) close() {
	if s.store != nil {
		s.store.Close()
	}
}

func newServer(ctx context.Context, c *config, logger *slog.Logger) (*server, error) {
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s := &server{}
	var err error
	if c.Database == "" {
		s.storeKind = "sqlite"
		s.store, err = sqlitestore.Open(ctx, filepath.Join(c.DataDir, "appflowd.db"))
	} else {
		s.storeKind = "postgres"
		s.store, err = pgstore.Open(ctx, c.Database)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", s.storeKind, err)
	}
	keyring, err := openKeyring(c.DataDir)
	if err != nil {
		s.close()
		return nil, err
	}
	var creds *restjson.Credentials
	if c.Credentials != "" {
		if creds, err = restjson.LoadCredentials(c.Credentials); err != nil {
			s.close()
			return nil, fmt.Errorf("load credentials: %w", err)
		}
	}
	reg := connector.Default()
	catalog.RegisterAll(reg)
	connDeps := connector.Deps{
		DataDir:    c.DataDir,
		S3Endpoint: c.S3Endpoint,
		Region:     c.Region,
		AccountID:  c.AccountID,
		HTTPClient: &http.Client{Timeout: 5 * time.Minute},
		Logger:     logger,
		Now:        time.Now,
	}
	s.runner = runner.New(runner.Deps{Store: s.store, Registry: reg, Keyring: keyring, Connector: connDeps, Logger: logger})
	if s.storeKind == "sqlite" {
		// One process owns a SQLite store, so a run still InProgress was
		// cut short by a crash; say so instead of leaving it running forever.
		if n, err := s.runner.FailOrphans(ctx); err != nil {
			logger.Warn("mark interrupted runs", "err", err)
		} else if n > 0 {
			logger.Warn("marked runs interrupted by a restart as Error", "count", n)
		}
	}
	svc := service.New(service.Deps{
		Store:            s.store,
		Registry:         reg,
		Keyring:          keyring,
		Runner:           s.runner,
		Connector:        connDeps,
		Region:           c.Region,
		DefaultAccountID: c.AccountID,
		Logger:           logger,
	})
	s.handler = restjson.NewHandler(svc, restjson.Options{
		Logger:           logger,
		Credentials:      creds,
		DefaultAccountID: c.AccountID,
		DefaultRegion:    c.Region,
	})
	return s, nil
}

// openKeyring uses APPFLOWD_SECRET_KEY when set (replicas share it), else a
// key file in the data dir, created on first start.
func openKeyring(dataDir string) (*secrets.Keyring, error) {
	if v := os.Getenv("APPFLOWD_SECRET_KEY"); v != "" {
		key, err := secrets.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("APPFLOWD_SECRET_KEY: %w", err)
		}
		return secrets.New(key)
	}
	k, err := secrets.LoadOrCreate(filepath.Join(dataDir, "secret.key"))
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return k, nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
