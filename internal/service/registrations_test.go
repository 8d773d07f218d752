package service

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/examples/customconnector/exampleconn"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/connector/customconn"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

func lambdaConfig() *wire.ConnectorProvisioningConfig {
	return &wire.ConnectorProvisioningConfig{Lambda: &wire.LambdaConnectorProvisioningConfig{
		LambdaArn: "arn:aws:lambda:us-east-1:123456789012:function:acme-connector"}}
}

// newRegEnv is a profEnv whose service invokes connector Lambdas at lambda.
func newRegEnv(t *testing.T, lambda http.Handler) *profEnv {
	t.Helper()
	e := newProfEnv(t)
	e.reg.Register(customconn.Spec())
	srv := httptest.NewServer(lambda)
	t.Cleanup(srv.Close)
	e.svc = New(Deps{
		Store: e.store, Registry: e.reg, Keyring: e.keyring, Region: "us-east-1", DefaultAccountID: "123456789012",
		Now: e.clock, Connector: connector.Deps{Endpoints: connector.Endpoints{connector.EndpointLambda: srv.URL}, HTTPClient: srv.Client()},
	})
	return e
}

func TestRegisterConnector(t *testing.T) {
	conn := exampleconn.New()
	e := newRegEnv(t, conn)
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
	out, err := e.svc.RegisterConnector(e.ctx, &wire.RegisterConnectorRequest{ConnectorLabel: "acme", Description: "the example",
		ConnectorProvisioningType: wire.ConnectorProvisioningTypeLambda, ConnectorProvisioningConfig: lambdaConfig(), ClientToken: "t1"})
	if err != nil {
		t.Fatalf("RegisterConnector: %v", err)
	}
	if want := "arn:aws:appflow:us-east-1:123456789012:connector/acme"; out.ConnectorArn != want {
		t.Errorf("connectorArn = %q, want %q", out.ConnectorArn, want)
	}
	reqs := conn.Requests()
	if len(reqs) != 1 || string(reqs[0].Body) != `{"type":"DescribeConnectorConfigurationRequest","locale":"en-US","connectorLabel":"acme"}` {
		t.Errorf("the connector received %v, want one DescribeConnectorConfigurationRequest", reqs)
	}
	d, err := e.svc.DescribeConnector(e.ctx, &wire.DescribeConnectorRequest{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorLabel: "acme"})
	if err != nil {
		t.Fatalf("DescribeConnector: %v", err)
	}
	c := d.ConnectorConfiguration
	got, _ := json.Marshal(map[string]any{
		"name": c.ConnectorName, "owner": c.ConnectorOwner, "version": c.ConnectorVersion, "modes": c.ConnectorModes,
		"source": *c.CanUseAsSource, "dest": *c.CanUseAsDestination, "triggers": c.SupportedTriggerTypes,
		"freqs": c.SupportedSchedulingFrequencies, "writes": c.SupportedWriteOperations, "apis": c.SupportedApiVersions,
		"lambda": c.ConnectorProvisioningConfig.Lambda.LambdaArn, "desc": c.ConnectorDescription,
		"basic": *c.AuthenticationConfig.IsBasicAuthSupported, "custom": c.AuthenticationConfig.CustomAuthConfigs[0].CustomAuthenticationType,
		"setting": c.ConnectorRuntimeSettings[0].Key, "ops": len(c.SupportedOperators), "types": c.SupportedDataTransferTypes,
	})
	want := `{"apis":["v1"],"basic":true,"custom":"token","desc":"the example","dest":true,"freqs":["BYMINUTE","HOURLY","DAILY","WEEKLY","MONTHLY","ONCE"],` +
		`"lambda":"arn:aws:lambda:us-east-1:123456789012:function:acme-connector","modes":["SOURCE","DESTINATION"],"name":"ExampleConnector",` +
		`"ops":10,"owner":"appflowd examples","setting":"region","source":true,"triggers":["Scheduled","OnDemand"],"types":["RECORD"],"version":"1.0","writes":["INSERT","UPSERT","UPDATE","DELETE"]}`
	if string(got) != want {
		t.Errorf("DescribeConnector:\n got %s\nwant %s", got, want)
	}
	// A custom source sends where AppFlow's sources do by default, as the
	// CustomConnector type's capabilities say (catalog.SourceDestinations).
	var dests []string
	for _, d := range c.SupportedDestinationConnectors {
		dests = append(dests, string(d))
	}
	if want := catalog.SourceDestinations(); !slices.Equal(dests, want) || !slices.Contains(dests, "Marketo") {
		t.Errorf("supportedDestinationConnectors %v, want %v", dests, want)
	}
	list, err := e.svc.ListConnectors(e.ctx, &wire.ListConnectorsRequest{})
	if err != nil {
		t.Fatalf("ListConnectors: %v", err)
	}
	var names []string
	for _, d := range list.Connectors {
		names = append(names, d.ConnectorLabel+"="+d.ConnectorName)
	}
	if strings.Join(names, ",") != "acme=ExampleConnector,taken=taken-name" {
		t.Errorf("ListConnectors = %v", names)
	}
	lookup, err := CustomConnectorLookup(e.store)(e.ctx, "123456789012", "acme")
	if err != nil || lookup.LambdaArn != lambdaConfig().Lambda.LambdaArn || lookup.APIVersions[0] != "v1" {
		t.Errorf("CustomConnectorLookup = %+v, %v", lookup, err)
	}
}

func TestRegisterConnectorLambdaFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		code    fault.Code
		part    string
	}{
		{"function error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = w.Write([]byte(`{"errorMessage":"Exception while processing the request","errorType":"RuntimeError"}`))
		}, fault.ConnectorServer, "Exception while processing the request"},
		{"connector says no", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"isSuccess":false,"errorDetails":{"errorCode":"ServerError","errorMessage":"backend down"}}`))
		}, fault.ConnectorServer, "backend down"},
		{"unknown function", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"Type":"User","message":"Function not found"}`))
		}, fault.Invalid, "Function not found"},
		{"not allowed", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"message":"not authorized to perform lambda:InvokeFunction"}`))
		}, fault.AccessDenied, "not authorized"},
		{"no api versions", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"isSuccess":true,"connectorName":"x","connectorModes":["SOURCE"]}`))
		}, fault.Invalid, "supportedApiVersions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRegEnv(t, tt.handler)
			_, err := e.svc.RegisterConnector(e.ctx, &wire.RegisterConnectorRequest{ConnectorLabel: "acme", ConnectorProvisioningConfig: lambdaConfig(), ClientToken: "t1"})
			profWantCode(t, err, tt.code, tt.part)
			if _, err := e.store.RegistrationGet(e.ctx, "123456789012", "acme"); !store.IsNotFound(err) {
				t.Errorf("a refused registration was stored: %v", err)
			}
		})
	}
}

func TestUpdateConnectorRegistration(t *testing.T) {
	conn := exampleconn.New()
	e := newRegEnv(t, conn)
	_, err := e.svc.UpdateConnectorRegistration(e.ctx, &wire.UpdateConnectorRegistrationRequest{ConnectorLabel: "ghost"})
	profWantCode(t, err, fault.NotFound, "Connector:ghost is not registered.")
	if _, err := e.svc.RegisterConnector(e.ctx, &wire.RegisterConnectorRequest{ConnectorLabel: "acme", Description: "first", ConnectorProvisioningConfig: lambdaConfig()}); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour)
	// No provisioning config: re-read the registered Lambda.
	if _, err := e.svc.UpdateConnectorRegistration(e.ctx, &wire.UpdateConnectorRegistrationRequest{ConnectorLabel: "acme"}); err != nil {
		t.Fatalf("UpdateConnectorRegistration: %v", err)
	}
	other := "arn:aws:lambda:us-east-1:123456789012:function:acme-v2"
	out, err := e.svc.UpdateConnectorRegistration(e.ctx, &wire.UpdateConnectorRegistrationRequest{ConnectorLabel: "acme", Description: "second",
		ConnectorProvisioningConfig: &wire.ConnectorProvisioningConfig{Lambda: &wire.LambdaConnectorProvisioningConfig{LambdaArn: other}}})
	if err != nil {
		t.Fatalf("UpdateConnectorRegistration: %v", err)
	}
	if out.ConnectorArn != "arn:aws:appflow:us-east-1:123456789012:connector/acme" {
		t.Errorf("connectorArn = %q", out.ConnectorArn)
	}
	d, err := e.svc.DescribeConnector(e.ctx, &wire.DescribeConnectorRequest{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorLabel: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	c := d.ConnectorConfiguration
	if c.ConnectorProvisioningConfig.Lambda.LambdaArn != other || c.ConnectorDescription != "second" || !c.RegisteredAt.Time.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("after update: lambda %s, description %q, registeredAt %v", c.ConnectorProvisioningConfig.Lambda.LambdaArn, c.ConnectorDescription, c.RegisteredAt)
	}
	if n := len(conn.Requests()); n != 3 {
		t.Errorf("the connector was asked %d times, want 3", n)
	}
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
