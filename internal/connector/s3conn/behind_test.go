package s3conn

import (
	"bytes"
	"errors"
	"testing"
)

// recordingFile is a file that keeps what it is written; fail makes the
// write that would take it past fail bytes fail (0: never), and failed is
// closed then.
type recordingFile struct {
	buf    bytes.Buffer
	fail   int
	failed chan struct{}
	closed int
}

var errDiskFull = errors.New("disk full")

func (f *recordingFile) Write(p []byte) (int, error) {
	if f.fail > 0 && f.buf.Len()+len(p) > f.fail {
		close(f.failed)
		f.fail = 0
		return 0, errDiskFull
	}
	return f.buf.Write(p)
}

func (f *recordingFile) Close() error { f.closed++; return nil }

// The file gets every byte, in order, whatever the sizes of the writes
// (smaller than a buffer, across buffers, several buffers at once), and is
// closed once.
func TestWriteBehindKeepsOrder(t *testing.T) {
	f := &recordingFile{}
	b := newWriteBehind(f)
	var want bytes.Buffer
	x := uint32(1)
	for i := range 400 {
		n := int(x % 4096)
		if i%50 == 7 {
			n = 3*behindBuf + 12345 // a row group's slab
		}
		p := make([]byte, n)
		for k := range p {
			x = x*1664525 + 1013904223
			p[k] = byte(x >> 24)
		}
		if m, err := b.Write(p); m != n || err != nil {
			t.Fatalf("write %d: %d, %v", i, m, err)
		}
		want.Write(p)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.buf.Bytes(), want.Bytes()) || f.closed != 1 {
		t.Errorf("the file got %d bytes (closed %d times), want the %d written, once", f.buf.Len(), f.closed, want.Len())
	}
}

// A failed write of the file is the error of a later Write, once it has
// happened, and of Close, which still closes the file.
func TestWriteBehindError(t *testing.T) {
	f := &recordingFile{fail: 3 * behindBuf, failed: make(chan struct{})}
	b := newWriteBehind(f)
	p := make([]byte, behindBuf/2)
	for range 8 {
		if _, err := b.Write(p); err != nil {
			t.Fatalf("a write before the failure: %v", err)
		}
	}
	<-f.failed
	if err := b.Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close after a failed write returned %v", err)
	}
	if f.closed != 1 {
		t.Errorf("file closed %d times", f.closed)
	}

	f = &recordingFile{fail: 10, failed: make(chan struct{})}
	b = newWriteBehind(f)
	big := make([]byte, behindBuf+1) // fills a buffer: sent to the file
	if _, err := b.Write(big); err != nil {
		t.Fatal(err)
	}
	<-f.failed
	// The write goroutine sets the error after the file's Write returns:
	// a Close is what is sure to see it, and Writes after it do too.
	if err := b.Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close after a failed write returned %v", err)
	}
	if _, err := b.Write(p); !errors.Is(err, errDiskFull) {
		t.Errorf("Write after a failed write returned %v", err)
	}
}
