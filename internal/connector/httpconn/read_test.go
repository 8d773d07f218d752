package httpconn

import (
	"context"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

func TestReader(t *testing.T) {
	type plan struct{ n int }
	var got []*record.Batch
	emit := func(b *record.Batch) error { got = append(got, b); return nil }
	req := &connector.ReadRequest{Object: "o"}
	if _, err := NewReader[*plan](context.Background(), "Acme", req, connector.Split{Name: "s", Opaque: "not a plan"}, emit); fault.CodeOf(err) != fault.Internal {
		t.Fatalf("NewReader with another driver's split: %v, want fault.Internal", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewReader[*plan](ctx, "Acme", req, connector.Split{Name: "s", Opaque: &plan{}}, emit); err != context.Canceled {
		t.Fatalf("NewReader after the run ended: %v, want context.Canceled", err)
	}
	r, err := NewReader[*plan](context.Background(), "Acme", req, connector.Split{Name: "s", Opaque: &plan{n: 7}}, emit)
	if err != nil || r.Plan.n != 7 || r.Req != req {
		t.Fatalf("NewReader = %+v, %v; want the split's plan and the request", r, err)
	}
	if err := r.Send(&record.Batch{}, 3); err != nil {
		t.Fatal(err)
	}
	held := r.Number(&record.Batch{}, 2) // numbered now, emitted later
	if err := r.Send(&record.Batch{Final: true}, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Emit(held); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{1, 6, 4} {
		if got[i].Split != "s" || got[i].FirstLine != want {
			t.Errorf("batch %d: split %q line %d, want s line %d", i, got[i].Split, got[i].FirstLine, want)
		}
	}
}
