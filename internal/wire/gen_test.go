package wire

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestGeneratedUpToDate regenerates the package into a temporary directory
// and fails on any difference with the committed files.
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs cmd/wiregen")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	dir := t.TempDir()
	cmd := exec.Command(goBin, "run", "../../cmd/wiregen", "-model", "../../model/appflow-2020-08-23.model.json", "-out", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wiregen: %v\n%s", err, out)
	}
	fresh, err := filepath.Glob(filepath.Join(dir, "*_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := filepath.Glob("*_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != len(committed) {
		t.Fatalf("wiregen writes %d files, package has %d *_gen.go files; run go generate ./internal/wire", len(fresh), len(committed))
	}
	for _, f := range fresh {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Base(f))
		if err != nil {
			t.Fatalf("%s: %v; run go generate ./internal/wire", filepath.Base(f), err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from a fresh generation; run go generate ./internal/wire", filepath.Base(f))
		}
	}
}
