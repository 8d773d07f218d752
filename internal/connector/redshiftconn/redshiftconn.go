// Package redshiftconn is the Redshift destination: it loads a run's records
// into a table of Amazon Redshift or of any PostgreSQL-wire database, all
// rows or none, and lists schemas, tables and columns for the catalog.
//
// Against a database that is not Redshift (found from SELECT version(), or
// forced by APPFLOWD_REDSHIFT_LOAD), rows stream into one
// COPY ... FROM STDIN inside one transaction per run. Against Redshift, rows
// are staged as gzipped JSON Lines in the intermediate bucket and loaded
// with one COPY ... FROM 's3://...' IAM_ROLE ..., issued through the SQL
// connection or through the Redshift Data API. Either way rows are checked
// against the table's columns first (information_schema over SQL;
// DescribeTable through the Data API when the profile has no databaseUrl),
// so that a bad row becomes a RecordFailure instead of aborting the load.
// Against Redshift, CHAR and VARCHAR lengths are checked in bytes.
//
// Rejected rows, the table's and those a Map task rejected (handed over
// through connector.FailureRecorder), are written as JSON Lines to the
// error bucket when the flow continues on errors.
//
// Rows the PostgreSQL-wire database itself refuses during COPY FROM STDIN
// (SQLSTATE class 22 or 23, or P0001 raised by a trigger: CHECK, unique and
// foreign keys, triggers) are isolated when the flow has an
// errorHandlingConfig with failOnFirstDestinationError false: the rows are
// spooled to a temporary file, and if the run's one COPY fails the sink
// rolls back to a savepoint and loads the spool again range by range, each
// range one COPY in its own savepoint, splitting failing ranges at the line
// the server names (else in halves) until each refused row is alone. The
// refused rows join the error file with the server's message and the
// constraint's name; the good rows commit in the same one transaction.
// Without an errorHandlingConfig, or with failOnFirstDestinationError, such
// a row fails the run and nothing loads. Against Redshift the COPY from S3
// still loads all rows or fails (no MAXERROR): Redshift enforces no CHECK,
// unique or foreign key constraints, and the checks before staging catch
// what it does enforce.
//
// The catalog lists schemas and tables and describes columns over SQL, or
// with ListSchemas, ListTables and DescribeTable through the Data API.
package redshiftconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/connector/stage"
	"github.com/appflowd/appflowd/internal/fault"
)

// Type is the ConnectorType enum value this package registers.
const Type = "Redshift"

// LoadModeEnv forces how a destination loads: "redshift" (stage in S3 and
// COPY FROM 's3://...') or "postgres" (COPY FROM STDIN). Unset: ask the
// server with SELECT version().
const LoadModeEnv = "APPFLOWD_REDSHIFT_LOAD"

// DataAPIEndpointEnv points the Redshift Data API client at another
// endpoint (a test server, a VPC endpoint); unset: the public regional one.
// The redshift_data endpoint (--endpoint redshift_data=URL) wins over it.
const DataAPIEndpointEnv = "APPFLOWD_REDSHIFT_DATA_ENDPOINT"

func init() { connector.Register(Spec()) }

// Spec registers the driver; the catalog entry supplies the rest of the
// capabilities.
func Spec() connector.Spec { return stage.Spec(Type, Open) }

// Properties is connectorProfileProperties.Redshift.
type Properties struct {
	DatabaseURL          string `json:"databaseUrl"`
	BucketName           string `json:"bucketName"`
	BucketPrefix         string `json:"bucketPrefix"`
	RoleArn              string `json:"roleArn"`
	DataAPIRoleArn       string `json:"dataApiRoleArn"`
	IsRedshiftServerless bool   `json:"isRedshiftServerless"`
	ClusterIdentifier    string `json:"clusterIdentifier"`
	WorkgroupName        string `json:"workgroupName"`
	DatabaseName         string `json:"databaseName"`
}

// Credentials is connectorProfileCredentials.Redshift.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Driver is the Redshift driver: a connector.DestinationDriver,
// connector.CatalogDriver and connector.ProfileChecker.
type Driver struct {
	deps  connector.Deps
	props Properties
	creds Credentials
	// mode is "redshift", "postgres" or "" (ask the server).
	mode string
	// data is the Data API client, set when the profile names a cluster or
	// a workgroup.
	data dataAPI
	// exec runs statements on the SQL connection for the Redshift path;
	// tests replace it with a recorder.
	exec func(ctx context.Context) (execer, error)
	// pollEvery is how often DescribeStatement is asked.
	pollEvery time.Duration
}

var (
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
	_ connector.ProfileChecker    = (*Driver)(nil)
)

// Open is the connector.Opener for Redshift.
func Open(ctx context.Context, deps connector.Deps, p connector.Profile) (connector.Driver, error) {
	d, err := New(deps, p)
	if err != nil {
		return nil, err
	}
	if d.props.ClusterIdentifier != "" || d.props.WorkgroupName != "" {
		c, err := newDataAPIClient(ctx, deps, d.props, deps.Endpoints.Or(connector.EndpointRedshiftData, getenv(deps, DataAPIEndpointEnv)))
		if err != nil {
			return nil, err
		}
		d.data = c
	}
	return d, nil
}

// New decodes a profile into a driver without contacting anything.
func New(deps connector.Deps, p connector.Profile) (*Driver, error) {
	d := &Driver{deps: deps, pollEvery: time.Second}
	var err error
	if d.props, d.creds, err = connector.DecodeProfile[Properties, Credentials](p, "Redshift"); err != nil {
		return nil, err
	}
	if d.props.DatabaseURL == "" && d.props.ClusterIdentifier == "" && d.props.WorkgroupName == "" {
		return nil, fault.New(fault.Invalid, "redshift: the profile needs databaseUrl, or clusterIdentifier or workgroupName for the Data API")
	}
	if d.props.DatabaseURL != "" {
		if _, err := d.pgConfig(); err != nil {
			return nil, err
		}
	}
	if (d.props.ClusterIdentifier != "" || d.props.WorkgroupName != "") && d.props.DatabaseName == "" {
		return nil, fault.New(fault.Invalid, "redshift: databaseName is required with clusterIdentifier or workgroupName")
	}
	switch m := strings.ToLower(getenv(deps, LoadModeEnv)); m {
	case "", "redshift", "postgres":
		d.mode = m
	default:
		return nil, fault.New(fault.Invalid, "redshift: %s=%q; want redshift or postgres", LoadModeEnv, m)
	}
	d.exec = d.sqlExecer
	return d, nil
}

// getenv reads a setting through Deps.Env, as every driver does (the
// process passes os.Getenv); none is set without one.
func getenv(deps connector.Deps, name string) string {
	if deps.Env == nil {
		return ""
	}
	return deps.Env(name)
}

// Close releases nothing: connections live for one call or one run.
func (d *Driver) Close() error { return nil }

// pgConfig turns databaseUrl (jdbc:redshift://, jdbc:postgresql://,
// postgres://, postgresql://) and the credentials into a pgx config.
func (d *Driver) pgConfig() (*pgx.ConnConfig, error) {
	raw := d.props.DatabaseURL
	connStr := raw
	if rest, ok := strings.CutPrefix(raw, "jdbc:"); ok {
		u, err := url.Parse(rest)
		if err != nil || u.Host == "" {
			return nil, fault.New(fault.Invalid, "redshift: databaseUrl %q is not jdbc:redshift://host:port/database", raw)
		}
		switch u.Scheme {
		case "redshift", "postgresql", "postgres":
		default:
			return nil, fault.New(fault.Invalid, "redshift: databaseUrl scheme jdbc:%s is not supported; use jdbc:redshift:// or jdbc:postgresql://", u.Scheme)
		}
		q := url.Values{}
		// JDBC parameters mean nothing to pgx; keep the one both understand.
		if v := u.Query().Get("sslmode"); v != "" {
			q.Set("sslmode", v)
		}
		host := u.Host
		if u.Port() == "" && u.Scheme == "redshift" {
			host = net.JoinHostPort(u.Hostname(), "5439")
		}
		connStr = (&url.URL{Scheme: "postgres", Host: host, Path: u.Path, RawQuery: q.Encode()}).String()
	} else if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return nil, fault.New(fault.Invalid, "redshift: databaseUrl %q must start with jdbc:redshift://, jdbc:postgresql:// or postgres://", raw)
	}
	cfg, err := pgx.ParseConfig(connStr)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "redshift: databaseUrl %q", raw)
	}
	if d.creds.Username != "" {
		cfg.User = d.creds.Username
	}
	if d.creds.Password != "" {
		cfg.Password = d.creds.Password
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	return cfg, nil
}

// connect opens one SQL connection. A refused login is AuthFailed with the
// server's reason; a host that cannot be reached is Invalid, naming it.
func (d *Driver) connect(ctx context.Context) (*pgx.Conn, error) {
	if d.props.DatabaseURL == "" {
		return nil, fault.New(fault.Invalid, "redshift: the profile has no databaseUrl for a SQL connection")
	}
	cfg, err := d.pgConfig()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classifyConnect(err, cfg)
	}
	return conn, nil
}

func classifyConnect(err error, cfg *pgx.ConnConfig) error {
	where := net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	if errors.Is(err, context.Canceled) {
		return fault.Wrap(fault.Canceled, err, "redshift: connect to %s", where)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			return &fault.Error{Code: fault.AuthFailed, Msg: fmt.Sprintf("redshift: login to %s as %q refused: %s", where, cfg.User, pgErr.Message), Err: err}
		case "3D000": // invalid_catalog_name
			return &fault.Error{Code: fault.Invalid, Msg: fmt.Sprintf("redshift: database %q on %s: %s", cfg.Database, where, pgErr.Message), Err: err}
		}
		return &fault.Error{Code: fault.ConnectorServer, Msg: fmt.Sprintf("redshift: connect to %s: %s", where, pgErr.Message), Err: err}
	}
	var netErr net.Error
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) || errors.As(err, &netErr) || isDialError(err) {
		return &fault.Error{Code: fault.Invalid, Msg: fmt.Sprintf("redshift: database host %s is unreachable", where), Err: err}
	}
	return &fault.Error{Code: fault.Invalid, Msg: fmt.Sprintf("redshift: cannot connect to %s", where), Err: err}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// CheckProfile logs in (over SQL and, when configured, the Data API) and
// checks that the intermediate bucket exists.
func (d *Driver) CheckProfile(ctx context.Context) error {
	if d.props.DatabaseURL != "" {
		conn, err := d.connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		if err := conn.Ping(ctx); err != nil {
			return fmt.Errorf("redshift: ping: %w", err)
		}
	}
	if d.data != nil {
		if err := d.runStatement(ctx, "SELECT 1", "appflowd-profile-check"); err != nil {
			return err
		}
	}
	if d.props.BucketName != "" {
		b, err := awsconfig.OpenBucket(ctx, d.deps, d.props.BucketName)
		if err != nil {
			return &fault.Error{Code: fault.Invalid, Msg: fmt.Sprintf("redshift: intermediate bucket %q", d.props.BucketName), Err: err}
		}
		b.Close()
	}
	return nil
}

// isRedshift says whether the load goes through S3 staging.
func (d *Driver) isRedshift(ctx context.Context, conn *pgx.Conn) (bool, error) {
	switch d.mode {
	case "redshift":
		return true, nil
	case "postgres":
		return false, nil
	}
	if conn == nil {
		return true, nil // Data API only: that is Redshift
	}
	var v string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return false, fmt.Errorf("redshift: SELECT version(): %w", err)
	}
	return strings.Contains(v, "Redshift"), nil
}

func (d *Driver) now() time.Time {
	if d.deps.Now != nil {
		return d.deps.Now().UTC()
	}
	return time.Now().UTC()
}
