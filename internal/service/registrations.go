package service

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// RegisterConnector registers a custom connector: it asks the connector's
// Lambda to describe itself (DescribeConnectorConfiguration) and stores
// what it declares, which DescribeConnector and ListConnectors answer.
func (s *Service) RegisterConnector(ctx context.Context, in *wire.RegisterConnectorRequest) (*wire.RegisterConnectorResponse, error) {
	return idempotent(ctx, s, "RegisterConnector", in.ClientToken, in, func() (*wire.RegisterConnectorResponse, error) {
		account, label := s.account(ctx), in.ConnectorLabel
		if label == "" {
			return nil, fault.New(fault.Invalid, "connectorLabel is required.")
		}
		if in.ConnectorProvisioningConfig == nil || in.ConnectorProvisioningConfig.Lambda == nil || in.ConnectorProvisioningConfig.Lambda.LambdaArn == "" {
			return nil, fault.New(fault.Invalid, "connectorProvisioningConfig.lambda.lambdaArn is required.")
		}
		_, err := s.d.Store.RegistrationGet(ctx, account, label)
		if err == nil {
			return nil, registrationExists(label)
		}
		if !store.IsNotFound(err) {
			return nil, fault.Wrap(fault.Internal, err, "read connector registration %s", label)
		}
		arn := s.arn(ctx, arnConnector, label)
		now := s.d.Now()
		doc, err := s.describeRegistration(ctx, label, arn, in.Description, in.ConnectorProvisioningConfig, now)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "encode connector registration %s", label)
		}
		err = s.d.Store.RegistrationCreate(ctx, &store.Registration{AccountID: account, Label: label, Arn: arn, Doc: b, CreatedAt: now, UpdatedAt: now})
		if store.IsConflict(err) {
			return nil, registrationExists(label)
		}
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "store connector registration %s", label)
		}
		return &wire.RegisterConnectorResponse{ConnectorArn: arn}, nil
	})
}

func registrationExists(label string) error {
	return fault.New(fault.Conflict, "Conflict executing request: Connector with label %s is already registered.", label)
}

// UpdateConnectorRegistration re-reads the connector's configuration from
// its Lambda: the registered one when connectorProvisioningConfig is
// absent, else the new one.
func (s *Service) UpdateConnectorRegistration(ctx context.Context, in *wire.UpdateConnectorRegistrationRequest) (*wire.UpdateConnectorRegistrationResponse, error) {
	return idempotent(ctx, s, "UpdateConnectorRegistration", in.ClientToken, in, func() (*wire.UpdateConnectorRegistrationResponse, error) {
		label := in.ConnectorLabel
		r, err := s.registration(ctx, label)
		if err != nil {
			return nil, err
		}
		old, err := decodeRegistration(r)
		if err != nil {
			return nil, err
		}
		prov := in.ConnectorProvisioningConfig
		if prov == nil || prov.Lambda == nil || prov.Lambda.LambdaArn == "" {
			prov = old.Configuration.ConnectorProvisioningConfig
		}
		if prov == nil || prov.Lambda == nil || prov.Lambda.LambdaArn == "" {
			return nil, fault.New(fault.Invalid, "connectorProvisioningConfig.lambda.lambdaArn is required: connector %s has none registered.", label)
		}
		desc := in.Description
		if desc == "" {
			desc = old.Configuration.ConnectorDescription
		}
		registeredAt := r.CreatedAt
		if old.Configuration.RegisteredAt != nil {
			registeredAt = old.Configuration.RegisteredAt.Time
		}
		doc, err := s.describeRegistration(ctx, label, r.Arn, desc, prov, registeredAt)
		if err != nil {
			return nil, err
		}
		if r.Doc, err = json.Marshal(doc); err != nil {
			return nil, fault.Wrap(fault.Internal, err, "encode connector registration %s", label)
		}
		r.UpdatedAt = s.d.Now()
		if err := s.d.Store.RegistrationUpdate(ctx, r); store.IsNotFound(err) {
			return nil, fault.New(fault.NotFound, "Connector:%s is not registered.", label)
		} else if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "update connector registration %s", label)
		}
		// What the connector says about its entities may have changed with it.
		account := s.account(ctx)
		s.metadata().reset(func(k metaKey) bool {
			return k.account == account && k.connType == string(wire.ConnectorTypeCustomConnector)
		})
		return &wire.UpdateConnectorRegistrationResponse{ConnectorArn: r.Arn}, nil
	})
}

// UnregisterConnector removes a custom connector; while profiles use it,
// only with forceDelete (they stay, orphaned).
func (s *Service) UnregisterConnector(ctx context.Context, in *wire.UnregisterConnectorRequest) (*wire.UnregisterConnectorResponse, error) {
	account, label := s.account(ctx), in.ConnectorLabel
	r, err := s.registration(ctx, label)
	if err != nil {
		return nil, err
	}
	if in.ForceDelete == nil || !*in.ForceDelete {
		profiles, _, err := s.d.Store.ProfileList(ctx, &store.ProfileListParams{
			AccountID: account, ConnectorType: string(wire.ConnectorTypeCustomConnector), Label: label,
			Page: store.Page{Limit: maxDependentsShown},
		})
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "find connector profiles of connector %s", label)
		}
		if len(profiles) > 0 {
			var names []string
			for _, p := range profiles {
				names = append(names, p.Name)
			}
			slices.Sort(names)
			return nil, fault.New(fault.Conflict,
				"Conflict executing request: Connector: %s is associated with one or more connector profiles. If you still want to delete it, then make delete request with forceDelete flag as true. Some of the associated connector profiles are: %s",
				label, describeList(names))
		}
	}
	if err := s.d.Store.RegistrationDelete(ctx, account, label); store.IsNotFound(err) {
		return nil, fault.New(fault.NotFound, "Connector:%s is not registered.", label)
	} else if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "delete connector registration %s", label)
	}
	if err := s.d.Store.TagsDeleteAll(ctx, r.Arn); err != nil {
		s.d.Logger.Warn("tags of an unregistered connector were not removed", "label", label, "err", err)
	}
	return &wire.UnregisterConnectorResponse{}, nil
}

// describeRegistration asks the Lambda for its configuration and words it
// as the registration document (decodeRegistration reads it back).
func (s *Service) describeRegistration(ctx context.Context, label, arn, description string, prov *wire.ConnectorProvisioningConfig, registeredAt time.Time) (*registrationDoc, error) {
	lambdaArn := prov.Lambda.LambdaArn
	cc, err := s.customConnectors()
	if err != nil {
		return nil, err
	}
	c, err := cc.DescribeConfiguration(ctx, s.connectorDeps(ctx), lambdaArn, label)
	if err != nil {
		if fault.Is(err, fault.Canceled) {
			return nil, err
		}
		return nil, registrationFailure(lambdaArn, err)
	}
	if len(c.SupportedAPIVersions) == 0 {
		return nil, fault.New(fault.Invalid, "The connector Lambda %s declares no supportedApiVersions.", lambdaArn)
	}
	cfg := wire.ConnectorConfiguration{
		ConnectorType:                    wire.ConnectorTypeCustomConnector,
		ConnectorLabel:                   label,
		ConnectorArn:                     arn,
		ConnectorDescription:             description,
		ConnectorOwner:                   c.ConnectorOwner,
		ConnectorName:                    c.ConnectorName,
		ConnectorVersion:                 c.ConnectorVersion,
		ConnectorModes:                   c.ConnectorModes,
		CanUseAsSource:                   new(slices.Contains(c.ConnectorModes, "SOURCE")),
		CanUseAsDestination:              new(slices.Contains(c.ConnectorModes, "DESTINATION")),
		IsPrivateLinkEnabled:             new(false),
		IsPrivateLinkEndpointUrlRequired: new(false),
		ConnectorProvisioningType:        wire.ConnectorProvisioningTypeLambda,
		ConnectorProvisioningConfig:      &wire.ConnectorProvisioningConfig{Lambda: &wire.LambdaConnectorProvisioningConfig{LambdaArn: lambdaArn}},
		SupportedApiVersions:             c.SupportedAPIVersions,
		LogoURL:                          c.LogoURL,
		RegisteredAt:                     wire.NewTimestamp(registeredAt),
		RegisteredBy:                     s.account(ctx),
		AuthenticationConfig:             authenticationConfig(c.AuthenticationConfig),
	}
	if *cfg.CanUseAsSource {
		spec, _ := s.registry().Lookup(string(wire.ConnectorTypeCustomConnector))
		for _, d := range spec.SupportedDestinations {
			cfg.SupportedDestinationConnectors = append(cfg.SupportedDestinationConnectors, wire.ConnectorType(d))
		}
	}
	for _, f := range c.TriggerFrequenciesSupported {
		if slices.Contains(wire.ScheduleFrequencyType("").Values(), wire.ScheduleFrequencyType(f)) {
			cfg.SupportedSchedulingFrequencies = append(cfg.SupportedSchedulingFrequencies, wire.ScheduleFrequencyType(f))
		}
	}
	for _, t := range c.SupportedTriggerTypes {
		if tt, ok := triggerTypes[t]; ok && !slices.Contains(cfg.SupportedTriggerTypes, tt) {
			cfg.SupportedTriggerTypes = append(cfg.SupportedTriggerTypes, tt)
		}
	}
	for _, o := range c.OperatorsSupported {
		if slices.Contains(wire.Operators("").Values(), wire.Operators(o)) {
			cfg.SupportedOperators = append(cfg.SupportedOperators, wire.Operators(o))
		}
	}
	if *cfg.CanUseAsDestination {
		for _, o := range c.SupportedWriteOperations {
			if slices.Contains(wire.WriteOperationType("").Values(), wire.WriteOperationType(o)) {
				cfg.SupportedWriteOperations = append(cfg.SupportedWriteOperations, wire.WriteOperationType(o))
			}
		}
	}
	types := c.SupportedDataTransferTypes
	if len(types) == 0 {
		types = []string{"RECORD"} // the Java SDK's default
	}
	for _, t := range types {
		cfg.SupportedDataTransferTypes = append(cfg.SupportedDataTransferTypes, wire.SupportedDataTransferType(t))
	}
	for _, rs := range c.ConnectorRuntimeSetting {
		cfg.ConnectorRuntimeSettings = append(cfg.ConnectorRuntimeSettings, wire.ConnectorRuntimeSetting{
			Key: rs.Key, DataType: rs.DataType, IsRequired: new(rs.Required), Label: rs.Label, Description: rs.Description,
			Scope: rs.Scope, ConnectorSuppliedValueOptions: rs.ConnectorSuppliedValueOptions,
		})
	}
	detail := wire.ConnectorDetail{
		ConnectorType:              wire.ConnectorTypeCustomConnector,
		ConnectorLabel:             label,
		ConnectorDescription:       description,
		ConnectorName:              c.ConnectorName,
		ConnectorOwner:             c.ConnectorOwner,
		ConnectorVersion:           c.ConnectorVersion,
		ConnectorModes:             c.ConnectorModes,
		ConnectorProvisioningType:  wire.ConnectorProvisioningTypeLambda,
		RegisteredAt:               cfg.RegisteredAt,
		RegisteredBy:               cfg.RegisteredBy,
		SupportedDataTransferTypes: cfg.SupportedDataTransferTypes,
	}
	return &registrationDoc{Configuration: cfg, Detail: detail}, nil
}

// registrationFailure words a failed DescribeConnectorConfiguration as
// AppFlow does: a function error or timeout is ConnectorServerException
// with the connector's message; a Lambda the service refuses to invoke is
// AccessDenied; an unknown one Validation.
func registrationFailure(lambdaArn string, err error) error {
	switch fault.CodeOf(err) {
	case fault.AccessDenied:
		return fault.Wrap(fault.AccessDenied, err, "Unable to invoke the connector Lambda %s", lambdaArn)
	case fault.Invalid:
		return fault.Wrap(fault.Invalid, err, "Unable to invoke the connector Lambda %s", lambdaArn)
	case fault.AuthFailed:
		return err
	}
	return fault.New(fault.ConnectorServer, "%s", fault.Message(err))
}

// triggerTypes maps the SDK's trigger type names to the API's.
var triggerTypes = map[string]wire.TriggerType{
	"SCHEDULED": wire.TriggerTypeScheduled, "ONDEMAND": wire.TriggerTypeOnDemand, "EVENT": wire.TriggerTypeEvent,
}

// authenticationConfig words the SDK's authentication config in the API's
// shape, whose key names differ (oAuth2Defaults.tokenURL -> tokenUrls,
// customAuthConfig -> customAuthConfigs, required -> isRequired, ...).
func authenticationConfig(a *connector.AuthenticationConfig) *wire.AuthenticationConfig {
	if a == nil {
		return nil
	}
	out := &wire.AuthenticationConfig{
		IsBasicAuthSupported:  new(a.IsBasicAuthSupported),
		IsApiKeyAuthSupported: new(a.IsAPIKeyAuthSupported),
		IsOAuth2Supported:     new(a.IsOAuth2Supported),
		IsCustomAuthSupported: new(a.IsCustomAuthSupported),
	}
	if d := a.OAuth2Defaults; d != nil {
		od := &wire.OAuth2Defaults{OauthScopes: d.OAuthScopes, TokenUrls: d.TokenURL, AuthCodeUrls: d.AuthURL}
		for _, g := range d.OAuth2GrantTypesSupported {
			od.Oauth2GrantTypesSupported = append(od.Oauth2GrantTypesSupported, wire.OAuth2GrantType(g))
		}
		for _, p := range d.OAuth2CustomProperties {
			od.Oauth2CustomProperties = append(od.Oauth2CustomProperties, wire.OAuth2CustomParameter{
				Key: p.Key, IsRequired: new(p.Required), Label: p.Label, Description: p.Description,
				IsSensitiveField: new(p.SensitiveField), ConnectorSuppliedValues: p.ConnectorSuppliedValues,
				Type: wire.OAuth2CustomPropType(p.Type),
			})
		}
		out.OAuth2Defaults = od
	}
	for _, c := range a.CustomAuthConfig {
		cc := wire.CustomAuthConfig{CustomAuthenticationType: c.AuthenticationType}
		for _, p := range c.AuthParameters {
			cc.AuthParameters = append(cc.AuthParameters, wire.AuthParameter{
				Key: p.Key, IsRequired: new(p.Required), Label: p.Label, Description: p.Description,
				IsSensitiveField: new(p.SensitiveField), ConnectorSuppliedValues: p.ConnectorSuppliedValues,
			})
		}
		out.CustomAuthConfigs = append(out.CustomAuthConfigs, cc)
	}
	return out
}

// CustomConnectorLookup finds registered custom connectors in st, for
// connector.Deps.CustomConnector: the customconn driver needs the Lambda
// ARN and API versions a profile's label stands for.
func CustomConnectorLookup(st store.Store) func(ctx context.Context, accountID, label string) (*connector.CustomConnector, error) {
	return func(ctx context.Context, accountID, label string) (*connector.CustomConnector, error) {
		r, err := st.RegistrationGet(ctx, accountID, label)
		if store.IsNotFound(err) {
			return nil, fault.New(fault.NotFound, "Connector:%s is not registered.", label)
		}
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "read connector registration %s", label)
		}
		d, err := decodeRegistration(r)
		if err != nil {
			return nil, err
		}
		p := d.Configuration.ConnectorProvisioningConfig
		if p == nil || p.Lambda == nil || p.Lambda.LambdaArn == "" {
			return nil, fault.New(fault.Invalid, "Connector:%s has no Lambda registered.", label)
		}
		return &connector.CustomConnector{Label: label, LambdaArn: p.Lambda.LambdaArn, APIVersions: d.Configuration.SupportedApiVersions}, nil
	}
}

// customProfileDeleted removes what a deleted CustomConnector profile kept
// outside the store: its Secrets Manager secret, when credentials live in
// one (--secrets-endpoint). A failure is logged, not returned: the profile
// is gone either way.
func (s *Service) customProfileDeleted(ctx context.Context, p *store.Profile) {
	if p.ConnectorType != string(wire.ConnectorTypeCustomConnector) {
		return
	}
	cc, err := s.customConnectors()
	if err != nil {
		s.d.Logger.Warn("the secret of a deleted connector profile was not removed", "profile", p.Name, "err", err)
		return
	}
	deps := s.connectorDeps(ctx)
	if err := cc.ProfileDeleted(context.WithoutCancel(ctx), deps, deps.AccountID, p.Name); err != nil {
		s.d.Logger.Warn("the Secrets Manager secret of a deleted connector profile was not removed", "profile", p.Name, "err", err)
	}
}

// customConnectors is the registered CustomConnector type's registration
// support (connector.Spec.Custom).
func (s *Service) customConnectors() (connector.CustomConnectors, error) {
	spec, ok := s.registry().Lookup(string(wire.ConnectorTypeCustomConnector))
	if !ok || spec.Custom == nil {
		return nil, fault.New(fault.Unsupported, "custom connectors are not available: this appflowd has no CustomConnector driver")
	}
	return spec.Custom, nil
}
