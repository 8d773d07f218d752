package catalog

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/appflowd/appflowd/internal/connector"
)

type shape struct {
	Type    string                            `json:"type"`
	Enum    []string                          `json:"enum"`
	Members map[string]struct{ Shape string } `json:"members"`
}

type model struct{ shapes map[string]shape }

func loadModel(t *testing.T) model {
	t.Helper()
	b, err := os.ReadFile("../../../model/appflow-2020-08-23.model.json")
	if err != nil {
		t.Fatalf("read model: %v", err)
	}
	var m struct{ Shapes map[string]shape }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode model: %v", err)
	}
	return model{m.Shapes}
}

func (m model) enum(t *testing.T, name string) []string {
	t.Helper()
	s, ok := m.shapes[name]
	if !ok || len(s.Enum) == 0 {
		t.Fatalf("model has no enum %s", name)
	}
	return s.Enum
}

// member returns the shape of union's member for key, if any.
func (m model) member(union, key string) (shape, bool) {
	u, ok := m.shapes[union]
	if !ok {
		return shape{}, false
	}
	ref, ok := u.Members[key]
	if !ok {
		return shape{}, false
	}
	return m.shapes[ref.Shape], true
}

// unionKeyOf finds the member of the model's per-connector unions that
// spells typ, ignoring case ("Googleanalytics" -> "GoogleAnalytics").
func (m model) unionKeyOf(typ string) string {
	for _, u := range []string{"SourceConnectorProperties", "DestinationConnectorProperties", "ConnectorMetadata"} {
		for k := range m.shapes[u].Members {
			if strings.EqualFold(k, typ) {
				return k
			}
		}
	}
	return ""
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func byType(list []connector.Capabilities) map[string]connector.Capabilities {
	m := map[string]connector.Capabilities{}
	for _, c := range list {
		m[c.Type] = c
	}
	return m
}

func TestBuiltinCoversConnectorTypeEnum(t *testing.T) {
	m := loadModel(t)
	var want []string
	for _, typ := range m.enum(t, "ConnectorType") {
		if typ != "CustomConnector" {
			want = append(want, typ)
		}
	}
	var got []string
	for _, c := range Builtin() {
		got = append(got, c.Type)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Builtin types vs the model's ConnectorType enum without CustomConnector, in order (-want +got):\n%s", d)
	}
}

// TestBuiltinMatchesModel derives from the model everything it decides:
// direction, union key, operators, metadata members, profiles, write
// operations, and which enums each list draws from.
func TestBuiltinMatchesModel(t *testing.T) {
	m := loadModel(t)
	types := m.enum(t, "ConnectorType")
	triggers := m.enum(t, "TriggerType")
	freqs := m.enum(t, "ScheduleFrequencyType")
	writes := m.enum(t, "WriteOperationType")
	apis := m.enum(t, "SalesforceDataTransferApi")
	grants := m.enum(t, "OAuth2GrantType")
	all := byType(Builtin())

	subset := func(typ, what string, got, of []string) {
		for _, v := range got {
			if !slices.Contains(of, v) {
				t.Errorf("%s: %s has %q, not in the model's enum %v", typ, what, v, of)
			}
		}
		if len(slices.Compact(sorted(got))) != len(got) {
			t.Errorf("%s: %s has duplicates: %v", typ, what, got)
		}
	}

	for _, c := range Builtin() {
		typ := c.Type
		key := m.unionKeyOf(typ)
		if c.UnionKey != key {
			t.Errorf("%s: UnionKey = %q, want %q", typ, c.UnionKey, key)
		}
		_, isSource := m.member("SourceConnectorProperties", key)
		if c.CanUseAsSource != isSource {
			t.Errorf("%s: CanUseAsSource = %v, want %v (SourceConnectorProperties)", typ, c.CanUseAsSource, isSource)
		}
		dest, isDest := m.member("DestinationConnectorProperties", key)
		if c.CanUseAsDestination != isDest {
			t.Errorf("%s: CanUseAsDestination = %v, want %v (DestinationConnectorProperties)", typ, c.CanUseAsDestination, isDest)
		}

		var wantOps []string
		if op, ok := m.member("ConnectorOperator", key); ok {
			wantOps = op.Enum
		}
		if d := cmp.Diff(sorted(wantOps), sorted(c.Operators)); d != "" {
			t.Errorf("%s: Operators vs ConnectorOperator.%s's enum (-want +got):\n%s", typ, key, d)
		}

		meta, hasMeta := m.member("ConnectorMetadata", key)
		if c.HasMetadata != hasMeta {
			t.Errorf("%s: HasMetadata = %v, want %v (ConnectorMetadata)", typ, c.HasMetadata, hasMeta)
		}
		for field, list := range map[string][]string{
			"oAuthScopes": c.OAuthScopes, "dataTransferApis": c.DataTransferAPIs,
			"oauth2GrantTypesSupported": c.OAuth2GrantTypes,
		} {
			if _, ok := meta.Members[field]; len(list) > 0 && !ok {
				t.Errorf("%s: sets %s, but ConnectorMetadata.%s has no such member", typ, field, key)
			}
		}
		subset(typ, "DataTransferAPIs", c.DataTransferAPIs, apis)
		subset(typ, "OAuth2GrantTypes", c.OAuth2GrantTypes, grants)

		_, hasProfile := m.member("ConnectorProfileProperties", key)
		if c.NeedsProfile != hasProfile {
			t.Errorf("%s: NeedsProfile = %v, want %v (ConnectorProfileProperties)", typ, c.NeedsProfile, hasProfile)
		}
		if c.PrivateLinkEnabled {
			props, _ := m.member("ConnectorProfileProperties", key)
			_, a := props.Members["privateLinkServiceName"]
			_, b := props.Members["usePrivateLinkForMetadataAndAuthorization"]
			if !a && !b {
				t.Errorf("%s: PrivateLinkEnabled, but its profile has no PrivateLink member", typ)
			}
		}

		_, takesWriteOp := dest.Members["writeOperationType"]
		if (len(c.WriteOperations) > 0) != takesWriteOp {
			t.Errorf("%s: WriteOperations = %v, but writeOperationType in its destination properties: %v",
				typ, c.WriteOperations, takesWriteOp)
		}
		subset(typ, "WriteOperations", c.WriteOperations, writes)

		subset(typ, "TriggerTypes", c.TriggerTypes, triggers)
		subset(typ, "Frequencies", c.Frequencies, freqs)
		subset(typ, "SupportedDestinations", c.SupportedDestinations, types)
		for _, d := range c.SupportedDestinations {
			if d != "CustomConnector" && !all[d].CanUseAsDestination {
				t.Errorf("%s: lists destination %s, which cannot be a destination", typ, d)
			}
		}
		if c.CanUseAsSource != (len(c.TriggerTypes) > 0 && len(c.Frequencies) > 0 && len(c.SupportedDestinations) > 0) {
			t.Errorf("%s: a source needs triggers, frequencies and destinations, and only a source has them: %v %v %v",
				typ, c.TriggerTypes, c.Frequencies, c.SupportedDestinations)
		}
		if c.Description == "" {
			t.Errorf("%s: no Description", typ)
		}
	}
}

// TestScheduleFloors pins each source's minimum schedule interval to the
// user guide's quotas page (data-plane §6.1) and its frequency list to it.
func TestScheduleFloors(t *testing.T) {
	want := map[string]int{
		"S3": 1, "Datadog": 1, "Dynatrace": 1, "Infornexus": 1, "Salesforce": 1, "Pardot": 1,
		"Servicenow": 1, "Slack": 1, "Veeva": 1, "Zendesk": 1, "SAPOData": 1,
		"Marketo": 60, "Singular": 60, "Trendmicro": 60,
		"Amplitude": 1440, "Googleanalytics": 1440,
	}
	firstFreq := map[int]string{1: "BYMINUTE", 60: "HOURLY", 1440: "DAILY"}
	for _, c := range Builtin() {
		if got := c.MinScheduleMinutes; got != want[c.Type] {
			t.Errorf("%s: MinScheduleMinutes = %d, want %d", c.Type, got, want[c.Type])
		}
		if !c.CanUseAsSource {
			continue
		}
		if got := c.Frequencies[0]; got != firstFreq[c.MinScheduleMinutes] {
			t.Errorf("%s: fastest frequency %s, want %s for a %d-minute floor", c.Type, got, firstFreq[c.MinScheduleMinutes], c.MinScheduleMinutes)
		}
		if got := c.Frequencies[len(c.Frequencies)-1]; got != "ONCE" {
			t.Errorf("%s: frequencies end with %s, want ONCE", c.Type, got)
		}
	}
}

func TestOnlySalesforceTakesEvents(t *testing.T) {
	for _, c := range Builtin() {
		if got, want := slices.Contains(c.TriggerTypes, "Event"), c.Type == "Salesforce"; got != want {
			t.Errorf("%s: Event trigger %v, want %v", c.Type, got, want)
		}
	}
}

func TestBuiltinReturnsFreshSlices(t *testing.T) {
	a := Builtin()
	a[0].Operators[0] = "CHANGED"
	a[0].SupportedDestinations[0] = "CHANGED"
	b := Builtin()
	if b[0].Operators[0] == "CHANGED" || b[0].SupportedDestinations[0] == "CHANGED" {
		t.Error("a caller's change to Builtin()'s result shows in the next call")
	}
	for _, c := range b {
		if c.Type == "Servicenow" && c.Operators[0] == "CHANGED" {
			t.Error("types share operator storage")
		}
	}
}

func TestRegisterAll(t *testing.T) {
	open := func(context.Context, connector.Deps, connector.Profile) (connector.Driver, error) {
		return struct{}{}, nil
	}
	driver := connector.Spec{
		Capabilities: connector.Capabilities{Type: "S3", TriggerTypes: []string{"Scheduled", "OnDemand", "Event"}},
		Open:         open,
	}
	builtin := byType(Builtin())
	for _, driverFirst := range []bool{true, false} {
		r := connector.NewRegistry()
		if driverFirst {
			r.Register(driver)
		}
		RegisterAll(r)
		if !driverFirst {
			r.Register(driver)
		}
		if got, want := len(r.Types()), len(builtin); got != want {
			t.Errorf("driverFirst=%v: %d types registered, want %d", driverFirst, got, want)
		}
		s3, _ := r.Lookup("S3")
		if s3.Open == nil {
			t.Errorf("driverFirst=%v: S3 lost the driver's Open", driverFirst)
		}
		want := builtin["S3"]
		want.TriggerTypes = driver.TriggerTypes
		if d := cmp.Diff(want, s3.Capabilities, sameFunc); d != "" {
			t.Errorf("driverFirst=%v: S3 capabilities (-want +got):\n%s", driverFirst, d)
		}
		sf, _ := r.Lookup("Salesforce")
		if sf.Open != nil {
			t.Errorf("driverFirst=%v: Salesforce has an Open; the catalog registers none", driverFirst)
		}
		if d := cmp.Diff(builtin["Salesforce"], sf.Capabilities, sameFunc); d != "" {
			t.Errorf("driverFirst=%v: Salesforce capabilities (-want +got):\n%s", driverFirst, d)
		}
	}
}

// sameFunc compares ProfileRules by identity: funcs have no equality.
var sameFunc = cmp.Comparer(func(a, b func(connector.ProfileInput) []string) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
})
