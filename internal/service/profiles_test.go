package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/connector/customconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/secrets"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
	"github.com/appflowd/appflowd/internal/wire"
)

// The helpers of the profile, connector, entity, registration and tag tests
// live here; their names start with prof/Prof so the flows tests' helpers
// cannot collide with them.

// profEnv is a Service on a fresh SQLite store, with the built-in catalog and
// fake drivers for Zendesk (a profile connector) and S3 (profile-less).
type profEnv struct {
	t       *testing.T
	ctx     context.Context
	svc     *Service
	store   store.Store
	reg     *connector.Registry
	keyring *secrets.Keyring
	drivers *profFakeDrivers

	mu  sync.Mutex
	now time.Time
}

func newProfEnv(t *testing.T) *profEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "appflowd.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secrets.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &profEnv{t: t, ctx: ctx, store: st, keyring: kr, drivers: &profFakeDrivers{},
		now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	e.reg = connector.NewRegistry()
	catalog.RegisterAll(e.reg)
	// CustomConnector's capabilities (its profile rules) without its
	// driver: these tests open no connector Lambda.
	e.reg.Register(connector.Spec{Capabilities: customconn.Spec().Capabilities})
	e.drivers.register(e.reg)
	e.svc = New(Deps{
		Store: st, Registry: e.reg, Keyring: kr, Region: "us-east-1", DefaultAccountID: "123456789012",
		Now: e.clock,
	})
	return e
}

func (e *profEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *profEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// zendeskProfile is a valid CreateConnectorProfile request for the fake
// Zendesk driver; secret decides what CheckProfile answers.
func zendeskProfile(name, secret string) *wire.CreateConnectorProfileRequest {
	return &wire.CreateConnectorProfileRequest{
		ConnectorProfileName: name,
		ConnectorType:        wire.ConnectorTypeZendesk,
		ConnectionMode:       wire.ConnectionModePublic,
		KmsArn:               "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
		ConnectorProfileConfig: &wire.ConnectorProfileConfig{
			ConnectorProfileProperties: &wire.ConnectorProfileProperties{
				Zendesk: &wire.ZendeskConnectorProfileProperties{InstanceUrl: "https://acme.zendesk.com"},
			},
			ConnectorProfileCredentials: &wire.ConnectorProfileCredentials{
				Zendesk: &wire.ZendeskConnectorProfileCredentials{
					ClientId: "zd-client", ClientSecret: secret, AccessToken: "zd-access-token-SECRET",
					OAuthRequest: &wire.ConnectorOAuthRequest{AuthCode: "zd-auth-code-SECRET", RedirectUri: "https://example.com/cb"},
				},
			},
		},
	}
}

// salesforceProfile needs no credentials and has no driver: cheap to create.
func salesforceProfile(name string) *wire.CreateConnectorProfileRequest {
	return &wire.CreateConnectorProfileRequest{
		ConnectorProfileName: name,
		ConnectorType:        wire.ConnectorTypeSalesforce,
		ConnectionMode:       wire.ConnectionModePublic,
		ConnectorProfileConfig: &wire.ConnectorProfileConfig{
			ConnectorProfileProperties: &wire.ConnectorProfileProperties{
				Salesforce: &wire.SalesforceConnectorProfileProperties{InstanceUrl: "https://acme.my.salesforce.com"},
			},
		},
	}
}

func (e *profEnv) mustCreate(in *wire.CreateConnectorProfileRequest) string {
	e.t.Helper()
	if err := in.Validate(); err != nil {
		e.t.Fatalf("test request %s is invalid: %v", in.ConnectorProfileName, err)
	}
	out, err := e.svc.CreateConnectorProfile(e.ctx, in)
	if err != nil {
		e.t.Fatalf("CreateConnectorProfile(%s): %v", in.ConnectorProfileName, err)
	}
	return out.ConnectorProfileArn
}

// seedRegistration stores a registered custom connector directly: the API
// cannot register one until appflowd can invoke Lambdas.
func (e *profEnv) seedRegistration(label string, privateLink bool) {
	e.t.Helper()
	arn := "arn:aws:appflow:us-east-1:123456789012:connector/" + label
	doc := registrationDoc{
		Configuration: wire.ConnectorConfiguration{
			ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorLabel: label, ConnectorArn: arn,
			ConnectorName: label + "-name", CanUseAsSource: new(true), CanUseAsDestination: new(false),
			IsPrivateLinkEnabled: new(privateLink),
		},
		Detail: wire.ConnectorDetail{
			ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorLabel: label, ConnectorName: label + "-name",
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.RegistrationCreate(e.ctx, &store.Registration{AccountID: "123456789012", Label: label, Arn: arn, Doc: b}); err != nil {
		e.t.Fatalf("seed registration %s: %v", label, err)
	}
}

// seedFlow stores a flow that uses profiles, as CreateFlow would.
func (e *profEnv) seedFlow(name string, profiles ...string) {
	e.t.Helper()
	err := e.store.FlowCreate(e.ctx, &store.Flow{
		AccountID: "123456789012", Name: name, Arn: "arn:aws:appflow:us-east-1:123456789012:flow/" + name,
		Status: "Active", Doc: []byte(`{}`), ProfileNames: profiles,
	})
	if err != nil {
		e.t.Fatalf("seed flow %s: %v", name, err)
	}
}

// profWantCode fails unless err carries code and its message contains each part.
func profWantCode(t *testing.T, err error, code fault.Code, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	if got := fault.CodeOf(err); got != code {
		t.Fatalf("got %v (%v), want %v", got, err, code)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err.Error(), p)
		}
	}
}

// profFakeDrivers are drivers whose behaviour the tests steer and count.
type profFakeDrivers struct {
	mu        sync.Mutex
	lists     int
	describes int
	checked   []connector.Profile // every profile CheckProfile saw
	opened    []connector.Profile // every profile Open got
}

func (f *profFakeDrivers) register(r *connector.Registry) {
	for _, typ := range []string{"Zendesk", "S3"} {
		r.Register(connector.Spec{
			Capabilities: connector.Capabilities{Type: typ},
			Open: func(ctx context.Context, deps connector.Deps, p connector.Profile) (connector.Driver, error) {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.opened = append(f.opened, p)
				return &profFakeDriver{f: f, typ: typ, p: p}, nil
			},
		})
	}
}

func (f *profFakeDrivers) counts() (lists, describes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists, f.describes
}

type profFakeDriver struct {
	f   *profFakeDrivers
	typ string
	p   connector.Profile
}

func (d *profFakeDriver) CheckProfile(ctx context.Context) error {
	d.f.mu.Lock()
	d.f.checked = append(d.f.checked, d.p)
	d.f.mu.Unlock()
	var c struct {
		ClientSecret string `json:"clientSecret"`
	}
	_ = json.Unmarshal(d.p.Credentials, &c)
	switch c.ClientSecret {
	case "wrong":
		return fault.New(fault.AuthFailed, "Zendesk refused the client secret")
	case "unreachable":
		return errors.New("dial tcp 10.0.0.1:443: connection refused")
	}
	return nil
}

func (d *profFakeDriver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	d.f.mu.Lock()
	d.f.lists++
	d.f.mu.Unlock()
	if d.typ == "S3" {
		if path == "" {
			return map[string][]connector.Entity{"Buckets": {{Name: "landing", Label: "landing", HasNestedEntities: true}}}, nil
		}
		return map[string][]connector.Entity{"Folders": {{Name: path + "/orders", Label: "orders"}}}, nil
	}
	switch path {
	case "":
		return map[string][]connector.Entity{
			"Objects": {
				{Name: "tickets", Label: "Tickets"},
				{Name: "users", Label: "Users"},
				{Name: "organizations", Label: "Organizations", HasNestedEntities: true},
			},
			"Custom": {{Name: "custom_object_1"}},
		}, nil
	case "organizations":
		return map[string][]connector.Entity{"Organizations": {
			{Name: "organizations/1", Label: "Acme"}, {Name: "organizations/2", Label: "Globex"},
		}}, nil
	}
	return nil, fault.New(fault.NotFound, "no entities under %s", path)
}

func (d *profFakeDriver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	d.f.mu.Lock()
	d.f.describes++
	d.f.mu.Unlock()
	if name != "tickets" && name != "landing/orders" {
		return nil, fmt.Errorf("GET /api/v2/%s: 404", name)
	}
	return []connector.EntityField{
		{Name: "id", Label: "ID", Type: "integer", IsPrimaryKey: true, Queryable: true,
			FilterOperators: []string{"EQUAL_TO", "LESS_THAN"}, WriteOperations: []string{"UPDATE", "UPSERT"}, Upsertable: true},
		{Name: "status", Label: "Status", Type: "string", Nullable: true, Creatable: true, Updatable: true,
			FilterOperators: []string{"EQUAL_TO", "CONTAINS", "NOT_EQUAL_TO"}, WriteOperations: []string{"INSERT", "UPDATE"}},
		{Name: "updated_at", Type: record.FieldType("datetime"), IsTimestampForIncremental: true, Queryable: true},
		{Name: "is_public", Type: "boolean"},
	}, nil
}

// ---- the tests of profiles.go

func TestCreateConnectorProfileValidation(t *testing.T) {
	e := newProfEnv(t)
	e.seedRegistration("privy", false)
	props := func(p wire.ConnectorProfileProperties) *wire.ConnectorProfileProperties { return &p }
	creds := func(c wire.ConnectorProfileCredentials) *wire.ConnectorProfileCredentials { return &c }
	datadogProps := props(wire.ConnectorProfileProperties{Datadog: &wire.DatadogConnectorProfileProperties{InstanceUrl: "https://api.datadoghq.com"}})
	datadogCreds := creds(wire.ConnectorProfileCredentials{Datadog: &wire.DatadogConnectorProfileCredentials{ApiKey: "k", ApplicationKey: "a"}})
	tests := []struct {
		name  string
		typ   wire.ConnectorType
		mode  wire.ConnectionMode
		label string
		props *wire.ConnectorProfileProperties
		creds *wire.ConnectorProfileCredentials
		code  fault.Code
		parts []string
	}{
		{name: "S3 takes no profile", typ: wire.ConnectorTypeS3, props: props(wire.ConnectorProfileProperties{}),
			code: fault.Invalid, parts: []string{"S3 does not use connector profiles"}},
		{name: "properties of another type", typ: wire.ConnectorTypeDatadog,
			props: props(wire.ConnectorProfileProperties{Dynatrace: &wire.DynatraceConnectorProfileProperties{InstanceUrl: "https://x"}}), creds: datadogCreds,
			code: fault.Invalid, parts: []string{"only the Datadog member", "not Dynatrace"}},
		{name: "properties member missing", typ: wire.ConnectorTypeDatadog,
			props: props(wire.ConnectorProfileProperties{}), creds: datadogCreds,
			code: fault.Invalid, parts: []string{"connectorProfileProperties.Datadog is required"}},
		{name: "two property members", typ: wire.ConnectorTypeDatadog,
			props: props(wire.ConnectorProfileProperties{Datadog: datadogProps.Datadog, Zendesk: &wire.ZendeskConnectorProfileProperties{InstanceUrl: "https://z"}}),
			creds: datadogCreds, code: fault.Invalid, parts: []string{"only the Datadog member", "not Zendesk"}},
		{name: "credentials missing", typ: wire.ConnectorTypeDatadog, props: datadogProps,
			code: fault.Invalid, parts: []string{"connectorProfileCredentials.Datadog is required"}},
		{name: "credentials of another type", typ: wire.ConnectorTypeDatadog, props: datadogProps,
			creds: creds(wire.ConnectorProfileCredentials{Singular: &wire.SingularConnectorProfileCredentials{ApiKey: "k"}}),
			code:  fault.Invalid, parts: []string{"only the Datadog member", "not Singular"}},
		{name: "union key casing: Servicenow needs ServiceNow", typ: wire.ConnectorTypeServicenow,
			props: props(wire.ConnectorProfileProperties{ServiceNow: &wire.ServiceNowConnectorProfileProperties{InstanceUrl: "https://x.service-now.com"}}),
			creds: creds(wire.ConnectorProfileCredentials{ServiceNow: &wire.ServiceNowConnectorProfileCredentials{Username: "u"}}),
			code:  fault.Invalid, parts: []string{"username and password, or oAuth2Credentials"}},
		{name: "Redshift without a database", typ: wire.ConnectorTypeRedshift,
			props: props(wire.ConnectorProfileProperties{Redshift: &wire.RedshiftConnectorProfileProperties{BucketName: "stage", RoleArn: "arn:aws:iam::123456789012:role/r"}}),
			code:  fault.Invalid, parts: []string{"databaseUrl is required"}},
		{name: "Redshift Data API without its role", typ: wire.ConnectorTypeRedshift,
			props: props(wire.ConnectorProfileProperties{Redshift: &wire.RedshiftConnectorProfileProperties{
				BucketName: "stage", RoleArn: "arn:aws:iam::123456789012:role/r", ClusterIdentifier: "c1", DatabaseName: "dev"}}),
			code: fault.Invalid, parts: []string{"dataApiRoleArn cannot be null or empty"}},
		{name: "SAPOData without any credentials block", typ: wire.ConnectorTypeSAPOData,
			props: props(wire.ConnectorProfileProperties{SAPOData: &wire.SAPODataConnectorProfileProperties{
				ApplicationHostUrl: "https://sap", ApplicationServicePath: "/sap/opu", PortNumber: new(int32(443)), ClientNumber: "100"}}),
			creds: creds(wire.ConnectorProfileCredentials{SAPOData: &wire.SAPODataConnectorProfileCredentials{}}),
			code:  fault.Invalid, parts: []string{"basicAuthCredentials or oAuthCredentials"}},
		{name: "Private mode without PrivateLink", typ: wire.ConnectorTypeDatadog, mode: wire.ConnectionModePrivate,
			props: datadogProps, creds: datadogCreds, code: fault.Invalid, parts: []string{"does not support connectionMode Private"}},
		{name: "CustomConnector without label", typ: wire.ConnectorTypeCustomConnector,
			props: props(wire.ConnectorProfileProperties{CustomConnector: &wire.CustomConnectorProfileProperties{}}),
			code:  fault.Invalid, parts: []string{"connectorLabel is required"}},
		{name: "CustomConnector not registered", typ: wire.ConnectorTypeCustomConnector, label: "ghost",
			props: props(wire.ConnectorProfileProperties{CustomConnector: &wire.CustomConnectorProfileProperties{}}),
			code:  fault.NotFound, parts: []string{"Connector:ghost is not registered. Please register it first before creating ConnectorProfile."}},
		{name: "CustomConnector auth block missing", typ: wire.ConnectorTypeCustomConnector, label: "privy",
			props: props(wire.ConnectorProfileProperties{CustomConnector: &wire.CustomConnectorProfileProperties{}}),
			creds: creds(wire.ConnectorProfileCredentials{CustomConnector: &wire.CustomConnectorProfileCredentials{AuthenticationType: wire.AuthenticationTypeApikey}}),
			code:  fault.Invalid, parts: []string{"APIKEY needs the apiKey credentials"}},
		{name: "CustomConnector without PrivateLink", typ: wire.ConnectorTypeCustomConnector, label: "privy", mode: wire.ConnectionModePrivate,
			props: props(wire.ConnectorProfileProperties{CustomConnector: &wire.CustomConnectorProfileProperties{}}),
			creds: creds(wire.ConnectorProfileCredentials{CustomConnector: &wire.CustomConnectorProfileCredentials{
				AuthenticationType: wire.AuthenticationTypeApikey, ApiKey: &wire.ApiKeyCredentials{ApiKey: "k"}}}),
			code: fault.Invalid, parts: []string{"CustomConnector does not support connectionMode Private"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := tt.mode
			if mode == "" {
				mode = wire.ConnectionModePublic
			}
			in := &wire.CreateConnectorProfileRequest{
				ConnectorProfileName: "p", ConnectorType: tt.typ, ConnectionMode: mode, ConnectorLabel: tt.label,
				ConnectorProfileConfig: &wire.ConnectorProfileConfig{ConnectorProfileProperties: tt.props, ConnectorProfileCredentials: tt.creds},
			}
			if err := in.Validate(); err != nil {
				t.Fatalf("the model refuses the request already (%v); the test wants the service's rule", err)
			}
			_, err := e.svc.CreateConnectorProfile(e.ctx, in)
			profWantCode(t, err, tt.code, tt.parts...)
			if _, err := e.store.ProfileGet(e.ctx, "123456789012", "p"); !store.IsNotFound(err) {
				t.Errorf("a refused profile was stored (ProfileGet: %v)", err)
			}
		})
	}
}

func TestCreateConnectorProfileValidKinds(t *testing.T) {
	e := newProfEnv(t)
	e.seedRegistration("privy", true)
	ok := []*wire.CreateConnectorProfileRequest{
		{ConnectorProfileName: "sf-private", ConnectorType: wire.ConnectorTypeSalesforce, ConnectionMode: wire.ConnectionModePrivate,
			ConnectorProfileConfig: salesforceProfile("x").ConnectorProfileConfig},
		{ConnectorProfileName: "rs-dataapi", ConnectorType: wire.ConnectorTypeRedshift, ConnectionMode: wire.ConnectionModePublic,
			ConnectorProfileConfig: &wire.ConnectorProfileConfig{ConnectorProfileProperties: &wire.ConnectorProfileProperties{
				Redshift: &wire.RedshiftConnectorProfileProperties{BucketName: "stage", RoleArn: "arn:aws:iam::123456789012:role/r",
					ClusterIdentifier: "c1", DatabaseName: "dev", DataApiRoleArn: "arn:aws:iam::123456789012:role/d"}}}},
		{ConnectorProfileName: "ga", ConnectorType: wire.ConnectorTypeGoogleanalytics, ConnectionMode: wire.ConnectionModePublic,
			ConnectorProfileConfig: &wire.ConnectorProfileConfig{
				ConnectorProfileProperties: &wire.ConnectorProfileProperties{GoogleAnalytics: &wire.GoogleAnalyticsConnectorProfileProperties{}},
				ConnectorProfileCredentials: &wire.ConnectorProfileCredentials{GoogleAnalytics: &wire.GoogleAnalyticsConnectorProfileCredentials{
					ClientId: "c", ClientSecret: "s", OAuthRequest: &wire.ConnectorOAuthRequest{AuthCode: "code", RedirectUri: "https://x/cb"}}}}},
		{ConnectorProfileName: "custom", ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorLabel: "privy", ConnectionMode: wire.ConnectionModePrivate,
			ConnectorProfileConfig: &wire.ConnectorProfileConfig{
				ConnectorProfileProperties: &wire.ConnectorProfileProperties{CustomConnector: &wire.CustomConnectorProfileProperties{
					ProfileProperties: map[string]string{"tenant": "acme"}}},
				ConnectorProfileCredentials: &wire.ConnectorProfileCredentials{CustomConnector: &wire.CustomConnectorProfileCredentials{
					AuthenticationType: wire.AuthenticationTypeBasic, Basic: &wire.BasicAuthCredentials{Username: "u", Password: "p"}}}}},
	}
	for _, in := range ok {
		e.mustCreate(in)
	}
	out, err := e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]wire.ConnectorProfile{}
	for _, p := range out.ConnectorProfileDetails {
		got[p.ConnectorProfileName] = p
	}
	if p := got["sf-private"]; p.PrivateConnectionProvisioningState == nil || p.PrivateConnectionProvisioningState.Status != wire.PrivateConnectionProvisioningStatusCreated {
		t.Errorf("Private profile: got provisioning state %+v, want status CREATED", p.PrivateConnectionProvisioningState)
	}
	if p := got["rs-dataapi"]; p.PrivateConnectionProvisioningState != nil {
		t.Errorf("Public profile: got provisioning state %+v, want none", p.PrivateConnectionProvisioningState)
	}
	if p := got["ga"]; p.ConnectorProfileProperties == nil || p.ConnectorProfileProperties.GoogleAnalytics == nil {
		t.Errorf("Googleanalytics profile: got properties %+v, want the GoogleAnalytics member", p.ConnectorProfileProperties)
	}
	if p := got["custom"]; p.ConnectorLabel != "privy" || p.ConnectorProfileProperties.CustomConnector.ProfileProperties["tenant"] != "acme" {
		t.Errorf("custom profile: got label %q, properties %+v", p.ConnectorLabel, p.ConnectorProfileProperties.CustomConnector)
	}
	if p := got["rs-dataapi"]; p.ConnectorLabel != "" {
		t.Errorf("built-in profile: got connectorLabel %q, want none", p.ConnectorLabel)
	}
}

func TestConnectorProfileCredentialsNeverReturned(t *testing.T) {
	e := newProfEnv(t)
	arn := e.mustCreate(zendeskProfile("zd", "zd-client-secret-SECRET"))
	if want := "arn:aws:appflow:us-east-1:123456789012:connectorprofile/zd"; arn != want {
		t.Errorf("got ARN %s, want %s", arn, want)
	}
	out, err := e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{ConnectorProfileNames: []string{"zd"}})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"SECRET", "zd-client", "kms", "connectorProfileCredentials", "oAuthRequest"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("DescribeConnectorProfiles output contains %q: %s", secret, body)
		}
	}
	if len(out.ConnectorProfileDetails) != 1 {
		t.Fatalf("got %d profiles, want 1", len(out.ConnectorProfileDetails))
	}
	p := out.ConnectorProfileDetails[0]
	if p.ConnectorProfileProperties == nil || p.ConnectorProfileProperties.Zendesk == nil || p.ConnectorProfileProperties.Zendesk.InstanceUrl != "https://acme.zendesk.com" {
		t.Errorf("got properties %+v, want the Zendesk instanceUrl echoed", p.ConnectorProfileProperties)
	}
	if !regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:123456789012:secret:appflow!123456789012-zd-[A-Za-z0-9]{6}$`).MatchString(p.CredentialsArn) {
		t.Errorf("got credentialsArn %q", p.CredentialsArn)
	}
	if p.CreatedAt == nil || !p.CreatedAt.Equal(e.clock()) || p.LastUpdatedAt == nil || !p.LastUpdatedAt.Equal(e.clock()) {
		t.Errorf("got createdAt %v lastUpdatedAt %v, want both %v", p.CreatedAt, p.LastUpdatedAt, e.clock())
	}
	if p.ConnectorType != wire.ConnectorTypeZendesk || p.ConnectionMode != wire.ConnectionModePublic || p.ConnectorProfileArn != arn {
		t.Errorf("got type %s mode %s arn %s", p.ConnectorType, p.ConnectionMode, p.ConnectorProfileArn)
	}

	// Stored sealed, and opened intact for the driver.
	sp, err := e.store.ProfileGet(e.ctx, "123456789012", "zd")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sp.Credentials), "SECRET") || strings.Contains(string(sp.Doc), "SECRET") {
		t.Errorf("the store holds a secret in clear text")
	}
	cp, err := e.svc.connectorProfile(sp)
	if err != nil {
		t.Fatal(err)
	}
	var creds wire.ZendeskConnectorProfileCredentials
	if err := json.Unmarshal(cp.Credentials, &creds); err != nil {
		t.Fatal(err)
	}
	if creds.ClientSecret != "zd-client-secret-SECRET" || creds.OAuthRequest == nil || creds.OAuthRequest.AuthCode != "zd-auth-code-SECRET" {
		t.Errorf("got opened credentials %+v, want what was sent (oAuthRequest included)", creds)
	}
	if string(cp.Properties) != `{"instanceUrl":"https://acme.zendesk.com"}` {
		t.Errorf("got driver properties %s", cp.Properties)
	}
	if n := len(e.drivers.checked); n != 1 || string(e.drivers.checked[0].Credentials) != string(cp.Credentials) {
		t.Errorf("CheckProfile ran %d times (credentials %v), want once with the sent credentials", n, e.drivers.checked)
	}
}

func TestCreateConnectorProfileConnectivity(t *testing.T) {
	e := newProfEnv(t)
	_, err := e.svc.CreateConnectorProfile(e.ctx, zendeskProfile("bad-auth", "wrong"))
	profWantCode(t, err, fault.AuthFailed, "Zendesk refused the client secret")
	_, err = e.svc.CreateConnectorProfile(e.ctx, zendeskProfile("down", "unreachable"))
	profWantCode(t, err, fault.ConnectorServer, "Error while communicating to connector", "connection refused")
	for _, name := range []string{"bad-auth", "down"} {
		if _, err := e.store.ProfileGet(e.ctx, "123456789012", name); !store.IsNotFound(err) {
			t.Errorf("profile %s was stored although its check failed (%v)", name, err)
		}
	}
}

func TestCreateConnectorProfileDuplicateName(t *testing.T) {
	e := newProfEnv(t)
	e.mustCreate(salesforceProfile("sf"))
	_, err := e.svc.CreateConnectorProfile(e.ctx, salesforceProfile("sf"))
	profWantCode(t, err, fault.Conflict, "sf already exists")
}

func TestCreateConnectorProfileQuota(t *testing.T) {
	e := newProfEnv(t)
	for i := range maxProfilesPerAccount {
		e.mustCreate(salesforceProfile(fmt.Sprintf("sf-%03d", i)))
	}
	_, err := e.svc.CreateConnectorProfile(e.ctx, salesforceProfile("one-too-many"))
	profWantCode(t, err, fault.QuotaExceeded, "100 connector profiles")
	// Another account has its own quota.
	other := wire.WithCaller(e.ctx, wire.Caller{AccountID: "210987654321"})
	if _, err := e.svc.CreateConnectorProfile(other, salesforceProfile("one-too-many")); err != nil {
		t.Errorf("another account's first profile: %v", err)
	}
}

func TestCreateConnectorProfileClientToken(t *testing.T) {
	e := newProfEnv(t)
	in := zendeskProfile("zd", "s3cret")
	in.ClientToken = "token-1"
	first, err := e.svc.CreateConnectorProfile(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.CreateConnectorProfile(e.ctx, in)
	if err != nil {
		t.Fatalf("replay with the same token and input: %v", err)
	}
	if again.ConnectorProfileArn != first.ConnectorProfileArn {
		t.Errorf("replay: got %s, want %s", again.ConnectorProfileArn, first.ConnectorProfileArn)
	}
	if n := len(e.drivers.checked); n != 1 {
		t.Errorf("replay re-ran the connectivity check: %d checks, want 1", n)
	}
	changed := zendeskProfile("zd", "other-secret")
	changed.ClientToken = "token-1"
	_, err = e.svc.CreateConnectorProfile(e.ctx, changed)
	profWantCode(t, err, fault.Conflict, "token-1", "different request parameters")

	// A failed call leaves the token free for the retry.
	bad := zendeskProfile("zd2", "unreachable")
	bad.ClientToken = "token-2"
	_, err = e.svc.CreateConnectorProfile(e.ctx, bad)
	profWantCode(t, err, fault.ConnectorServer)
	bad.ConnectorProfileConfig.ConnectorProfileCredentials.Zendesk.ClientSecret = "fixed"
	if _, err := e.svc.CreateConnectorProfile(e.ctx, bad); err != nil {
		t.Errorf("retry with the token of a failed call: %v", err)
	}
}

func TestUpdateConnectorProfile(t *testing.T) {
	e := newProfEnv(t)
	arn := e.mustCreate(zendeskProfile("zd", "first-secret"))
	e.advance(time.Minute)

	// Without credentials: new properties, the stored secret kept.
	out, err := e.svc.UpdateConnectorProfile(e.ctx, &wire.UpdateConnectorProfileRequest{
		ConnectorProfileName: "zd", ConnectionMode: wire.ConnectionModePublic,
		ConnectorProfileConfig: &wire.ConnectorProfileConfig{ConnectorProfileProperties: &wire.ConnectorProfileProperties{
			Zendesk: &wire.ZendeskConnectorProfileProperties{InstanceUrl: "https://new.zendesk.com"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.ConnectorProfileArn != arn {
		t.Errorf("got ARN %s, want %s", out.ConnectorProfileArn, arn)
	}
	last := e.drivers.checked[len(e.drivers.checked)-1]
	if !strings.Contains(string(last.Credentials), "first-secret") || !strings.Contains(string(last.Properties), "new.zendesk.com") {
		t.Errorf("update checked with credentials %s properties %s, want the stored secret and new properties", last.Credentials, last.Properties)
	}
	d, err := e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{ConnectorProfileNames: []string{"zd"}})
	if err != nil {
		t.Fatal(err)
	}
	p := d.ConnectorProfileDetails[0]
	if p.ConnectorProfileProperties.Zendesk.InstanceUrl != "https://new.zendesk.com" {
		t.Errorf("got instanceUrl %s after update", p.ConnectorProfileProperties.Zendesk.InstanceUrl)
	}
	if !p.LastUpdatedAt.Equal(e.clock()) || !p.CreatedAt.Equal(e.clock().Add(-time.Minute)) {
		t.Errorf("got createdAt %v lastUpdatedAt %v, want creation kept and update now", p.CreatedAt, p.LastUpdatedAt)
	}

	// With credentials: replaced.
	upd := &wire.UpdateConnectorProfileRequest{
		ConnectorProfileName: "zd", ConnectionMode: wire.ConnectionModePublic,
		ConnectorProfileConfig: zendeskProfile("zd", "second-secret").ConnectorProfileConfig,
	}
	if _, err := e.svc.UpdateConnectorProfile(e.ctx, upd); err != nil {
		t.Fatal(err)
	}
	sp, _ := e.store.ProfileGet(e.ctx, "123456789012", "zd")
	cp, err := e.svc.connectorProfile(sp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cp.Credentials), "second-secret") {
		t.Errorf("stored credentials %s, want the new secret", cp.Credentials)
	}

	// The check still guards updates.
	upd.ConnectorProfileConfig = zendeskProfile("zd", "wrong").ConnectorProfileConfig
	_, err = e.svc.UpdateConnectorProfile(e.ctx, upd)
	profWantCode(t, err, fault.AuthFailed)

	_, err = e.svc.UpdateConnectorProfile(e.ctx, &wire.UpdateConnectorProfileRequest{
		ConnectorProfileName: "nope", ConnectionMode: wire.ConnectionModePublic,
		ConnectorProfileConfig: zendeskProfile("x", "s").ConnectorProfileConfig,
	})
	profWantCode(t, err, fault.NotFound, "Connector Profile with name nope does not exist.")

	// The type cannot change through the properties member.
	_, err = e.svc.UpdateConnectorProfile(e.ctx, &wire.UpdateConnectorProfileRequest{
		ConnectorProfileName: "zd", ConnectionMode: wire.ConnectionModePublic,
		ConnectorProfileConfig: salesforceProfile("x").ConnectorProfileConfig,
	})
	profWantCode(t, err, fault.Invalid, "Zendesk")
}

func TestDescribeConnectorProfilesFiltersAndPages(t *testing.T) {
	e := newProfEnv(t)
	for i := range 25 {
		e.mustCreate(salesforceProfile(fmt.Sprintf("sf-%02d", i)))
	}
	e.mustCreate(zendeskProfile("zd", "s"))
	e.seedRegistration("acme", false)
	e.mustCreate(&wire.CreateConnectorProfileRequest{ConnectorProfileName: "custom", ConnectorType: wire.ConnectorTypeCustomConnector,
		ConnectorLabel: "acme", ConnectionMode: wire.ConnectionModePublic,
		ConnectorProfileConfig: &wire.ConnectorProfileConfig{
			ConnectorProfileProperties: &wire.ConnectorProfileProperties{CustomConnector: &wire.CustomConnectorProfileProperties{}},
			ConnectorProfileCredentials: &wire.ConnectorProfileCredentials{CustomConnector: &wire.CustomConnectorProfileCredentials{
				AuthenticationType: wire.AuthenticationTypeCustom, Custom: &wire.CustomAuthCredentials{CustomAuthenticationType: "token"}}}}})

	names := func(out *wire.DescribeConnectorProfilesResponse) []string {
		var n []string
		for _, p := range out.ConnectorProfileDetails {
			n = append(n, p.ConnectorProfileName)
		}
		return n
	}
	// Unknown names are dropped silently.
	out, err := e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{ConnectorProfileNames: []string{"zd", "non-existing-name"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(out); len(got) != 1 || got[0] != "zd" || out.NextToken != "" {
		t.Errorf("by names: got %v (next %q), want [zd]", got, out.NextToken)
	}
	out, err = e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{ConnectorType: wire.ConnectorTypeZendesk})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(out); len(got) != 1 || got[0] != "zd" {
		t.Errorf("by type: got %v, want [zd]", got)
	}
	out, err = e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{ConnectorLabel: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(out); len(got) != 1 || got[0] != "custom" {
		t.Errorf("by label: got %v, want [custom]", got)
	}
	out, err = e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{ConnectorType: wire.ConnectorTypeMarketo})
	if err != nil || len(out.ConnectorProfileDetails) != 0 || out.NextToken != "" {
		t.Errorf("no match: got %v, %v; want an empty list and no error", out, err)
	}

	// Default page size 20; the last page carries no nextToken.
	var all []string
	token, pages := "", 0
	for {
		out, err := e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if pages == 1 && len(out.ConnectorProfileDetails) != 20 {
			t.Errorf("first page: got %d profiles, want the default 20", len(out.ConnectorProfileDetails))
		}
		all = append(all, names(out)...)
		if out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	if len(all) != 27 || pages != 2 {
		t.Errorf("got %d profiles in %d pages, want 27 in 2", len(all), pages)
	}
	out, err = e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{MaxResults: new(int32(27))})
	if err != nil || len(out.ConnectorProfileDetails) != 27 || out.NextToken != "" {
		t.Errorf("maxResults 27: got %d profiles, next %q, err %v; want 27 and no nextToken", len(out.ConnectorProfileDetails), out.NextToken, err)
	}
	_, err = e.svc.DescribeConnectorProfiles(e.ctx, &wire.DescribeConnectorProfilesRequest{NextToken: "not-a-token"})
	profWantCode(t, err, fault.Invalid, "nextToken")
}

func TestDeleteConnectorProfile(t *testing.T) {
	e := newProfEnv(t)
	arn := e.mustCreate(salesforceProfile("sf"))
	e.mustCreate(salesforceProfile("unused"))
	e.seedFlow("flow-b", "sf")
	e.seedFlow("flow-a", "sf", "unused-elsewhere")
	if _, err := e.svc.TagResource(e.ctx, &wire.TagResourceRequest{ResourceArn: arn, Tags: map[string]string{"env": "test"}}); err != nil {
		t.Fatal(err)
	}

	_, err := e.svc.DeleteConnectorProfile(e.ctx, &wire.DeleteConnectorProfileRequest{ConnectorProfileName: "missing"})
	profWantCode(t, err, fault.NotFound, "missing")

	_, err = e.svc.DeleteConnectorProfile(e.ctx, &wire.DeleteConnectorProfileRequest{ConnectorProfileName: "sf"})
	profWantCode(t, err, fault.Conflict, "Conflict executing request: Connector profile: sf is associated with one or more flows. If you still want to delete it, then make delete request with forceDelete flag as true. Some of the associated flows are: [flow-a, flow-b]")
	_, err = e.svc.DeleteConnectorProfile(e.ctx, &wire.DeleteConnectorProfileRequest{ConnectorProfileName: "sf", ForceDelete: new(false)})
	profWantCode(t, err, fault.Conflict)

	if _, err := e.svc.DeleteConnectorProfile(e.ctx, &wire.DeleteConnectorProfileRequest{ConnectorProfileName: "unused"}); err != nil {
		t.Errorf("delete an unused profile: %v", err)
	}
	if _, err := e.svc.DeleteConnectorProfile(e.ctx, &wire.DeleteConnectorProfileRequest{ConnectorProfileName: "sf", ForceDelete: new(true)}); err != nil {
		t.Fatalf("forceDelete: %v", err)
	}
	if _, err := e.store.ProfileGet(e.ctx, "123456789012", "sf"); !store.IsNotFound(err) {
		t.Errorf("profile still there after forceDelete: %v", err)
	}
	if _, err := e.store.FlowGet(e.ctx, "123456789012", "flow-a"); err != nil {
		t.Errorf("forceDelete removed a flow that used the profile: %v", err)
	}
	tags, err := e.store.TagsGet(e.ctx, arn)
	if err != nil || len(tags) != 0 {
		t.Errorf("tags of the deleted profile: got %v, %v; want none", tags, err)
	}
	// The name is free again, with fresh tags.
	e.mustCreate(salesforceProfile("sf"))
	lt, err := e.svc.ListTagsForResource(e.ctx, &wire.ListTagsForResourceRequest{ResourceArn: arn})
	if err != nil || len(lt.Tags) != 0 {
		t.Errorf("recreated profile's tags: got %v, %v; want none", lt, err)
	}
}
