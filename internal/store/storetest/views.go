package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
)

// testFlowViews checks that a view carries the flow's row, its tags, the
// labels of its labelled profiles and its newest execution, alone and in
// pages, without mixing up flows or accounts.
func testFlowViews(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	must(t, s.ProfileCreate(ctx, profile(acct, "custom", "CustomConnector", "my-label")))
	must(t, s.ProfileCreate(ctx, profile(acct, "plain", "Salesforce", "")))
	must(t, s.ProfileCreate(ctx, profile(acct2, "custom", "CustomConnector", "other-label")))
	must(t, s.FlowCreate(ctx, flow(acct, "a", "custom", "plain")))
	must(t, s.FlowCreate(ctx, flow(acct, "b", "plain")))
	must(t, s.FlowCreate(ctx, flow(acct, "c")))
	must(t, s.FlowCreate(ctx, flow(acct2, "a", "custom")))
	must(t, s.TagsSet(ctx, flow(acct, "a").Arn, map[string]string{"team": "data", "k": "v"}))
	must(t, s.TagsSet(ctx, flow(acct, "b").Arn, map[string]string{"k": "w", "3 x": "ü 12 \"{,}", "": ""}))
	must(t, s.TagsSet(ctx, flow(acct2, "a").Arn, map[string]string{"other": "account"}))
	// a: three runs, the newest by start time; b: two started at once, the
	// newest by id; c: none. Another account's "a" is newer than all.
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "a1", t0)))
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "a3", t0.Add(2*time.Second))))
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "a2", t0.Add(time.Second))))
	must(t, s.ExecutionCreate(ctx, execution(acct, "b", "b1", t0)))
	must(t, s.ExecutionCreate(ctx, execution(acct, "b", "b2", t0)))
	must(t, s.ExecutionCreate(ctx, execution(acct2, "a", "other", t0.Add(time.Hour))))
	// A claimed run: the view leaves the claim and the version out.
	a3, err := s.ExecutionGet(ctx, acct, "a", "a3")
	must(t, err)
	a3.Owner, a3.LeaseUntil, a3.Status = "proc-1", t0.Add(time.Minute), "Successful"
	must(t, s.ExecutionUpdate(ctx, a3))

	want := map[string]*store.FlowView{}
	for _, w := range []struct {
		name   string
		tags   map[string]string
		newest string
		labels map[string]string
	}{
		{"a", map[string]string{"team": "data", "k": "v"}, "a3", map[string]string{"custom": "my-label"}},
		{"b", map[string]string{"k": "w", "3 x": "ü 12 \"{,}", "": ""}, "b2", nil},
		{"c", nil, "", nil},
	} {
		f, err := s.FlowGet(ctx, acct, w.name)
		must(t, err)
		f.ProfileNames, f.State = nil, nil
		v := &store.FlowView{Flow: f, Tags: w.tags, Labels: w.labels}
		if w.newest != "" {
			v.Newest, err = s.ExecutionGet(ctx, acct, w.name, w.newest)
			must(t, err)
			v.Newest.Owner, v.Newest.LeaseUntil, v.Newest.Version = "", time.Time{}, 0
		}
		want[w.name] = v
		got, err := s.FlowViewGet(ctx, acct, w.name)
		must(t, err)
		diff(t, "FlowViewGet "+w.name, got, v)
		if got.Tags == nil || got.Labels == nil {
			t.Errorf("FlowViewGet %s: nil maps (tags %v, labels %v), want empty ones", w.name, got.Tags, got.Labels)
		}
	}
	other, err := s.FlowViewGet(ctx, acct2, "a")
	must(t, err)
	if other.Newest == nil || other.Newest.ExecutionID != "other" || other.Tags["other"] != "account" || other.Labels["custom"] != "other-label" {
		t.Errorf("FlowViewGet of the other account: %+v", other)
	}
	_, err = s.FlowViewGet(ctx, acct, "missing")
	wantIs(t, "FlowViewGet missing", err, store.ErrNotFound)

	// A list's views carry the summary instead of the document.
	for name, v := range want {
		lv := *v
		f := *v.Flow
		lv.Flow, lv.Summary, f.Doc = &f, store.FlowListSummary(v.Flow.Doc), nil
		want[name] = &lv
	}
	page, next, err := s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{Limit: 2}})
	must(t, err)
	diff(t, "FlowViewList page 1", page, []*store.FlowView{want["a"], want["b"]})
	if next == "" {
		t.Fatal("FlowViewList page 1: no cursor")
	}
	page, next, err = s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{After: next, Limit: 2}})
	must(t, err)
	diff(t, "FlowViewList page 2", page, []*store.FlowView{want["c"]})
	if next != "" {
		t.Errorf("FlowViewList last page: next %q, want none", next)
	}
	_, _, err = s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{After: "not a cursor"}})
	if !fault.Is(err, fault.Invalid) {
		t.Errorf("FlowViewList with a bad cursor: got %v, want an Invalid fault", err)
	}
}
