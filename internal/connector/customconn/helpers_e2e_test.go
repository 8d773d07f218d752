package customconn_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/examples/customconnector/exampleconn"
	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector"
)

// e2e is a real appflowd (app.New) behind httptest, the example connector
// on the Lambda Invoke path, and an AppFlow SDK client.
type e2e struct {
	conn    *exampleconn.Server
	dataDir string
	api     *httptest.Server
	c       *appflow.Client
}

const e2eLambdaArn = "arn:aws:lambda:us-east-1:123456789012:function:example-connector"

func newE2E(t *testing.T, configure func(*app.Config)) *e2e {
	t.Helper()
	ctx := context.Background()
	e := &e2e{conn: exampleconn.New(), dataDir: t.TempDir()}
	lambdaSrv := httptest.NewServer(e.conn)
	t.Cleanup(lambdaSrv.Close)
	for _, b := range []string{"out", "input"} {
		if err := os.MkdirAll(filepath.Join(e.dataDir, "s3", b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := app.Config{DataDir: e.dataDir, Region: "us-east-1", AccountID: "123456789012",
		Endpoints: connector.Endpoints{connector.EndpointLambda: lambdaSrv.URL + "/2015-03-31/functions/function/invocations"}}
	if configure != nil {
		configure(&cfg)
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	e.api = httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		e.api.Close()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = a.Shutdown(sctx)
		_ = a.Close()
	})
	e.conn.SecretsEndpoint = e.api.URL // the built-in lender; tests may point it elsewhere
	e.c = appflow.New(appflow.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.api.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	return e
}

func (e *e2e) register(t *testing.T) {
	t.Helper()
	_, err := e.c.RegisterConnector(context.Background(), &appflow.RegisterConnectorInput{
		ConnectorLabel: aws.String("example"), ConnectorProvisioningType: types.ConnectorProvisioningTypeLambda,
		ConnectorProvisioningConfig: &types.ConnectorProvisioningConfig{Lambda: &types.LambdaConnectorProvisioningConfig{LambdaArn: aws.String(e2eLambdaArn)}},
	})
	if err != nil {
		t.Fatalf("RegisterConnector: %v", err)
	}
}

func basicProfile(name, password string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeCustomconnector,
		ConnectorLabel: aws.String("example"), ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{CustomConnector: &types.CustomConnectorProfileProperties{
				ProfileProperties: map[string]string{"region": "eu"}}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{CustomConnector: &types.CustomConnectorProfileCredentials{
				AuthenticationType: types.AuthenticationTypeBasic,
				Basic:              &types.BasicAuthCredentials{Username: aws.String("demo"), Password: aws.String(password)}}},
		},
	}
}

// waitRun waits for the flow's newest run to end and returns its record.
func (e *e2e) waitRun(t *testing.T, flow string) types.ExecutionRecord {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := e.c.DescribeFlowExecutionRecords(context.Background(), &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String(flow)})
		if err != nil {
			t.Fatalf("DescribeFlowExecutionRecords: %v", err)
		}
		if len(out.FlowExecutions) > 0 && out.FlowExecutions[0].ExecutionStatus != types.ExecutionStatusInprogress {
			return out.FlowExecutions[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run of %s did not finish in 30s", flow)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startMoto runs moto_server on a free loopback port until the test ends,
// skipping the test when it is not installed.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not installed (pip install 'moto[server]'): --secrets-endpoint is not tested")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(url + "/moto-api/"); err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s in 30 s", url)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
