package servicenowconn

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

var tableBodies = []string{
	`{"result":[{"sys_id":"a1","number":"INC0001","priority":"1","opened_at":"2024-01-02 03:04:05","active":"true","amount":"12.50","caller_id":{"value":"u1"}}]}`,
	`{"result":[]}`,
	`{"result":[{"sys_id":"a1","impact":null,"due":"2024-01-02","n":"x"}]}`,
	`{"result":[{"sys_id":`,
	`{"error":{"message":"No Record found","detail":"Records matching query not found"},"status":"failure"}`,
	`{}`,
	`<html>maintenance</html>`,
}

// A Table API answer decodes to its rows and every cell to a value of its
// column's type, or fails as a ConnectorServer fault; an answer without a
// result is not taken for an empty table.
func FuzzTableResult(f *testing.F) {
	for _, s := range tableBodies {
		f.Add(s)
	}
	types := []string{"string", "glide_date_time", "glide_date", "integer", "decimal", "boolean", "reference"}
	f.Fuzz(func(t *testing.T, body string) {
		rs, err := rows("incident", &page{body: []byte(body)})
		if err != nil {
			if fault.CodeOf(err) != fault.ConnectorServer {
				t.Fatalf("rows(%q): %v, want a ConnectorServer fault", body, err)
			}
			return
		}
		var want struct {
			Result []json.RawMessage `json:"result"`
		}
		if json.Unmarshal([]byte(body), &want) != nil || want.Result == nil || len(want.Result) != len(rs) {
			t.Fatalf("rows(%q) = %d rows, no error; want an error", body, len(rs))
		}
		for _, r := range rs {
			for _, raw := range r {
				for _, typ := range types {
					v, err := value(raw, typ)
					if err != nil {
						t.Fatalf("value(%s, %s): %v", raw, typ, err)
					}
					if v.K == record.JSON && !json.Valid([]byte(v.S)) {
						t.Fatalf("value(%s, %s) = invalid JSON %q", raw, typ, v.S)
					}
				}
				_ = str(raw)
			}
		}
	})
}

// parseError reads any refusal into a message.
func FuzzParseError(f *testing.F) {
	for _, s := range tableBodies {
		f.Add(403, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		e := parseError(status, []byte(body))
		if e == nil || !strings.Contains(e.Error(), "ServiceNow") {
			t.Fatalf("parseError(%q) = %v", body, e)
		}
		if fault.CodeOf(classify(e)) == fault.Unknown {
			t.Fatalf("classify(%v) is unclassified", e)
		}
	})
}

// A 200 answer without a result (a proxy's page, an error object) fails
// the read instead of ending it as an empty table.
func TestRowsNeedResult(t *testing.T) {
	for _, body := range []string{`{}`, `{"result":null}`, `{"error":{"message":"busy"},"status":"failure"}`} {
		if _, err := rows("incident", &page{body: []byte(body)}); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("rows(%s): err = %v, want a ConnectorServer fault", body, err)
		}
	}
	if rs, err := rows("incident", &page{body: []byte(`{"result":[]}`)}); err != nil || len(rs) != 0 {
		t.Errorf(`rows({"result":[]}) = %v, %v; want no rows`, rs, err)
	}
}
