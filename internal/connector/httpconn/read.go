package httpconn

import (
	"context"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

// Reader is what the read of one split carries from page to page: the
// request, the plan Splits put in the split, and the line its next batch
// starts at.
type Reader[P any] struct {
	Req  *connector.ReadRequest
	Plan P

	split string
	emit  func(*record.Batch) error
	line  int64
}

// NewReader starts the read of split s at line 1, with the plan s carries
// (as Plan finds it).
func NewReader[P any](ctx context.Context, vendor string, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) (*Reader[P], error) {
	p, err := Plan[P](ctx, s, vendor)
	if err != nil {
		return nil, err
	}
	return &Reader[P]{Req: req, Plan: p, split: s.Name, emit: emit, line: 1}, nil
}

// Number places b in the split at the next line, and moves the next line
// on by read: the records the vendor sent for b, those b leaves out
// included, so that line numbers follow the source.
func (r *Reader[P]) Number(b *record.Batch, read int) *record.Batch {
	b.Split, b.FirstLine = r.split, r.line
	r.line += int64(read)
	return b
}

// Send numbers b and emits it.
func (r *Reader[P]) Send(b *record.Batch, read int) error { return r.emit(r.Number(b, read)) }

// Emit emits a batch numbered before.
func (r *Reader[P]) Emit(b *record.Batch) error { return r.emit(b) }
