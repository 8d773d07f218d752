package s3conn

import (
	"errors"
	"os"
	"sync"
	"unsafe"
)

// Staging files are written around the page cache where the system allows
// it (O_DIRECT). The output goes to disk and is fsynced before publish
// anyway; through the page cache every output byte also costs a fresh page
// cache page, its copy and its write-out. On the 2-core bench VM that was
// 1.1-2.4 s of kernel CPU per 800 MB written, against 0.1 s direct.
const (
	directBlock = 4096    // buffer address, size and file offset alignment
	directBuf   = 2 << 20 // bytes a direct write takes at once
	// directFiles is how many of a run's staging files are direct at once:
	// each holds two buffers. Files beyond it are written through the page
	// cache, with write-out hints (writebackFile).
	directFiles = 4
)

// directPool hands out the aligned buffers of a stager's direct files and
// counts the files that hold them.
type directPool struct {
	mu    sync.Mutex
	files int
	free  [][]byte
	off   bool // direct writes are not possible in this folder
}

// take reserves room for one more direct file.
func (p *directPool) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off || p.files >= directFiles {
		return false
	}
	p.files++
	return true
}

// disable turns direct writes off for the folder, giving back a reservation.
func (p *directPool) disable() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = true
	p.files--
}

func (p *directPool) buffer() []byte {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	return alignedBuffer(directBuf)
}

func (p *directPool) done(bufs ...[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files--
	for _, b := range bufs {
		if b != nil {
			p.free = append(p.free, b[:0])
		}
	}
}

// alignedBuffer returns n bytes starting at a directBlock boundary (Go's
// heap does not move objects, so the address stays aligned).
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directBlock)
	skip := (directBlock - int(uintptr(unsafe.Pointer(&b[0]))%directBlock)) % directBlock
	return b[skip : skip : skip+n]
}

// directFile is a staging file opened with O_DIRECT. Writes are gathered in
// one aligned buffer while the other is on its way to disk; the tail that
// does not fill a block is written through the page cache at Close.
type directFile struct {
	f      *os.File
	pool   *directPool
	buf    []byte // being filled
	spare  []byte // being written, or free
	flight chan error
	err    error
	closed bool
}

func newDirectFile(f *os.File, pool *directPool) *directFile {
	return &directFile{f: f, pool: pool, buf: pool.buffer(), spare: pool.buffer()}
}

func (d *directFile) Write(p []byte) (int, error) {
	if d.closed {
		return 0, os.ErrClosed
	}
	n := len(p)
	for len(p) > 0 {
		c := copy(d.buf[len(d.buf):cap(d.buf)], p)
		d.buf = d.buf[:len(d.buf)+c]
		p = p[c:]
		if len(d.buf) == cap(d.buf) {
			if err := d.start(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// start sends the full buffer to disk in the background, once the write
// before it is done, and goes on with the other buffer.
func (d *directFile) start() error {
	if err := d.wait(); err != nil {
		return err
	}
	full := d.buf
	d.buf, d.spare = d.spare[:0], full
	d.flight = make(chan error, 1)
	go func(ch chan error) { ch <- d.writeDirect(full) }(d.flight)
	return nil
}

// writeDirect writes a whole number of blocks. A file system that opens
// with O_DIRECT but refuses the write (EINVAL) gets it through the page
// cache instead, and so does the rest of the file.
func (d *directFile) writeDirect(b []byte) error {
	_, err := d.f.Write(b)
	if err != nil && errors.Is(err, errInvalid) {
		if cerr := clearDirect(d.f); cerr != nil {
			return err
		}
		_, err = d.f.Write(b)
	}
	return err
}

func (d *directFile) wait() error {
	if d.flight != nil {
		if err := <-d.flight; err != nil && d.err == nil {
			d.err = err
		}
		d.flight = nil
	}
	return d.err
}

// Close writes what is left through the page cache (a tail need not fill
// a block) and closes the file; publish fsyncs it.
func (d *directFile) Close() error {
	if d.closed {
		return os.ErrClosed
	}
	d.closed = true
	err := d.wait()
	if err == nil && len(d.buf) > 0 {
		if err = clearDirect(d.f); err == nil {
			_, err = d.f.Write(d.buf)
		}
	}
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	d.pool.done(d.buf, d.spare)
	d.buf, d.spare = nil, nil
	return err
}
