// Package importcheck enforces the direction of imports between appflowd's
// packages (docs/architecture.md): connectors never reach the service, the
// store or the engine; the service never reaches a driver; the engine never
// reaches the store. Its test runs the rules over `go list -json` of the
// module, so a broken rule fails CI.
package importcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
)

// Module is the module path rules are written against.
const Module = "github.com/appflowd/appflowd"

// Package is what a rule needs of one package: its path inside the module
// and the module packages it imports, directly and through others.
type Package struct {
	Path    string   // module-relative: "internal/service"
	Imports []string // direct, module-relative, module packages only
	Deps    []string // transitive, module-relative, module packages only
}

// Rule forbids the packages it covers to depend on some others.
type Rule struct {
	Name string
	// Covers says whether the rule applies to a package.
	Covers func(pkg string) bool
	// Forbidden says whether a dependency breaks the rule.
	Forbidden func(dep string) bool
	// Direct checks only direct imports; otherwise every transitive
	// dependency counts, so a rule cannot be dodged through a helper.
	Direct bool
}

// Violation is one package depending on one it must not.
type Violation struct {
	Rule string
	Pkg  string
	Dep  string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s imports %s: %s", v.Pkg, v.Dep, v.Rule)
}

// Check returns every violation of rules in pkgs, sorted.
func Check(pkgs []Package, rules []Rule) []Violation {
	var out []Violation
	for _, p := range pkgs {
		for _, r := range rules {
			if !r.Covers(p.Path) {
				continue
			}
			deps := p.Deps
			if r.Direct {
				deps = p.Imports
			}
			for _, d := range deps {
				if d != p.Path && r.Forbidden(d) {
					out = append(out, Violation{Rule: r.Name, Pkg: p.Path, Dep: d})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pkg != out[j].Pkg {
			return out[i].Pkg < out[j].Pkg
		}
		if out[i].Dep != out[j].Dep {
			return out[i].Dep < out[j].Dep
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// Load lists the module's packages in dir with `go list -json`; test files'
// imports are not counted (a test may register a driver it exercises).
func Load(dir string) ([]Package, error) {
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list in %s: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return decode(bytes.NewReader(out))
}

func decode(r io.Reader) ([]Package, error) {
	dec := json.NewDecoder(r)
	var pkgs []Package
	for {
		var p struct {
			ImportPath string
			Imports    []string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		rel, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		pkgs = append(pkgs, Package{Path: rel, Imports: inModule(p.Imports), Deps: inModule(p.Deps)})
	}
	return pkgs, nil
}

func relative(importPath string) (string, bool) {
	if importPath == Module {
		return ".", true
	}
	rest, ok := strings.CutPrefix(importPath, Module+"/")
	return rest, ok
}

func inModule(paths []string) []string {
	var out []string
	for _, p := range paths {
		if rel, ok := relative(p); ok {
			out = append(out, rel)
		}
	}
	return out
}

// under reports whether pkg is root or inside it.
func under(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

func anyOf(roots ...string) func(string) bool {
	return func(pkg string) bool {
		for _, r := range roots {
			if under(pkg, r) {
				return true
			}
		}
		return false
	}
}

// IsDriver reports whether pkg is a connector driver
// (internal/connector/<name>conn, with its subpackages) or the package
// that links them all in.
func IsDriver(pkg string) bool {
	rest, ok := strings.CutPrefix(pkg, "internal/connector/")
	if !ok {
		return false
	}
	first, _, _ := strings.Cut(rest, "/")
	return strings.HasSuffix(first, "conn") || first == "all"
}

// IsFake reports whether pkg is a driver's vendor test server: a package
// inside a driver whose name ends in "test" (salesforceconn/sftest).
func IsFake(pkg string) bool {
	return IsDriver(pkg) && strings.Count(pkg, "/") > 2 && strings.HasSuffix(pkg, "test")
}

// only returns a Forbidden func that allows the listed packages (and
// their subpackages) and nothing else of the module.
func only(allowed ...string) func(string) bool {
	ok := anyOf(allowed...)
	return func(dep string) bool { return !ok(dep) }
}

// Rules are appflowd's import rules: DESIGN.md's table where the code
// follows it today. Rules name folders; a rule over a folder covers its
// subpackages.
func Rules() []Rule {
	connectors := anyOf("internal/connector")
	return []Rule{
		{
			Name:      "connectors know their remote system and nothing of the rest",
			Covers:    connectors,
			Forbidden: anyOf("internal/service", "internal/store", "internal/engine", "internal/jobs", "internal/runner", "internal/app", "internal/transform", "cmd"),
		},
		{
			Name:      "the portable connector layer depends only on record and fault",
			Covers:    func(p string) bool { return p == "internal/connector" },
			Forbidden: only("internal/record", "internal/fault"),
		},
		{
			Name:   "the service implements AppFlow's rules through the connector interfaces, never a driver",
			Covers: anyOf("internal/service"),
			Forbidden: func(d string) bool {
				return IsDriver(d) || anyOf("internal/runner", "internal/engine", "internal/app", "internal/restjson")(d)
			},
		},
		{
			Name:      "the engine reports progress through interfaces: it depends on connector, transform, record and fault only",
			Covers:    anyOf("internal/engine"),
			Forbidden: only("internal/connector", "internal/transform", "internal/record", "internal/fault"),
		},
		{
			Name:      "the engine never imports the store",
			Covers:    anyOf("internal/engine"),
			Forbidden: anyOf("internal/store"),
		},
		{
			Name:   "the runner drives connectors through the registry, never a driver, and knows nothing of the API service",
			Covers: anyOf("internal/runner"),
			Forbidden: func(d string) bool {
				return IsDriver(d) || anyOf("internal/service", "internal/jobs", "internal/app", "internal/restjson")(d)
			},
		},
		{
			Name:   "jobs schedule runs; they know nothing of the API service or the HTTP layer",
			Covers: anyOf("internal/jobs"),
			Forbidden: func(d string) bool {
				return IsDriver(d) || anyOf("internal/service", "internal/runner", "internal/app", "internal/restjson")(d)
			},
		},
		{
			Name:   "the console is a client of wire.Service: no store, service, jobs, runner, engine or driver",
			Covers: anyOf("internal/console"),
			Forbidden: func(d string) bool {
				return IsDriver(d) || anyOf("internal/store", "internal/service", "internal/jobs", "internal/runner", "internal/engine", "internal/transform", "internal/app")(d)
			},
		},
		{
			Name:      "the store knows SQL and fault, nothing above it",
			Covers:    anyOf("internal/store"),
			Forbidden: only("internal/store", "internal/fault"),
		},
		{
			Name:      "wire and restjson know HTTP and the wire shapes, nothing of SQL or AppFlow's rules",
			Covers:    anyOf("internal/wire", "internal/restjson"),
			Forbidden: only("internal/wire", "internal/restjson", "internal/fault", "internal/sigv4"),
		},
		{
			Name:      "the leaf packages import nothing of the module but fault",
			Covers:    anyOf("internal/fault", "internal/record", "internal/schedule", "internal/secrets", "internal/retry", "internal/sigv4", "internal/parquetfile"),
			Forbidden: only("internal/fault"),
		},
		{
			Name:      "the secret lender serves secrets on appflowd's address; it verifies callers with sigv4 and knows nothing else of the module",
			Covers:    anyOf("internal/secretlend"),
			Forbidden: only("internal/sigv4"),
		},
		{
			Name:      "transform works on records; it knows no connector beyond the portable types, nor storage",
			Covers:    anyOf("internal/transform"),
			Forbidden: only("internal/connector", "internal/record", "internal/fault"),
		},
		{
			Name:      "fakeapi is plumbing for the vendor test servers: it imports nothing of the module",
			Covers:    anyOf("internal/connector/fakeapi"),
			Forbidden: only(),
		},
		{
			Name:      "only the vendor test servers (xxtest packages) use fakeapi, never a driver's production code",
			Covers:    func(p string) bool { return IsDriver(p) && !IsFake(p) },
			Forbidden: anyOf("internal/connector/fakeapi"),
			Direct:    true,
		},
		{
			Name: "only cmd, the app and tests link every driver in",
			Covers: func(p string) bool {
				return !under(p, "cmd") && !under(p, "internal/app") && !under(p, "internal/apptest") && !under(p, "internal/e2e") && !under(p, "test") && !under(p, "bench")
			},
			Forbidden: func(d string) bool {
				return d == "internal/connector/all"
			},
			Direct: true,
		},
	}
}

// Describe formats violations one per line, for a test failure.
func Describe(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	return b.String()
}
