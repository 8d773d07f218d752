package e2e_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// writeBigCSV streams a CSV of about size bytes to path, never holding it
// in memory, and returns its data rows and exact size.
func writeBigCSV(t testing.TB, path string, size int64) (rows, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	c, _ := fmt.Fprintf(w, "id,name,amount,email,created,note\n")
	n = int64(c)
	for n < size {
		c, _ = fmt.Fprintf(w, "%d,name-%d,%d.%02d,user%d@example.com,2024-01-%02dT10:00:00Z,\"note, with comma %d\"\n",
			rows, rows%9973, rows%100000, rows%100, rows, rows%28+1, rows)
		n += int64(c)
		rows++
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return rows, n
}

// TestCancel cancels a long run: CancelStarted, then Canceled, and nothing
// of its output is visible.
func TestCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		size := int64(64 << 20)
		if e.be.Name() == "moto" {
			size = 32 << 20 // moto is slower to read and to fill
		}
		path := filepath.Join(t.TempDir(), "big.csv")
		writeBigCSV(t, path, size)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if mb, ok := e.be.(*motoBackend); ok {
			if _, err := mb.c.PutObject(e.ctx, &s3.PutObjectInput{Bucket: aws.String(e.src), Key: aws.String("big/big.csv"), Body: f}); err != nil {
				t.Fatal(err)
			}
		} else {
			dst := filepath.Join(e.dataDir, "s3", e.src, "big", "big.csv")
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.Rename(path, dst); err != nil {
				t.Fatal(err)
			}
		}
		e.createFlow(flowSpec{name: "cancel", srcPrefix: "big", out: &types.S3OutputFormatConfig{FileType: types.FileTypeParquet,
			PreserveSourceDataTyping: aws.Bool(false)}, tasks: tasks(mapAll(nil))})
		id := e.start("cancel")
		// Let the job queue pick the run up: a run canceled before it starts
		// goes straight to Canceled, and this test is about a running one.
		time.Sleep(500 * time.Millisecond)
		out, err := e.client.CancelFlowExecutions(e.ctx, &appflow.CancelFlowExecutionsInput{FlowName: aws.String("cancel"), ExecutionIds: []string{id}})
		if err != nil {
			t.Fatalf("CancelFlowExecutions: %v", err)
		}
		if len(out.InvalidExecutions) != 0 {
			t.Fatalf("invalidExecutions %v: the run ended before the cancel; make the input bigger", out.InvalidExecutions)
		}
		var seen []types.ExecutionStatus
		deadline := time.Now().Add(60 * time.Second)
		for {
			r := e.record("cancel", id)
			if len(seen) == 0 || seen[len(seen)-1] != r.ExecutionStatus {
				seen = append(seen, r.ExecutionStatus)
			}
			if r.ExecutionStatus != types.ExecutionStatusCancelstarted {
				if r.ExecutionStatus != types.ExecutionStatusCanceled {
					t.Fatalf("statuses after cancel %v, want CancelStarted then Canceled", seen)
				}
				t.Logf("statuses after cancel: %v; executionMessage %q", seen, execMessage(r))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still CancelStarted after 60s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if seen[0] != types.ExecutionStatusCancelstarted {
			t.Errorf("first status after CancelFlowExecutions is %s, want CancelStarted", seen[0])
		}
		if got := e.be.List(t, e.dst); len(got) != 0 {
			t.Errorf("a canceled run left objects in the destination bucket: %v", keys(got))
		}
		if e.be.Name() == "local" {
			staged := 0
			filepath.WalkDir(filepath.Join(e.dataDir, "s3-staging"), func(_ string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					staged++
				}
				return nil
			})
			if staged != 0 {
				t.Errorf("a canceled run left %d staged files under %s", staged, filepath.Join(e.dataDir, "s3-staging"))
			}
		}
		// A second cancel of the same run is refused.
		out, err = e.client.CancelFlowExecutions(e.ctx, &appflow.CancelFlowExecutionsInput{FlowName: aws.String("cancel"), ExecutionIds: []string{id}})
		if err != nil {
			t.Fatalf("CancelFlowExecutions again: %v", err)
		}
		if len(out.InvalidExecutions) != 1 || out.InvalidExecutions[0] != id {
			t.Errorf("invalidExecutions %v, want [%s]", out.InvalidExecutions, id)
		}
	})
}
