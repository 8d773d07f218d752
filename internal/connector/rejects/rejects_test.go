package rejects

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

func TestWriteAndUndo(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s3", "errs"), 0o755); err != nil {
		t.Fatal(err)
	}
	deps := connector.Deps{DataDir: dir}
	eh := &connector.ErrorHandling{BucketName: "errs", BucketPrefix: "/bad/"}
	fs := []connector.RecordFailure{
		{Split: "in/a.csv", Line: 3, Reason: "too long", Record: map[string]string{"id": "7"}},
		{Split: "in/a.csv", Line: 9, Reason: "null", Record: map[string]string{"id": "8"}},
	}
	key, undo, err := Write(context.Background(), deps, &connector.WriteRequest{ErrorHandling: eh, FlowName: "f", ExecutionID: "e1"}, "x-rejected-records.jsonl", fs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "bad/f/e1/x-rejected-records.jsonl"; key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	got, err := os.ReadFile(filepath.Join(dir, "s3", "errs", key))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"split":"in/a.csv","line":3,"reason":"too long","record":{"id":"7"}}` + "\n" +
		`{"split":"in/a.csv","line":9,"reason":"null","record":{"id":"8"}}` + "\n"
	if string(got) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	undo()
	if _, err := os.Stat(filepath.Join(dir, "s3", "errs", key)); !os.IsNotExist(err) {
		t.Fatalf("undo left the file: %v", err)
	}
}

func TestWriteNothingToWrite(t *testing.T) {
	deps := connector.Deps{DataDir: t.TempDir()}
	fs := []connector.RecordFailure{{Reason: "x"}}
	for _, c := range []struct {
		name string
		eh   *connector.ErrorHandling
		fs   []connector.RecordFailure
	}{
		{"no config", nil, fs},
		{"no bucket", &connector.ErrorHandling{}, fs},
		{"no failures", &connector.ErrorHandling{BucketName: "errs"}, nil},
	} {
		key, undo, err := Write(context.Background(), deps, &connector.WriteRequest{ErrorHandling: c.eh, FlowName: "f", ExecutionID: "e"}, "n", c.fs)
		if err != nil || key != "" || undo == nil {
			t.Errorf("%s: got key %q, err %v, undo nil %v; want nothing written", c.name, key, err, undo == nil)
		}
	}
}

func TestWriteMissingBucketIsNotFound(t *testing.T) {
	deps := connector.Deps{DataDir: t.TempDir()}
	_, _, err := Write(context.Background(), deps, &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{BucketName: "nope"}, FlowName: "f", ExecutionID: "e"}, "n",
		[]connector.RecordFailure{{Reason: "x"}})
	if !fault.Is(err, fault.NotFound) {
		t.Fatalf("got %v (%v), want NotFound", err, fault.CodeOf(err))
	}
}

// A folder of the error location that is a symbolic link is refused, on
// write and on read, naming it: nothing is written or read through it.
func TestLinkedFolderRefused(t *testing.T) {
	dir := t.TempDir()
	elsewhere := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s3", "errs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, "s3", "errs", "bad")); err != nil {
		t.Fatal(err)
	}
	deps := connector.Deps{DataDir: dir}
	eh := &connector.ErrorHandling{BucketName: "errs", BucketPrefix: "bad/inner"}
	_, _, err := Write(context.Background(), deps, &connector.WriteRequest{ErrorHandling: eh, FlowName: "f", ExecutionID: "e1"}, "x-rejected-records.jsonl",
		[]connector.RecordFailure{{Split: "in/a.csv", Line: 3, Reason: "too long"}})
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "s3://errs/bad is a symbolic link") {
		t.Fatalf("write: got %v, want Invalid naming s3://errs/bad", err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Fatalf("wrote through the link: %v", entries)
	}
	// A file placed behind the link by someone else is not read either.
	if err := os.MkdirAll(filepath.Join(elsewhere, "inner", "f", "e1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "inner", "f", "e1", "x"+Suffix), []byte(`{"line":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Read(context.Background(), deps, eh, "f", "e1", 10)
	if !fault.Is(err, fault.Invalid) || len(got) != 0 {
		t.Fatalf("read: got %v records, err %v; want Invalid and none", len(got), err)
	}
}

func TestCheck(t *testing.T) {
	deps := connector.Deps{DataDir: t.TempDir()}
	ctx := context.Background()
	if err := Check(ctx, deps, nil); err != nil {
		t.Errorf("no error handling: %v", err)
	}
	if err := Check(ctx, deps, &connector.ErrorHandling{BucketName: "errs"}); !fault.Is(err, fault.NotFound) {
		t.Errorf("missing bucket: %v, want NotFound", err)
	}
	if err := os.MkdirAll(filepath.Join(deps.DataDir, "s3", "errs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, deps, &connector.ErrorHandling{BucketName: "errs"}); err != nil {
		t.Errorf("existing bucket: %v", err)
	}
}
