package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/store"
)

func testExecutionNewestMany(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	for _, f := range []string{"a", "b", "c"} {
		must(t, s.FlowCreate(ctx, flow(acct, f)))
	}
	must(t, s.FlowCreate(ctx, flow(acct2, "a")))
	// a: three runs, the newest by start time; b: two started at once, the
	// newest by id; c: none. Another account's "a" is newer than all.
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "a1", t0)))
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "a3", t0.Add(2*time.Second))))
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "a2", t0.Add(time.Second))))
	must(t, s.ExecutionCreate(ctx, execution(acct, "b", "b1", t0)))
	must(t, s.ExecutionCreate(ctx, execution(acct, "b", "b2", t0)))
	must(t, s.ExecutionCreate(ctx, execution(acct2, "a", "other", t0.Add(time.Hour))))

	got, err := s.ExecutionNewestMany(ctx, acct, []string{"a", "b", "c", "missing"})
	must(t, err)
	ids := map[string]string{}
	for f, e := range got {
		ids[f] = e.ExecutionID
	}
	diff(t, "newest executions", ids, map[string]string{"a": "a3", "b": "b2"})
	one, err := s.ExecutionGet(ctx, acct, "a", "a3")
	must(t, err)
	diff(t, "newest execution row", got["a"], one)

	none, err := s.ExecutionNewestMany(ctx, acct, nil)
	must(t, err)
	if len(none) != 0 {
		t.Errorf("ExecutionNewestMany of no flows: %v", none)
	}
}

func testTagsGetMany(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	must(t, s.TagsSet(ctx, "arn:1", map[string]string{"k": "v", "team": "data"}))
	must(t, s.TagsSet(ctx, "arn:2", map[string]string{"k": "w"}))
	must(t, s.TagsSet(ctx, "arn:3", map[string]string{"x": "y"}))
	got, err := s.TagsGetMany(ctx, []string{"arn:1", "arn:2", "arn:none"})
	must(t, err)
	diff(t, "tags of many", got, map[string]map[string]string{
		"arn:1": {"k": "v", "team": "data"},
		"arn:2": {"k": "w"},
	})
}
