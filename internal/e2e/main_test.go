package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	// binPath is the appflowd binary TestMain builds once; appflowdBin
	// waits for it.
	binPath  string
	binBuilt = make(chan struct{})
	binErr   error
	// motoURL is the moto_server endpoint; "" when moto_server is absent.
	motoURL string
	// motoSkip says why moto tests skip.
	motoSkip string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// moto_server and the SDK's default chain (used by s3conn with an
	// endpoint) read these; nothing here ever leaves loopback.
	os.Setenv("AWS_ACCESS_KEY_ID", "test")
	os.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	os.Setenv("AWS_REGION", "us-east-1")
	os.Unsetenv("AWS_PROFILE")
	os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	dir, err := os.MkdirTemp("", "appflowd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	// Build in the background: the server tests do not need the binary,
	// and on a busy machine the link takes a while.
	binPath = filepath.Join(dir, "appflowd")
	go func() {
		defer close(binBuilt)
		build := exec.Command("go", "build", "-o", binPath, "github.com/appflowd/appflowd/cmd/appflowd")
		out, err := build.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/appflowd: %v\n%s", err, out)
		}
	}()
	defer func() { <-binBuilt }() // before removing dir

	stop := startMoto()
	defer stop()
	return m.Run()
}

// startMoto starts moto_server on a free loopback port, or records why not.
func startMoto() func() {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		motoSkip = "moto_server is not installed (pip install 'moto[server]'); the moto backend is skipped"
		return func() {}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		motoSkip = "no free loopback port for moto_server: " + err.Error()
		return func() {}
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		motoSkip = "start moto_server: " + err.Error()
		return func() {}
	}
	go func() { // drain its request log
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			if os.Getenv("APPFLOWD_TEST_MOTO_LOG") != "" {
				fmt.Fprintln(os.Stderr, "moto:", s.Text())
			}
		}
	}()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			motoURL = url
			return stop
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	motoSkip = "moto_server did not answer on " + url + " within 30s"
	return func() {}
}

// safeName turns a test name into a bucket-name fragment.
func safeName(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// appflowdBin waits for TestMain's build and returns the binary's path.
func appflowdBin(t testing.TB) string {
	t.Helper()
	<-binBuilt
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}
