package s3conn

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// randomPieces writes pieces of random sizes (some far larger than a
// buffer, some of one byte) to w until total bytes, returning them.
func randomPieces(t *testing.T, w interface{ Write([]byte) (int, error) }, seed uint64, total int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var want bytes.Buffer
	for want.Len() < total {
		size := 1 + rng.IntN(64)
		switch rng.IntN(4) {
		case 0:
			size = 1 + rng.IntN(3*directBuf)
		case 1:
			size = directBlock
		}
		piece := make([]byte, min(size, total-want.Len()))
		for i := range piece {
			piece[i] = byte(rng.Uint32())
		}
		if n, err := w.Write(piece); err != nil || n != len(piece) {
			t.Fatalf("write: %d, %v", n, err)
		}
		want.Write(piece)
	}
	return want.Bytes()
}

// Staging files written in uneven pieces hold exactly what was written,
// whether their size is a whole number of buffers, of blocks, or neither.
func TestDirectFileContent(t *testing.T) {
	for _, total := range []int{0, 1, directBlock, directBuf, 2 * directBuf, 3*directBuf + 12345, 7*directBuf - 1} {
		s := &localStager{dir: t.TempDir()}
		name := "f"
		wc, err := s.create(context.Background(), name, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := wc.(*directFile); !ok && runtime.GOOS == "linux" {
			t.Fatalf("a staging file in %s is %T, not direct", s.dir, wc)
		}
		want := randomPieces(t, wc, uint64(total), total)
		if err := wc.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: file holds %d bytes, not the %d written", total, len(got), len(want))
		}
		if _, err := wc.Write([]byte("x")); err == nil {
			t.Error("a write after Close succeeded")
		}
		if err := wc.Close(); err == nil {
			t.Error("a second Close succeeded")
		}
		if s.direct.files != 0 {
			t.Errorf("%d direct files still counted after Close", s.direct.files)
		}
	}
}

// More files open at once than directFiles: the rest go through the page
// cache, every file holds its own bytes, and a closed file's room is reused.
func TestDirectFilesBeyondBudget(t *testing.T) {
	s := &localStager{dir: t.TempDir()}
	var files []interface {
		Write([]byte) (int, error)
		Close() error
	}
	direct := 0
	for i := range directFiles + 3 {
		wc, err := s.create(context.Background(), string(rune('a'+i)), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := wc.(*directFile); ok {
			direct++
		}
		files = append(files, wc)
	}
	if runtime.GOOS == "linux" && direct != directFiles {
		t.Fatalf("%d direct files of %d open, want %d", direct, len(files), directFiles)
	}
	wants := make([][]byte, len(files))
	for i, f := range files {
		wants[i] = randomPieces(t, f, uint64(i), directBuf+int(i)*1000)
	}
	for i, f := range files {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(s.dir, string(rune('a'+i))))
		if err != nil || !bytes.Equal(got, wants[i]) {
			t.Fatalf("file %d: %d bytes, %v; want %d bytes", i, len(got), err, len(wants[i]))
		}
	}
	wc, err := s.create(context.Background(), "again", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := wc.(*directFile); !ok && runtime.GOOS == "linux" {
		t.Errorf("after every file closed, a new one is %T", wc)
	}
	wc.Close()
}

// A write that fails on its way to disk is reported by a later Write or by
// Close, never lost.
func TestDirectFileWriteError(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("O_DIRECT")
	}
	s := &localStager{dir: t.TempDir()}
	wc, err := s.create(context.Background(), "f", "")
	if err != nil {
		t.Fatal(err)
	}
	d := wc.(*directFile)
	// Replace the file with one open read-only: its writes fail (EBADF).
	ro, err := os.Open(filepath.Join(s.dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	d.f.Close()
	d.f = ro
	var werr error
	for range 3 {
		if _, werr = d.Write(make([]byte, directBuf)); werr != nil {
			break
		}
	}
	cerr := d.Close()
	if werr == nil && cerr == nil {
		t.Fatal("writes to a read-only file reported no error")
	}
	for _, err := range []error{werr, cerr} {
		if err != nil && !errors.Is(err, os.ErrClosed) && !errors.Is(err, errBadFD) {
			t.Errorf("error %v is not the write's", err)
		}
	}
	if s.direct.files != 0 {
		t.Errorf("%d direct files still counted after a failed Close", s.direct.files)
	}
}

// A folder whose file system refuses O_DIRECT gets plain files, and says
// so once: later files do not try again.
func TestDirectRefused(t *testing.T) {
	s := &localStager{dir: t.TempDir()}
	old := openDirect
	tries := 0
	openDirect = func(string) (*os.File, error) { tries++; return nil, errInvalid }
	defer func() { openDirect = old }()
	for _, name := range []string{"a", "b"} {
		wc, err := s.create(context.Background(), name, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := wc.(*writebackFile); !ok {
			t.Fatalf("%T, want a page-cache file", wc)
		}
		want := randomPieces(t, wc, 3, directBuf+77)
		if err := wc.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(s.dir, name)); !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, want %d", name, len(got), len(want))
		}
	}
	if tries != 1 {
		t.Errorf("O_DIRECT tried %d times, want once", tries)
	}
}
