package s3conn

import (
	"io"
	"sync"
)

// A Parquet file's bytes come in bursts: a row group's pages are written
// at its Flush, megabytes at once, on the background goroutine that also
// writes every batch's columns. Written straight to the staging file, the
// write calls (and the kernel's copy, and a write-out request now and
// then, writeback.go) stop that goroutine for milliseconds, long enough
// for the jobs channel to fill and the whole pipeline behind it to wait.
// writeBehind copies the bytes into buffers that a goroutine of its own
// writes, in order, so the flush returns at once.
//
// At most behindBufs buffers of behindBuf bytes wait to be written; Write
// blocks while they are all taken. A write error is returned by a later
// Write or by Close, which writes what is left, closes the file and
// returns the first error.
type writeBehind struct {
	w    io.WriteCloser
	cur  []byte
	full chan []byte // to the writing goroutine, in order
	free chan []byte // written, for reuse
	done chan struct{}

	mu  sync.Mutex
	err error
}

const (
	behindBuf  = 1 << 20
	behindBufs = 3
)

func newWriteBehind(w io.WriteCloser) *writeBehind {
	b := &writeBehind{w: w, full: make(chan []byte, behindBufs), free: make(chan []byte, behindBufs+1), done: make(chan struct{})}
	go b.run()
	return b
}

func (b *writeBehind) run() {
	defer close(b.done)
	for buf := range b.full {
		if b.failed() == nil {
			if _, err := b.w.Write(buf); err != nil {
				b.mu.Lock()
				b.err = err
				b.mu.Unlock()
			}
		}
		select {
		case b.free <- buf[:0]:
		default:
		}
	}
}

func (b *writeBehind) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Write takes p; the file gets it later, in order.
func (b *writeBehind) Write(p []byte) (int, error) {
	if err := b.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if b.cur == nil {
			select {
			case b.cur = <-b.free:
			default:
				b.cur = make([]byte, 0, behindBuf)
			}
		}
		k := copy(b.cur[len(b.cur):cap(b.cur)], p)
		b.cur = b.cur[:len(b.cur)+k]
		p = p[k:]
		if len(b.cur) == cap(b.cur) {
			b.full <- b.cur
			b.cur = nil
		}
	}
	return n, nil
}

// Close writes what is left, waits for the writing goroutine and closes
// the file.
func (b *writeBehind) Close() error {
	if len(b.cur) > 0 {
		b.full <- b.cur
	}
	b.cur = nil
	close(b.full)
	<-b.done
	err := b.failed()
	if cerr := b.w.Close(); err == nil {
		err = cerr
	}
	return err
}
