// Package compat runs the boto3 and aws CLI smoke scripts (boto3_smoke.py,
// cli_smoke.sh) against a freshly built `appflowd serve`, as a new user of
// those clients would drive it. Each script starts its own server on a free
// port; the tests skip, saying why, where python3 with boto3 or the aws CLI
// is missing.
package compat

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// appflowd builds the binary once per test process.
func appflowd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "appflowd-compat-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "appflowd")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/appflowd/appflowd/cmd/appflowd")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build appflowd: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// runScript runs a smoke script with APPFLOWD_BIN set and fails the test
// with its output when it exits non-zero.
func runScript(t *testing.T, name string, args ...string) {
	t.Helper()
	bin := appflowd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "APPFLOWD_BIN="+bin)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	t.Logf("%s", out)
}

func TestBoto3Smoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the boto3 smoke test starts a server and takes about 20 s")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found; install it with boto3 to run the boto3 smoke test")
	}
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("python3 has no boto3 (pip install boto3) to run the boto3 smoke test")
	}
	runScript(t, "python3", "boto3_smoke.py")
}

func TestCLISmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the aws CLI smoke test starts a server and takes about 45 s")
	}
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not found; install it to run the CLI smoke test")
	}
	for _, tool := range []string{"bash", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found; the CLI smoke script needs it", tool)
		}
	}
	runScript(t, "bash", "cli_smoke.sh")
}
