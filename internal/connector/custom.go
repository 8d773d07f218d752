package connector

import (
	"context"
	"encoding/json"
)

// CustomConnectors is what the service needs, beyond opening profiles, of
// the connector type whose connectors users register (CustomConnector): a
// driver sets it in its Spec, so the service reaches it through the
// registry and never imports the driver.
type CustomConnectors interface {
	// DescribeConfiguration asks the connector at lambdaArn what it is
	// (RegisterConnector, UpdateConnectorRegistration).
	DescribeConfiguration(ctx context.Context, deps Deps, lambdaArn, label string) (*CustomConfiguration, error)
	// ValidateRuntimeSettings asks connector cc whether a flow's
	// customProperties are good for scope (SOURCE or DESTINATION); a
	// refusal is fault.Invalid with the connector's reasons.
	ValidateRuntimeSettings(ctx context.Context, deps Deps, cc *CustomConnector, scope string, settings map[string]string) error
	// ProfileDeleted removes what a deleted profile kept outside the store
	// (its credentials' secret).
	ProfileDeleted(ctx context.Context, deps Deps, accountID, profile string) error
}

// CustomConfiguration is what a custom connector declares about itself
// (the Custom Connector SDK's DescribeConnectorConfigurationResponse).
type CustomConfiguration struct {
	ConnectorOwner              string                    `json:"connectorOwner"`
	ConnectorName               string                    `json:"connectorName"`
	ConnectorVersion            string                    `json:"connectorVersion"`
	ConnectorModes              []string                  `json:"connectorModes"`
	AuthenticationConfig        *AuthenticationConfig     `json:"authenticationConfig"`
	ConnectorRuntimeSetting     []ConnectorRuntimeSetting `json:"connectorRuntimeSetting"`
	SupportedAPIVersions        []string                  `json:"supportedApiVersions"`
	OperatorsSupported          []string                  `json:"operatorsSupported"`
	SupportedTriggerTypes       []string                  `json:"supportedTriggerTypes"`
	TriggerFrequenciesSupported []string                  `json:"triggerFrequenciesSupported"`
	SupportedWriteOperations    []string                  `json:"supportedWriteOperations"`
	SupportedDataTransferTypes  []string                  `json:"supportedDataTransferTypes"`
	LogoURL                     string                    `json:"logoURL"`
}

// AuthenticationConfig is what authentication a connector accepts. The
// SDKs spell some keys differently (Python oAuth2Defaults.tokenURL, Java
// tokenUrl); both are read.
type AuthenticationConfig struct {
	IsBasicAuthSupported  bool               `json:"isBasicAuthSupported"`
	IsAPIKeyAuthSupported bool               `json:"isApiKeyAuthSupported"`
	IsOAuth2Supported     bool               `json:"isOAuth2Supported"`
	IsCustomAuthSupported bool               `json:"isCustomAuthSupported"`
	OAuth2Defaults        *OAuth2Defaults    `json:"oAuth2Defaults"`
	CustomAuthConfig      []CustomAuthConfig `json:"customAuthConfig"`
}

// OAuth2Defaults are a connector's OAuth2 defaults.
type OAuth2Defaults struct {
	OAuthScopes               []string                `json:"oAuthScopes"`
	TokenURL                  []string                `json:"tokenURL"`
	AuthURL                   []string                `json:"authURL"`
	OAuth2GrantTypesSupported []string                `json:"oAuth2GrantTypesSupported"`
	OAuth2CustomProperties    []OAuth2CustomParameter `json:"oAuth2CustomProperties"`
	// How the token endpoint is called: URL_ENCODED (default) or
	// APPLICATION_JSON, HTTP_POST (default) or HTTP_GET, and with the
	// client id and secret in a Basic header rather than the body.
	OAuth2ContentType  string `json:"oAuth2ContentType"`
	OAuth2MethodType   string `json:"oAuth2MethodType"`
	AddBasicAuthHeader bool   `json:"addBasicAuthHeader"`
}

// UnmarshalJSON reads both SDKs' spellings.
func (d *OAuth2Defaults) UnmarshalJSON(b []byte) error {
	type plain OAuth2Defaults
	var alt struct {
		plain
		TokenURL2  []string                `json:"tokenUrl"`
		AuthURL2   []string                `json:"authUrl"`
		CustomProp []OAuth2CustomParameter `json:"oauth2CustomProperties"`
	}
	if err := json.Unmarshal(b, &alt); err != nil {
		return err
	}
	*d = OAuth2Defaults(alt.plain)
	if len(d.TokenURL) == 0 {
		d.TokenURL = alt.TokenURL2
	}
	if len(d.AuthURL) == 0 {
		d.AuthURL = alt.AuthURL2
	}
	if len(d.OAuth2CustomProperties) == 0 {
		d.OAuth2CustomProperties = alt.CustomProp
	}
	return nil
}

// OAuth2CustomParameter is one custom OAuth2 parameter.
type OAuth2CustomParameter struct {
	Key                     string   `json:"key"`
	Required                bool     `json:"required"`
	Label                   string   `json:"label"`
	Description             string   `json:"description"`
	SensitiveField          bool     `json:"sensitiveField"`
	ConnectorSuppliedValues []string `json:"connectorSuppliedValues"`
	Type                    string   `json:"type"`
}

// CustomAuthConfig is one custom authentication scheme.
type CustomAuthConfig struct {
	AuthenticationType string          `json:"authenticationType"`
	AuthParameters     []AuthParameter `json:"authParameters"`
}

// AuthParameter is one parameter of a custom authentication scheme.
type AuthParameter struct {
	Key                     string   `json:"key"`
	Required                bool     `json:"required"`
	Label                   string   `json:"label"`
	Description             string   `json:"description"`
	SensitiveField          bool     `json:"sensitiveField"`
	ConnectorSuppliedValues []string `json:"connectorSuppliedValues"`
}

// ConnectorRuntimeSetting is a setting the connector asks users for.
type ConnectorRuntimeSetting struct {
	Key                           string   `json:"key"`
	DataType                      string   `json:"dataType"`
	Required                      bool     `json:"required"`
	Label                         string   `json:"label"`
	Description                   string   `json:"description"`
	Scope                         string   `json:"scope"`
	ConnectorSuppliedValueOptions []string `json:"connectorSuppliedValueOptions"`
}
