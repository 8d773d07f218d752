package storetest

import (
	"context"
	"testing"

	"github.com/appflowd/appflowd/internal/store"
)

func testExecutionCreateMany(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	must(t, s.ExecutionCreateMany(ctx, nil))
	must(t, s.FlowCreate(ctx, flow(acct, "f")))
	must(t, s.FlowCreate(ctx, flow(acct2, "g")))
	taken := execution(acct, "f", "e1", t0)
	taken.Status = "Successful"
	must(t, s.ExecutionCreate(ctx, taken))

	batch := []*store.Execution{
		execution(acct, "f", "e1", t0.Add(5)), // taken: skipped, not overwritten
		execution(acct, "f", "e2", t0.Add(1)),
		execution(acct, "gone", "e3", t0), // no such flow: skipped
		execution(acct2, "g", "e4", t0.Add(2)),
	}
	must(t, s.ExecutionCreateMany(ctx, batch))

	e1, err := s.ExecutionGet(ctx, acct, "f", "e1")
	must(t, err)
	diff(t, "taken execution", e1, taken)
	e2, err := s.ExecutionGet(ctx, acct, "f", "e2")
	must(t, err)
	diff(t, "new execution", e2, batch[1])
	e4, err := s.ExecutionGet(ctx, acct2, "g", "e4")
	must(t, err)
	diff(t, "new execution of another account", e4, batch[3])
	_, err = s.ExecutionGet(ctx, acct, "gone", "e3")
	wantIs(t, "execution of a missing flow", err, store.ErrNotFound)
}

func testFlowStateUpdateMany(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	written, err := s.FlowStateUpdateMany(ctx, nil)
	must(t, err)
	diff(t, "empty batch", len(written), 0)
	a, b, c := flow(acct, "a"), flow(acct, "b"), flow(acct2, "c")
	for _, f := range []*store.Flow{a, b, c} {
		must(t, s.FlowCreate(ctx, f))
	}
	// b moves on behind the batch's back: its version in the batch is stale.
	b2 := *b
	b2.State = []byte(`{"other":1}`)
	must(t, s.FlowUpdate(ctx, &b2))

	batch := []*store.Flow{a, b, c, flow(acct, "gone")}
	for _, f := range batch {
		f.State = []byte(`{"planned":true}`)
		f.Doc = []byte(`{"ignored":true}`) // only the state is written
	}
	versions := []int64{a.Version, b.Version, c.Version}
	written, err = s.FlowStateUpdateMany(ctx, batch)
	must(t, err)
	diff(t, "written", written, []bool{true, false, true, false})
	diff(t, "versions after", []int64{a.Version, b.Version, c.Version}, []int64{versions[0] + 1, versions[1], versions[2] + 1})

	got, err := s.FlowGet(ctx, acct, "a")
	must(t, err)
	diff(t, "written state", string(got.State), `{"planned":true}`)
	diff(t, "doc kept", string(got.Doc), `{"flowName":"a"}`)
	diff(t, "version", got.Version, a.Version)
	got, err = s.FlowGet(ctx, acct, "b")
	must(t, err)
	diff(t, "stale flow's state", string(got.State), `{"other":1}`)
	got, err = s.FlowGet(ctx, acct2, "c")
	must(t, err)
	diff(t, "other account's state", string(got.State), `{"planned":true}`)
	// The incremented version is the stored one: a FlowUpdate with it works.
	a.State = []byte(`{"next":1}`)
	must(t, s.FlowUpdate(ctx, a))
}
