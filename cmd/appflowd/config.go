package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
)

// config holds the serve flags; each has an environment variable default.
type config struct {
	Addr      string
	DataDir   string
	Region    string
	AccountID string
	Database  string
	// endpointFlags are --endpoint NAME=URL, in order; aliases are the
	// older per-service flags by endpoint name.
	endpointFlags []string
	aliases       map[string]aliasFlag
	// Endpoints is the resolved set (check fills it).
	Endpoints   connector.Endpoints
	Credentials string
	Insecure    bool
	LogLevel    string
	MaxProfiles int // per-account quotas
	MaxFlows    int
	getenv      func(string) string // nil: os.Getenv
	environ     func() []string     // nil: os.Environ

	// MetricsTokenFile: a bearer token GET /metrics accepts.
	MetricsTokenFile string
	// trustedProxies is --trusted-proxies; check parses it into TrustedProxies.
	trustedProxies string
	TrustedProxies []netip.Prefix
}

// legacyEndpointEnv are the variables of the older per-service flags.
var legacyEndpointEnv = map[string]string{
	connector.EndpointS3:             "APPFLOWD_S3_ENDPOINT",
	connector.EndpointLambda:         "APPFLOWD_LAMBDA_ENDPOINT",
	connector.EndpointSecretsManager: "APPFLOWD_SECRETS_ENDPOINT",
	connector.EndpointEventBridge:    "APPFLOWD_EVENTBRIDGE_ENDPOINT",
}

type aliasFlag struct {
	flag  string
	value *string
}

// endpointList is a repeatable --endpoint flag.
type endpointList struct{ c *config }

func (l endpointList) String() string {
	if l.c == nil {
		return ""
	}
	return strings.Join(l.c.endpointFlags, ",")
}

func (l endpointList) Set(v string) error {
	if _, _, err := connector.ParseEndpoint(v); err != nil {
		return err
	}
	l.c.endpointFlags = append(l.c.endpointFlags, v)
	return nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func (c *config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", env("APPFLOWD_ADDR", "127.0.0.1:8484"), "address to serve the API on [APPFLOWD_ADDR]")
	c.registerCommon(fs)
	fs.StringVar(&c.Database, "database", env("APPFLOWD_DATABASE", ""), "postgres:// or postgresql:// URL; empty = SQLite in the data dir [APPFLOWD_DATABASE]")
	fs.StringVar(&c.Credentials, "credentials", env("APPFLOWD_CREDENTIALS", ""), "file of 'ACCESS_KEY_ID SECRET_ACCESS_KEY ACCOUNT_ID' lines; SigV4 is then enforced [APPFLOWD_CREDENTIALS]")
	fs.BoolVar(&c.Insecure, "insecure", false, "allow a non-loopback --addr without --credentials")
	c.alias(fs, "lambda-endpoint", connector.EndpointLambda, "alias of --endpoint lambda=URL: Lambda Invoke API URL for custom connectors (a URL ending in /invocations is used as is); empty = AWS Lambda [APPFLOWD_LAMBDA_ENDPOINT]")
	fs.IntVar(&c.MaxProfiles, "max-profiles", envInt("APPFLOWD_MAX_PROFILES", 100), "connector profiles per account; more is ServiceQuotaExceededException [APPFLOWD_MAX_PROFILES]")
	fs.StringVar(&c.MetricsTokenFile, "metrics-token-file", env("APPFLOWD_METRICS_TOKEN_FILE", ""), "file holding a bearer token (16+ characters) that GET /metrics accepts besides SigV4 when --credentials is set, for Prometheus scrape configs [APPFLOWD_METRICS_TOKEN_FILE]")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", env("APPFLOWD_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR ranges of the load balancers in front; their X-Forwarded-For names the client that the console's limit on failed sign-ins counts against [APPFLOWD_TRUSTED_PROXIES]")
	fs.IntVar(&c.MaxFlows, "max-flows", envInt("APPFLOWD_MAX_FLOWS", 1000), "flows per account; more is ServiceQuotaExceededException [APPFLOWD_MAX_FLOWS]")
	fs.StringVar(&c.LogLevel, "log-level", env("APPFLOWD_LOG_LEVEL", "info"), "debug, info, warn or error [APPFLOWD_LOG_LEVEL]")
}

// registerCommon registers the flags serve and run share.
func (c *config) registerCommon(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", env("APPFLOWD_DATA_DIR", "./appflowd-data"), "folder for the SQLite store and local buckets (<data-dir>/s3/<bucket>/<key>) [APPFLOWD_DATA_DIR]")
	fs.StringVar(&c.Region, "region", env("APPFLOWD_REGION", "us-east-1"), "region in ARNs [APPFLOWD_REGION]")
	fs.StringVar(&c.AccountID, "account-id", env("APPFLOWD_ACCOUNT_ID", "000000000000"), "account id in ARNs when SigV4 is off [APPFLOWD_ACCOUNT_ID]")
	fs.Var(endpointList{c}, "endpoint", "NAME=URL: point one outside service at another address (repeatable). NAME is one of "+
		strings.Join(connector.EndpointNames(), ", ")+". Also APPFLOWD_ENDPOINT_<NAME>; AWS services honour AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL. Without s3, buckets are folders in the data dir; without eventbridge, no flow events are sent")
	c.alias(fs, "s3-endpoint", connector.EndpointS3, "alias of --endpoint s3=URL: S3 API URL (path-style); empty = local buckets in the data dir [APPFLOWD_S3_ENDPOINT]")
	c.alias(fs, "secrets-endpoint", connector.EndpointSecretsManager, "alias of --endpoint secrets_manager=URL: Secrets Manager API URL for secrets profiles name by ARN (Salesforce clientCredentialsArn; empty = AWS) and where custom connector profiles' credentials are kept (empty = lent by appflowd itself) [APPFLOWD_SECRETS_ENDPOINT]")
	c.alias(fs, "eventbridge-endpoint", connector.EndpointEventBridge, "alias of --endpoint eventbridge=URL: flow events (AppFlow End Flow Run Report, Scheduled Flow Deactivated) go to its default bus, and EventBridge destinations write there; empty = no flow events are sent, and EventBridge destinations use AWS [APPFLOWD_EVENTBRIDGE_ENDPOINT]")
}

// alias registers an older per-service endpoint flag; its variable is
// read in resolveEndpoints, below APPFLOWD_ENDPOINT_<NAME>.
func (c *config) alias(fs *flag.FlagSet, flagName, endpoint, usage string) {
	if c.aliases == nil {
		c.aliases = map[string]aliasFlag{}
	}
	c.aliases[endpoint] = aliasFlag{flag: flagName, value: fs.String(flagName, "", usage)}
}

// resolveEndpoints fills c.Endpoints: --endpoint, then the alias flags,
// then APPFLOWD_ENDPOINT_<NAME>, the alias variables, AWS_ENDPOINT_URL_<SERVICE>
// and AWS_ENDPOINT_URL.
func (c *config) resolveEndpoints() error {
	flags := connector.Endpoints{}
	for _, v := range c.endpointFlags {
		name, u, err := connector.ParseEndpoint(v)
		if err != nil {
			return fmt.Errorf("--endpoint: %w", err)
		}
		flags[name] = u // a later --endpoint of the same name wins
	}
	aliases := connector.Endpoints{}
	for name, a := range c.aliases {
		if v := strings.TrimSpace(*a.value); v != "" {
			if err := connector.CheckEndpoint(name, v); err != nil {
				return fmt.Errorf("--%s: %w", a.flag, err)
			}
			aliases[name] = v
		}
	}
	getenv, environ := c.getenv, c.environ
	if getenv == nil {
		getenv = os.Getenv
	}
	if environ == nil {
		environ = os.Environ
	}
	eps, err := connector.ResolveEndpoints(connector.EndpointSources{
		Flags: flags, Aliases: aliases, LegacyEnv: legacyEndpointEnv, Getenv: getenv, Environ: environ,
	})
	if err != nil {
		return err
	}
	c.Endpoints = eps
	return nil
}

func (c *config) check() (err error) {
	if err := c.resolveEndpoints(); err != nil {
		return err
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return fmt.Errorf("--database must be a postgres:// or postgresql:// URL (or empty for SQLite), got %q", redactURL(c.Database))
	}
	if c.MaxProfiles < 1 || c.MaxFlows < 1 {
		return fmt.Errorf("--max-profiles and --max-flows must be at least 1, got %d and %d", c.MaxProfiles, c.MaxFlows)
	}
	if c.TrustedProxies, err = parsePrefixes(c.trustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.Credentials == "" && !c.Insecure && !isLoopback(c.Addr) {
		return fmt.Errorf("refusing to serve on %s without --credentials: anyone who can reach it could use the API; pass --credentials FILE, or --insecure if you mean it", c.Addr)
	}
	return nil
}

// parsePrefixes reads "10.0.0.0/8, 192.0.2.7": a bare address is a
// range of one.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR range", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL hides a password in a database URL for messages.
func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	userinfo := s[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return s[:scheme+3] + userinfo[:i] + ":xxxxx" + s[at:]
	}
	return s
}
