package salesforceconn

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
	"github.com/appflowd/appflowd/internal/retry"
)

// testOptions make retries and job polls instant.
func testOptions() Options {
	return Options{
		ClientID: "appflowd-client", ClientSecret: "s3cret",
		Retry:    retry.Policy{Attempts: 4, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }},
		PollWait: func(ctx context.Context, _ int) error { return ctx.Err() },
	}
}

func openTest(t *testing.T, o *sftest.Org, opts Options, creds string) *Driver {
	t.Helper()
	props, _ := json.Marshal(map[string]any{"instanceUrl": o.URL()})
	d, err := open(connector.Deps{HTTPClient: o.Client()}, connector.Profile{Name: "sf", Properties: props, Credentials: json.RawMessage(creds)}, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return d
}

const goodCreds = `{"accessToken":"00D!initial","refreshToken":"refresh-1"}`

type harness struct {
	o    *sftest.Org
	api  string
	opts Options
	n    int
}

func (h *harness) driver(t *testing.T) *Driver { return openTest(t, h.o, h.opts, goodCreds) }

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return h.driver(t)
}

func (h *harness) props(object string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"object": object, "dataTransferApi": h.api})
	return b
}

func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.n++
	name := fmt.Sprintf("Conformance%d__c", h.n)
	seen := map[string]bool{}
	var fields []sftest.Field
	var names []string
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !seen[f] {
				seen[f] = true
				fields = append(fields, sftest.F(f, "string"))
				names = append(names, f)
			}
		}
	}
	h.o.AddObject(name, fields...)
	for _, tb := range tables {
		for _, row := range tb.Rows {
			rec := map[string]any{}
			for i, f := range tb.Fields {
				if row[i] != "" { // Salesforce keeps no empty strings
					rec[f] = row[i]
				}
			}
			h.o.Insert(name, rec)
		}
	}
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "e", Object: name, Properties: h.props(name), Fields: names}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.n++
	name := fmt.Sprintf("Broken%d__c", h.n)
	obj := h.o.AddObject(name, sftest.F("name", "string"))
	obj.Malformed()
	h.o.Insert(name, map[string]any{"name": "x"})
	return &connector.ReadRequest{Object: name, Properties: h.props(name), Fields: []string{"name"}}, name
}

func (h *harness) DestinationDriver(ctx context.Context, t *testing.T) connector.DestinationDriver {
	return h.driver(t)
}

func (h *harness) NewRequest(ctx context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	h.n++
	name := fmt.Sprintf("Target%d__c", h.n)
	h.o.AddObject(name, sftest.F("id", "string"), sftest.F("name", "string"), sftest.F("note", "string"),
		sftest.F("s", "string"), sftest.F("i", "double"), sftest.F("f", "double"), sftest.F("b", "boolean"), sftest.F("t", "datetime"), sftest.F("n", "string"))
	return &connector.WriteRequest{FlowName: "f", ExecutionID: "e", Object: name, Properties: h.props(name), Fields: fields, WriteOperation: "INSERT"}
}

func (h *harness) Visible(ctx context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64 {
	if len(h.o.Live(req.Object)) == 0 {
		return map[string]int64{}
	}
	return map[string]int64{req.Object: -1} // records have no size
}

func (h *harness) ReadBack(ctx context.Context, t *testing.T, req *connector.WriteRequest) []connectortest.Row {
	var rows []connectortest.Row
	for _, rec := range h.o.Live(req.Object) {
		row := connectortest.Row{}
		for k, v := range rec {
			if k != "Id" && k != "IsDeleted" {
				row[k] = sftest.CSVValue(v)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func TestConformance(t *testing.T) {
	for _, api := range []string{"REST_SYNC", "BULKV2", "AUTOMATIC"} {
		t.Run(api, func(t *testing.T) {
			opts := testOptions()
			opts.PageSize = 7000 // several Bulk API result sets for the 20,000-record table
			h := &harness{o: sftest.NewOrg(t), api: api, opts: opts}
			t.Run("Source", func(t *testing.T) { connectortest.RunSource(t, h) })
			t.Run("Destination", func(t *testing.T) { connectortest.RunDestination(t, h) })
		})
	}
}
