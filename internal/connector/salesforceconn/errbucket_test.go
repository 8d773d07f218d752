package salesforceconn

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// TestRejectedRecordsToErrorBucket: with an error bucket, the records
// Salesforce rejects, and those a task rejected (RecordFailures), go there as JSON Lines under
// <prefix>/<flow>/<execution>/; a bucket that does not exist fails the
// write before anything is sent, rather than losing them.
func TestRejectedRecordsToErrorBucket(t *testing.T) {
	o := sftest.NewOrg(t)
	contacts(o)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s3", "errs"), 0o755); err != nil {
		t.Fatal(err)
	}
	props, _ := json.Marshal(map[string]any{"instanceUrl": o.URL()})
	d, err := open(connector.Deps{HTTPClient: o.Client(), DataDir: dir}, connector.Profile{Name: "sf", Properties: props, Credentials: json.RawMessage(goodCreds)}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	commit := func(bucket string) (*connector.WriteResult, error) {
		ctx := context.Background()
		w, err := d.OpenWriter(ctx, &connector.WriteRequest{FlowName: "f", ExecutionID: "x1", Object: "Contact", WriteOperation: "INSERT",
			ErrorHandling: &connector.ErrorHandling{BucketName: bucket, BucketPrefix: "/p/"}})
		if err != nil {
			return nil, err
		}
		// A record a task rejected, handed over before its batch.
		if err := w.(connector.FailureRecorder).RecordFailures(ctx, []connector.RecordFailure{
			{Split: "in.csv", Line: 4, Reason: "tasks[1] (Map) field Score: not a double", Record: map[string]string{"Score": "x"}}}); err != nil {
			t.Fatal(err)
		}
		b := &record.Batch{Fields: []string{"LastName"}, Split: "in.csv", FirstLine: 2, Final: true}
		b.AppendRow([]record.Value{record.Str("Ann")})
		b.AppendRow([]record.Value{record.Str("bad")})
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		return w.Commit(ctx)
	}
	res, err := commit("errs")
	if err != nil || len(res.Failures) != 2 {
		t.Fatalf("Commit = %+v, %v; want two failures", res, err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "s3", "errs", "p", "f", "x1", "salesforce-rejected-records.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"split":"in.csv","line":4,"reason":"tasks[1] (Map) field Score: not a double","record":{"Score":"x"}}` + "\n" +
		`{"split":"in.csv","line":3,"reason":"FIELD_CUSTOM_VALIDATION_EXCEPTION: Last name may not be bad","record":{"LastName":"bad"}}` + "\n"
	if string(got) != want {
		t.Errorf("error file %s, want %s", got, want)
	}
	if _, err := commit("missing"); fault.CodeOf(err) != fault.NotFound || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing error bucket: %v, want NotFound naming it", err)
	}
}
