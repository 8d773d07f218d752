package awsconfig

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

func TestLocalRootKeepsAccountsApart(t *testing.T) {
	for _, tt := range []struct {
		account, def, want string
	}{
		{"000000000000", "000000000000", "/d/s3"},
		{"", "000000000000", "/d/s3"},
		{"111111111111", "", "/d/s3"}, // no default account: one tree (appflowd run)
		{"111111111111", "000000000000", "/d/accounts/111111111111/s3"},
		{"222222222222", "000000000000", "/d/accounts/222222222222/s3"},
	} {
		if got := LocalRoot(connector.Deps{DataDir: "/d", AccountID: tt.account, DefaultAccountID: tt.def}); got != tt.want {
			t.Errorf("LocalRoot(account %q, default %q) = %s, want %s", tt.account, tt.def, got, tt.want)
		}
	}
}

func TestForAccountOpensThatAccountsBucket(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "accounts", "111111111111", "s3", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := NewBuckets(context.Background(), connector.Deps{DataDir: dir, DefaultAccountID: "000000000000", AccountID: "000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(context.Background(), "b"); !fault.Is(err, fault.NotFound) {
		t.Errorf("the default account opens another's bucket: %v, want NotFound", err)
	}
	bk, err := b.ForAccount("111111111111").Open(context.Background(), "b")
	if err != nil {
		t.Fatalf("the owner opens its bucket: %v", err)
	}
	bk.Close()
	if _, err := b.ForAccount("../../etc").Open(context.Background(), "b"); !fault.Is(err, fault.Invalid) {
		t.Errorf("a malformed account id: %v, want Invalid", err)
	}
}

// OpenFolder refuses a local bucket whose folder on the way to the prefix
// is a symbolic link, naming it, and opens one whose folders are real or
// not made yet.
func TestOpenFolderRefusesLinkedFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s3", "stage", "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), filepath.Join(dir, "s3", "stage", "linked")); err != nil {
		t.Fatal(err)
	}
	deps := connector.Deps{DataDir: dir}
	ctx := context.Background()
	for _, folder := range []string{"", "real/flow/e1/", "new/flow/e1", "real"} {
		b, err := OpenFolder(ctx, deps, "stage", folder)
		if err != nil {
			t.Fatalf("folder %q: %v", folder, err)
		}
		b.Close()
	}
	for _, folder := range []string{"linked", "linked/flow/e1/", "/linked/x"} {
		_, err := OpenFolder(ctx, deps, "stage", folder)
		if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "s3://stage/linked is a symbolic link") {
			t.Fatalf("folder %q: got %v, want Invalid naming s3://stage/linked", folder, err)
		}
	}
	if _, err := OpenFolder(ctx, deps, "nope", "x/"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("missing bucket: got %v, want NotFound", err)
	}
}
