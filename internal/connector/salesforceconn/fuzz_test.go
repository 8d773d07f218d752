package salesforceconn

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/csvrec"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// fuzzPlan reads a few fields of every kind, one of them a relationship.
func fuzzPlan(bulk bool) *plan {
	return &plan{soql: "SELECT Id, Name, AnnualRevenue, NumberOfEmployees, IsDeleted, CreatedDate, Owner.Name FROM Account", bulk: bulk,
		fields: []string{"Id", "Name", "AnnualRevenue", "NumberOfEmployees", "IsDeleted", "CreatedDate", "Owner.Name"},
		types:  []string{"id", "string", "currency", "int", "boolean", "datetime", ""}}
}

// fuzzRead reads the plan from a vendor and returns the rows.
func fuzzRead(t *testing.T, v *connectortest.Vendor, p *plan) (int, error) {
	props, _ := json.Marshal(map[string]any{"instanceUrl": "https://acme.my.salesforce.test"})
	d, err := open(connector.Deps{HTTPClient: v.Client()}, connector.Profile{Name: "sf", Properties: props, Credentials: json.RawMessage(goodCreds)}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	bs, err := connectortest.FuzzRead(t, v, splitDriver{d, p}, &connector.ReadRequest{Object: "Account"})
	for _, b := range bs {
		rows += b.Len()
	}
	return rows, err
}

// splitDriver reads one planned split, without describing the object.
type splitDriver struct {
	*Driver
	p *plan
}

func (s splitDriver) Splits(context.Context, *connector.ReadRequest) ([]connector.Split, error) {
	return []connector.Split{{Name: "Account", Opaque: s.p}}, nil
}

// Whatever a REST query page holds (the same page answered to every
// nextRecordsUrl), the read fails as a fault or gives each record.
func FuzzQueryPage(f *testing.F) {
	for _, s := range []string{
		`{"totalSize":2,"done":true,"records":[{"attributes":{"type":"Account","url":"/x"},"Id":"001A","Name":"Acme","AnnualRevenue":1.5e6,"NumberOfEmployees":12,"IsDeleted":false,"CreatedDate":"2024-01-02T03:04:05.000+0000","Owner":{"attributes":{},"Name":"Ann"}},{"Id":"001B","Name":null,"Owner":null}]}`,
		`{"totalSize":4,"done":false,"nextRecordsUrl":"/services/data/v58.0/query/01gD-2000","records":[{"Id":"001A"}]}`,
		`{"totalSize":0,"done":true,"records":[]}`,
		`[{"message":"Session expired","errorCode":"INVALID_SESSION_ID"}]`,
		`{}`, `{"done":true}`, `{"done":true,"records":[1]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, body }}
		rows, err := fuzzRead(t, v, fuzzPlan(false))
		if err != nil {
			return
		}
		var page struct {
			Records *[]map[string]any `json:"records"`
		}
		if json.Unmarshal([]byte(body), &page) != nil || page.Records == nil {
			t.Fatalf("read %d rows of %q, want an error", rows, body)
		}
		if rows != len(*page.Records) {
			t.Fatalf("read %d rows of %q, want %d", rows, body, len(*page.Records))
		}
	})
}

// Whatever a Bulk API 2.0 result set holds (the same set answered to
// every locator), the read fails as a fault or gives each record with
// every column asked for.
func FuzzBulkResults(f *testing.F) {
	for _, s := range []string{
		"\"Id\",\"Name\",\"AnnualRevenue\",\"NumberOfEmployees\",\"IsDeleted\",\"CreatedDate\",\"Owner.Name\"\n\"001A\",\"Acme, \"\"Inc\"\"\",\"1500000.0\",\"12\",\"false\",\"2024-01-02T03:04:05.000Z\",\"Ann\"\n\"001B\",\"\",\"\",\"\",\"true\",\"\",\"\"\n",
		"Id,Name\n001A,x\n", "", "Id,Name,AnnualRevenue,NumberOfEmployees,IsDeleted,CreatedDate,Owner.Name\n001A\n",
		"Id,Name,AnnualRevenue,NumberOfEmployees,IsDeleted,CreatedDate,Owner.Name\r\n\"001A\",\"multi\r\nline\",1,2,true,,\r\n",
	} {
		f.Add(s, "")
		f.Add(s, "MjAwMDAw")
	}
	f.Fuzz(func(t *testing.T, csv, locator string) {
		v := &connectortest.Vendor{
			Answer: func(r *http.Request) (int, string) {
				switch {
				case strings.HasSuffix(r.URL.Path, "/results"):
					return 200, csv
				case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/jobs/query"):
					return 200, `{"id":"750R0000000zlh9IAA","operation":"query","state":"UploadComplete"}`
				case r.Method == http.MethodDelete:
					return 204, ""
				}
				return 200, `{"id":"750R0000000zlh9IAA","state":"JobComplete","numberRecordsProcessed":2}`
			},
			Header: func(r *http.Request) http.Header {
				if strings.HasSuffix(r.URL.Path, "/results") {
					return http.Header{"Content-Type": {"text/csv"}, "Sforce-Locator": {locator}}
				}
				return nil
			},
		}
		p := fuzzPlan(true)
		rows, err := fuzzRead(t, v, p)
		if err != nil {
			return
		}
		recs, cerr := csvrec.ReadAll([]byte(csv))
		if cerr != nil {
			t.Fatalf("read %d rows of a broken result set %q (%v)", rows, csv, cerr)
		}
		if len(recs) == 0 {
			if rows != 0 {
				t.Fatalf("read %d rows of an empty result set", rows)
			}
			return
		}
		for _, f := range p.fields {
			found := false
			for _, h := range recs[0] {
				found = found || strings.EqualFold(h, f)
			}
			if !found {
				t.Fatalf("read %d rows of %q, whose header has no %s", rows, csv, f)
			}
		}
		if rows != len(recs)-1 {
			t.Fatalf("read %d rows of %q, want %d", rows, csv, len(recs)-1)
		}
	})
}

// textValue keeps every value: typed when it parses as its type, else text.
func FuzzTextValue(f *testing.F) {
	for _, s := range []string{"12", "1.5", "1e19", "-9223372036854775808", "NaN", "true", "2024-01-02T03:04:05.000+0000", "2024-01-02T03:04:05Z", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range []string{"int", "double", "currency", "boolean", "datetime", "date", "string", "reference", ""} {
			v := textValue(typ, s)
			if s == "" && v.K != record.Null || s != "" && v.K == record.String && v.S != s {
				t.Fatalf("textValue(%s, %q) = %v", typ, s, v)
			}
		}
	})
}

// The refusal parser classifies any error body.
func FuzzAPIError(f *testing.F) {
	for _, s := range []string{`[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`, `[{"message":"x","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`,
		`{"error":"invalid_grant","error_description":"expired access/refresh token"}`, `<html>`, `[]`} {
		f.Add(400, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		e := parseAPIError(status, []byte(body))
		if e == nil || fault.CodeOf(classify(e)) == fault.Unknown {
			t.Fatalf("parseAPIError(%d, %q) = %v", status, body, e)
		}
		_ = e.Error()
	})
}

// Answers the fuzzer found read wrongly: a REST page or result set that
// names itself as the next paged forever, a page without records read as
// empty, and a result set without a column asked for read it as nulls.
func TestBrokenPagesFail(t *testing.T) {
	for _, body := range []string{`{"done":false,"nextRecordsUrl":"/services/data/v58.0/query/01gD-2000","records":[]}`, `{}`, `{"done":true}`} {
		v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, body }}
		if _, err := fuzzRead(t, v, fuzzPlan(false)); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("query page %s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
	full := "Id,Name,AnnualRevenue,NumberOfEmployees,IsDeleted,CreatedDate,Owner.Name\n001A,x,1,2,true,,\n"
	for _, c := range []struct{ csv, locator string }{{full, "MjAwMDAw"}, {"Id,Name\n001A,x\n", ""}} {
		v := &connectortest.Vendor{
			Answer: func(r *http.Request) (int, string) {
				if strings.HasSuffix(r.URL.Path, "/results") {
					return 200, c.csv
				}
				return 200, `{"id":"750R0000000zlh9IAA","state":"JobComplete"}`
			},
			Header: func(r *http.Request) http.Header {
				return http.Header{"Content-Type": {"text/csv"}, "Sforce-Locator": {c.locator}}
			},
		}
		if _, err := fuzzRead(t, v, fuzzPlan(true)); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("result set %q, locator %q: err = %v, want a ConnectorServer fault", c.csv, c.locator, err)
		}
	}
}
