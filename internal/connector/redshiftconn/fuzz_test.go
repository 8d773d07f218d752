package redshiftconn

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzStatement runs a statement through a Data API answering status and
// body to ExecuteStatement and every DescribeStatement.
func fuzzStatement(status int, body string) (int64, error) {
	v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return status, body }}
	c := &dataAPIClient{endpoint: "https://redshift-data.eu-west-1.amazonaws.test", region: "eu-west-1", http: v.Client(),
		creds: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}, nil
		}),
		signer: v4.NewSigner(), now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	d := &Driver{data: c, pollEvery: time.Microsecond, props: Properties{ClusterIdentifier: "cl", DatabaseName: "dev"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := d.runStatementRows(ctx, "INSERT INTO t SELECT * FROM s", "n")
	if ctx.Err() != nil || v.Requests() > 100 {
		return 0, context.DeadlineExceeded // polled on and on
	}
	return n, err
}

// Whatever the Data API answers, a statement ends with a classified error
// or the rows it changed.
func FuzzStatement(f *testing.F) {
	for _, s := range []string{
		`{"Id":"d9b6c0c9-0747-4bf4-b142-e8883122f766","Status":"FINISHED","ResultRows":5,"HasResultSet":false}`,
		`{"Id":"d9b6","Status":"FAILED","Error":"ERROR: relation \"t\" does not exist"}`,
		`{"Id":"d9b6","Status":"ABORTED"}`, `{"Id":"d9b6","Status":"STARTED"}`, `{"Id":"d9b6"}`, `{}`, `{"Status":"FINISHED"}`,
		`{"__type":"ValidationException","message":"bad id"}`, `<html>`,
	} {
		f.Add(200, s)
		f.Add(400, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		status = 200 + abs(status)%400
		_, err := fuzzStatement(status, body)
		if errors.Is(err, context.DeadlineExceeded) {
			if status/100 == 2 && body == `{"Id":"d9b6","Status":"STARTED"}` {
				return // a statement that runs on: the run's deadline ends it
			}
			t.Fatalf("status %d %q: the statement did not end", status, body)
		}
		if err != nil && fault.CodeOf(err) == fault.Unknown {
			t.Fatalf("status %d %q: unclassified error %v", status, body, err)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}

// The fuzzer found an answer that is not JSON failing unclassified (an
// internal error), and an answer without an Id or a Status polled until
// the run ended.
func TestBrokenAnswersFail(t *testing.T) {
	for _, body := range []string{`<html>`, `{}`, `{"Id":"d9b6"}`} {
		if _, err := fuzzStatement(200, body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}
