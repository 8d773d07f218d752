package runstate_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
	"github.com/appflowd/appflowd/internal/wire"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*runstate.Machine, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.FlowCreate(ctx, &store.Flow{AccountID: "1", Name: "f", Arn: "arn", Status: "Active", Doc: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return runstate.New(st, func() time.Time { return t0 }), st
}

func TestLegalMoves(t *testing.T) {
	all := []wire.ExecutionStatus{runstate.InProgress, runstate.CancelStarted, runstate.Successful, runstate.Error, runstate.Canceled}
	legal := map[[2]wire.ExecutionStatus]bool{}
	for _, to := range all {
		legal[[2]wire.ExecutionStatus{runstate.InProgress, to}] = true
	}
	for _, to := range []wire.ExecutionStatus{runstate.CancelStarted, runstate.Canceled, runstate.Error, runstate.Successful} {
		legal[[2]wire.ExecutionStatus{runstate.CancelStarted, to}] = true
	}
	for _, from := range all {
		for _, to := range all {
			if got, want := runstate.Legal(from, to), legal[[2]wire.ExecutionStatus{from, to}]; got != want {
				t.Errorf("Legal(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	m, _ := setup(t)
	k := runstate.Key{Account: "1", Flow: "f", ID: "e1"}
	if _, err := m.Create(ctx, k, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, k, t0); !store.IsConflict(err) {
		t.Fatalf("second Create: %v, want a conflict", err)
	}

	// A claim, then a change that requires it.
	r, err := m.Apply(ctx, k, runstate.Change{From: []wire.ExecutionStatus{runstate.InProgress}, Edit: func(r *runstate.Run) error {
		r.Row.Owner, r.Row.LeaseUntil = "p1", t0.Add(time.Minute)
		return nil
	}})
	if err != nil || r.Row.Owner != "p1" || r.Status() != runstate.InProgress {
		t.Fatalf("claim: %v, run %+v", err, r)
	}
	_, err = m.Apply(ctx, k, runstate.Change{To: runstate.Successful, Owner: "p2"})
	var ref *runstate.Refused
	if !errors.As(err, &ref) || ref.Owner != "p1" {
		t.Fatalf("a change by a process that holds no claim: %v, want Refused naming owner p1", err)
	}

	if _, err := m.Finish(ctx, k, nil, runstate.CancelStarted, ""); err != nil {
		t.Fatal(err)
	}
	r, err = m.Finish(ctx, k, nil, runstate.Canceled, "Execution canceled by request.")
	if err != nil {
		t.Fatal(err)
	}
	if r.Row.Owner != "" || !r.Row.LeaseUntil.IsZero() {
		t.Errorf("a final run keeps its claim: owner %q lease %v", r.Row.Owner, r.Row.LeaseUntil)
	}
	got, err := m.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status() != runstate.Canceled || got.Rec.ExecutionStatus != runstate.Canceled || got.Message() != "Execution canceled by request." {
		t.Errorf("stored run: status %s/%s message %q", got.Status(), got.Rec.ExecutionStatus, got.Message())
	}
	// Final is final.
	for _, to := range []wire.ExecutionStatus{runstate.Successful, runstate.Error, runstate.InProgress, runstate.CancelStarted} {
		if _, err := m.Finish(ctx, k, nil, to, ""); !runstate.IsRefused(err) {
			t.Errorf("Canceled -> %s: %v, want refused", to, err)
		}
	}
	if _, err := m.Apply(ctx, runstate.Key{Account: "1", Flow: "f", ID: "gone"}, runstate.Change{To: runstate.Error}); !store.IsNotFound(err) {
		t.Errorf("change of a missing run: %v, want not found", err)
	}
}

// A cancel and a finish race from one state: exactly one final status wins
// and the loser is refused, never overwriting it.
func TestRacingFinishes(t *testing.T) {
	ctx := context.Background()
	m, _ := setup(t)
	for i := range 20 {
		k := runstate.Key{Account: "1", Flow: "f", ID: fmt.Sprintf("race-%d", i)}
		if _, err := m.Create(ctx, k, t0); err != nil {
			t.Fatal(err)
		}
		finals := []wire.ExecutionStatus{runstate.Successful, runstate.Canceled, runstate.Error}
		var wg sync.WaitGroup
		won := make(chan wire.ExecutionStatus, len(finals))
		for _, to := range finals {
			wg.Go(func() {
				_, err := m.Finish(ctx, k, []wire.ExecutionStatus{runstate.InProgress}, to, "")
				switch {
				case err == nil:
					won <- to
				case !runstate.IsRefused(err):
					t.Errorf("finish %s: %v", to, err)
				}
			})
		}
		wg.Wait()
		close(won)
		var winners []wire.ExecutionStatus
		for s := range won {
			winners = append(winners, s)
		}
		got, err := m.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(winners) != 1 || got.Status() != winners[0] {
			t.Fatalf("run %s: winners %v, stored %s; want exactly one winner, stored", k.ID, winners, got.Status())
		}
	}
}

// An edit that keeps losing to other writers is retried from a fresh read,
// so it never writes over what they wrote.
func TestApplyRetriesFromFreshRead(t *testing.T) {
	ctx := context.Background()
	m, st := setup(t)
	k := runstate.Key{Account: "1", Flow: "f", ID: "e1"}
	if _, err := m.Create(ctx, k, t0); err != nil {
		t.Fatal(err)
	}
	calls := 0
	_, err := m.Apply(ctx, k, runstate.Change{Edit: func(r *runstate.Run) error {
		calls++
		if calls == 1 {
			// Another writer changes the run between this read and write.
			row, err := st.ExecutionGet(ctx, "1", "f", "e1")
			if err != nil {
				return err
			}
			row.Status = string(runstate.CancelStarted)
			if err := st.ExecutionUpdate(ctx, row); err != nil {
				return err
			}
		}
		r.SetMessage("edited")
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := m.Get(ctx, k)
	if calls != 2 || got.Status() != runstate.CancelStarted || got.Message() != "edited" {
		t.Errorf("after a lost race: %d edit calls, status %s, message %q; want 2, CancelStarted kept, edited", calls, got.Status(), got.Message())
	}
}
