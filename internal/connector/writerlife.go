package connector

import (
	"context"

	"github.com/appflowd/appflowd/internal/fault"
)

// WriterLife is a Writer's life: open until Commit or Abort ends it.
// Embed it; Vendor names the driver in errors ("redshift").
type WriterLife struct {
	Vendor string
	ended  bool
}

// Usable refuses what ("Write", "Commit") once the writer has ended
// (fault.Invalid) or ctx has (fault.Canceled).
func (l *WriterLife) Usable(ctx context.Context, what string) error {
	if l.ended {
		return fault.New(fault.Invalid, "%s: %s after Commit or Abort", l.Vendor, what)
	}
	if ctx.Err() != nil {
		return l.Canceled(ctx, what)
	}
	return nil
}

// End ends the writer; false when it had ended already (an Abort after
// Commit has nothing to do).
func (l *WriterLife) End() bool {
	was := l.ended
	l.ended = true
	return !was
}

// Canceled is ctx's end while doing what, as fault.Canceled.
func (l *WriterLife) Canceled(ctx context.Context, what string) error {
	return Canceled(ctx, l.Vendor, what)
}

// Canceled is ctx's end while vendor's driver was doing what, as
// fault.Canceled with the cause.
func Canceled(ctx context.Context, vendor, what string) error {
	return fault.Wrap(fault.Canceled, context.Cause(ctx), "%s: %s", vendor, what)
}
