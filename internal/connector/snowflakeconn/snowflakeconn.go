// Package snowflakeconn is the Snowflake destination: it stages a run's
// records as gzipped CSV in the S3 bucket behind the profile's external
// stage and loads them with one COPY INTO <table> FROM @<stage>/<path>
// statement at Commit, and lists databases, schemas, tables and columns for
// the catalog.
//
// Every statement goes through Snowflake's SQL API v2 (POST
// /api/v2/statements, GET /api/v2/statements/{handle} while a statement
// runs), so no Snowflake driver module is linked. The SQL API does not
// take a password login: AppFlow's username/password profile works with a
// Programmatic Access Token as the password, which the SQL API accepts as
// a bearer token of type PROGRAMMATIC_ACCESS_TOKEN. Two appflowd extensions
// remain: an OAuth access token (the credentials' accessToken, or the
// password prefixed with "oauth:") and a key-pair JWT (the credentials'
// privateKey, a PEM RSA key registered as the user's RSA_PUBLIC_KEY; a PEM
// key does not fit the model's 512-character one-line password).
//
// Staged objects live at
// s3://<bucketName>/<bucketPrefix>/<destination bucketPrefix>/<flow>/<execution>/part-NNNNN.csv.gz,
// so the external stage (whose URL is s3://<bucketName>/<bucketPrefix>/)
// sees them under <destination bucketPrefix>/<flow>/<execution>/. They are
// kept after a load (AppFlow's behaviour is not published) and deleted on
// Abort or when the load fails.
//
// With failOnFirstDestinationError (or no errorHandlingConfig) the COPY runs
// with ON_ERROR=ABORT_STATEMENT: one bad row loads nothing and fails the
// run. Otherwise it runs with ON_ERROR=CONTINUE, and the rows Snowflake
// rejected are read back with SELECT * FROM TABLE(VALIDATE(<table>,
// JOB_ID=>'<COPY's statement handle>')) and written to the error bucket.
package snowflakeconn

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/stage"
	"github.com/appflowd/appflowd/internal/fault"
)

// Type is the ConnectorType enum value this package registers.
const Type = "Snowflake"

// EndpointEnv points the SQL API client at another base URL (a test
// server, a proxy); unset: https://<account host>.
const EndpointEnv = "APPFLOWD_SNOWFLAKE_ENDPOINT"

func init() { connector.Register(Spec()) }

// Spec registers the driver; the catalog entry supplies the rest of the
// capabilities.
func Spec() connector.Spec { return stage.Spec(Type, Open) }

// Properties is connectorProfileProperties.Snowflake.
type Properties struct {
	Warehouse              string `json:"warehouse"`
	Stage                  string `json:"stage"`
	BucketName             string `json:"bucketName"`
	BucketPrefix           string `json:"bucketPrefix"`
	AccountName            string `json:"accountName"`
	Region                 string `json:"region"`
	PrivateLinkServiceName string `json:"privateLinkServiceName"`
}

// Credentials is connectorProfileCredentials.Snowflake. PrivateKey and
// AccessToken are appflowd extensions: the SQL API takes no password.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// PrivateKey is a PEM RSA private key (PKCS#8 or PKCS#1) whose public
	// half is the user's RSA_PUBLIC_KEY: requests carry a KEYPAIR_JWT.
	PrivateKey string `json:"privateKey"`
	// AccessToken is an OAuth access token: requests carry it as OAUTH.
	AccessToken string `json:"accessToken"`
	// Role is the role statements run as; empty: the user's default.
	Role string `json:"role"`
}

// Driver is the Snowflake driver: a connector.DestinationDriver,
// connector.CatalogDriver and connector.ProfileChecker.
type Driver struct {
	deps   connector.Deps
	props  Properties
	creds  Credentials
	api    *client
	stage  []string // the stage's name parts: database, schema, stage
	dbName string   // the stage's database: the default database of statements
	schema string   // the stage's schema
}

var (
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
	_ connector.ProfileChecker    = (*Driver)(nil)
)

// Open is the connector.Opener for Snowflake.
func Open(_ context.Context, deps connector.Deps, p connector.Profile) (connector.Driver, error) {
	return New(deps, p)
}

// New decodes a profile into a driver without contacting anything.
func New(deps connector.Deps, p connector.Profile) (*Driver, error) {
	d := &Driver{deps: deps}
	var err error
	if d.props, d.creds, err = connector.DecodeProfile[Properties, Credentials](p, "Snowflake"); err != nil {
		return nil, err
	}
	if d.props.Warehouse == "" {
		return nil, fault.New(fault.Invalid, "snowflake: the profile needs a warehouse")
	}
	if d.props.Stage == "" {
		return nil, fault.New(fault.Invalid, "snowflake: the profile needs a stage (<Database>.<Schema>.<Stage>)")
	}
	stage, err := splitIdent(d.props.Stage)
	if err != nil || len(stage) != 3 {
		return nil, fault.New(fault.Invalid, "snowflake: stage %q must be written <Database>.<Schema>.<Stage>", d.props.Stage)
	}
	d.stage, d.dbName, d.schema = stage, unquote(stage[0]), unquote(stage[1])
	base := getenv(deps, EndpointEnv)
	if base == "" {
		host, err := d.host()
		if err != nil {
			return nil, err
		}
		base = "https://" + host
	}
	auth, err := newAuth(d.props.AccountName, d.creds, deps)
	if err != nil {
		return nil, err
	}
	hc := deps.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	d.api = &client{base: strings.TrimRight(base, "/"), hc: hc, auth: auth, pollEvery: time.Second,
		warehouse: d.props.Warehouse, role: d.creds.Role}
	return d, nil
}

// host is the account's SQL API host, <account identifier>.snowflakecomputing.com
// (Snowflake's "Account identifiers" page): for an organization account
// (orgname-account_name) the name as is; for a legacy account locator the
// locator plus the profile's region in the form that page lists for it
// (bare in us-west-2, <region> in the five oldest AWS regions,
// <region>.aws elsewhere); an accountName that already carries the region
// (xy12345.us-east-2.aws) is taken whole. PrivateLink hosts are
// <orgname-account_name>.privatelink... or <locator>.<region>.privatelink...
func (d *Driver) host() (string, error) {
	acct := strings.ToLower(strings.TrimSpace(d.props.AccountName))
	acct = strings.TrimPrefix(acct, "https://")
	acct = strings.TrimSuffix(strings.TrimSuffix(acct, "/"), ".snowflakecomputing.com")
	acct = strings.TrimSuffix(acct, ".privatelink")
	if acct == "" {
		return "", fault.New(fault.Invalid, "snowflake: the profile needs accountName (the account identifier in <account>.snowflakecomputing.com)")
	}
	if !hostPart.MatchString(acct) {
		return "", fault.New(fault.Invalid, "snowflake: accountName %q is not an account identifier (orgname-account_name, or an account locator such as xy12345)", d.props.AccountName)
	}
	region := strings.ToLower(strings.TrimSpace(d.props.Region))
	if region != "" && !hostPart.MatchString(region) {
		return "", fault.New(fault.Invalid, "snowflake: region %q is not a region id", d.props.Region)
	}
	private := d.props.PrivateLinkServiceName != ""
	locator, given, dotted := strings.Cut(acct, ".")
	switch {
	case strings.Contains(locator, "-"): // orgname-account_name
		if private {
			return acct + ".privatelink.snowflakecomputing.com", nil
		}
		return acct + ".snowflakecomputing.com", nil
	case dotted: // the locator with its region (and cloud)
		if private {
			r, _, _ := strings.Cut(given, ".")
			return locator + "." + r + ".privatelink.snowflakecomputing.com", nil
		}
		return acct + ".snowflakecomputing.com", nil
	}
	if private {
		if region == "" {
			region = "us-west-2"
		}
		r, _, _ := strings.Cut(region, ".")
		return locator + "." + r + ".privatelink.snowflakecomputing.com", nil
	}
	switch {
	case region == "" || region == "us-west-2":
		return locator + ".snowflakecomputing.com", nil
	case strings.Contains(region, ".") || regionWithoutCloud[region]: // given as <region>.<cloud>, or one of the five
		return locator + "." + region + ".snowflakecomputing.com", nil
	}
	return locator + "." + region + ".aws.snowflakecomputing.com", nil
}

// regionWithoutCloud are the AWS regions whose account locators Snowflake
// writes <locator>.<region>, without the .aws that later regions carry.
var regionWithoutCloud = map[string]bool{
	"us-east-1": true, "eu-west-1": true, "eu-central-1": true, "ap-southeast-1": true, "ap-southeast-2": true,
}

// hostPart is what an account identifier or region may hold in a host name.
var hostPart = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// getenv reads a setting through Deps.Env; none is set without one.
func getenv(deps connector.Deps, name string) string {
	if deps.Env == nil {
		return ""
	}
	return deps.Env(name)
}

// Close releases nothing: every call is one HTTPS request.
func (d *Driver) Close() error { return nil }

// CheckProfile runs SELECT 1 with the profile's warehouse: a refused token
// is AuthFailed with Snowflake's message.
func (d *Driver) CheckProfile(ctx context.Context) error {
	if _, err := d.api.exec(ctx, "SELECT 1", d.dbName, d.schema); err != nil {
		return err
	}
	return nil
}

// splitIdent splits a dotted Snowflake name, keeping quoted parts (with
// their quotes) whole.
func splitIdent(s string) ([]string, error) {
	var parts []string
	var cur strings.Builder
	inQ := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' && inQ && i+1 < len(s) && s[i+1] == '"':
			cur.WriteString(`""`)
			i++
		case c == '"':
			inQ = !inQ
			cur.WriteByte(c)
		case c == '.' && !inQ:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if inQ {
		return nil, fmt.Errorf("unbalanced quotes in %q", s)
	}
	parts = append(parts, cur.String())
	for _, p := range parts {
		if p == "" || p == `""` {
			return nil, fmt.Errorf("empty name part in %q", s)
		}
	}
	return parts, nil
}

// ident renders one name part: a plain identifier as written (Snowflake
// upper-cases it), anything else double-quoted.
func ident(p string) string {
	if strings.HasPrefix(p, `"`) && strings.HasSuffix(p, `"`) && len(p) >= 2 {
		return p
	}
	if isPlain(p) {
		return p
	}
	return quoteIdent(p)
}

// quoteIdent double-quotes an exact (case-sensitive) name.
func quoteIdent(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

func isPlain(p string) bool {
	if p == "" {
		return false
	}
	for i, c := range p {
		switch {
		case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '$'):
		default:
			return false
		}
	}
	return true
}

// unquote turns a name part into the name Snowflake stores: quoted parts
// exactly, plain ones upper-cased.
func unquote(p string) string {
	if strings.HasPrefix(p, `"`) && strings.HasSuffix(p, `"`) && len(p) >= 2 {
		return strings.ReplaceAll(p[1:len(p)-1], `""`, `"`)
	}
	return strings.ToUpper(p)
}

func joinIdent(parts []string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = ident(p)
	}
	return strings.Join(out, ".")
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (d *Driver) logWarn(msg string, args ...any) {
	if d.deps.Logger != nil {
		d.deps.Logger.Warn(msg, args...)
	}
}
