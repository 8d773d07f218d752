package e2e_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// appflowdRun runs `appflowd run --data-dir dir --quiet flow` and returns
// stdout, stderr, the exit error and the child's peak RSS in bytes.
func appflowdRun(t *testing.T, dir, flow string) (stdout, stderr string, err error, maxRSS int64) {
	t.Helper()
	cmd := exec.Command(appflowdBin(t), "run", "--data-dir", dir, "--quiet", flow)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return out.String(), errb.String(), err, maxRSS
}

// localFiles lists the files under dir, relative, with their contents.
func localFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return out
}

var execIDRe = regexp.MustCompile(`execution ([0-9a-f-]{36}): Successful`)

// TestRunCommand runs testdata/flow.json with the appflowd binary on local
// buckets and checks its summary and its output.
func TestRunCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := "id,name,amount\n1,Ann,10.25\n2,Bob,-1\n3,\"Cy, Jr\",0.5\n"
	os.MkdirAll(filepath.Join(dir, "s3", "src", "in"), 0o755)
	os.MkdirAll(filepath.Join(dir, "s3", "dst"), 0o755)
	os.WriteFile(filepath.Join(dir, "s3", "src", "in", "orders.csv"), []byte(in), 0o644)

	stdout, stderr, err, _ := appflowdRun(t, dir, "testdata/flow.json")
	if err != nil {
		t.Fatalf("appflowd run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	m := execIDRe.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no execution id in the summary:\n%s", stdout)
	}
	id := m[1]
	got := localFiles(t, filepath.Join(dir, "s3", "dst"))
	want := "order_id,customer,double_amount\n1,*nn,20.50\n3,\"*y, Jr\",1.0\n"
	if len(got) != 1 {
		t.Fatalf("output files %v, want one", keys(got))
	}
	var key string
	for k, v := range got {
		key = k
		if d := cmp.Diff(want, v); d != "" {
			t.Errorf("output (-want +got):\n%s", d)
		}
		if !regexp.MustCompile(`^out/cli-orders/\d{4}/\d\d/\d\d/` + id + `/part-00001-` + id + `$`).MatchString(k) {
			t.Errorf("output key %s, want out/cli-orders/yyyy/mm/dd/%s/part-00001-%s", k, id, id)
		}
	}
	// The summary, but for its timing line.
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if !strings.HasSuffix(l, "records/s") {
			lines = append(lines, l)
		}
	}
	wantLines := []string{
		"flow cli-orders execution " + id + ": Successful",
		"  records read 3, written 2, dropped 1, rejected 0",
		"  bytes read " + strconv.Itoa(len(in)) + ", written " + strconv.Itoa(len(want)),
		"  wrote " + key,
	}
	if d := cmp.Diff(wantLines, lines); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}

	// A malformed input: a non-zero exit naming the object and the line.
	os.WriteFile(filepath.Join(dir, "s3", "src", "in", "orders.csv"), []byte("id,name,amount\n1,Ann\n"), 0o644)
	stdout, stderr, err, _ = appflowdRun(t, dir, "testdata/flow.json")
	if err == nil {
		t.Fatalf("appflowd run on a ragged CSV succeeded:\n%s", stdout)
	}
	if !strings.Contains(stderr, "in/orders.csv") || !strings.Contains(stderr, "line 2") {
		t.Errorf("stderr %q does not name in/orders.csv line 2", stderr)
	}
}
