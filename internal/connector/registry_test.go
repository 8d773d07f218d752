package connector

import (
	"context"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testOpener(context.Context, Deps, Profile) (Driver, error) { return struct{}{}, nil }

// catalogSpec is a full catalog entry; driverSpec a driver that states only
// some capabilities, one of them differently from the catalog.
func catalogSpec() Spec {
	return Spec{Capabilities: Capabilities{
		Type: "Zendesk", Description: "Zendesk", CanUseAsSource: true, CanUseAsDestination: true,
		NeedsProfile: true, TriggerTypes: []string{"Scheduled", "OnDemand"}, Frequencies: []string{"BYMINUTE"},
		SupportedDestinations: []string{"S3"}, Operators: []string{"PROJECTION", "GREATER_THAN"},
		WriteOperations: []string{"INSERT"}, PrivateLinkEnabled: true, OAuthScopes: []string{"read"},
		MinScheduleMinutes: 1, UnionKey: "Zendesk", HasMetadata: true,
		DataTransferAPIs: []string{"AUTOMATIC"}, OAuth2GrantTypes: []string{"AUTHORIZATION_CODE"},
		CredentialsOptional: true, ProfileRules: testRules, TypedDestination: true, RecyclesBatches: true, CopiesStrings: true,
		WindowByModifiedTime: true, ProjectionOptional: true, ProjectionWritesRecords: true,
	}}
}

func testRules(ProfileInput) []string { return []string{"a rule"} }

// sameFunc compares ProfileRules by identity: funcs have no equality.
var sameFunc = cmp.Comparer(func(a, b func(ProfileInput) []string) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
})

func driverSpec() Spec {
	return Spec{
		Capabilities: Capabilities{Type: "Zendesk", Description: "Zendesk (appflowd driver)",
			TriggerTypes: []string{"Scheduled", "OnDemand", "Event"}},
		Open: testOpener,
	}
}

func TestRegisterCatalogAndDriverEitherOrder(t *testing.T) {
	want := catalogSpec().Capabilities
	want.Description = "Zendesk (appflowd driver)"
	want.TriggerTypes = []string{"Scheduled", "OnDemand", "Event"}
	for _, tc := range []struct {
		name  string
		specs []Spec
	}{
		{"catalog first", []Spec{catalogSpec(), driverSpec()}},
		{"driver first", []Spec{driverSpec(), catalogSpec()}},
	} {
		r := NewRegistry()
		for _, s := range tc.specs {
			r.Register(s)
		}
		got, ok := r.Lookup("Zendesk")
		if !ok {
			t.Fatalf("%s: Lookup(Zendesk) found nothing", tc.name)
		}
		if got.Open == nil {
			t.Errorf("%s: got Open nil, want the driver's", tc.name)
		}
		if d := cmp.Diff(want, got.Capabilities, sameFunc); d != "" {
			t.Errorf("%s: capabilities (-want +got):\n%s", tc.name, d)
		}
		if _, err := r.Open(context.Background(), "Zendesk", Deps{}, Profile{}); err != nil {
			t.Errorf("%s: Open: got %v, want the driver", tc.name, err)
		}
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, then Spec
	}{
		{"two catalog entries", catalogSpec(), catalogSpec()},
		{"two drivers", driverSpec(), driverSpec()},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", tc.name)
				}
			}()
			r := NewRegistry()
			r.Register(tc.first)
			r.Register(tc.then)
		}()
	}
}

// TestFillCoversEveryField fails when a field is added to Capabilities but
// not to fill, which would drop catalog data for types with a driver.
func TestFillCoversEveryField(t *testing.T) {
	full := catalogSpec().Capabilities
	v := reflect.ValueOf(full)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Fatalf("test catalog spec leaves %s zero; set it", v.Type().Field(i).Name)
		}
	}
	if d := cmp.Diff(full, Capabilities{}.fill(full), sameFunc); d != "" {
		t.Errorf("fill from a full spec into an empty one (-want +got):\n%s", d)
	}
	got := Capabilities{}.fill(full)
	got.Operators[0] = "CHANGED"
	if full.Operators[0] == "CHANGED" {
		t.Error("fill shares list storage with the catalog entry")
	}
}
