package sapodataconn

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/sapodataconn/odatatest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzSAP serves $metadata from an OData test server and answers every
// page of the sales orders with body.
func fuzzSAP(t testing.TB) func(t *testing.T, body string) (int, error) {
	s := odatatest.New(t)
	seedOrders(s)
	return func(t *testing.T, body string) (int, error) {
		v := &connectortest.Vendor{Next: s.Client(), Answer: func(r *http.Request) (int, string) {
			if r.URL.Path == soPath {
				return 200, body
			}
			return 0, ""
		}}
		d, err := open(connector.Deps{HTTPClient: v.Client()}, connector.Profile{Name: "sap", Properties: testProps(s), Credentials: json.RawMessage(basicCreds)}, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Fields: []string{"SalesOrder", "SoldToParty", "TotalNetAmount", "LastChangeDateTime"},
			Properties: json.RawMessage(`{"objectPath":"` + soPath + `","paginationConfig":{"maxPageSize":2}}`)})
		return connectortest.Rows(bs), err
	}
}

// Whatever a page of an entity set holds (the same page to every $skip
// and __next), the read fails as a fault or gives each result.
func FuzzEntitySetPage(f *testing.F) {
	for _, s := range []string{
		`{"d":{"results":[{"__metadata":{"type":"API_SALES_ORDER_SRV.A_SalesOrderType"},"SalesOrder":"1","SoldToParty":"C1","TotalNetAmount":"120.50","LastChangeDateTime":"/Date(1704067200000+0000)/"}]}}`,
		`{"d":{"results":[{"SalesOrder":"1"}],"__next":"` + soPath + `?$skiptoken=2"}}`,
		`{"d":{"results":[{"SalesOrder":"1"},{"SalesOrder":"2"}]}}`,
		`{"d":{"results":[{"SalesOrder":"1","TotalNetAmount":"x"}]}}`,
		`{"d":{}}`, `{"d":[]}`, `{"error":{"code":"/IWBEP/CM_MGW_RT/020","message":{"lang":"en","value":"Resource not found"}}}`,
	} {
		f.Add(s)
	}
	read := fuzzSAP(f)
	f.Fuzz(func(t *testing.T, body string) {
		rows, err := read(t, body)
		if err != nil {
			return
		}
		var page struct {
			D struct {
				Results *[]json.RawMessage `json:"results"`
			} `json:"d"`
		}
		if json.Unmarshal([]byte(body), &page) != nil || page.D.Results == nil || rows > len(*page.D.Results) {
			t.Fatalf("read %d rows of %q, want an error", rows, body)
		}
	})
}

// The fuzzer found a page without results read as an empty set, a __next
// link to itself followed forever, and a service answering the same whole
// page at every $skip read forever.
func TestBrokenPagesFail(t *testing.T) {
	read := fuzzSAP(t)
	for _, body := range []string{`{"d":{}}`, `{"d":{"results":[],"__next":"` + soPath + `?$skiptoken=2"}}`,
		`{"d":{"results":[{"SalesOrder":"1"},{"SalesOrder":"2"}]}}`} {
		if _, err := read(t, body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}

// parseMetadata reads any document without panicking, and every entity
// set it returns has its properties indexed.
func FuzzMetadata(f *testing.F) {
	f.Add(`<?xml version="1.0"?><edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"><edmx:DataServices><Schema Namespace="S" Alias="A" xmlns="http://schemas.microsoft.com/ado/2008/09/edm"><EntityType Name="T"><Key><PropertyRef Name="Id"/></Key><Property Name="Id" Type="Edm.String" Nullable="false" sap:filterable="true" xmlns:sap="http://www.sap.com/Protocols/SAPData"/><NavigationProperty Name="To_Item"/></EntityType><EntityContainer Name="C"><EntitySet Name="Ts" EntityType="A.T"/></EntityContainer></Schema></edmx:DataServices></edmx:Edmx>`)
	f.Add(`<edmx:Edmx><edmx:DataServices><Schema><EntityContainer><EntitySet Name="X" EntityType="missing"/></EntityContainer></Schema></edmx:DataServices></edmx:Edmx>`)
	f.Add(`<not-xml`)
	f.Fuzz(func(t *testing.T, doc string) {
		m, err := parseMetadata([]byte(doc))
		if err != nil {
			return
		}
		for name, set := range m.sets {
			if set.Name != name || len(set.byName) > len(set.Props) {
				t.Fatalf("set %s: %+v", name, set)
			}
		}
	})
}
