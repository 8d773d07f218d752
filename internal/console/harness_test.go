package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/examples/customconnector/exampleconn"
	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector"
)

// Keys of the credentials file the sign-in tests serve with.
const (
	keyA, secretA, accountA = "AKIAALICE0000000001", "alice-secret", "111111111111"
	keyB, secretB, accountB = "AKIABOB000000000002", "bob-secret", "222222222222"
)

// server is a whole appflowd with the example custom connector on its
// Lambda path; the connector's reads wait at gate while it is closed.
type server struct {
	*apptest.Server
	gate *gate
}

// start serves appflowd: open, or with the two keys above when signed.
// Buckets: src (with in/orders.csv, 3 rows) and dst.
func start(t *testing.T, signed bool) *server {
	t.Helper()
	conn := exampleconn.New()
	g := &gate{reached: make(chan struct{}, 64)}
	lambda := httptest.NewServer(g.wrap(conn))
	t.Cleanup(lambda.Close)
	cfg := app.Config{Endpoints: connector.Endpoints{connector.EndpointLambda: lambda.URL + "/2015-03-31/functions/function/invocations"}}
	if signed {
		cfg.Credentials = credentialsFile(t)
		conn.AccessKeyID, conn.SecretAccessKey = keyA, secretA
	}
	s := &server{Server: apptest.Start(t, cfg, "src", "dst"), gate: g}
	conn.SecretsEndpoint = s.URL
	csv := "id,name,amount\n1,Ann,3\n2,Bob,4\n3,Cy,5\n"
	if err := os.MkdirAll(filepath.Join(s.DataDir, "s3", "src", "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.DataDir, "s3", "src", "in", "orders.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// credentialsFile writes the two keys above to a credentials file.
func credentialsFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	body := keyA + " " + secretA + " " + accountA + "\n" + keyB + " " + secretB + " " + accountB + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// client is an AppFlow SDK client signed with a key of the credentials file.
func (s *server) client(key, secret string) *appflow.Client {
	return appflow.New(appflow.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), RetryMaxAttempts: 1,
	})
}

// gate holds the example connector's QueryData calls while closed.
type gate struct {
	mu      sync.Mutex
	open    chan struct{} // nil: reads pass
	reached chan struct{} // a read arrived at the closed gate
}

// close makes later reads wait until the returned func is called.
func (g *gate) close() (release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := make(chan struct{})
	g.open = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.open = nil
			g.mu.Unlock()
			close(ch)
		})
	}
}

// waitReached waits for a read to arrive at the closed gate; a minute
// without one fails the test rather than hanging it.
func (g *gate) waitReached(t *testing.T) {
	t.Helper()
	select {
	case <-g.reached:
	case <-time.After(time.Minute):
		t.Fatal("no read reached the gate in a minute")
	}
}

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.mu.Lock()
		ch := g.open
		g.mu.Unlock()
		if ch != nil && bytes.Contains(body, []byte(`"QueryDataRequest"`)) {
			g.reached <- struct{}{}
			select {
			case <-ch:
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// The flows the tests use.

func createS3Flow(t *testing.T, c *appflow.Client, name, dstBucket string) {
	t.Helper()
	_, err := c.CreateFlow(context.Background(), &appflow.CreateFlowInput{
		FlowName:      aws.String(name),
		Description:   aws.String("orders from src to " + dstBucket),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("src"), BucketPrefix: aws.String("in"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String(dstBucket), BucketPrefix: aws.String(name),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeJson}}}}},
		Tasks: []types.Task{
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"id", "name", "amount"}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorProjection}},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("order_id"),
				ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}, TaskProperties: map[string]string{"DESTINATION_DATA_TYPE": "string"}},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"amount"}, DestinationField: aws.String("amount"),
				ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}},
		},
	})
	if err != nil {
		t.Fatalf("CreateFlow %s: %v", name, err)
	}
}

// createBrokenFlow creates a flow whose destination bucket is then removed:
// its runs fail, naming the missing bucket.
func createBrokenFlow(t *testing.T, s *server, c *appflow.Client, name string) {
	t.Helper()
	dir := filepath.Join(s.DataDir, "s3", "gone-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	createS3Flow(t, c, name, "gone-"+name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

func createScheduledFlow(t *testing.T, c *appflow.Client, name string) {
	t.Helper()
	_, err := c.CreateFlow(context.Background(), &appflow.CreateFlowInput{
		FlowName: aws.String(name),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
			Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String("rate(1days)"), DataPullMode: types.DataPullModeComplete}}},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("src"), BucketPrefix: aws.String("in")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("dst"), BucketPrefix: aws.String(name)}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
	})
	if err != nil {
		t.Fatalf("CreateFlow %s: %v", name, err)
	}
}

// createCustomFlow registers the example connector, creates its profile
// and an on-demand flow from its accounts (5 rows) to dst.
func createCustomFlow(t *testing.T, c *appflow.Client, name string) {
	t.Helper()
	ctx := context.Background()
	_, err := c.RegisterConnector(ctx, &appflow.RegisterConnectorInput{
		ConnectorLabel: aws.String("example"), Description: aws.String("the example connector"),
		ConnectorProvisioningType: types.ConnectorProvisioningTypeLambda,
		ConnectorProvisioningConfig: &types.ConnectorProvisioningConfig{Lambda: &types.LambdaConnectorProvisioningConfig{
			LambdaArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:example-connector")}},
	})
	if err != nil {
		t.Fatalf("RegisterConnector: %v", err)
	}
	_, err = c.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("example-profile"), ConnectorType: types.ConnectorTypeCustomconnector,
		ConnectorLabel: aws.String("example"), ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{CustomConnector: &types.CustomConnectorProfileProperties{
				ProfileProperties: map[string]string{"region": "eu"}}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{CustomConnector: &types.CustomConnectorProfileCredentials{
				AuthenticationType: types.AuthenticationTypeBasic,
				Basic:              &types.BasicAuthCredentials{Username: aws.String("demo"), Password: aws.String("demo-password")}}},
		},
	})
	if err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	op := &types.ConnectorOperator{CustomConnector: types.OperatorNoOp}
	_, err = c.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String(name),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeCustomconnector, ConnectorProfileName: aws.String("example-profile"),
			SourceConnectorProperties: &types.SourceConnectorProperties{CustomConnector: &types.CustomConnectorSourceProperties{EntityName: aws.String("accounts")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("dst"), BucketPrefix: aws.String(name)}}}},
		Tasks: []types.Task{
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"id", "name"}, ConnectorOperator: &types.ConnectorOperator{CustomConnector: types.OperatorProjection}},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("id"), ConnectorOperator: op},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"name"}, DestinationField: aws.String("name"), ConnectorOperator: op},
		},
	})
	if err != nil {
		t.Fatalf("CreateFlow %s: %v", name, err)
	}
}

// latestRun returns the flow's newest run, or nil.
func latestRun(t *testing.T, c *appflow.Client, flow string) *types.ExecutionRecord {
	t.Helper()
	out, err := c.DescribeFlowExecutionRecords(context.Background(), &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
	if err != nil {
		t.Fatalf("DescribeFlowExecutionRecords %s: %v", flow, err)
	}
	if len(out.FlowExecutions) == 0 {
		return nil
	}
	return &out.FlowExecutions[0]
}

// waitRun polls the API until run id of flow has ended, as the e2e tests do.
func waitRun(t *testing.T, c *appflow.Client, flow, id string) types.ExecutionRecord {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.DescribeFlowExecutionRecords(context.Background(), &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
		if err != nil {
			t.Fatalf("DescribeFlowExecutionRecords %s: %v", flow, err)
		}
		for _, r := range out.FlowExecutions {
			if aws.ToString(r.ExecutionId) == id && r.ExecutionStatus != types.ExecutionStatusInprogress && r.ExecutionStatus != types.ExecutionStatusCancelstarted {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s of %s did not end in 60 s", id, flow)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// visitor is a person's browser without JavaScript: a cookie jar, no
// redirects followed, so each response can be checked.
type visitor struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newVisitor(t *testing.T, base string) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (v *visitor) do(req *http.Request) response {
	v.t.Helper()
	resp, err := v.c.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), header: resp.Header}
}

func (v *visitor) get(path string) response {
	v.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, v.base+path, nil)
	return v.do(req)
}

func (v *visitor) post(path string, form url.Values) response {
	v.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, v.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token in the forms of the page at path.
func (v *visitor) csrf(path string) string {
	v.t.Helper()
	r := v.get(path)
	m := csrfRE.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		v.t.Fatalf("GET %s: status %d, no csrf token in:\n%s", path, r.status, r.body)
	}
	return m[1]
}

// apiMessage posts body to an API path and returns the error message.
func apiMessage(t *testing.T, base, path, body string) string {
	t.Helper()
	resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Message string `json:"message"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode < 400 || out.Message == "" {
		t.Fatalf("POST %s: status %d, message %q; want an error", path, resp.StatusCode, out.Message)
	}
	return out.Message
}
