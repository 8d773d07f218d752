package rejects

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

func TestReadWhatWriteWrote(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s3", "errs"), 0o755); err != nil {
		t.Fatal(err)
	}
	deps := connector.Deps{DataDir: dir}
	eh := &connector.ErrorHandling{BucketName: "errs", BucketPrefix: "bad"}
	ctx := context.Background()
	a := []connector.RecordFailure{
		{Split: "in/a.csv", Line: 3, Reason: "too long", Record: map[string]string{"id": "7"}},
		{Split: "in/a.csv", Line: 9, Reason: "null", Record: map[string]string{"id": "8"}},
	}
	b := []connector.RecordFailure{{Split: "x", Line: 1, Reason: "dup", Record: map[string]string{"id": "9"}}}
	if _, _, err := Write(ctx, deps, &connector.WriteRequest{ErrorHandling: eh, FlowName: "f", ExecutionID: "e1"}, "b"+Suffix, b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Write(ctx, deps, &connector.WriteRequest{ErrorHandling: eh, FlowName: "f", ExecutionID: "e1"}, "a"+Suffix, a); err != nil {
		t.Fatal(err)
	}
	// Another execution and a file that is not a rejects file stay out.
	if _, _, err := Write(ctx, deps, &connector.WriteRequest{ErrorHandling: eh, FlowName: "f", ExecutionID: "e2"}, "a"+Suffix, a); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s3", "errs", "bad", "f", "e1", "staged.csv"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	got, err := Read(ctx, deps, eh, "f", "e1", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []Rejected{
		{File: "bad/f/e1/a" + Suffix, Split: "in/a.csv", Line: 3, Reason: "too long", Record: map[string]string{"id": "7"}},
		{File: "bad/f/e1/a" + Suffix, Split: "in/a.csv", Line: 9, Reason: "null", Record: map[string]string{"id": "8"}},
		{File: "bad/f/e1/b" + Suffix, Split: "x", Line: 1, Reason: "dup", Record: map[string]string{"id": "9"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Read (-want +got):\n%s", d)
	}
	got, err = Read(ctx, deps, eh, "f", "e1", 2)
	if err != nil || len(got) != 2 || got[1].Line != 9 {
		t.Fatalf("Read limit 2: got %+v, %v; want the first two", got, err)
	}
	got, err = Read(ctx, deps, eh, "f", "none", 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("Read of an execution without rejects: got %+v, %v; want none", got, err)
	}
}

func TestReadRefusesGarbageAndMissingBucket(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "s3", "errs", "f", "e")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, "x"+Suffix), []byte("{\"reason\":\"ok\"}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deps := connector.Deps{DataDir: dir}
	ctx := context.Background()
	got, err := Read(ctx, deps, &connector.ErrorHandling{BucketName: "errs"}, "f", "e", 10)
	if err == nil || len(got) != 1 {
		t.Fatalf("got %+v, %v; want the good line and an error for line 2", got, err)
	}
	if _, err := Read(ctx, deps, &connector.ErrorHandling{BucketName: "nope"}, "f", "e", 10); !fault.Is(err, fault.NotFound) {
		t.Fatalf("missing bucket: got %v, want NotFound", err)
	}
	if got, err := Read(ctx, deps, nil, "f", "e", 10); got != nil || err != nil {
		t.Fatalf("no error location: got %+v, %v; want nothing", got, err)
	}
}
