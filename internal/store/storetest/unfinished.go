package storetest

import (
	"context"
	"testing"

	"github.com/appflowd/appflowd/internal/store"
)

func testExecutionListUnfinished(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	must(t, s.FlowCreate(ctx, flow(acct, "f")))
	must(t, s.FlowCreate(ctx, flow(acct2, "g")))
	statuses := map[string]string{"e1": "InProgress", "e2": "Successful", "e3": "CancelStarted", "e4": "Error", "e5": "Canceled"}
	for id, st := range statuses {
		e := execution(acct, "f", id, t0)
		e.Status = st
		must(t, s.ExecutionCreate(ctx, e))
	}
	other := execution(acct2, "g", "e6", t0.Add(1))
	other.Status = "InProgress"
	must(t, s.ExecutionCreate(ctx, other))

	got, err := s.ExecutionListUnfinished(ctx)
	must(t, err)
	var ids []string
	for _, e := range got {
		ids = append(ids, e.AccountID+"/"+e.ExecutionID)
	}
	diff(t, "unfinished executions", ids, []string{acct + "/e1", acct + "/e3", acct2 + "/e6"})
}
