package service

import (
	"context"
	"slices"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// errNoLambda is why registering cannot succeed yet: a custom connector's
// configuration comes from its Lambda, and appflowd cannot invoke one.
func errNoLambda(label, what string) error {
	return fault.New(fault.ConnectorServer,
		"appflowd cannot invoke connector Lambdas yet: %s of connector %s needs the configuration its Lambda describes.", what, label)
}

// RegisterConnector registers a custom connector. Its configuration comes
// from its Lambda, which appflowd cannot call yet: after checking the
// request it answers ConnectorServerException rather than register a
// connector it knows nothing about.
func (s *Service) RegisterConnector(ctx context.Context, in *wire.RegisterConnectorRequest) (*wire.RegisterConnectorResponse, error) {
	return idempotent(ctx, s, "RegisterConnector", in.ClientToken, in, func() (*wire.RegisterConnectorResponse, error) {
		label := in.ConnectorLabel
		if label == "" {
			return nil, fault.New(fault.Invalid, "connectorLabel is required.")
		}
		if in.ConnectorProvisioningConfig == nil || in.ConnectorProvisioningConfig.Lambda == nil {
			return nil, fault.New(fault.Invalid, "connectorProvisioningConfig.lambda.lambdaArn is required.")
		}
		_, err := s.d.Store.RegistrationGet(ctx, s.account(ctx), label)
		if err == nil {
			return nil, fault.New(fault.Conflict, "Conflict executing request: Connector with label %s is already registered.", label)
		}
		if !store.IsNotFound(err) {
			return nil, fault.Wrap(fault.Internal, err, "read connector registration %s", label)
		}
		return nil, errNoLambda(label, "registration")
	})
}

// UpdateConnectorRegistration re-reads a custom connector's Lambda, which
// appflowd cannot call yet (see RegisterConnector).
func (s *Service) UpdateConnectorRegistration(ctx context.Context, in *wire.UpdateConnectorRegistrationRequest) (*wire.UpdateConnectorRegistrationResponse, error) {
	return idempotent(ctx, s, "UpdateConnectorRegistration", in.ClientToken, in, func() (*wire.UpdateConnectorRegistrationResponse, error) {
		if _, err := s.registration(ctx, in.ConnectorLabel); err != nil {
			return nil, err
		}
		return nil, errNoLambda(in.ConnectorLabel, "updating the registration")
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
