package snowflakeconn

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzExec runs a statement against a SQL API answering status and body
// to the statement and to every poll and partition.
func fuzzExec(status int, body string) (*resultSet, error) {
	v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return status, body }}
	c := &client{base: "https://xy12345.snowflakecomputing.test", hc: v.Client(), auth: oauthToken("t"), pollEvery: time.Microsecond}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := c.exec(ctx, "SELECT 1", "DB", "PUBLIC")
	if ctx.Err() != nil || v.Requests() > 100 {
		return nil, context.DeadlineExceeded // polled or paged on and on
	}
	return rs, err
}

// Whatever the SQL API answers, a statement ends with a classified error
// or a result set whose rows are all there: as many as its partitions
// say, each with a cell per column.
func FuzzStatement(f *testing.F) {
	for _, s := range []string{
		`{"code":"090001","sqlState":"00000","message":"Statement executed successfully.","statementHandle":"01b2-1","resultSetMetaData":{"numRows":2,"format":"jsonv2","rowType":[{"name":"N","type":"fixed","nullable":true},{"name":"S","type":"text"}],"partitionInfo":[{"rowCount":2}]},"data":[["1","a"],["2",null]]}`,
		`{"resultSetMetaData":{"numRows":3,"rowType":[{"name":"N"}],"partitionInfo":[{"rowCount":1},{"rowCount":2}]},"statementHandle":"h","data":[["1"]]}`,
		`{"resultSetMetaData":{"rowType":[{"name":"A"},{"name":"B"}],"partitionInfo":[{"rowCount":1}]},"data":[["1"]]}`,
		`{"code":"333334","message":"Asynchronous execution in progress.","statementHandle":"01b2-2","statementStatusUrl":"/api/v2/statements/01b2-2"}`,
		`{"code":"333334","message":"Asynchronous execution in progress."}`,
		`{"code":"002003","sqlState":"42S02","message":"SQL compilation error: Table 'X' does not exist.","statementHandle":"h"}`,
	} {
		f.Add(200, s)
		f.Add(202, s)
		f.Add(422, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		status = 200 + abs(status)%400
		rs, err := fuzzExec(status, body)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("status %d %q: the statement did not end", status, body)
		}
		if err != nil {
			if fault.CodeOf(err) == fault.Unknown {
				t.Fatalf("status %d %q: unclassified error %v", status, body, err)
			}
			return
		}
		var want struct {
			ResultSetMetaData struct {
				RowType       []json.RawMessage
				PartitionInfo []struct{ RowCount int64 }
			}
		}
		_ = json.Unmarshal([]byte(body), &want)
		var n int64
		for _, p := range want.ResultSetMetaData.PartitionInfo {
			n += p.RowCount
		}
		if len(want.ResultSetMetaData.PartitionInfo) > 0 && int64(len(rs.Data)) != n {
			t.Fatalf("status %d %q: %d rows, the partition says %d", status, body, len(rs.Data), n)
		}
		for _, row := range rs.Data {
			if cols := len(want.ResultSetMetaData.RowType); cols > 0 && len(row) != cols {
				t.Fatalf("status %d %q: a row of %d cells under %d columns", status, body, len(row), cols)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}

// The fuzzer found a 202 without a statement handle polled until the run
// ended, and rows missing from a partition or cells missing from a row
// read as if there were no more.
func TestBrokenStatementsFail(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
	}{
		{202, `{"code":"333334","message":"Asynchronous execution in progress."}`},
		{200, `{"resultSetMetaData":{"rowType":[{"name":"N"}],"partitionInfo":[{"rowCount":2}]},"statementHandle":"h","data":[["1"]]}`},
		{200, `{"resultSetMetaData":{"rowType":[{"name":"A"},{"name":"B"}],"partitionInfo":[{"rowCount":1}]},"data":[["1"]]}`},
	} {
		if _, err := fuzzExec(c.status, c.body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%d %s: err = %v, want a ConnectorServer fault", c.status, c.body, err)
		}
	}
}
