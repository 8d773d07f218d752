package s3conn

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// TestLocalBucketsFollowNoLinks: a symbolic link below <data-dir>/s3 (a
// bucket, a folder or an object), whether it leads outside the data dir
// or back inside it, is refused with an error naming it, on every path
// that reads or writes: the source, the catalog and the destination.
func TestLocalBucketsFollowNoLinks(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	root := filepath.Join(e.deps.DataDir, "s3")
	outside := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(outside, "secret.csv"), []byte("secret\nleaked\n"), 0o644))
	must(os.MkdirAll(filepath.Join(outside, "dir"), 0o755))
	must(os.WriteFile(filepath.Join(outside, "dir", "x.csv"), []byte("secret\nleaked\n"), 0o644))
	link := func(target, at string) {
		t.Helper()
		must(os.MkdirAll(filepath.Dir(at), 0o755))
		must(os.Symlink(target, at))
	}
	e.put(t, "src", "in/a.csv", []byte("x\n1\n"))
	link(filepath.Join(outside, "secret.csv"), filepath.Join(root, "src", "in", "link.csv"))
	link(filepath.Join(outside, "dir"), filepath.Join(root, "src", "linked"))
	link(filepath.Join(root, "src", "in", "a.csv"), filepath.Join(root, "src", "inside", "alias.csv")) // stays inside: refused too
	link(filepath.Join(outside, "secret.csv"), filepath.Join(root, "desc", "only", "link.csv"))
	link(outside, filepath.Join(root, "bucketlink"))
	link(filepath.Join(root, "src"), filepath.Join(root, "alias")) // a bucket that is a link back inside

	wantRefused := func(what string, err error, name string) {
		t.Helper()
		if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), name+" is a symbolic link") {
			t.Errorf("%s: got %v, want Invalid naming %s as a symbolic link", what, err, name)
		}
	}
	_, err := e.drv.Splits(ctx, sourceRequest("src", "in/", "CSV"))
	wantRefused("source object", err, "s3://src/in/link.csv")
	_, err = e.drv.Splits(ctx, sourceRequest("src", "inside", "CSV"))
	wantRefused("source object linking inside", err, "s3://src/inside/alias.csv")
	_, err = e.drv.Splits(ctx, sourceRequest("src", "linked/", "CSV"))
	wantRefused("source folder", err, "s3://src/linked")
	_, err = e.drv.Splits(ctx, sourceRequest("src", "linked", "CSV"))
	wantRefused("source prefix naming a linked folder", err, "s3://src/linked")
	_, err = e.drv.Splits(ctx, sourceRequest("bucketlink", "", "CSV"))
	wantRefused("source bucket", err, `bucket "bucketlink"`)
	_, err = e.drv.Splits(ctx, sourceRequest("alias", "", "CSV"))
	wantRefused("source bucket linking inside", err, `bucket "alias"`)
	// A split named by an event rather than a listing is checked as well.
	err = e.drv.ReadSplit(ctx, sourceRequest("src", "in/", "CSV"), connector.Split{Name: "in/link.csv"}, func(*record.Batch) error { return nil })
	wantRefused("reading a linked object", err, "s3://src/in/link.csv")
	err = e.drv.ReadSplit(ctx, sourceRequest("src", "", "CSV"), connector.Split{Name: "linked/x.csv"}, func(*record.Batch) error { return nil })
	wantRefused("reading through a linked folder", err, "s3://src/linked")

	// The catalog.
	_, err = e.drv.DescribeEntity(ctx, "desc/only")
	wantRefused("DescribeEntity of a folder holding a link", err, "s3://desc/only/link.csv")
	_, err = e.drv.DescribeEntity(ctx, "src/linked")
	wantRefused("DescribeEntity of a linked folder", err, "s3://src/linked")
	_, err = e.drv.ListEntities(ctx, "src/linked")
	wantRefused("ListEntities of a linked folder", err, "s3://src/linked")
	_, err = e.drv.DescribeEntity(ctx, "bucketlink/dir")
	wantRefused("DescribeEntity in a linked bucket", err, `bucket "bucketlink"`)
	top, err := e.drv.ListEntities(ctx, "")
	must(err)
	for _, b := range top["Buckets"] {
		if b.Name == "bucketlink" || b.Name == "alias" {
			t.Errorf("ListEntities lists the linked bucket %s", b.Name)
		}
	}
	// A real object still reads.
	if _, err := e.drv.Splits(ctx, sourceRequest("src", "in/a", "CSV")); err != nil {
		t.Errorf("a plain object: %v", err)
	}

	// The destination: a linked bucket, and a linked folder under a real one.
	batch := &record.Batch{Fields: []string{"x"}, Split: "s", Final: true}
	batch.AppendRow([]record.Value{record.Str("1")})
	_, err = e.drv.OpenWriter(ctx, writeRequest("bucketlink", "out", map[string]any{"fileType": "CSV"}, nil))
	wantRefused("destination bucket", err, `bucket "bucketlink"`)
	must(os.MkdirAll(filepath.Join(root, "dst"), 0o755))
	link(filepath.Join(outside, "dir"), filepath.Join(root, "dst", "out"))
	w, err := e.drv.OpenWriter(ctx, writeRequest("dst", "out", map[string]any{"fileType": "CSV"}, nil))
	must(err)
	must(w.Write(ctx, batch))
	_, err = w.Commit(ctx)
	wantRefused("destination folder", err, "s3://dst/out")
	ents, _ := os.ReadDir(filepath.Join(outside, "dir"))
	if len(ents) != 1 {
		t.Errorf("the folder outside the data dir holds %d entries, want only its own x.csv", len(ents))
	}
}
