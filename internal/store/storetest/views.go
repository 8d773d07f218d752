package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

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
		got, err := s.FlowViewGet(ctx, acct, w.name, nil)
		must(t, err)
		diff(t, "FlowViewGet "+w.name, got, v)
		if got.Tags == nil || got.Labels == nil {
			t.Errorf("FlowViewGet %s: nil maps (tags %v, labels %v), want empty ones", w.name, got.Tags, got.Labels)
		}
	}
	other, err := s.FlowViewGet(ctx, acct2, "a", nil)
	must(t, err)
	if other.Newest == nil || other.Newest.ExecutionID != "other" || other.Tags["other"] != "account" || other.Labels["custom"] != "other-label" {
		t.Errorf("FlowViewGet of the other account: %+v", other)
	}
	_, err = s.FlowViewGet(ctx, acct, "missing", nil)
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
	// Pages with a KnownView that knows a: its view comes back unread (from
	// a driver with stamps), the others whole, with the same cursor.
	next = ""
	for i, wantNames := range [][]string{{"a", "b"}, {"c"}} {
		page, next, err = s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{After: next, Limit: 2},
			Known: func(name string, stamp uint64) bool { return name == "a" }})
		must(t, err)
		var wantPage []*store.FlowView
		for j, name := range wantNames {
			w := want[name]
			if name == "a" && j < len(page) && page[j].Stamp != 0 {
				w = &store.FlowView{Flow: &store.Flow{AccountID: acct, Name: "a"}, Known: true}
			}
			wantPage = append(wantPage, w)
		}
		diff(t, fmt.Sprint("FlowViewList with a KnownView, page ", i+1), page, wantPage)
		if (next == "") != (i == 1) {
			t.Errorf("FlowViewList with a KnownView, page %d: next %q", i+1, next)
		}
	}
	_, _, err = s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{After: "not a cursor"}})
	if !fault.Is(err, fault.Invalid) {
		t.Errorf("FlowViewList with a bad cursor: got %v, want an Invalid fault", err)
	}
}

// testFlowViewsInStep checks that views follow every write that changes
// what they show, each read right after it: tags set, replaced, removed
// and cleared; runs added (alone and in a planner's batch), claimed,
// renewed and finished, older and newer ones; a flow deleted and created
// again under its name; a profile's label changed. The wanted views are
// built from the plain reads (FlowGet, TagsGet, ExecutionList, ProfileGet).
func testFlowViewsInStep(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	must(t, s.ProfileCreate(ctx, profile(acct, "custom", "CustomConnector", "my-label")))
	must(t, s.FlowCreate(ctx, flow(acct, "a", "custom")))
	must(t, s.FlowCreate(ctx, flow(acct, "b")))
	arn := flow(acct, "a").Arn
	seen := map[string]*store.FlowView{}
	check := func(step string) {
		t.Helper()
		checkFlowViews(t, s, seen, step, "a", "b")
	}
	check("no tags, no runs")
	must(t, s.TagsSet(ctx, arn, map[string]string{"team": "data", "k": "v"}))
	check("tagged")
	must(t, s.TagsSet(ctx, arn, map[string]string{"k": "w", "new": ""}))
	check("a tag replaced, one added")
	must(t, s.TagsRemove(ctx, arn, []string{"team", "absent"}))
	check("a tag removed")
	must(t, s.TagsDeleteAll(ctx, arn))
	check("tags cleared")
	must(t, s.TagsSet(ctx, arn, map[string]string{"z": "1"}))

	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "r2", t0.Add(time.Second))))
	check("a run")
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "r1", t0)))
	check("an older run")
	must(t, s.ExecutionCreateMany(ctx, []*store.Execution{execution(acct, "a", "r3", t0.Add(time.Second)),
		execution(acct, "b", "b1", t0)}))
	check("a batch: same start, a later id")
	r2, err := s.ExecutionGet(ctx, acct, "a", "r2")
	must(t, err)
	r2.Owner, r2.LeaseUntil = "proc-1", t0.Add(time.Minute)
	must(t, s.ExecutionUpdate(ctx, r2))
	check("an older run claimed")
	r3, err := s.ExecutionGet(ctx, acct, "a", "r3")
	must(t, err)
	r3.Owner, r3.LeaseUntil, r3.UpdatedAt = "proc-1", t0.Add(time.Minute), t0.Add(30*time.Second)
	must(t, s.ExecutionUpdate(ctx, r3))
	check("the newest claimed")
	r3.LeaseUntil = t0.Add(2 * time.Minute)
	must(t, s.ExecutionUpdate(ctx, r3))
	check("the newest's lease renewed")
	r3.Status, r3.Doc, r3.UpdatedAt, r3.Owner = "Successful", []byte(`{"executionId":"r3","executionStatus":"Successful"}`), t0.Add(time.Minute), ""
	must(t, s.ExecutionUpdate(ctx, r3))
	check("the newest finished")
	r1, err := s.ExecutionGet(ctx, acct, "a", "r1")
	must(t, err)
	r1.StartedAt = t0.Add(time.Hour)
	must(t, s.ExecutionUpdate(ctx, r1))
	check("an older run started again later")
	r1.StartedAt = t0
	must(t, s.ExecutionUpdate(ctx, r1))
	check("the newest started earlier")

	p, err := s.ProfileGet(ctx, acct, "custom")
	must(t, err)
	p.Label = "renamed"
	must(t, s.ProfileUpdate(ctx, p))
	check("a label changed")
	// b uses a profile that does not exist yet, then a labelled one.
	fb, err := s.FlowGet(ctx, acct, "b")
	must(t, err)
	fb.ProfileNames = []string{"later", "custom"}
	must(t, s.FlowUpdate(ctx, fb))
	check("a flow's profiles changed")
	must(t, s.ProfileCreate(ctx, profile(acct, "later", "CustomConnector", "late-label")))
	check("a used profile created")
	must(t, s.ProfileCreate(ctx, profile(acct2, "custom", "CustomConnector", "other-account")))
	check("another account's profile of the name")
	must(t, s.ProfileDelete(ctx, acct, "custom"))
	check("a used profile deleted")
	fb.ProfileNames = []string{"later"}
	must(t, s.FlowUpdate(ctx, fb))
	check("a profile no longer used")

	must(t, s.FlowDelete(ctx, acct, "a"))
	// Tags are the ARN's: a flow created again under the name finds them.
	must(t, s.FlowCreate(ctx, flow(acct, "a")))
	check("deleted and created again")
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "n1", t0)))
	must(t, s.TagsDeleteAll(ctx, arn))
	check("created again, run and untagged")
}

// checkFlowViews compares the views of the account acct's flows names
// (all its flows, by name) with views built from the plain reads. With
// seen (the views of the earlier steps, by name), a driver's stamps are
// checked too: a view whose stamp is unchanged is unchanged; a get's and a
// list's view of a flow have one stamp; a KnownView that knows the stamp
// leaves the view unread, one that does not is asked once and reads it.
func checkFlowViews(t *testing.T, s store.Store, seen map[string]*store.FlowView, step string, names ...string) {
	t.Helper()
	ctx := context.Background()
	var want []*store.FlowView
	for _, name := range names {
		f, err := s.FlowGet(ctx, acct, name)
		must(t, err)
		tags, err := s.TagsGet(ctx, f.Arn)
		must(t, err)
		labels := map[string]string{}
		for _, p := range f.ProfileNames {
			if prof, err := s.ProfileGet(ctx, acct, p); err == nil && prof.Label != "" {
				labels[p] = prof.Label
			}
		}
		v := &store.FlowView{Flow: f, Tags: tags, Labels: labels}
		runs, _, err := s.ExecutionList(ctx, &store.ExecutionListParams{AccountID: acct, FlowName: name, Page: store.Page{Limit: 1}})
		must(t, err)
		if len(runs) > 0 {
			v.Newest = runs[0]
			v.Newest.Owner, v.Newest.LeaseUntil, v.Newest.Version = "", time.Time{}, 0
		}
		f.ProfileNames, f.State = nil, nil
		got, err := s.FlowViewGet(ctx, acct, name, nil)
		must(t, err)
		diff(t, step+": FlowViewGet "+name, got, v)
		if seen != nil {
			checkStamp(t, s, seen, step, got)
		}
		lf := *f
		lf.Doc = nil
		lv := *v
		lv.Flow, lv.Summary = &lf, store.FlowListSummary(f.Doc)
		want = append(want, &lv)
	}
	got, _, err := s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{Limit: 100}})
	must(t, err)
	diff(t, step+": FlowViewList", got, want)
	if seen == nil || len(got) != len(names) {
		return
	}
	for i, v := range got {
		if st := seen[names[i]].Stamp; v.Stamp != st {
			t.Errorf("%s: FlowViewList %s: stamp %d, FlowViewGet's %d", step, names[i], v.Stamp, st)
		}
	}
	// A list that knows every other view reads the rest.
	asked := map[string]bool{}
	known := func(name string, stamp uint64) bool {
		if asked[name] {
			t.Errorf("%s: FlowViewList asked KnownView twice of %s", step, name)
		}
		asked[name] = true
		if stamp != seen[name].Stamp {
			t.Errorf("%s: FlowViewList asked KnownView of %s with stamp %d, the view's is %d", step, name, stamp, seen[name].Stamp)
		}
		return slices.Index(names, name)%2 == 0
	}
	got, _, err = s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{Limit: 100}, Known: known})
	must(t, err)
	for i, v := range got {
		if seen[names[i]].Stamp == 0 {
			if len(asked) > 0 || v.Known {
				t.Errorf("%s: FlowViewList of %s without a stamp asked KnownView or returned a known view", step, names[i])
			}
			diff(t, step+": FlowViewList without stamps", v, want[i])
			continue
		}
		if !asked[names[i]] {
			t.Errorf("%s: FlowViewList did not ask KnownView of %s", step, names[i])
		}
		if i%2 == 0 {
			diff(t, step+": FlowViewList known "+names[i], v,
				&store.FlowView{Flow: &store.Flow{AccountID: acct, Name: names[i]}, Stamp: seen[names[i]].Stamp, Known: true})
		} else {
			diff(t, step+": FlowViewList unknown "+names[i], v, want[i])
		}
	}
}

// checkStamp checks v's stamp against the view of the same flow an earlier
// step saw, and FlowViewGet with a KnownView, then keeps v in seen.
func checkStamp(t *testing.T, s store.Store, seen map[string]*store.FlowView, step string, v *store.FlowView) {
	t.Helper()
	ctx := context.Background()
	name := v.Flow.Name
	if old := seen[name]; old != nil && v.Stamp != 0 && old.Stamp == v.Stamp {
		diff(t, step+": "+name+" changed but kept its stamp", v, old)
	}
	seen[name] = v
	var asked int
	got, err := s.FlowViewGet(ctx, acct, name, func(n string, stamp uint64) bool {
		asked++
		if n != name || stamp != v.Stamp {
			t.Errorf("%s: FlowViewGet %s asked KnownView of %s with stamp %d, want %d", step, name, n, stamp, v.Stamp)
		}
		return true
	})
	must(t, err)
	if v.Stamp == 0 {
		if asked > 0 || got.Known {
			t.Errorf("%s: FlowViewGet %s without a stamp asked KnownView or returned a known view", step, name)
		}
		return
	}
	if asked != 1 {
		t.Errorf("%s: FlowViewGet %s asked KnownView %d times, want once", step, name, asked)
	}
	diff(t, step+": FlowViewGet known "+name, got, &store.FlowView{Flow: &store.Flow{AccountID: acct, Name: name}, Stamp: v.Stamp, Known: true})
	if got.Stamp != v.Stamp {
		t.Errorf("%s: FlowViewGet known %s: stamp %d, want %d", step, name, got.Stamp, v.Stamp)
	}
}

// FlowViewsCatchUp checks that a database written before the views' columns
// shows the same views once a store opens it again: after writing, it
// closes the store and takes the database (db opens it) back to migration
// 00004 with goose, as an older binary would have left it, running the
// driver's migrations (the test's directory's migrations/) down.
func FlowViewsCatchUp(t *testing.T, open func(t *testing.T) store.Store, dialect goose.Dialect, db func(t *testing.T) *sql.DB) {
	downgrade := func(t *testing.T) {
		db := db(t)
		defer db.Close()
		p, err := goose.NewProvider(dialect, db, os.DirFS("migrations"),
			goose.WithTableName("appflowd_store_migrations"), goose.WithDisableGlobalRegistry(true))
		must(t, err)
		_, err = p.DownTo(context.Background(), 4)
		must(t, err)
		var tags []byte
		if err := db.QueryRow(`SELECT tags FROM flows`).Scan(&tags); err == nil || errors.Is(err, sql.ErrNoRows) {
			t.Fatal("flows.tags is still there after the downgrade")
		}
	}
	ctx := context.Background()
	s := open(t)
	must(t, s.ProfileCreate(ctx, profile(acct, "custom", "CustomConnector", "my-label")))
	must(t, s.FlowCreate(ctx, flow(acct, "a", "custom")))
	must(t, s.FlowCreate(ctx, flow(acct, "b")))
	must(t, s.FlowCreate(ctx, flow(acct, "c")))
	must(t, s.TagsSet(ctx, flow(acct, "a").Arn, map[string]string{"team": "data", "k": "v"}))
	must(t, s.TagsSet(ctx, flow(acct, "c").Arn, map[string]string{"": ""}))
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "r1", t0)))
	must(t, s.ExecutionCreate(ctx, execution(acct, "a", "r2", t0.Add(time.Second))))
	must(t, s.ExecutionCreate(ctx, execution(acct, "b", "r1", t0)))
	checkFlowViews(t, s, nil, "before", "a", "b", "c")
	must(t, s.Close())
	downgrade(t)
	s = open(t)
	checkFlowViews(t, s, nil, "after the upgrade", "a", "b", "c")
	must(t, s.TagsRemove(ctx, flow(acct, "a").Arn, []string{"k"}))
	must(t, s.ExecutionCreate(ctx, execution(acct, "b", "r2", t0.Add(time.Second))))
	checkFlowViews(t, s, nil, "written after the upgrade", "a", "b", "c")
}

// testFlowViewsRace writes one flow's tags, runs and the profiles it uses
// from many goroutines at once, then deletes a flow while its runs are
// written: the views hold every write, and no writer fails (a driver that
// keeps the views in the flow's row must not lose a concurrent writer's
// change, nor deadlock).
func testFlowViewsRace(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	const n = 8
	var profiles []string
	for i := range n {
		profiles = append(profiles, fmt.Sprint("p", i))
	}
	must(t, s.FlowCreate(ctx, flow(acct, "a", profiles...)))
	must(t, s.FlowCreate(ctx, flow(acct, "b")))
	var wg sync.WaitGroup
	errs := make([]error, 4*n)
	for i := range n {
		wg.Go(func() {
			errs[3*n+i] = s.ProfileCreate(ctx, profile(acct, profiles[i], "CustomConnector", fmt.Sprint("label-", i)))
		})
		wg.Go(func() {
			errs[i] = s.TagsSet(ctx, flow(acct, "a").Arn, map[string]string{fmt.Sprint("k", i): "v"})
		})
		wg.Go(func() {
			errs[n+i] = s.ExecutionCreate(ctx, execution(acct, "a", fmt.Sprint("r", i), t0.Add(time.Duration(i)*time.Second)))
		})
		wg.Go(func() {
			errs[2*n+i] = s.ExecutionCreate(ctx, execution(acct, "b", fmt.Sprint("r", i), t0))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	checkFlowViews(t, s, map[string]*store.FlowView{}, "after concurrent writes", "a", "b")
	v, err := s.FlowViewGet(ctx, acct, "a", nil)
	must(t, err)
	if len(v.Tags) != n || len(v.Labels) != n || v.Newest == nil || v.Newest.ExecutionID != fmt.Sprint("r", n-1) {
		t.Errorf("after concurrent writes: tags %v, labels %v, newest %+v; want %d tags, %[4]d labels and run r%d", v.Tags, v.Labels, v.Newest, n, n-1)
	}

	// The runs of b are written while b is deleted: each write lands or
	// finds its run gone.
	for i := range n {
		wg.Go(func() {
			e, err := s.ExecutionGet(ctx, acct, "b", fmt.Sprint("r", i))
			if err != nil {
				errs[i] = err
				return
			}
			e.Status, e.Owner = "Successful", "proc"
			if err := s.ExecutionUpdate(ctx, e); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs[i] = err
			}
		})
	}
	wg.Go(func() { errs[n] = s.FlowDelete(ctx, acct, "b") })
	wg.Wait()
	for i, err := range errs[:n+1] {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("writer %d beside a delete: %v", i, err)
		}
	}
	if _, err := s.FlowViewGet(ctx, acct, "b", nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FlowViewGet of the deleted flow: got %v, want ErrNotFound", err)
	}
}
