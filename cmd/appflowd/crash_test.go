package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
)

// TestKill9KeepsAcknowledgedWrites builds appflowd, creates flows through
// the SDK, kills the server with SIGKILL right after the last acknowledged
// call, restarts it on the same data dir, and finds every flow, tag and
// clientToken result again.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and restarts the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "appflowd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	os.MkdirAll(filepath.Join(dataDir, "s3", "raw", "in"), 0o755)
	os.MkdirAll(filepath.Join(dataDir, "s3", "lake"), 0o755)

	addr := freeAddr(t)
	srv := startServe(t, bin, addr, dataDir)
	client := newClient(addr)
	ctx := context.Background()

	const n = 20
	tokens := map[string]string{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("flow-%02d", i)
		tok := fmt.Sprintf("token-%02d", i)
		out, err := client.CreateFlow(ctx, flowInput(name, tok))
		if err != nil {
			t.Fatalf("CreateFlow %s: %v", name, err)
		}
		tokens[name] = *out.FlowArn
	}
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait()

	startServe(t, bin, addr, dataDir)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("flow-%02d", i)
		d, err := client.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String(name)})
		if err != nil {
			t.Fatalf("after kill -9, DescribeFlow %s: %v", name, err)
		}
		if d.Tags["n"] != name {
			t.Errorf("after kill -9, %s tags = %v, want n=%s", name, d.Tags, name)
		}
		// The same clientToken and input replays the first result.
		out, err := client.CreateFlow(ctx, flowInput(name, fmt.Sprintf("token-%02d", i)))
		if err != nil {
			t.Fatalf("after kill -9, replayed CreateFlow %s: %v", name, err)
		}
		if *out.FlowArn != tokens[name] {
			t.Errorf("replayed CreateFlow %s: arn %s, want %s", name, *out.FlowArn, tokens[name])
		}
	}
}

func flowInput(name, token string) *appflow.CreateFlowInput {
	return &appflow.CreateFlowInput{
		FlowName:      aws.String(name),
		ClientToken:   aws.String(token),
		Tags:          map[string]string{"n": name},
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{BucketName: aws.String("raw"), BucketPrefix: aws.String("in")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{BucketName: aws.String("lake")}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
	}
}

func newClient(addr string) *appflow.Client {
	return appflow.New(appflow.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + addr),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe starts `appflowd serve` and waits until it answers.
func startServe(t *testing.T, bin, addr, dataDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post("http://"+addr+"/list-flows", "application/json", nil)
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("appflowd did not answer on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOneProcessPerDataDir starts a second `appflowd serve` (and an
// `appflowd run`) on the data dir of a running server: each refuses to
// start, naming the dir, and the first server keeps answering.
func TestOneProcessPerDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "appflowd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	addr := freeAddr(t)
	first := startServe(t, bin, addr, dataDir)

	flowFile := filepath.Join(t.TempDir(), "flow.json")
	os.WriteFile(flowFile, []byte(`{"flowName":"f"}`), 0o644)
	for _, args := range [][]string{
		{"serve", "--addr", freeAddr(t), "--data-dir", dataDir},
		{"run", "--data-dir", dataDir, flowFile},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("appflowd %s on a data dir in use: err %v, want a non-zero exit\n%s", args[0], err, out)
		}
		if !strings.Contains(string(out), "another appflowd process (pid "+strconv.Itoa(first.Process.Pid)+") is using "+dataDir) {
			t.Errorf("appflowd %s on a data dir in use said:\n%s\nwant it to name the holder's pid and %s", args[0], out, dataDir)
		}
	}
	if _, err := newClient(addr).ListFlows(context.Background(), &appflow.ListFlowsInput{}); err != nil {
		t.Errorf("the first server stopped answering: %v", err)
	}
}
