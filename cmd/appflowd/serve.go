package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/restjson"
)

func serveCmd(ctx context.Context, args []string) error {
	var c config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h printed the usage: not a failure
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	if err := c.check(); err != nil {
		return err
	}
	logger := newLogger(c.LogLevel)
	a, err := app.New(ctx, app.Config{
		DataDir: c.DataDir, Region: c.Region, AccountID: c.AccountID, Database: c.Database,
		Endpoints: c.Endpoints, Credentials: c.Credentials, SecretKey: os.Getenv("APPFLOWD_SECRET_KEY"),
		Logger: logger, MaxProfiles: c.MaxProfiles, MaxFlows: c.MaxFlows, MetricsTokenFile: c.MetricsTokenFile,
		TrustedProxies: c.TrustedProxies,
	})
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	httpSrv := newHTTPServer(a.Handler, defaultServerLimits())
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(restjson.Listener(ln)) }()
	logger.Info("appflowd serving", "addr", ln.Addr().String(), "data_dir", c.DataDir,
		"store", a.StoreKind, "sigv4", c.Credentials != "", "version", version)
	warnInsecure(logger, c, ln.Addr().String())

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
	if err := a.Shutdown(shutCtx); err != nil {
		logger.Warn("runs still going at shutdown", "err", err)
	}
	return nil
}

// serverLimits bound how long one connection may hold the server: a slow
// client is cut off while others are served.
type serverLimits struct {
	ReadHeader time.Duration // the request line and headers
	Read       time.Duration // the whole request, body included
	Idle       time.Duration // a keep-alive connection between requests
	Write      time.Duration // from the headers to the end of the response (0: none)
}

// defaultServerLimits: a request (at most 5 MB) must arrive within 30 s,
// so a client that trickles its body is cut off well within a minute. The
// write limit is only a backstop for a client that never reads its
// response: DescribeConnectorEntity and CreateConnectorProfile may wait
// minutes on a remote system (connector HTTP calls time out at 5).
func defaultServerLimits() serverLimits {
	return serverLimits{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Idle: 60 * time.Second, Write: 10 * time.Minute}
}

func newHTTPServer(h http.Handler, l serverLimits) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeader, ReadTimeout: l.Read, IdleTimeout: l.Idle,
		WriteTimeout: l.Write, MaxHeaderBytes: 64 << 10}
}

// warnInsecure says at start-up that --insecure serves the API to anyone.
func warnInsecure(logger *slog.Logger, c config, addr string) {
	if c.Insecure && c.Credentials == "" {
		logger.Warn("--insecure: the API is served without authentication; anyone who can reach this address can use it", "addr", addr)
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// envInt is env for an integer flag; a value that is not one is left for
// the flag's check to refuse (-1).
func envInt(name string, def int) int {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}
