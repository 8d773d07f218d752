package service

import (
	"context"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// flowCheckCustomSettings asks each custom connector end of a flow whether
// the flow's customProperties are good for its role, with
// ValidateConnectorRuntimeSettings scope SOURCE or DESTINATION (data-plane
// spec 11.4 step 4), and refuses the flow with the connector's reasons
// (ValidationException). flowCheck calls it last, after the local checks,
// so a flow refused for its own faults never reaches the connector.
func (s *Service) flowCheckCustomSettings(ctx context.Context, d *flowDef) error {
	if src := d.Source; src != nil && src.ConnectorType == wire.ConnectorTypeCustomConnector {
		var props map[string]string
		if p := src.SourceConnectorProperties; p != nil && p.CustomConnector != nil {
			props = p.CustomConnector.CustomProperties
		}
		if err := s.validateCustomSettings(ctx, src.ConnectorProfileName, "SOURCE", props); err != nil {
			return err
		}
	}
	for _, dst := range d.Dests {
		if dst.ConnectorType != wire.ConnectorTypeCustomConnector {
			continue
		}
		var props map[string]string
		if p := dst.DestinationConnectorProperties; p != nil && p.CustomConnector != nil {
			props = p.CustomConnector.CustomProperties
		}
		if err := s.validateCustomSettings(ctx, dst.ConnectorProfileName, "DESTINATION", props); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) validateCustomSettings(ctx context.Context, profile, scope string, settings map[string]string) error {
	account := s.account(ctx)
	p, err := s.d.Store.ProfileGet(ctx, account, profile)
	if store.IsNotFound(err) {
		return fault.New(fault.NotFound, "Connector Profile with name %s does not exist.", profile)
	}
	if err != nil {
		return fault.Wrap(fault.Internal, err, "read connector profile %s", profile)
	}
	reg, err := s.registration(ctx, p.Label)
	if err != nil {
		return err
	}
	doc, err := decodeRegistration(reg)
	if err != nil {
		return err
	}
	prov := doc.Configuration.ConnectorProvisioningConfig
	if prov == nil || prov.Lambda == nil || prov.Lambda.LambdaArn == "" {
		return nil // no connector to ask (a registration stored without a Lambda)
	}
	custom, err := s.customConnectors()
	if err != nil {
		return err
	}
	cc := &connector.CustomConnector{Label: p.Label, LambdaArn: prov.Lambda.LambdaArn, APIVersions: doc.Configuration.SupportedApiVersions}
	err = custom.ValidateRuntimeSettings(ctx, s.connectorDeps(ctx), cc, scope, settings)
	if err != nil && !fault.Is(err, fault.Invalid) && !fault.Is(err, fault.Canceled) {
		return connectorFailure(err)
	}
	return err
}
