package service_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
)

// TestE2EAccountsKeepLocalBucketsApart: with --credentials naming two
// accounts, each signed account sees only its own local buckets
// (<data-dir>/accounts/<id>/s3/<bucket>): B cannot describe, list or copy
// out A's bucket of the same name.
func TestE2EAccountsKeepLocalBucketsApart(t *testing.T) {
	dataDir := t.TempDir()
	const a, b = "111111111111", "222222222222"
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("AKIDA secret-a "+a+"\nAKIDB secret-b "+b+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := func(account string) string { return filepath.Join(dataDir, "accounts", account, "s3") }
	write(filepath.Join(root(a), "shared", "in", "rows.csv"), "id,secret\n1,only-for-a\n")
	for _, acct := range []string{a, b} {
		if err := os.MkdirAll(filepath.Join(root(acct), "out"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	srv := apptest.Start(t, app.Config{DataDir: dataDir, Credentials: creds, PlanInterval: -1})
	client := func(akid, secret string) *appflow.Client {
		return appflow.New(appflow.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""), RetryMaxAttempts: 1})
	}
	ca, cb := client("AKIDA", "secret-a"), client("AKIDB", "secret-b")
	ctx := context.Background()

	// The catalog: A's buckets for A, B's for B.
	buckets := func(c *appflow.Client) []string {
		out, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorType: types.ConnectorTypeS3})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range out.ConnectorEntityMap["Buckets"] {
			names = append(names, aws.ToString(e.Name))
		}
		return names
	}
	if got := strings.Join(buckets(ca), ","); got != "out,shared" {
		t.Errorf("A's buckets: %s, want out,shared", got)
	}
	if got := strings.Join(buckets(cb), ","); got != "out" {
		t.Errorf("B's buckets: %s, want only out", got)
	}
	if _, err := ca.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorType: types.ConnectorTypeS3, ConnectorEntityName: aws.String("shared/in")}); err != nil {
		t.Errorf("A describes its own folder: %v", err)
	}
	_, err := cb.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorType: types.ConnectorTypeS3, ConnectorEntityName: aws.String("shared/in")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), `"shared"`) {
		t.Errorf("B describes A's folder: got %v, want ResourceNotFoundException naming bucket \"shared\"", err)
	}

	// A link in a local bucket is refused through the API too, naming it.
	outside := filepath.Join(t.TempDir(), "secret.csv")
	write(outside, "secret\nleaked\n")
	if err := os.Symlink(outside, filepath.Join(root(a), "shared", "leak.csv")); err != nil {
		t.Fatal(err)
	}
	_, err = ca.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorType: types.ConnectorTypeS3, ConnectorEntityName: aws.String("shared/leak")})
	var ve *types.ValidationException
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "s3://shared/leak.csv is a symbolic link") {
		t.Errorf("DescribeConnectorEntity of a linked object: got %v, want ValidationException naming s3://shared/leak.csv", err)
	}

	// The same flow run by each account: A copies its rows, B finds no bucket.
	run := func(c *appflow.Client) (*types.ExecutionRecord, error) {
		in := flowE2ES3("copy", types.TriggerTypeOndemand)
		in.SourceFlowConfig.SourceConnectorProperties.S3.BucketName = aws.String("shared")
		in.SourceFlowConfig.SourceConnectorProperties.S3.BucketPrefix = aws.String("in")
		in.DestinationFlowConfigList[0].DestinationConnectorProperties.S3.BucketName = aws.String("out")
		in.Tasks = []types.Task{{TaskType: types.TaskTypeMap, SourceFields: []string{"secret"}, DestinationField: aws.String("secret"),
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}}
		in.Tags = nil
		if _, err := c.CreateFlow(ctx, in); err != nil {
			return nil, err
		}
		st, err := c.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("copy")})
		if err != nil {
			return nil, err
		}
		return waitExecution(t, c, "copy", aws.ToString(st.ExecutionId)), nil
	}
	rec, err := run(ca)
	if err != nil || rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("A's run: %v %+v", err, rec)
	}
	if got := filesUnder(t, filepath.Join(root(a), "out")); !strings.Contains(got, "only-for-a") {
		t.Errorf("A's output %q does not hold A's rows", got)
	}
	rec, err = run(cb)
	switch {
	case err != nil:
		if !strings.Contains(err.Error(), "shared") {
			t.Errorf("B's flow on A's bucket: %v, want an error naming the bucket", err)
		}
	case rec.ExecutionStatus != types.ExecutionStatusError || !strings.Contains(aws.ToString(rec.ExecutionResult.ErrorInfo.ExecutionMessage), "bucket shared does not exist"):
		t.Errorf("B's run on A's bucket: %s %q, want Error naming bucket \"shared\"", rec.ExecutionStatus, aws.ToString(rec.ExecutionResult.ErrorInfo.ExecutionMessage))
	}
	if got := filesUnder(t, filepath.Join(root(b), "out")); got != "" {
		t.Errorf("B's output holds %q, want nothing", got)
	}
	// The default account's tree is untouched by either.
	if _, err := os.Stat(filepath.Join(dataDir, "s3", "shared")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("<data-dir>/s3/shared: %v, want it absent", err)
	}
}

// filesUnder concatenates every file below dir.
func filesUnder(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			b.Write(data)
		}
		return nil
	})
	return b.String()
}

// waitExecution polls the run's record until it is finished.
func waitExecution(t *testing.T, c *appflow.Client, flow, id string) *types.ExecutionRecord {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, err := c.DescribeFlowExecutionRecords(context.Background(), &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
		if err != nil {
			t.Fatalf("DescribeFlowExecutionRecords: %v", err)
		}
		for i := range out.FlowExecutions {
			r := &out.FlowExecutions[i]
			if aws.ToString(r.ExecutionId) == id && r.ExecutionStatus != types.ExecutionStatusInprogress && r.ExecutionStatus != types.ExecutionStatusCancelstarted {
				return r
			}
		}
	}
	t.Fatalf("flow %s run %s did not finish", flow, id)
	return nil
}

// TestE2EMetricsNeedCredentials: with --credentials, GET /metrics is
// refused without them, and served with the scrape token.
func TestE2EMetricsNeedCredentials(t *testing.T) {
	dir := t.TempDir()
	creds, token := filepath.Join(dir, "credentials"), filepath.Join(dir, "token")
	os.WriteFile(creds, []byte("AKIDA secret-a 111111111111\n"), 0o600)
	os.WriteFile(token, []byte("scrape-token-for-prometheus\n"), 0o600)
	srv := apptest.Start(t, app.Config{Credentials: creds, MetricsTokenFile: token, PlanInterval: -1})
	get := func(authz string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), string(body)
	}
	if status, code, body := get(""); status != 403 || code != "MissingAuthenticationTokenException" || !strings.HasPrefix(body, `{"message":`) {
		t.Errorf("unauthenticated scrape: %d %s %s, want 403 MissingAuthenticationTokenException", status, code, body)
	}
	if status, code, _ := get("Bearer not-the-token-at-all"); status != 403 || code != "UnrecognizedClientException" {
		t.Errorf("wrong token: %d %s, want 403 UnrecognizedClientException", status, code)
	}
	if status, _, body := get("Bearer scrape-token-for-prometheus"); status != 200 || !strings.Contains(body, "# TYPE ") {
		t.Errorf("scrape with the token: %d %.200s, want 200 with Prometheus metrics", status, body)
	}
}
