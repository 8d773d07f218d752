package connector

import (
	"context"
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
)

func TestWriterLife(t *testing.T) {
	l := WriterLife{Vendor: "acme"}
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Usable(ctx, "Write"); err != nil {
		t.Fatalf("open writer: %v", err)
	}
	cancel()
	if err := l.Usable(ctx, "Write"); !fault.Is(err, fault.Canceled) {
		t.Errorf("canceled: %v, want Canceled", err)
	}
	if !l.End() || l.End() {
		t.Error("End: true the first time only")
	}
	if err := l.Usable(context.Background(), "Commit"); !fault.Is(err, fault.Invalid) || err.Error() == "" {
		t.Errorf("after End: %v, want Invalid", err)
	}
}
