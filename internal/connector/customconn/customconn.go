// Package customconn runs custom connectors: Lambdas written with the AppFlow
// Custom Connector SDK, spoken to through the Lambda Invoke API in the SDK's
// JSON protocol (data-plane spec 11). It registers the connector type
// CustomConnector; a profile's label picks the registered connector, whose
// Lambda ARN comes from connector.Deps.CustomConnector.
//
// Credentials reach the connector as AppFlow hands them: a Secrets Manager
// secretArn, lent through connector.Deps.Secrets for as long as the driver
// is open (internal/secretlend answers only SigV4-signed callers of the secret's
// account, or loopback callers without --credentials), or, with
// a secrets_manager endpoint in connector.Deps.Endpoints, the profile's own secret in that
// Secrets Manager (smsecrets.go). OAUTH2 profiles get their tokens from
// appflowd, which exchanges codes and refreshes tokens at open (oauth.go).
package customconn

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/fault"
)

func init() { connector.Register(Spec()) }

// Spec is the CustomConnector type as the registry holds it; tests that
// build their own registry register it there.
func Spec() connector.Spec {
	return connector.Spec{
		Capabilities: connector.Capabilities{
			Type:                "CustomConnector",
			Description:         "CustomConnector",
			CanUseAsSource:      true, // per connector: the registration says which
			CanUseAsDestination: true,
			NeedsProfile:        true,
			UnionKey:            "CustomConnector",
			ProfileRules:        profileRules,
			// Where a custom source may send data: AppFlow's default.
			SupportedDestinations: catalog.SourceDestinations(),
		},
		Open:   Open,
		Custom: registrar{},
	}
}

// profileRules: a profile's credentials carry the block its
// authenticationType names, and OAUTH2 needs oAuth2Properties too.
func profileRules(in connector.ProfileInput) []string {
	if in.Credentials == nil {
		return nil
	}
	var c struct {
		AuthenticationType string          `json:"authenticationType"`
		OAuth2             json.RawMessage `json:"oauth2"`
		APIKey             json.RawMessage `json:"apiKey"`
		Basic              json.RawMessage `json:"basic"`
		Custom             json.RawMessage `json:"custom"`
	}
	var p struct {
		OAuth2Properties json.RawMessage `json:"oAuth2Properties"`
	}
	_ = json.Unmarshal(in.Credentials, &c) // the model has checked the shapes
	if len(in.Properties) > 0 {
		_ = json.Unmarshal(in.Properties, &p)
	}
	var problems []string
	need := func(raw json.RawMessage, msg string) {
		if len(raw) == 0 || string(raw) == "null" {
			problems = append(problems, msg)
		}
	}
	switch c.AuthenticationType {
	case "OAUTH2":
		need(c.OAuth2, "authenticationType OAUTH2 needs the oauth2 credentials")
		need(p.OAuth2Properties, "authenticationType OAUTH2 needs oAuth2Properties")
	case "APIKEY":
		need(c.APIKey, "authenticationType APIKEY needs the apiKey credentials")
	case "BASIC":
		need(c.Basic, "authenticationType BASIC needs the basic credentials")
	case "CUSTOM":
		need(c.Custom, "authenticationType CUSTOM needs the custom credentials")
	}
	return problems
}

// registrar is the CustomConnector type's connector.CustomConnectors.
type registrar struct{}

func (registrar) DescribeConfiguration(ctx context.Context, deps connector.Deps, lambdaArn, label string) (*connector.CustomConfiguration, error) {
	return newClient(deps, lambdaArn).describeConfiguration(ctx, label)
}

func (registrar) ValidateRuntimeSettings(ctx context.Context, deps connector.Deps, cc *connector.CustomConnector, scope string, settings map[string]string) error {
	return validateRuntimeSettings(ctx, deps, cc, scope, settings)
}

func (registrar) ProfileDeleted(ctx context.Context, deps connector.Deps, accountID, profile string) error {
	return deleteProfileSecret(ctx, deps, accountID, profile)
}

// driver is one opened custom connector profile.
type driver struct {
	c          *client
	label      string
	apiVersion string
	settings   map[string]string // the profile's profileProperties (CONNECTOR_PROFILE scope)
	creds      *Credentials      // nil when the profile has none
	release    func()
	// dropSecret deletes a Secrets Manager secret this open created; nil
	// when it existed before or was lent.
	dropSecret func(context.Context)
	closeOnce  sync.Once
}

var (
	_ connector.SourceDriver      = (*driver)(nil)
	_ connector.DestinationDriver = (*driver)(nil)
	_ connector.CatalogDriver     = (*driver)(nil)
	_ connector.ProfileChecker    = (*driver)(nil)
)

// Open builds the driver of a CustomConnector profile.
func Open(ctx context.Context, deps connector.Deps, p connector.Profile) (connector.Driver, error) {
	if p.Label == "" {
		return nil, fault.New(fault.Invalid, "a CustomConnector profile needs a connector label")
	}
	if deps.CustomConnector == nil {
		return nil, fault.New(fault.Internal, "custom connectors are not available: no registration lookup is configured")
	}
	cc, err := deps.CustomConnector(ctx, deps.AccountID, p.Label)
	if err != nil {
		return nil, err
	}
	d := &driver{c: newClient(deps, cc.LambdaArn), label: p.Label}
	if len(cc.APIVersions) > 0 {
		d.apiVersion = cc.APIVersions[0]
	}
	if len(p.Properties) > 0 {
		var props struct {
			ProfileProperties map[string]string `json:"profileProperties"`
		}
		if err := json.Unmarshal(p.Properties, &props); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "profile %s: connectorProfileProperties.CustomConnector", p.Name)
		}
		d.settings = props.ProfileProperties
	}
	if len(p.Credentials) > 0 && string(p.Credentials) != "null" {
		// OAUTH2: exchange a code, fetch or refresh a token first; the
		// tokens are what the profile keeps and the connector reads.
		creds, err := d.ensureOAuth2(ctx, deps, p, p.Credentials)
		if err != nil {
			return nil, err
		}
		authType, secret, err := secretOf(creds)
		if err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "profile %s: connectorProfileCredentials.CustomConnector", p.Name)
		}
		arn, err := d.keepSecret(ctx, deps, p.Name, secret)
		if err != nil {
			return nil, err
		}
		d.creds = &Credentials{SecretArn: arn, AuthenticationType: authType}
	}
	return d, nil
}

// keepSecret puts the profile's credentials where the connector reads
// them: the profile's secret in the Secrets Manager at the secrets_manager endpoint
// when one is set, else a secret lent by deps.Secrets until Close.
func (d *driver) keepSecret(ctx context.Context, deps connector.Deps, profile string, secret []byte) (string, error) {
	if deps.Endpoints.URL(connector.EndpointSecretsManager) != "" {
		st, err := storeFor(ctx, deps)
		if err != nil {
			return "", err
		}
		name := ProfileSecretName(deps.AccountID, profile)
		arn, created, err := st.put(ctx, name, secret)
		if err != nil {
			return "", err
		}
		if created {
			// A secret this open created goes again if the profile
			// turns out not to work (CheckProfile), so a refused
			// CreateConnectorProfile leaves nothing behind.
			d.dropSecret = func(ctx context.Context) { _ = st.remove(ctx, name) }
		}
		return arn, nil
	}
	if deps.Secrets == nil {
		return "", fault.New(fault.Internal, "custom connector credentials need a secrets endpoint, and none is configured")
	}
	arn, release := deps.Secrets.Lend(deps.AccountID, profile, secret)
	d.release = release
	return arn, nil
}

// Close returns the lent secret.
func (d *driver) Close() error {
	d.closeOnce.Do(func() {
		if d.release != nil {
			d.release()
		}
	})
	return nil
}

// secretOf converts connectorProfileCredentials.CustomConnector into the
// SDK's authentication type name and the JSON the secret holds, with the
// keys the SDKs read (JAVA-SDK Constants.java).
func secretOf(raw json.RawMessage) (string, []byte, error) {
	var c struct {
		AuthenticationType string `json:"authenticationType"`
		Basic              *struct {
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"basic"`
		APIKey *struct {
			APIKey       string `json:"apiKey"`
			APISecretKey string `json:"apiSecretKey"`
		} `json:"apiKey"`
		OAuth2 *struct {
			AccessToken  string `json:"accessToken"`
			RefreshToken string `json:"refreshToken"`
			ClientID     string `json:"clientId"`
			ClientSecret string `json:"clientSecret"`
		} `json:"oauth2"`
		Custom *struct {
			CustomAuthenticationType string            `json:"customAuthenticationType"`
			CredentialsMap           map[string]string `json:"credentialsMap"`
		} `json:"custom"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", nil, err
	}
	secret := map[string]string{}
	var typ string
	switch c.AuthenticationType {
	case "BASIC":
		typ = "BasicAuth"
		if c.Basic != nil {
			secret["username"], secret["password"] = c.Basic.Username, c.Basic.Password
		}
	case "APIKEY":
		typ = "ApiKey"
		if c.APIKey != nil {
			secret["apiKey"] = c.APIKey.APIKey
			if c.APIKey.APISecretKey != "" {
				secret["apiSecretKey"] = c.APIKey.APISecretKey
			}
		}
	case "OAUTH2":
		typ = "OAuth2"
		if o := c.OAuth2; o != nil {
			for k, v := range map[string]string{"accessToken": o.AccessToken, "refreshToken": o.RefreshToken,
				"clientId": o.ClientID, "clientSecret": o.ClientSecret} {
				if v != "" {
					secret[k] = v
				}
			}
		}
	case "CUSTOM":
		typ = "CustomAuth"
		if cu := c.Custom; cu != nil {
			for k, v := range cu.CredentialsMap {
				secret[k] = v
			}
			secret["customAuthenticationType"] = cu.CustomAuthenticationType
		}
	default:
		return "", nil, fault.New(fault.Invalid, "unknown authenticationType %q", c.AuthenticationType)
	}
	b, err := json.Marshal(secret)
	return typ, b, err
}

// context is the ConnectorContext of a call; extra are the flow's
// customProperties (SOURCE or DESTINATION scope), which add to the
// profile's settings.
func (d *driver) context(extra map[string]string, def json.RawMessage) ConnectorContext {
	settings := map[string]string{}
	for k, v := range d.settings {
		settings[k] = v
	}
	for k, v := range extra {
		settings[k] = v
	}
	if len(settings) == 0 {
		settings = nil
	}
	return ConnectorContext{
		ConnectorRuntimeSettings: settings,
		Credentials:              d.creds,
		APIVersion:               d.apiVersion,
		ConnectorProfileLabel:    d.label,
		EntityDefinition:         def,
	}
}

// CheckProfile proves the profile's credentials and settings with the
// connector, and refuses with the connector's reasons.
func (d *driver) CheckProfile(ctx context.Context) error {
	err := d.checkProfile(ctx)
	if err != nil && d.dropSecret != nil {
		d.dropSecret(context.WithoutCancel(ctx))
		d.dropSecret = nil
	}
	return err
}

func (d *driver) checkProfile(ctx context.Context) error {
	if d.creds != nil {
		var vc result
		err := d.c.call(ctx, d.c.metadataTimeout(), "ValidateCredentials", validateCredentialsRequest{
			Type: typeValidateCredentials, Credentials: d.creds, ConnectorRuntimeSettings: d.settings,
		}, &vc)
		if err != nil && vc.IsSuccess != nil && !*vc.IsSuccess {
			// An answer, not a failure to answer: the credentials were refused.
			return fault.Wrap(fault.AuthFailed, err, "the connector refused the credentials")
		}
		if err != nil {
			return err
		}
	}
	settings := d.settings
	if settings == nil {
		settings = map[string]string{}
	}
	var vs validateSettingsResponse
	req := validateSettingsRequest{Type: typeValidateSettings, Scope: "CONNECTOR_PROFILE", ConnectorRuntimeSettings: settings}
	if d.creds != nil {
		req.AuthenticationType = d.creds.AuthenticationType
	}
	err := d.c.call(ctx, d.c.metadataTimeout(), "ValidateConnectorRuntimeSettings", req, &vs)
	if err != nil && len(vs.ErrorsByInputField) > 0 {
		return fault.New(fault.Invalid, "the connector refused the profile's settings: %s", describeErrors(vs.ErrorsByInputField))
	}
	return err
}

func describeErrors(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += "; "
		}
		out += k + ": " + m[k]
	}
	return out
}

// validateRuntimeSettings asks the connector cc whether a flow's
// customProperties are good for scope (SOURCE or DESTINATION), as AppFlow
// does at CreateFlow and UpdateFlow (spec 11.4 step 4). A refusal is
// fault.Invalid worded with the connector's reasons.
func validateRuntimeSettings(ctx context.Context, deps connector.Deps, cc *connector.CustomConnector, scope string, settings map[string]string) error {
	if settings == nil {
		settings = map[string]string{}
	}
	c := newClient(deps, cc.LambdaArn)
	var vs validateSettingsResponse
	err := c.call(ctx, c.metadataTimeout(), "ValidateConnectorRuntimeSettings",
		validateSettingsRequest{Type: typeValidateSettings, Scope: scope, ConnectorRuntimeSettings: settings}, &vs)
	switch {
	case err != nil && len(vs.ErrorsByInputField) > 0:
		return fault.New(fault.Invalid, "The connector %s refused the flow's %s settings: %s", cc.Label, scope, describeErrors(vs.ErrorsByInputField))
	case err != nil && vs.IsSuccess != nil && !*vs.IsSuccess:
		return fault.New(fault.Invalid, "The connector %s refused the flow's %s settings: %s", cc.Label, scope, fault.Message(err))
	}
	return err
}
