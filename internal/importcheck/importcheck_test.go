package importcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleFollowsRules is the check CI runs: every package of the module
// against Rules.
func TestModuleFollowsRules(t *testing.T) {
	pkgs, err := Load(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; the loader is broken", len(pkgs))
	}
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.Path] = true
	}
	for _, want := range []string{"internal/service", "internal/engine", "internal/connector", "internal/connector/s3conn"} {
		if !seen[want] {
			t.Fatalf("go list did not report %s; the rules would check nothing", want)
		}
	}
	if vs := Check(pkgs, Rules()); len(vs) > 0 {
		t.Errorf("import rules broken (docs/architecture.md):\n%s", Describe(vs))
	}
}

// TestRulesCatchViolations builds a module that breaks each rule once and
// checks that go list plus Check reports exactly those imports.
func TestRulesCatchViolations(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, src string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pkg := func(dir string, imports ...string) {
		name := filepath.Base(dir)
		var b strings.Builder
		b.WriteString("package " + name + "\n\nimport (\n")
		for _, i := range imports {
			b.WriteString("\t_ \"" + Module + "/" + i + "\"\n")
		}
		b.WriteString(")\n")
		if len(imports) == 0 {
			b.Reset()
			b.WriteString("package " + name + "\n")
		}
		write(filepath.Join(dir, name+".go"), b.String())
	}
	write("go.mod", "module "+Module+"\n\ngo 1.22\n")
	pkg("internal/fault")
	pkg("internal/record")
	pkg("internal/store", "internal/fault")
	pkg("internal/connector", "internal/record", "internal/fault")
	pkg("internal/connector/helper", "internal/store") // a connector reaching the store
	pkg("internal/connector/fooconn", "internal/connector", "internal/connector/helper")
	pkg("internal/transform", "internal/connector")
	pkg("internal/engine", "internal/connector", "internal/transform", "internal/store") // the engine reaching the store
	pkg("internal/service", "internal/connector", "internal/connector/fooconn")          // the service importing a driver
	pkg("internal/runner", "internal/engine")
	pkg("internal/connector/fakeapi")
	pkg("internal/connector/fooconn/footest", "internal/connector/fakeapi") // a fake may use it
	pkg("internal/connector/barconn", "internal/connector/fakeapi")         // a driver may not
	// A test file may import a driver: it does not count.
	write("internal/runner/runner_test.go", "package runner\n\nimport _ \""+Module+"/internal/connector/fooconn\"\n")

	pkgs, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, v := range Check(pkgs, Rules()) {
		got[v.Pkg+" -> "+v.Dep]++
	}
	want := map[string]int{
		"internal/connector/helper -> internal/store":              1, // direct
		"internal/connector/fooconn -> internal/store":             1, // through helper
		"internal/engine -> internal/store":                        2, // both engine rules
		"internal/service -> internal/connector/fooconn":           1, // a driver; the test file's import in runner is not counted
		"internal/connector/barconn -> internal/connector/fakeapi": 1,
	}
	if len(got) != len(want) {
		t.Errorf("got violations %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: got %d violations, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

func TestIsDriver(t *testing.T) {
	for pkg, want := range map[string]bool{
		"internal/connector/s3conn":                true,
		"internal/connector/salesforceconn/sftest": true,
		"internal/connector/all":                   true,
		"internal/connector":                       false,
		"internal/connector/catalog":               false,
		"internal/connector/awsconfig":             false,
		"internal/service":                         false,
	} {
		if got := IsDriver(pkg); got != want {
			t.Errorf("IsDriver(%s) = %v, want %v", pkg, got, want)
		}
	}
}

func TestIsFake(t *testing.T) {
	for pkg, want := range map[string]bool{
		"internal/connector/salesforceconn/sftest": true,
		"internal/connector/datadogconn/ddtest":    true,
		"internal/connector/datadogconn":           false,
		"internal/connector/connectortest":         false,
		"internal/connector/fakeapi":               false,
	} {
		if got := IsFake(pkg); got != want {
			t.Errorf("IsFake(%s) = %v, want %v", pkg, got, want)
		}
	}
}
