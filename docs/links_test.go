// Package docs holds appflowd's documentation; its test keeps the links of
// the README and of these pages inside the repository, so a clone reads
// everything they point at.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	codePath = regexp.MustCompile("`(\\.\\./[^`\\s]*)`")
)

// outside lists the links of a Markdown file (in dir, the repository's
// relative folder) that leave the repository or name a missing file.
func outside(t *testing.T, root, file string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
			continue // a web page or an anchor
		}
		target, _, _ = strings.Cut(target, "#")
		p := filepath.Clean(filepath.Join(root, filepath.Dir(file), target))
		if rel, err := filepath.Rel(root, p); err != nil || strings.HasPrefix(rel, "..") {
			bad = append(bad, m[1]+" (outside the repository)")
		} else if _, err := os.Stat(p); err != nil {
			bad = append(bad, m[1]+" (no such file)")
		}
	}
	for _, m := range codePath.FindAllStringSubmatch(string(b), -1) {
		bad = append(bad, m[1]+" (a path outside the repository)")
	}
	return bad
}

func TestLinksStayInRepository(t *testing.T) {
	root := ".."
	files := []string{"README.md"}
	pages, _ := filepath.Glob("*.md")
	for _, p := range pages {
		files = append(files, filepath.Join("docs", p))
	}
	for _, f := range files {
		if bad := outside(t, root, f); len(bad) > 0 {
			t.Errorf("%s links outside the repository: %s", f, strings.Join(bad, ", "))
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "README.md")); !strings.Contains(string(b), "(docs/architecture.md)") {
		t.Error("README.md does not link docs/architecture.md")
	}
}

func TestOutsideCatchesEscapes(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	md := "[a](docs/here.md) [b](../shared/DESIGN.md) [c](docs/missing.md) [d](https://example.com) see `../shared/bench`\n"
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs", "here.md"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(outside(t, dir, "README.md"), "; ")
	for _, want := range []string{"../shared/DESIGN.md (outside", "docs/missing.md (no such file)", "../shared/bench (a path"} {
		if !strings.Contains(got, want) {
			t.Errorf("got %q, want it to report %s", got, want)
		}
	}
	if strings.Contains(got, "docs/here.md") || strings.Contains(got, "example.com") {
		t.Errorf("got %q: a link inside the repository or to the web was reported", got)
	}
}
