package parquetfile

import (
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/s2"
)

// A row group's encoded pages wait in slabs of slabSize bytes shared by
// all columns and files, not in a growing buffer per column: a buffer per
// column held up to twice its chunk's size (the slack of append's
// doubling) and was garbage on every growth, which showed in the peak RSS
// of wide schemas.
const slabSize = 64 << 10

var slabPool = sync.Pool{New: func() any { b := make([]byte, 0, slabSize); return &b }}

// slabs is a byte sequence kept in pooled slabs.
type slabs struct {
	bufs []*[]byte
	n    int
}

func (s *slabs) write(p []byte) {
	s.n += len(p)
	for len(p) > 0 {
		if len(s.bufs) == 0 || len(*s.bufs[len(s.bufs)-1]) == slabSize {
			s.bufs = append(s.bufs, slabPool.Get().(*[]byte))
		}
		last := s.bufs[len(s.bufs)-1]
		k := min(len(p), slabSize-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
}

func (s *slabs) writeTo(w *Writer) error {
	for _, b := range s.bufs {
		if err := w.write(*b); err != nil {
			return err
		}
	}
	return nil
}

// release gives the slabs back to the pool.
func (s *slabs) release() {
	for i, b := range s.bufs {
		*b = (*b)[:0]
		slabPool.Put(b)
		s.bufs[i] = nil
	}
	s.bufs, s.n = s.bufs[:0], 0
}

// compressPool holds Snappy's output buffers, one per page being
// compressed rather than one per column.
var compressPool sync.Pool

// compress Snappy-encodes raw into a pooled buffer; the caller gives buf
// back to compressPool once done with the result. fast picks the faster
// encoder, golang/snappy's, which finds fewer matches than s2's (64 KiB
// blocks, a quicker skip over bytes that do not match).
func compress(raw []byte, fast bool) (buf *[]byte, out []byte) {
	buf, _ = compressPool.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	if n := max(s2.MaxEncodedLen(len(raw)), snappy.MaxEncodedLen(len(raw))); len(*buf) < n {
		*buf = make([]byte, n)
	}
	if fast {
		return buf, snappy.Encode(*buf, raw)
	}
	return buf, s2.EncodeSnappy(*buf, raw)
}
