package s3conn

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// A staging file written in uneven pieces across several write-out points
// holds exactly what was written, and the write-out request itself is
// accepted by the kernel (a wrong flag or range would be EINVAL).
func TestWritebackFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "staged")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		if err := startWriteback(f, 0, 4096); err != nil {
			t.Fatalf("startWriteback: %v", err)
		}
		if _, err := f.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
	}
	w := &writebackFile{f: f}
	rng := rand.New(rand.NewPCG(1, 2))
	var want bytes.Buffer
	for want.Len() < 3*writebackEvery+12345 {
		piece := make([]byte, 1+rng.IntN(1<<20))
		for i := range piece {
			piece[i] = byte(rng.Uint32())
		}
		n, err := w.Write(piece)
		if err != nil || n != len(piece) {
			t.Fatalf("write: %d, %v", n, err)
		}
		want.Write(piece)
	}
	if w.started == 0 || w.started > w.written || w.written-w.started >= writebackEvery {
		t.Errorf("write-out asked up to %d of %d bytes", w.started, w.written)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("file holds %d bytes, not the %d written", len(got), want.Len())
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("a write after Close succeeded")
	}
}
