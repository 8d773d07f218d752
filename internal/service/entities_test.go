package service

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

func TestListConnectorEntities(t *testing.T) {
	e := newProfEnv(t)
	e.mustCreate(zendeskProfile("zd", "s"))
	out, err := e.svc.ListConnectorEntities(e.ctx, &wire.ListConnectorEntitiesRequest{ConnectorProfileName: "zd"})
	if err != nil {
		t.Fatal(err)
	}
	if out.NextToken != "" {
		t.Errorf("without maxResults: got nextToken %q, want the whole list", out.NextToken)
	}
	objs := out.ConnectorEntityMap["Objects"]
	if len(objs) != 3 || len(out.ConnectorEntityMap["Custom"]) != 1 {
		t.Fatalf("got %+v, want 3 Objects and 1 Custom", out.ConnectorEntityMap)
	}
	if o := objs[2]; o.Name != "organizations" || o.Label != "Organizations" || o.HasNestedEntities == nil || !*o.HasNestedEntities {
		t.Errorf("got %+v, want organizations with nested entities", o)
	}
	if c := out.ConnectorEntityMap["Custom"][0]; c.Label != "custom_object_1" || c.HasNestedEntities == nil || *c.HasNestedEntities {
		t.Errorf("got %+v, want the name as label and hasNestedEntities false", c)
	}
	// The driver got the profile's properties and opened credentials.
	opened := e.drivers.opened[len(e.drivers.opened)-1]
	if opened.Name != "zd" || string(opened.Properties) != `{"instanceUrl":"https://acme.zendesk.com"}` || len(opened.Credentials) == 0 {
		t.Errorf("driver opened with %+v", opened)
	}

	nested, err := e.svc.ListConnectorEntities(e.ctx, &wire.ListConnectorEntitiesRequest{ConnectorProfileName: "zd", EntitiesPath: "organizations"})
	if err != nil {
		t.Fatal(err)
	}
	if orgs := nested.ConnectorEntityMap["Organizations"]; len(orgs) != 2 || orgs[0].Name != "organizations/1" || orgs[0].Label != "Acme" {
		t.Errorf("nested: got %+v", nested.ConnectorEntityMap)
	}

	// Pages over groups in name order, entities in the driver's order.
	var got []string
	token := ""
	for {
		out, err := e.svc.ListConnectorEntities(e.ctx, &wire.ListConnectorEntitiesRequest{
			ConnectorProfileName: "zd", MaxResults: new(int32(3)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		// A page is a map: read its groups in name order, as the service pages them.
		for _, g := range slices.Sorted(maps.Keys(out.ConnectorEntityMap)) {
			for _, en := range out.ConnectorEntityMap[g] {
				got = append(got, g+"/"+en.Name)
			}
		}
		if out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	want := []string{"Custom/custom_object_1", "Objects/tickets", "Objects/users", "Objects/organizations"}
	if !slices.Equal(got, want) {
		t.Errorf("paged: got %v, want %v", got, want)
	}
	_, err = e.svc.ListConnectorEntities(e.ctx, &wire.ListConnectorEntitiesRequest{ConnectorProfileName: "zd", EntitiesPath: "organizations", NextToken: token + "x"})
	profWantCode(t, err, fault.Invalid, "nextToken")
}

func TestConnectorEntitiesTargets(t *testing.T) {
	e := newProfEnv(t)
	e.mustCreate(zendeskProfile("zd", "s"))
	e.mustCreate(salesforceProfile("sf"))
	tests := []struct {
		name    string
		profile string
		typ     wire.ConnectorType
		code    fault.Code
		part    string
	}{
		{"neither", "", "", fault.Invalid, "Either connectorProfileName or connectorType is required."},
		{"unknown profile", "nope", "", fault.NotFound, "Connector Profile with name nope does not exist."},
		{"type needs a profile", "", wire.ConnectorTypeZendesk, fault.Invalid, "connectorProfileName is required for connector type Zendesk"},
		{"profile of another type", "zd", wire.ConnectorTypeSalesforce, fault.Invalid, "zd is of connector type Zendesk, not Salesforce"},
		{"no driver yet", "sf", "", fault.Unsupported, "Salesforce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.ListConnectorEntities(e.ctx, &wire.ListConnectorEntitiesRequest{ConnectorProfileName: tt.profile, ConnectorType: tt.typ})
			profWantCode(t, err, tt.code, tt.part)
			_, err = e.svc.DescribeConnectorEntity(e.ctx, &wire.DescribeConnectorEntityRequest{ConnectorProfileName: tt.profile, ConnectorType: tt.typ, ConnectorEntityName: "x"})
			profWantCode(t, err, tt.code, tt.part)
		})
	}
	// A connector without profiles answers by type alone.
	out, err := e.svc.ListConnectorEntities(e.ctx, &wire.ListConnectorEntitiesRequest{ConnectorType: wire.ConnectorTypeS3, EntitiesPath: "landing"})
	if err != nil {
		t.Fatal(err)
	}
	if f := out.ConnectorEntityMap["Folders"]; len(f) != 1 || f[0].Name != "landing/orders" {
		t.Errorf("S3 by type: got %+v", out.ConnectorEntityMap)
	}
	// A remote failure is a ConnectorServerException.
	_, err = e.svc.DescribeConnectorEntity(e.ctx, &wire.DescribeConnectorEntityRequest{ConnectorProfileName: "zd", ConnectorEntityName: "ghosts"})
	profWantCode(t, err, fault.ConnectorServer, "Error while communicating to connector", "404")
}

func TestDescribeConnectorEntity(t *testing.T) {
	e := newProfEnv(t)
	e.mustCreate(zendeskProfile("zd", "s"))
	out, err := e.svc.DescribeConnectorEntity(e.ctx, &wire.DescribeConnectorEntityRequest{ConnectorProfileName: "zd", ConnectorEntityName: "tickets"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ConnectorEntityFields) != 4 {
		t.Fatalf("got %d fields, want 4", len(out.ConnectorEntityFields))
	}
	id := out.ConnectorEntityFields[0]
	if id.Identifier != "id" || id.Label != "ID" || id.IsPrimaryKey == nil || !*id.IsPrimaryKey {
		t.Errorf("id: got %+v", id)
	}
	v1 := id.SupportedFieldTypeDetails.V1
	if v1.FieldType != "integer" || !slices.Equal(v1.FilterOperators, []wire.Operator{"EQUAL_TO", "LESS_THAN"}) {
		t.Errorf("id type details: got %+v", v1)
	}
	// Zendesk is a source and a destination (catalog): both property sets.
	if sp := id.SourceProperties; sp == nil || !*sp.IsRetrievable || !*sp.IsQueryable || *sp.IsTimestampFieldForIncrementalQueries {
		t.Errorf("id source properties: got %+v", sp)
	}
	if dp := id.DestinationProperties; dp == nil || !*dp.IsUpsertable || *dp.IsCreatable ||
		!slices.Equal(dp.SupportedWriteOperations, []wire.WriteOperationType{"UPDATE", "UPSERT"}) {
		t.Errorf("id destination properties: got %+v", dp)
	}
	if upd := out.ConnectorEntityFields[2]; upd.Label != "updated_at" || !*upd.SourceProperties.IsTimestampFieldForIncrementalQueries {
		t.Errorf("updated_at: got %+v", upd)
	}
	if b := out.ConnectorEntityFields[3].SupportedFieldTypeDetails.V1; b.FieldType != "boolean" || !slices.Equal(b.SupportedValues, []string{"true", "false"}) {
		t.Errorf("boolean: got %+v", b)
	}
}

func TestConnectorMetadataCache(t *testing.T) {
	e := newProfEnv(t)
	e.mustCreate(zendeskProfile("zd", "s"))
	list := func(path string) {
		t.Helper()
		if _, err := e.svc.ListConnectorEntities(e.ctx, &wire.ListConnectorEntitiesRequest{ConnectorProfileName: "zd", EntitiesPath: path}); err != nil {
			t.Fatal(err)
		}
	}
	describe := func() {
		t.Helper()
		if _, err := e.svc.DescribeConnectorEntity(e.ctx, &wire.DescribeConnectorEntityRequest{ConnectorProfileName: "zd", ConnectorEntityName: "tickets"}); err != nil {
			t.Fatal(err)
		}
	}
	reset := func(in *wire.ResetConnectorMetadataCacheRequest) {
		t.Helper()
		if _, err := e.svc.ResetConnectorMetadataCache(e.ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	wantCalls := func(step string, lists, describes int) {
		t.Helper()
		if l, d := e.drivers.counts(); l != lists || d != describes {
			t.Errorf("%s: driver answered %d lists and %d describes, want %d and %d", step, l, d, lists, describes)
		}
	}
	list("")
	list("")
	list("organizations")
	describe()
	describe()
	wantCalls("cached", 2, 1)

	// Resetting one entity leaves the lists alone.
	reset(&wire.ResetConnectorMetadataCacheRequest{ConnectorProfileName: "zd", ConnectorEntityName: "tickets"})
	list("")
	describe()
	wantCalls("after entity reset", 2, 2)

	// Resetting one path's list leaves the others.
	reset(&wire.ResetConnectorMetadataCacheRequest{ConnectorProfileName: "zd", EntitiesPath: "organizations"})
	list("")
	list("organizations")
	describe()
	wantCalls("after path reset", 3, 2)

	// Without entity or path: every list, no description.
	reset(&wire.ResetConnectorMetadataCacheRequest{ConnectorProfileName: "zd"})
	list("")
	list("organizations")
	describe()
	wantCalls("after list reset", 5, 2)

	// An hour later AppFlow asks again.
	e.advance(time.Hour)
	list("")
	describe()
	wantCalls("after an hour", 6, 3)

	// Updating the profile (new credentials) forgets what it listed.
	if _, err := e.svc.UpdateConnectorProfile(e.ctx, &wire.UpdateConnectorProfileRequest{ConnectorProfileName: "zd",
		ConnectionMode: wire.ConnectionModePublic, ConnectorProfileConfig: zendeskProfile("zd", "new").ConnectorProfileConfig}); err != nil {
		t.Fatal(err)
	}
	list("")
	describe()
	wantCalls("after profile update", 7, 4)

	_, err := e.svc.ResetConnectorMetadataCache(e.ctx, &wire.ResetConnectorMetadataCacheRequest{ConnectorProfileName: "nope"})
	profWantCode(t, err, fault.NotFound, "nope")
	_, err = e.svc.ResetConnectorMetadataCache(e.ctx, &wire.ResetConnectorMetadataCacheRequest{ConnectorType: wire.ConnectorTypeSalesforce})
	profWantCode(t, err, fault.Invalid, "connectorProfileName is required for connector type Salesforce")
	_, err = e.svc.ResetConnectorMetadataCache(e.ctx, &wire.ResetConnectorMetadataCacheRequest{})
	profWantCode(t, err, fault.Invalid, "Either connectorProfileName or connectorType is required.")
	reset(&wire.ResetConnectorMetadataCacheRequest{ConnectorType: wire.ConnectorTypeS3})
}

func TestConnectorMetadataCacheIsPerAccount(t *testing.T) {
	e := newProfEnv(t)
	if _, err := e.svc.ListConnectorEntities(e.ctx, &wire.ListConnectorEntitiesRequest{ConnectorType: wire.ConnectorTypeS3}); err != nil {
		t.Fatal(err)
	}
	other := wire.WithCaller(e.ctx, wire.Caller{AccountID: "210987654321"})
	if _, err := e.svc.ListConnectorEntities(other, &wire.ListConnectorEntitiesRequest{ConnectorType: wire.ConnectorTypeS3}); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.drivers.counts(); l != 2 {
		t.Errorf("two accounts: driver listed %d times, want 2 (no sharing)", l)
	}
	// A second Service has a cache of its own.
	svc2 := New(e.svc.d)
	if _, err := svc2.ListConnectorEntities(e.ctx, &wire.ListConnectorEntitiesRequest{ConnectorType: wire.ConnectorTypeS3}); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.drivers.counts(); l != 3 {
		t.Errorf("second Service: driver listed %d times in all, want 3", l)
	}
}
