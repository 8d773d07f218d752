package salesforceconn

import (
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
)

// sf is a plain field of the connector's own describe type.
func sf(name, typ string) sobjectField {
	return sobjectField{Name: name, Label: name, Type: typ, Nillable: true, Createable: true, Updateable: true, Filterable: typ != "textarea"}
}

var soqlDesc = &sobjectDescribe{Name: "Account", Fields: []sobjectField{
	sf("Name", "string"), sf("Id", "id"), sf("Owner", "reference"), sf("Tags", "multipicklist"),
	sf("Employees", "int"), sf("Revenue", "currency"), sf("Active", "boolean"),
	sf("Founded", "date"), sf("LastModifiedDate", "datetime"),
	{Name: "Notes", Type: "textarea", Filterable: false},
}}

func TestFilterClause(t *testing.T) {
	const ms = "1704067200000" // 2024-01-01T00:00:00Z
	const msFrac = "1704067200250"
	for _, c := range []struct {
		name string
		f    connector.Filter
		want string
	}{
		{"string equal", connector.Filter{Field: "Name", Operator: "EQUAL_TO", Values: []string{"Acme"}}, "Name = 'Acme'"},
		{"string VALUES are IN", connector.Filter{Field: "Name", Operator: "EQUAL_TO", Values: []string{"a", "b"}}, "Name IN ('a', 'b')"},
		{"string escaping", connector.Filter{Field: "Name", Operator: "EQUAL_TO", Values: []string{"O'Brien \"x\" a\\b\nc\td"}}, `Name = 'O\'Brien \"x\" a\\b\nc\td'`},
		{"percent is literal in =", connector.Filter{Field: "Name", Operator: "EQUAL_TO", Values: []string{"50%_off"}}, "Name = '50%_off'"},
		{"contains is LIKE with wildcards escaped", connector.Filter{Field: "Name", Operator: "CONTAINS", Values: []string{"50%_o'ff"}}, `Name LIKE '%50\%\_o\'ff%'`},
		{"contains VALUES are ORed", connector.Filter{Field: "Name", Operator: "CONTAINS", Values: []string{"a", "b"}}, "(Name LIKE '%a%' OR Name LIKE '%b%')"},
		{"string NOT_EQUAL_TO stays in the engine", connector.Filter{Field: "Name", Operator: "NOT_EQUAL_TO", Values: []string{"a"}}, ""},
		{"string ordering stays in the engine", connector.Filter{Field: "Name", Operator: "LESS_THAN", Values: []string{"m"}}, ""},
		{"id equal", connector.Filter{Field: "Id", Operator: "EQUAL_TO", Values: []string{"001A"}}, "Id = '001A'"},
		{"no LIKE on references", connector.Filter{Field: "Owner", Operator: "CONTAINS", Values: []string{"005"}}, ""},
		{"no multipicklist", connector.Filter{Field: "Tags", Operator: "EQUAL_TO", Values: []string{"x"}}, ""},
		{"not filterable", connector.Filter{Field: "Notes", Operator: "EQUAL_TO", Values: []string{"x"}}, ""},
		{"unknown field", connector.Filter{Field: "Nope", Operator: "EQUAL_TO", Values: []string{"x"}}, ""},
		{"string field, numeric DATA_TYPE", connector.Filter{Field: "Name", Operator: "EQUAL_TO", Values: []string{"1"}, DataType: "integer"}, ""},
		{"int less than", connector.Filter{Field: "Employees", Operator: "LESS_THAN", Values: []string{"10"}, DataType: "integer"}, "Employees < 10"},
		{"int lte", connector.Filter{Field: "Employees", Operator: "LESS_THAN_OR_EQUAL_TO", Values: []string{"10"}, DataType: "integer"}, "Employees <= 10"},
		{"int gt", connector.Filter{Field: "Employees", Operator: "GREATER_THAN", Values: []string{"-3"}, DataType: "integer"}, "Employees > -3"},
		{"int gte", connector.Filter{Field: "Employees", Operator: "GREATER_THAN_OR_EQUAL_TO", Values: []string{"7"}, DataType: "integer"}, "Employees >= 7"},
		{"number equal", connector.Filter{Field: "Revenue", Operator: "EQUAL_TO", Values: []string{"12.50"}, DataType: "double"}, "Revenue = 12.50"},
		{"number exponent normalised", connector.Filter{Field: "Revenue", Operator: "EQUAL_TO", Values: []string{"1e3"}, DataType: "double"}, "Revenue = 1000"},
		{"number not equal VALUES", connector.Filter{Field: "Revenue", Operator: "NOT_EQUAL_TO", Values: []string{"1", "2"}, DataType: "double"}, "Revenue NOT IN (1, 2)"},
		{"number not equal", connector.Filter{Field: "Revenue", Operator: "NOT_EQUAL_TO", Values: []string{"1"}, DataType: "double"}, "Revenue != 1"},
		{"number between inclusive", connector.Filter{Field: "Revenue", Operator: "BETWEEN", Values: []string{"1", "2.5"}, DataType: "double"}, "(Revenue >= 1 AND Revenue <= 2.5)"},
		{"number injection refused", connector.Filter{Field: "Revenue", Operator: "EQUAL_TO", Values: []string{"1 OR Name = 'x'"}, DataType: "double"}, ""},
		{"boolean", connector.Filter{Field: "Active", Operator: "EQUAL_TO", Values: []string{"TRUE"}, DataType: "boolean"}, "Active = true"},
		{"boolean not equal", connector.Filter{Field: "Active", Operator: "NOT_EQUAL_TO", Values: []string{"false"}, DataType: "boolean"}, "Active != false"},
		{"datetime gt from epoch ms", connector.Filter{Field: "LastModifiedDate", Operator: "GREATER_THAN", Values: []string{ms}, DataType: "datetime"}, "LastModifiedDate > 2024-01-01T00:00:00Z"},
		{"datetime from ISO", connector.Filter{Field: "LastModifiedDate", Operator: "GREATER_THAN_OR_EQUAL_TO", Values: []string{"2024-01-01T05:06:07Z"}, DataType: "datetime"}, "LastModifiedDate >= 2024-01-01T05:06:07Z"},
		{"datetime gt widened down", connector.Filter{Field: "LastModifiedDate", Operator: "GREATER_THAN", Values: []string{msFrac}, DataType: "datetime"}, "LastModifiedDate > 2024-01-01T00:00:00Z"},
		{"datetime lt widened up", connector.Filter{Field: "LastModifiedDate", Operator: "LESS_THAN", Values: []string{msFrac}, DataType: "datetime"}, "LastModifiedDate < 2024-01-01T00:00:01Z"},
		{"datetime lte", connector.Filter{Field: "LastModifiedDate", Operator: "LESS_THAN_OR_EQUAL_TO", Values: []string{ms}, DataType: "datetime"}, "LastModifiedDate <= 2024-01-01T00:00:00Z"},
		{"datetime between", connector.Filter{Field: "LastModifiedDate", Operator: "BETWEEN", Values: []string{msFrac, "1704153600500"}, DataType: "datetime"}, "(LastModifiedDate >= 2024-01-01T00:00:00Z AND LastModifiedDate <= 2024-01-02T00:00:01Z)"},
		{"datetime equal", connector.Filter{Field: "LastModifiedDate", Operator: "EQUAL_TO", Values: []string{ms, "1704067201000"}, DataType: "datetime"}, "(LastModifiedDate = 2024-01-01T00:00:00Z OR LastModifiedDate = 2024-01-01T00:00:01Z)"},
		{"datetime equal below a second stays in the engine", connector.Filter{Field: "LastModifiedDate", Operator: "EQUAL_TO", Values: []string{msFrac}, DataType: "datetime"}, ""},
		{"datetime not equal keeps exact values only", connector.Filter{Field: "LastModifiedDate", Operator: "NOT_EQUAL_TO", Values: []string{ms, msFrac}, DataType: "datetime"}, "LastModifiedDate != 2024-01-01T00:00:00Z"},
		{"datetime field, string DATA_TYPE", connector.Filter{Field: "LastModifiedDate", Operator: "GREATER_THAN", Values: []string{ms}}, ""},
		{"datetime bad value", connector.Filter{Field: "LastModifiedDate", Operator: "GREATER_THAN", Values: []string{"monday"}, DataType: "datetime"}, ""},
		{"date gt", connector.Filter{Field: "Founded", Operator: "GREATER_THAN", Values: []string{"1704085200000"}, DataType: "date"}, "Founded > 2024-01-01"},
		{"date lt widened to the next day", connector.Filter{Field: "Founded", Operator: "LESS_THAN", Values: []string{"1704085200000"}, DataType: "date"}, "Founded < 2024-01-02"},
		{"date between", connector.Filter{Field: "Founded", Operator: "BETWEEN", Values: []string{ms, ms}, DataType: "datetime"}, "(Founded >= 2024-01-01 AND Founded <= 2024-01-01)"},
		{"unknown operator", connector.Filter{Field: "Employees", Operator: "NO_OP", Values: []string{"1"}, DataType: "integer"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := filterClause(c.f, soqlDesc.field(c.f.Field))
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
			if got != "" {
				if err := sftest.CheckSOQL("SELECT Id FROM Account WHERE " + got); err != nil {
					t.Errorf("the test org cannot parse %q: %v", got, err)
				}
			}
		})
	}
}

func TestBuildWhereAndWindow(t *testing.T) {
	w := &connector.Window{Field: "LastModifiedDate", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 1, 1, 0, 0, 500e6, time.UTC)}
	got := buildWhere(soqlDesc, []connector.Filter{
		{Field: "Name", Operator: "CONTAINS", Values: []string{"x"}},
		{Field: "Name", Operator: "NOT_EQUAL_TO", Values: []string{"y"}},
	}, w)
	want := "Name LIKE '%x%' AND LastModifiedDate >= 2024-01-01T00:00:00Z AND LastModifiedDate < 2024-01-01T01:00:01Z"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if q := buildSOQL([]string{"Id", "Name"}, "Account", got); q != "SELECT Id, Name FROM Account WHERE "+want {
		t.Errorf("SOQL = %q", q)
	}
	if q := buildSOQL([]string{"Id"}, "Account", ""); q != "SELECT Id FROM Account" {
		t.Errorf("SOQL without filters = %q", q)
	}
}

func TestParseCSVKeepsCRLFInQuotes(t *testing.T) {
	rows, err := parseCSV([]byte("a,b\n\"x\r\ny\",\"q\"\"\"\n,\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b"}, {"x\r\ny", `q"`}, {"", ""}}
	if len(rows) != len(want) {
		t.Fatalf("got %q, want %q", rows, want)
	}
	for i := range want {
		for j := range want[i] {
			if rows[i][j] != want[i][j] {
				t.Errorf("row %d col %d = %q, want %q", i, j, rows[i][j], want[i][j])
			}
		}
	}
	if _, err := parseCSV([]byte("a\n\"open")); err == nil {
		t.Error("an unterminated quote parsed")
	}
}

func TestBulkReason(t *testing.T) {
	for in, want := range map[string]string{
		"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --": "REQUIRED_FIELD_MISSING: Required fields are missing: [Name] (fields: Name)",
		"INVALID_CROSS_REFERENCE_KEY:invalid cross reference id: --":         "INVALID_CROSS_REFERENCE_KEY: invalid cross reference id",
	} {
		if got := bulkReason(in); got != want {
			t.Errorf("bulkReason(%q) = %q, want %q", in, got, want)
		}
	}
}
