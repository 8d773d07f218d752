// Package app assembles an appflowd process from its configuration: the
// store, the sealed-credentials key, the connector registry, the runner and
// the API handler. cmd/appflowd serves it; end-to-end tests start it in
// process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	_ "github.com/appflowd/appflowd/internal/connector/all" // every built-in driver
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/connector/s3conn"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn"
	"github.com/appflowd/appflowd/internal/events"
	"github.com/appflowd/appflowd/internal/jobs"
	"github.com/appflowd/appflowd/internal/metrics"
	"github.com/appflowd/appflowd/internal/restjson"
	"github.com/appflowd/appflowd/internal/runner"
	"github.com/appflowd/appflowd/internal/secretlend"
	"github.com/appflowd/appflowd/internal/secrets"
	"github.com/appflowd/appflowd/internal/service"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/pgstore"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
	"github.com/appflowd/appflowd/internal/wire"
)

// The queue runs, recovers and collects through the runner.
var _ jobs.Executor = (*runner.Runner)(nil)

// Config is what `appflowd serve` is given.
type Config struct {
	DataDir   string
	Region    string
	AccountID string
	Database  string // "" = SQLite in DataDir; else a postgres:// URL
	// Endpoints points outside services elsewhere (--endpoint): see
	// connector.Deps. Without "s3", buckets are local folders in DataDir/s3;
	// without "eventbridge", no flow events are sent.
	Endpoints   connector.Endpoints
	Credentials string // a credentials file; "" = SigV4 off
	// SecretKey, when set, is the base64 key sealing stored credentials;
	// else DataDir/secret.key (created on first start).
	SecretKey string
	Logger    *slog.Logger
	Now       func() time.Time // nil: time.Now
	// MaxProfiles and MaxFlows are the per-account quotas (0: AppFlow's
	// defaults, 100 and 1,000).
	MaxProfiles, MaxFlows int
	// MetricsTokenFile holds a bearer token that GET /metrics accepts
	// besides SigV4 when Credentials is set ("" = SigV4 only).
	MetricsTokenFile string
	// PlanInterval is how often the leader plans scheduled runs and polls
	// the sources of event flows (0: jobs.DefaultPlanInterval; negative:
	// never, for tests that call App.Queue.Scheduler().Tick).
	PlanInterval time.Duration
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client that the console's sign-in limit counts against.
	TrustedProxies []netip.Prefix
}

// App is an assembled appflowd.
type App struct {
	Store     store.Store
	StoreKind string // "sqlite" or "postgres"
	Runner    *runner.Runner
	Queue     *jobs.Queue // runs every flow run as a River job; plans schedules
	Service   *service.Service
	Metrics   *metrics.Metrics // served on GET /metrics of Handler
	Handler   http.Handler

	unlock func() // releases the data dir
}

// Close releases the store. Call Shutdown first to finish runs.
func (a *App) Close() error {
	var errs []error
	if a.Queue != nil {
		errs = append(errs, a.Queue.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	if a.unlock != nil {
		a.unlock()
	}
	return errors.Join(errs...)
}

// Shutdown stops the queue: it stops fetching and lets runs finish; past
// ctx it interrupts them and hands them back to the queue.
func (a *App) Shutdown(ctx context.Context) error {
	return a.Queue.Stop(ctx)
}

// registry is the process's connector registry: the catalog entries of
// every AppFlow connector type merged with the drivers that registered.
func registry() *connector.Registry {
	reg := connector.Default()
	registerCatalog(reg)
	return reg
}

// catalogOnce adds the catalog once per process: tests assemble several
// Apps, and a second RegisterAll on the same registry would panic.
var catalogOnce sync.Once

func registerCatalog(reg *connector.Registry) {
	catalogOnce.Do(func() { catalog.RegisterAll(reg) })
}

// Registry returns the process's connector registry (for `appflowd run`).
func Registry() *connector.Registry { return registry() }

// New assembles an App.
func New(ctx context.Context, c Config) (*App, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	a := &App{}
	var err error
	if a.unlock, err = lockDataDir(c.DataDir); err != nil {
		return nil, err
	}
	if c.Database == "" {
		a.StoreKind = "sqlite"
		a.Store, err = sqlitestore.Open(ctx, filepath.Join(c.DataDir, "appflowd.db"))
	} else {
		a.StoreKind = "postgres"
		a.Store, err = pgstore.Open(ctx, c.Database)
	}
	if err != nil {
		a.unlock()
		return nil, fmt.Errorf("open %s store: %w", a.StoreKind, err)
	}
	keyring, err := openKeyring(c.DataDir, c.SecretKey)
	if err != nil {
		a.Close()
		return nil, err
	}
	var creds *restjson.Credentials
	if c.Credentials != "" {
		if creds, err = restjson.LoadCredentials(c.Credentials); err != nil {
			a.Close()
			return nil, fmt.Errorf("load credentials: %w", err)
		}
	}
	reg := registry()
	secretServer := secretlend.NewServer(c.Region, c.Now)
	secretServer.Credentials = creds // signed callers only; without, loopback only
	connDeps := connector.Deps{
		DataDir:    c.DataDir,
		Endpoints:  c.Endpoints,
		Region:     c.Region,
		AccountID:  c.AccountID,
		HTTPClient: &http.Client{Timeout: 5 * time.Minute},
		Logger:     c.Logger,
		Now:        c.Now,
		// Custom connectors: their Lambdas, their registrations, and the
		// secrets endpoint they read credentials from (served below).
		CustomConnector: service.CustomConnectorLookup(a.Store),
		Secrets:         secretServer,
		// Drivers' documented settings (APPFLOWD_SALESFORCE_CLIENT_ID, ...).
		Env: os.Getenv,
		// Every other account's local buckets are a tree of their own.
		DefaultAccountID: c.AccountID,
		// What drivers keep across opens (SDK clients, secrets, limits).
		Shared: connector.NewShared(),
	}
	keyring.SetKMS(awsconfig.NewKMS(connDeps)) // profiles that name a kmsArn
	a.Metrics = metrics.New()
	// Flow events go to the default bus at the eventbridge endpoint, if any.
	emitter, err := events.New(ctx, events.Config{Endpoint: c.Endpoints.URL(connector.EndpointEventBridge), Region: c.Region, Logger: c.Logger,
		HTTPClient: &http.Client{Timeout: time.Minute}})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Runner = runner.New(runner.Deps{Store: a.Store, Registry: reg, Keyring: keyring, Connector: connDeps, Logger: c.Logger, Now: c.Now, Metrics: a.Metrics,
		Events: emitter})
	// River's tables: beside the store in PostgreSQL; in SQLite a file of
	// their own, so River's polling writes never queue API writes.
	qc := jobs.Config{Store: a.Store, Executor: a.Runner, Logger: c.Logger, Now: c.Now, PlanInterval: c.PlanInterval, Events: emitter,
		// One process owns a SQLite store (the data dir's lock says so):
		// a run claimed before this start was cut short by a crash, and
		// is settled at once rather than after its lease.
		OwnsAllRuns: a.StoreKind == "sqlite",
		// Event-triggered flows: S3 sources are polled by listing,
		// Salesforce sources by change data capture (Streaming API).
		EventSources: map[string]jobs.EventSource{
			"S3":                s3conn.NewEventSource(connDeps),
			salesforceconn.Type: salesforceconn.NewEventSource(connDeps, a.Runner.Profile),
		}}
	if a.StoreKind == "sqlite" {
		a.Queue, err = jobs.OpenSQLite(ctx, filepath.Join(c.DataDir, "river.db"), qc)
	} else {
		a.Queue, err = jobs.OpenPostgres(ctx, c.Database, qc)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	// Not ctx: a canceled start context would hard-stop the queue; Shutdown stops it.
	if err := a.Queue.Run(context.WithoutCancel(ctx)); err != nil {
		a.Close()
		return nil, fmt.Errorf("start job queue: %w", err)
	}
	a.Service = service.New(service.Deps{
		Store:            a.Store,
		Registry:         reg,
		Keyring:          keyring,
		Runner:           a.Queue,
		Connector:        connDeps,
		Region:           c.Region,
		DefaultAccountID: c.AccountID,
		Logger:           c.Logger,
		Now:              c.Now,
		MaxProfiles:      c.MaxProfiles,
		MaxFlows:         c.MaxFlows,
	})
	api := secretServer.Wrap(restjson.NewHandler(a.Service, restjson.Options{
		Logger:           c.Logger,
		Credentials:      creds,
		DefaultAccountID: c.AccountID,
		DefaultRegion:    c.Region,
		Now:              c.Now,
	}))
	a.Handler = a.Metrics.Wrap(api, metrics.PathOperation(operationPaths()))
	// With credentials, /metrics needs them too (or the scrape token).
	if a.Handler, err = (restjson.MetricsAuth{Credentials: creds, TokenFile: c.MetricsTokenFile, Now: c.Now}).Wrap(a.Handler); err != nil {
		a.Close()
		return nil, err
	}
	a.Handler = a.withConsole(a.Handler, c, creds, connDeps)
	return a, nil
}

func openKeyring(dataDir, key string) (*secrets.Keyring, error) {
	if key != "" {
		k, err := secrets.ParseKey(key)
		if err != nil {
			return nil, fmt.Errorf("APPFLOWD_SECRET_KEY: %w", err)
		}
		return secrets.New(k)
	}
	k, err := secrets.LoadOrCreate(filepath.Join(dataDir, "secret.key"))
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return k, nil
}

// operationPaths maps each fixed POST path to its operation, for metrics.
func operationPaths() map[string]string {
	m := map[string]string{}
	for _, op := range wire.Operations {
		if op.Bind == nil {
			m[op.Path] = op.Name
		}
	}
	return m
}
