package sapodataconn

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/sapodataconn/odatatest"
	"github.com/appflowd/appflowd/internal/retry"
)

// testOptions make retries instant.
func testOptions() Options {
	return Options{Retry: retry.Policy{Attempts: 4, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}}
}

const basicCreds = `{"basicAuthCredentials":{"username":"` + odatatest.User + `","password":"` + odatatest.Password + `"}}`

func testProps(s *odatatest.Server) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"applicationHostUrl": "http://127.0.0.1", "portNumber": s.Port(),
		"applicationServicePath": odatatest.CatalogPath, "clientNumber": odatatest.SAPClient, "logonLanguage": "EN",
	})
	return b
}

func openTest(t *testing.T, s *odatatest.Server, creds string) *Driver {
	t.Helper()
	d, err := open(connector.Deps{HTTPClient: s.Client()}, connector.Profile{Name: "sap", Properties: testProps(s), Credentials: json.RawMessage(creds)}, testOptions())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return d
}

func objectProps(path string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"objectPath": path})
	return b
}

type harness struct{ s *odatatest.Server }

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.s, basicCreds)
}

// Seed puts every table into one entity set, Items, of string properties.
func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	seen := map[string]bool{}
	set := &odatatest.Set{Name: "Items"}
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !seen[f] {
				seen[f] = true
				set.Props = append(set.Props, odatatest.Prop{Name: f, Type: "Edm.String", Key: len(set.Props) == 0})
			}
		}
	}
	h.s.Define(set)
	h.s.SetPageSize(1000)
	for _, tb := range tables {
		for _, row := range tb.Rows {
			rec := map[string]any{}
			for i, f := range tb.Fields {
				rec[f] = row[i]
			}
			h.s.Put("Items", rec)
		}
	}
	var names []string
	for _, p := range set.Props {
		names = append(names, p.Name)
	}
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "e", Properties: objectProps(odatatest.ServicePath + "/Items"), Fields: names}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.s.Define(&odatatest.Set{Name: "Broken", Props: []odatatest.Prop{{Name: "SalesOrder", Type: "Edm.String", Key: true}}})
	h.s.Malformed("Broken")
	path := odatatest.ServicePath + "/Broken"
	return &connector.ReadRequest{Properties: objectProps(path), Fields: []string{"SalesOrder"}}, path
}

func TestConformance(t *testing.T) {
	h := &harness{s: odatatest.New(t)}
	t.Run("Source", func(t *testing.T) { connectortest.RunSource(t, h) })
}

// The roles the driver plays, checked at compile time.
var (
	_ connector.SourceDriver      = (*Driver)(nil)
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
	_ connector.ProfileChecker    = (*Driver)(nil)
)
