package zendeskconn

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/zendeskconn/zdtest"
	"github.com/appflowd/appflowd/internal/retry"
)

// testOptions make retries and job polls instant.
func testOptions() Options {
	return Options{
		Retry:    retry.Policy{Attempts: 4, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }},
		PollWait: func(ctx context.Context, _ int) error { return ctx.Err() },
	}
}

const goodCreds = `{"clientId":"` + zdtest.ClientID + `","clientSecret":"` + zdtest.ClientSecret + `","accessToken":"` + zdtest.AccessToken + `"}`

func openTest(t *testing.T, s *zdtest.Server, opts Options, creds string) *Driver {
	t.Helper()
	props, _ := json.Marshal(map[string]any{"instanceUrl": s.URL()})
	d, err := open(connector.Deps{HTTPClient: s.Client(), Now: s.Now}, connector.Profile{Name: "zd", Properties: props, Credentials: json.RawMessage(creds)}, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return d
}

type harness struct {
	s *zdtest.Server
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.s, testOptions(), goodCreds)
}

func props(object string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"object": object})
	return b
}

// Seed puts the tables into tickets, read by the cursor-based export.
func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.s.Reset("tickets")
	seen := map[string]bool{}
	var names []string
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !seen[f] {
				seen[f] = true
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			rec := map[string]any{}
			for i, f := range tb.Fields {
				rec[f] = row[i]
			}
			h.s.Put("tickets", rec)
		}
	}
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "e", Object: "tickets", Properties: props("tickets"), Fields: names}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.s.Reset("tickets")
	h.s.Malformed("tickets")
	return &connector.ReadRequest{Object: "tickets", Properties: props("tickets"), Fields: []string{"subject"}}, "tickets"
}

func (h *harness) DestinationDriver(ctx context.Context, t *testing.T) connector.DestinationDriver {
	return openTest(t, h.s, testOptions(), goodCreds)
}

func (h *harness) NewRequest(ctx context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	h.s.Reset("tickets")
	return &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Object: "tickets", Properties: props("tickets"), Fields: fields, WriteOperation: "INSERT"}
}

func (h *harness) Visible(ctx context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64 {
	if len(h.s.Records(req.Object)) == 0 {
		return map[string]int64{}
	}
	return map[string]int64{req.Object: -1}
}

// ReadBack returns the records as Zendesk accepted them (the fake keeps
// the bodies sent, beside the records it stored under its own ids).
func (h *harness) ReadBack(ctx context.Context, t *testing.T, req *connector.WriteRequest) []connectortest.Row {
	var rows []connectortest.Row
	for _, rec := range h.s.Submitted(req.Object) {
		row := connectortest.Row{}
		for k, v := range rec {
			if v != nil {
				row[k] = fmt.Sprint(v)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func TestConformance(t *testing.T) {
	h := &harness{s: zdtest.New(t)}
	t.Run("Source", func(t *testing.T) { connectortest.RunSource(t, h) })
	t.Run("Destination", func(t *testing.T) { connectortest.RunDestination(t, h) })
}

// The roles the driver plays, checked at compile time.
var (
	_ connector.SourceDriver      = (*Driver)(nil)
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
	_ connector.ProfileChecker    = (*Driver)(nil)
)
