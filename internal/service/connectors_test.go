package service

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// jsonKeys lists the JSON member names of a struct type.
func jsonKeys(v any) []string {
	var keys []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		keys = append(keys, name)
	}
	slices.Sort(keys)
	return keys
}

func TestUnionKeysMatchModel(t *testing.T) {
	all := wire.ConnectorType("").Values()
	if len(unionKeys) != len(all) {
		t.Errorf("unionKeys has %d types, the ConnectorType enum %d", len(unionKeys), len(all))
	}
	// The types that take a profile, as the catalog says (custom
	// connectors describe themselves and always take one).
	needsProfile := map[wire.ConnectorType]bool{wire.ConnectorTypeCustomConnector: true}
	for _, c := range catalog.Builtin() {
		needsProfile[wire.ConnectorType(c.Type)] = c.NeedsProfile
	}
	var profileKeys []string
	for _, typ := range all {
		key, ok := unionKeys[typ]
		if !ok {
			t.Errorf("ConnectorType %s has no union key", typ)
			continue
		}
		if !strings.EqualFold(key, string(typ)) {
			t.Errorf("union key %s of %s differs in more than case", key, typ)
		}
		if needsProfile[typ] {
			profileKeys = append(profileKeys, key)
		}
	}
	slices.Sort(profileKeys)
	for _, union := range []any{wire.ConnectorProfileProperties{}, wire.ConnectorProfileCredentials{}} {
		if got := jsonKeys(union); !slices.Equal(got, profileKeys) {
			t.Errorf("%T keys %v, want the profile types' keys %v", union, got, profileKeys)
		}
	}
	// The traps of spec 13.10, spelled out.
	for typ, want := range map[wire.ConnectorType]string{
		wire.ConnectorTypeGoogleanalytics: "GoogleAnalytics", wire.ConnectorTypeServicenow: "ServiceNow", wire.ConnectorTypeInfornexus: "InforNexus",
	} {
		if got := unionKeys[typ]; got != want {
			t.Errorf("union key of %s: got %s, want %s", typ, got, want)
		}
	}
	// The catalog agrees.
	for _, c := range catalog.Builtin() {
		if c.UnionKey != "" && c.UnionKey != unionKeys[wire.ConnectorType(c.Type)] {
			t.Errorf("catalog spells %s as %s, service as %s", c.Type, c.UnionKey, unionKeys[wire.ConnectorType(c.Type)])
		}
	}
}

func TestUnionMember(t *testing.T) {
	props := &wire.ConnectorProfileProperties{
		GoogleAnalytics: &wire.GoogleAnalyticsConnectorProfileProperties{},
		ServiceNow:      &wire.ServiceNowConnectorProfileProperties{InstanceUrl: "https://x.service-now.com"},
	}
	tests := []struct {
		typ  string
		want string
	}{
		{"Googleanalytics", `{}`},
		{"Servicenow", `{"instanceUrl":"https://x.service-now.com"}`},
		{"Zendesk", ``},
	}
	for _, tt := range tests {
		got, err := unionMember(props, tt.typ)
		if err != nil {
			t.Fatalf("unionMember(%s): %v", tt.typ, err)
		}
		if string(got) != tt.want {
			t.Errorf("unionMember(%s): got %q, want %q", tt.typ, got, tt.want)
		}
	}
	if got, err := unionMember((*wire.ConnectorProfileProperties)(nil), "Zendesk"); err != nil || got != nil {
		t.Errorf("nil union: got %q, %v; want nil, nil", got, err)
	}
	if _, err := unionMember(props, "Nope"); !fault.Is(err, fault.Invalid) {
		t.Errorf("unknown type: got %v, want Invalid", err)
	}
	// Source properties use the same keys.
	src := &wire.SourceConnectorProperties{InforNexus: &wire.InforNexusSourceProperties{Object: "orders"}}
	if got, _ := unionMember(src, "Infornexus"); string(got) != `{"object":"orders"}` {
		t.Errorf("source InforNexus member: got %s", got)
	}
}

func TestDescribeConnectorsAllBuiltins(t *testing.T) {
	e := newProfEnv(t)
	e.seedRegistration("acme", false)
	var want []string
	for _, c := range catalog.Builtin() {
		want = append(want, c.Type)
	}
	slices.Sort(want)

	got := map[string]wire.ConnectorConfiguration{}
	var customs []wire.ConnectorDetail
	token, pages := "", 0
	for {
		out, err := e.svc.DescribeConnectors(e.ctx, &wire.DescribeConnectorsRequest{MaxResults: new(int32(5)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if n := len(out.ConnectorConfigurations) + len(out.Connectors); n > 5 {
			t.Errorf("page %d: %d entries, want at most 5", pages, n)
		}
		for k, v := range out.ConnectorConfigurations {
			if _, dup := got[k]; dup {
				t.Errorf("%s on two pages", k)
			}
			got[k] = v
		}
		customs = append(customs, out.Connectors...)
		if out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("got types %v, want every built-in %v", keys, want)
	}
	if _, ok := got["CustomConnector"]; ok {
		t.Errorf("CustomConnector is in connectorConfigurations")
	}
	if len(customs) != 1 || customs[0].ConnectorLabel != "acme" {
		t.Errorf("got connectors %+v, want the registered acme", customs)
	}
	if wantPages := (len(want) + 1 + 4) / 5; pages != wantPages {
		t.Errorf("got %d pages, want %d", pages, wantPages)
	}

	// Without maxResults: pages of 20.
	out, err := e.svc.DescribeConnectors(e.ctx, &wire.DescribeConnectorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ConnectorConfigurations) != 20 || out.NextToken == "" {
		t.Errorf("default page: got %d configurations, next %q; want 20 and a nextToken", len(out.ConnectorConfigurations), out.NextToken)
	}
	_, err = e.svc.DescribeConnectors(e.ctx, &wire.DescribeConnectorsRequest{ConnectorTypes: []wire.ConnectorType{"S3"}, NextToken: out.NextToken})
	profWantCode(t, err, fault.Invalid, "nextToken")
}

func TestDescribeConnectorsSalesforceLikeAppFlow(t *testing.T) {
	e := newProfEnv(t)
	out, err := e.svc.DescribeConnectors(e.ctx, &wire.DescribeConnectorsRequest{
		ConnectorTypes: []wire.ConnectorType{wire.ConnectorTypeSalesforce, wire.ConnectorTypeLookoutMetrics, wire.ConnectorTypeRedshift},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ConnectorConfigurations) != 3 || out.NextToken != "" || len(out.Connectors) != 0 {
		t.Fatalf("got %d configurations, %d connectors, next %q; want 3, 0, none", len(out.ConnectorConfigurations), len(out.Connectors), out.NextToken)
	}
	sf := out.ConnectorConfigurations["Salesforce"]
	raw, err := json.Marshal(sf)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	// Spec 7.2: what AppFlow's own sample has, and what it leaves out.
	for _, k := range []string{"canUseAsSource", "canUseAsDestination", "isPrivateLinkEnabled", "isPrivateLinkEndpointUrlRequired",
		"supportedSchedulingFrequencies", "supportedTriggerTypes", "supportedDestinationConnectors", "connectorMetadata",
		"connectorDescription", "connectorType"} {
		if _, ok := m[k]; !ok {
			t.Errorf("Salesforce configuration lacks %s: %s", k, raw)
		}
	}
	for _, k := range []string{"authenticationConfig", "connectorArn", "connectorLabel", "connectorModes", "connectorName",
		"connectorOwner", "connectorProvisioningType", "connectorProvisioningConfig", "connectorRuntimeSettings",
		"connectorVersion", "registeredAt", "registeredBy", "supportedApiVersions", "supportedOperators", "supportedWriteOperations"} {
		if _, ok := m[k]; ok {
			t.Errorf("Salesforce configuration has %s, which built-ins leave out: %s", k, raw)
		}
	}
	if string(m["connectorType"]) != `"Salesforce"` || !*sf.IsPrivateLinkEnabled || !*sf.CanUseAsSource || !*sf.CanUseAsDestination {
		t.Errorf("got %s", raw)
	}
	if md := sf.ConnectorMetadata; md == nil || md.Salesforce == nil || !slices.Equal(md.Salesforce.OAuthScopes, []string{"api", "refresh_token", "id"}) {
		t.Errorf("got connectorMetadata %s, want Salesforce.oAuthScopes [api refresh_token id]", m["connectorMetadata"])
	}
	if !slices.Contains(sf.SupportedTriggerTypes, wire.TriggerTypeEvent) || !slices.Contains(sf.SupportedSchedulingFrequencies, wire.ScheduleFrequencyTypeByminute) {
		t.Errorf("got triggers %v frequencies %v", sf.SupportedTriggerTypes, sf.SupportedSchedulingFrequencies)
	}
	if slices.Contains(sf.SupportedDestinationConnectors, "Locke") {
		t.Errorf("Locke is internal to AppFlow")
	}
	if lm := out.ConnectorConfigurations["LookoutMetrics"]; lm.ConnectorMetadata != nil {
		t.Errorf("LookoutMetrics has no connectorMetadata member, got %+v", lm.ConnectorMetadata)
	}
	if rs := out.ConnectorConfigurations["Redshift"]; *rs.CanUseAsSource || !*rs.CanUseAsDestination || rs.ConnectorMetadata == nil || rs.ConnectorMetadata.Redshift == nil {
		t.Errorf("Redshift: got %+v", rs)
	}
}

func TestDescribeConnector(t *testing.T) {
	e := newProfEnv(t)
	e.seedRegistration("acme", false)
	out, err := e.svc.DescribeConnector(e.ctx, &wire.DescribeConnectorRequest{ConnectorType: wire.ConnectorTypeGoogleanalytics})
	if err != nil {
		t.Fatal(err)
	}
	if c := out.ConnectorConfiguration; c.ConnectorType != wire.ConnectorTypeGoogleanalytics || c.ConnectorMetadata == nil || c.ConnectorMetadata.GoogleAnalytics == nil {
		t.Errorf("Googleanalytics: got %+v, want its GoogleAnalytics metadata", c)
	}
	out, err = e.svc.DescribeConnector(e.ctx, &wire.DescribeConnectorRequest{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorLabel: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if c := out.ConnectorConfiguration; c.ConnectorLabel != "acme" || c.ConnectorArn != "arn:aws:appflow:us-east-1:123456789012:connector/acme" {
		t.Errorf("custom connector: got %+v", c)
	}
	_, err = e.svc.DescribeConnector(e.ctx, &wire.DescribeConnectorRequest{ConnectorType: wire.ConnectorTypeCustomConnector})
	profWantCode(t, err, fault.Invalid, "connectorLabel is required")
	_, err = e.svc.DescribeConnector(e.ctx, &wire.DescribeConnectorRequest{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorLabel: "ghost"})
	profWantCode(t, err, fault.NotFound, "ghost")
}

func TestListConnectorsOnlyCustom(t *testing.T) {
	e := newProfEnv(t)
	out, err := e.svc.ListConnectors(e.ctx, &wire.ListConnectorsRequest{})
	if err != nil || len(out.Connectors) != 0 || out.NextToken != "" {
		t.Fatalf("no registrations: got %+v, %v; want nothing", out, err)
	}
	for _, l := range []string{"a", "b", "c"} {
		e.seedRegistration("conn-"+l, false)
	}
	var labels []string
	token := ""
	for {
		out, err := e.svc.ListConnectors(e.ctx, &wire.ListConnectorsRequest{MaxResults: new(int32(2)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range out.Connectors {
			labels = append(labels, c.ConnectorLabel)
			if c.ConnectorType != wire.ConnectorTypeCustomConnector {
				t.Errorf("got a %s connector", c.ConnectorType)
			}
		}
		if out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	if !slices.Equal(labels, []string{"conn-a", "conn-b", "conn-c"}) {
		t.Errorf("got %v, want the three registrations", labels)
	}
	_, err = e.svc.ListConnectors(e.ctx, &wire.ListConnectorsRequest{NextToken: "%%%"})
	profWantCode(t, err, fault.Invalid, "nextToken")
}
