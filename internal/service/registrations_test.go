package service

import (
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

func lambdaConfig() *wire.ConnectorProvisioningConfig {
	return &wire.ConnectorProvisioningConfig{Lambda: &wire.LambdaConnectorProvisioningConfig{
		LambdaArn: "arn:aws:lambda:us-east-1:123456789012:function:acme-connector"}}
}

func TestRegisterConnectorRefusesUntilLambdasWork(t *testing.T) {
	e := newProfEnv(t)
	e.seedRegistration("taken", false)
	tests := []struct {
		name string
		in   *wire.RegisterConnectorRequest
		code fault.Code
		part string
	}{
		{"no label", &wire.RegisterConnectorRequest{ConnectorProvisioningConfig: lambdaConfig()}, fault.Invalid, "connectorLabel is required"},
		{"no lambda", &wire.RegisterConnectorRequest{ConnectorLabel: "acme"}, fault.Invalid, "lambdaArn is required"},
		{"label taken", &wire.RegisterConnectorRequest{ConnectorLabel: "taken", ConnectorProvisioningConfig: lambdaConfig()}, fault.Conflict, "taken is already registered"},
		{"valid", &wire.RegisterConnectorRequest{ConnectorLabel: "acme", ConnectorProvisioningType: wire.ConnectorProvisioningTypeLambda,
			ConnectorProvisioningConfig: lambdaConfig(), ClientToken: "t1"}, fault.ConnectorServer, "appflowd cannot invoke connector Lambdas yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.in.Validate(); err != nil {
				t.Fatalf("the model refuses the request already: %v", err)
			}
			_, err := e.svc.RegisterConnector(e.ctx, tt.in)
			profWantCode(t, err, tt.code, tt.part)
		})
	}
	if _, err := e.store.RegistrationGet(e.ctx, "123456789012", "acme"); !store.IsNotFound(err) {
		t.Errorf("a refused registration was stored: %v", err)
	}
	// The failure left the token free: the same call fails the same way, not with a token conflict.
	_, err := e.svc.RegisterConnector(e.ctx, tests[3].in)
	profWantCode(t, err, fault.ConnectorServer)
}

func TestUpdateConnectorRegistration(t *testing.T) {
	e := newProfEnv(t)
	_, err := e.svc.UpdateConnectorRegistration(e.ctx, &wire.UpdateConnectorRegistrationRequest{ConnectorLabel: "ghost"})
	profWantCode(t, err, fault.NotFound, "Connector:ghost is not registered.")
	e.seedRegistration("acme", false)
	_, err = e.svc.UpdateConnectorRegistration(e.ctx, &wire.UpdateConnectorRegistrationRequest{ConnectorLabel: "acme", ConnectorProvisioningConfig: lambdaConfig()})
	profWantCode(t, err, fault.ConnectorServer, "appflowd cannot invoke connector Lambdas yet")
}

func TestUnregisterConnector(t *testing.T) {
	e := newProfEnv(t)
	_, err := e.svc.UnregisterConnector(e.ctx, &wire.UnregisterConnectorRequest{ConnectorLabel: "ghost"})
	profWantCode(t, err, fault.NotFound, "ghost")

	e.seedRegistration("acme", false)
	e.seedRegistration("idle", false)
	for _, name := range []string{"p2", "p1"} {
		e.mustCreate(&wire.CreateConnectorProfileRequest{ConnectorProfileName: name, ConnectorType: wire.ConnectorTypeCustomConnector,
			ConnectorLabel: "acme", ConnectionMode: wire.ConnectionModePublic,
			ConnectorProfileConfig: &wire.ConnectorProfileConfig{
				ConnectorProfileProperties: &wire.ConnectorProfileProperties{CustomConnector: &wire.CustomConnectorProfileProperties{}},
				ConnectorProfileCredentials: &wire.ConnectorProfileCredentials{CustomConnector: &wire.CustomConnectorProfileCredentials{
					AuthenticationType: wire.AuthenticationTypeApikey, ApiKey: &wire.ApiKeyCredentials{ApiKey: "k"}}}}})
	}
	_, err = e.svc.UnregisterConnector(e.ctx, &wire.UnregisterConnectorRequest{ConnectorLabel: "acme"})
	profWantCode(t, err, fault.Conflict, "Conflict executing request: Connector: acme is associated with one or more connector profiles. If you still want to delete it, then make delete request with forceDelete flag as true. Some of the associated connector profiles are: [p1, p2]")

	arn := "arn:aws:appflow:us-east-1:123456789012:connector/idle"
	if _, err := e.svc.TagResource(e.ctx, &wire.TagResourceRequest{ResourceArn: arn, Tags: map[string]string{"team": "data"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UnregisterConnector(e.ctx, &wire.UnregisterConnectorRequest{ConnectorLabel: "idle"}); err != nil {
		t.Fatalf("unused connector: %v", err)
	}
	if tags, _ := e.store.TagsGet(e.ctx, arn); len(tags) != 0 {
		t.Errorf("tags outlived the connector: %v", tags)
	}
	if _, err := e.svc.UnregisterConnector(e.ctx, &wire.UnregisterConnectorRequest{ConnectorLabel: "acme", ForceDelete: new(true)}); err != nil {
		t.Fatalf("forceDelete: %v", err)
	}
	if _, err := e.store.RegistrationGet(e.ctx, "123456789012", "acme"); !store.IsNotFound(err) {
		t.Errorf("registration still there: %v", err)
	}
	if _, err := e.store.ProfileGet(e.ctx, "123456789012", "p1"); err != nil {
		t.Errorf("forceDelete removed a profile (they stay, orphaned): %v", err)
	}
}
