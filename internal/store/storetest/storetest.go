// Package storetest is the conformance suite every store.Store driver
// passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
)

// Run runs the suite. open returns a store on the database of t: each
// subtest gets a fresh, empty database, and a second call with the same t
// must open that same database again (the durability test closes the store
// and reopens it). open registers its own cleanup; Close may be called
// twice.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, open func(t *testing.T) store.Store)
	}{
		{"Profiles", testProfiles},
		{"ProfileList", testProfileList},
		{"Flows", testFlows},
		{"FlowUpdateRace", testFlowUpdateRace},
		{"FlowList", testFlowList},
		{"FlowListByStatus", testFlowListByStatus},
		{"FlowViews", testFlowViews},
		{"FlowViewsInStep", testFlowViewsInStep},
		{"FlowViewsRace", testFlowViewsRace},
		{"FlowSummary", testFlowSummary},
		{"Executions", testExecutions},
		{"ExecutionList", testExecutionList},
		{"ExecutionListUnfinished", testExecutionListUnfinished},
		{"ExecutionCreateMany", testExecutionCreateMany},
		{"FlowStateUpdateMany", testFlowStateUpdateMany},
		{"Registrations", testRegistrations},
		{"Tags", testTags},
		{"Tokens", testTokens},
		{"TokenClaimRace", testTokenClaimRace},
		{"Accounts", testAccounts},
		{"Quotas", testQuotas},
		{"Reopen", testReopen},
		{"ConsoleSessions", testConsoleSessions},
		{"SignInFailures", testSignInFailures},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t), open)
		})
	}
}

const acct, acct2 = "111111111111", "222222222222"

// t0 has nanoseconds on purpose: drivers keep microseconds.
var t0 = time.Date(2024, 3, 4, 5, 6, 7, 123456789, time.UTC)

// Views are compared without their stamps, which checkFlowViews checks.
var cmpOpts = cmp.Options{cmpopts.EquateEmpty(), cmpopts.IgnoreFields(store.FlowView{}, "Stamp")}

func diff[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpOpts); d != "" {
		t.Errorf("%s: mismatch (-want +got):\n%s", what, d)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func profile(account, name, typ, label string) *store.Profile {
	return &store.Profile{
		AccountID: account, Name: name,
		Arn:           "arn:aws:appflow:us-east-1:" + account + ":connectorprofile/" + name,
		ConnectorType: typ, Label: label,
		Doc:         []byte(`{"connectorProfileName":"` + name + `"}`),
		Credentials: []byte("sealed:" + name),
		CreatedAt:   t0, UpdatedAt: t0,
	}
}

func flow(account, name string, profiles ...string) *store.Flow {
	return &store.Flow{
		AccountID: account, Name: name,
		Arn:          "arn:aws:appflow:us-east-1:" + account + ":flow/" + name,
		Status:       "Active",
		Doc:          []byte(`{"flowName":"` + name + `"}`),
		State:        []byte(`{"watermark":0}`),
		ProfileNames: profiles,
		CreatedAt:    t0, UpdatedAt: t0,
	}
}

func testProfiles(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	p := profile(acct, "sf", "Salesforce", "")
	p.CreatedAt = t0.In(time.FixedZone("x", 7200))
	must(t, s.ProfileCreate(ctx, p))
	if !p.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || p.CreatedAt.Location() != time.UTC {
		t.Errorf("ProfileCreate: CreatedAt written back as %v, want %v in UTC", p.CreatedAt, t0.Truncate(time.Microsecond))
	}
	got, err := s.ProfileGet(ctx, acct, "sf")
	must(t, err)
	diff(t, "ProfileGet", got, p)

	wantIs(t, "ProfileCreate duplicate", s.ProfileCreate(ctx, profile(acct, "sf", "Slack", "")), store.ErrConflict)
	_, err = s.ProfileGet(ctx, acct, "nope")
	wantIs(t, "ProfileGet missing", err, store.ErrNotFound)
	if fault.CodeOf(err) != fault.NotFound {
		t.Errorf("ProfileGet missing: fault code %v, want NotFound", fault.CodeOf(err))
	}

	upd := *got
	upd.Doc = []byte(`{"changed":true}`)
	upd.Credentials = nil
	upd.Label = "mylabel"
	upd.UpdatedAt = t0.Add(time.Hour)
	must(t, s.ProfileUpdate(ctx, &upd))
	got, err = s.ProfileGet(ctx, acct, "sf")
	must(t, err)
	diff(t, "ProfileGet after update", got, &upd)
	if !got.CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("ProfileUpdate changed CreatedAt: got %v, want %v", got.CreatedAt, p.CreatedAt)
	}
	wantIs(t, "ProfileUpdate missing", s.ProfileUpdate(ctx, profile(acct, "nope", "S3", "")), store.ErrNotFound)

	must(t, s.ProfileDelete(ctx, acct, "sf"))
	_, err = s.ProfileGet(ctx, acct, "sf")
	wantIs(t, "ProfileGet after delete", err, store.ErrNotFound)
	wantIs(t, "ProfileDelete again", s.ProfileDelete(ctx, acct, "sf"), store.ErrNotFound)

	// A zero time is stored as now.
	z := profile(acct, "zero", "S3", "")
	z.CreatedAt, z.UpdatedAt = time.Time{}, time.Time{}
	before := time.Now().Add(-time.Second)
	must(t, s.ProfileCreate(ctx, z))
	if z.CreatedAt.Before(before) || z.UpdatedAt.Before(before) {
		t.Errorf("zero times stored as %v, %v, want about now", z.CreatedAt, z.UpdatedAt)
	}
}

func names[T any](items []T, name func(T) string) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, name(it))
	}
	return out
}

func profileName(p *store.Profile) string { return p.Name }
func flowName(f *store.Flow) string       { return f.Name }

func testProfileList(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	for _, p := range []*store.Profile{
		profile(acct, "e", "Salesforce", ""),
		profile(acct, "a", "Salesforce", ""),
		profile(acct, "c", "CustomConnector", "mine"),
		profile(acct, "b", "S3", ""),
		profile(acct, "d", "CustomConnector", "other"),
		profile(acct2, "a2", "Salesforce", ""),
	} {
		must(t, s.ProfileCreate(ctx, p))
	}
	for _, tc := range []struct {
		name   string
		params store.ProfileListParams
		want   []string
	}{
		{"all", store.ProfileListParams{AccountID: acct}, []string{"a", "b", "c", "d", "e"}},
		{"type", store.ProfileListParams{AccountID: acct, ConnectorType: "Salesforce"}, []string{"a", "e"}},
		{"label", store.ProfileListParams{AccountID: acct, Label: "mine"}, []string{"c"}},
		{"type+label", store.ProfileListParams{AccountID: acct, ConnectorType: "CustomConnector", Label: "other"}, []string{"d"}},
		{"names", store.ProfileListParams{AccountID: acct, Names: []string{"e", "b", "zz"}}, []string{"b", "e"}},
		{"names+type", store.ProfileListParams{AccountID: acct, Names: []string{"a", "b"}, ConnectorType: "S3"}, []string{"b"}},
		{"no match", store.ProfileListParams{AccountID: acct, ConnectorType: "Zendesk"}, []string{}},
		{"other account", store.ProfileListParams{AccountID: acct2}, []string{"a2"}},
		{"unknown account", store.ProfileListParams{AccountID: "999"}, []string{}},
	} {
		got, next, err := s.ProfileList(ctx, &tc.params)
		must(t, err)
		diff(t, "ProfileList "+tc.name, names(got, profileName), tc.want)
		if next != "" {
			t.Errorf("ProfileList %s: got next %q, want none", tc.name, next)
		}
	}

	// Pages of two, with a filter: the cursor keeps the filter's order.
	var all []string
	params := store.ProfileListParams{AccountID: acct, Page: store.Page{Limit: 2}}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("ProfileList: cursor never ends")
		}
		got, next, err := s.ProfileList(ctx, &params)
		must(t, err)
		if len(got) > 2 {
			t.Fatalf("ProfileList: got %d rows, want at most 2", len(got))
		}
		all = append(all, names(got, profileName)...)
		if next == "" {
			break
		}
		params.Page.After = next
	}
	diff(t, "ProfileList paged", all, []string{"a", "b", "c", "d", "e"})

	got, next, err := s.ProfileList(ctx, &store.ProfileListParams{AccountID: acct, ConnectorType: "Salesforce", Page: store.Page{Limit: 1}})
	must(t, err)
	diff(t, "ProfileList type page 1", names(got, profileName), []string{"a"})
	got, next, err = s.ProfileList(ctx, &store.ProfileListParams{AccountID: acct, ConnectorType: "Salesforce", Page: store.Page{Limit: 1, After: next}})
	must(t, err)
	diff(t, "ProfileList type page 2", names(got, profileName), []string{"e"})
	if next != "" {
		t.Errorf("ProfileList type page 2: got next %q, want none", next)
	}

	_, _, err = s.ProfileList(ctx, &store.ProfileListParams{AccountID: acct, Page: store.Page{After: "!!not a cursor"}})
	if fault.CodeOf(err) != fault.Invalid {
		t.Errorf("ProfileList bad cursor: got %v, want an Invalid fault", err)
	}
}

func testFlows(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	f := flow(acct, "f1", "sf", "s3out", "sf", "")
	must(t, s.FlowCreate(ctx, f))
	if f.Version != 1 {
		t.Errorf("FlowCreate: Version %d, want 1", f.Version)
	}
	diff(t, "FlowCreate ProfileNames", f.ProfileNames, []string{"s3out", "sf"})
	got, err := s.FlowGet(ctx, acct, "f1")
	must(t, err)
	diff(t, "FlowGet", got, f)

	wantIs(t, "FlowCreate duplicate", s.FlowCreate(ctx, flow(acct, "f1")), store.ErrConflict)
	_, err = s.FlowGet(ctx, acct, "nope")
	wantIs(t, "FlowGet missing", err, store.ErrNotFound)

	must(t, s.FlowCreate(ctx, flow(acct, "f2", "sf")))
	must(t, s.FlowCreate(ctx, flow(acct, "f3")))
	using, err := s.FlowsUsingProfile(ctx, acct, "sf")
	must(t, err)
	diff(t, "FlowsUsingProfile sf", using, []string{"f1", "f2"})

	// Update with the current version succeeds and bumps it.
	upd := *got
	upd.Status = "Suspended"
	upd.Doc = []byte(`{"v":2}`)
	upd.State = []byte(`{"watermark":42}`)
	upd.ProfileNames = []string{"zendesk"}
	upd.UpdatedAt = t0.Add(time.Minute)
	must(t, s.FlowUpdate(ctx, &upd))
	if upd.Version != 2 {
		t.Errorf("FlowUpdate: Version %d, want 2", upd.Version)
	}
	got, err = s.FlowGet(ctx, acct, "f1")
	must(t, err)
	diff(t, "FlowGet after update", got, &upd)
	using, err = s.FlowsUsingProfile(ctx, acct, "sf")
	must(t, err)
	diff(t, "FlowsUsingProfile sf after update", using, []string{"f2"})
	using, err = s.FlowsUsingProfile(ctx, acct, "zendesk")
	must(t, err)
	diff(t, "FlowsUsingProfile zendesk", using, []string{"f1"})

	// A stale version is a conflict and changes nothing.
	stale := *got
	stale.Version = 1
	stale.Status = "Draft"
	err = s.FlowUpdate(ctx, &stale)
	wantIs(t, "FlowUpdate stale", err, store.ErrConflict)
	if stale.Version != 1 {
		t.Errorf("FlowUpdate stale: Version moved to %d", stale.Version)
	}
	got, err = s.FlowGet(ctx, acct, "f1")
	must(t, err)
	if got.Status != "Suspended" || got.Version != 2 {
		t.Errorf("after stale update: got status %q version %d, want Suspended 2", got.Status, got.Version)
	}
	missing := flow(acct, "nope")
	missing.Version = 1
	wantIs(t, "FlowUpdate missing", s.FlowUpdate(ctx, missing), store.ErrNotFound)

	// Delete takes the flow's executions and profile uses with it.
	must(t, s.ExecutionCreate(ctx, execution(acct, "f1", "e1", t0)))
	must(t, s.ExecutionCreate(ctx, execution(acct, "f2", "e1", t0)))
	must(t, s.FlowDelete(ctx, acct, "f1"))
	_, err = s.FlowGet(ctx, acct, "f1")
	wantIs(t, "FlowGet after delete", err, store.ErrNotFound)
	_, err = s.ExecutionGet(ctx, acct, "f1", "e1")
	wantIs(t, "ExecutionGet after FlowDelete", err, store.ErrNotFound)
	if _, err := s.ExecutionGet(ctx, acct, "f2", "e1"); err != nil {
		t.Errorf("ExecutionGet of another flow after FlowDelete: %v", err)
	}
	using, err = s.FlowsUsingProfile(ctx, acct, "zendesk")
	must(t, err)
	diff(t, "FlowsUsingProfile after delete", using, []string{})
	wantIs(t, "FlowDelete again", s.FlowDelete(ctx, acct, "f1"), store.ErrNotFound)

	// A flow of the same name starts afresh.
	must(t, s.FlowCreate(ctx, flow(acct, "f1")))
	execs, _, err := s.ExecutionList(ctx, &store.ExecutionListParams{AccountID: acct, FlowName: "f1"})
	must(t, err)
	if len(execs) != 0 {
		t.Errorf("recreated flow has %d executions, want 0", len(execs))
	}
}

func testFlowUpdateRace(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	must(t, s.FlowCreate(ctx, flow(acct, "race")))
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := flow(acct, "race")
			f.Version = 1
			f.Status = fmt.Sprintf("writer-%d", i)
			errs[i] = s.FlowUpdate(ctx, f)
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("writer %d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("concurrent FlowUpdate of version 1: %d winners, want 1", won)
	}
	got, err := s.FlowGet(ctx, acct, "race")
	must(t, err)
	if got.Version != 2 {
		t.Errorf("after race: Version %d, want 2", got.Version)
	}
}

func testFlowList(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	var want []string
	for i := range 105 {
		name := fmt.Sprintf("flow-%03d", i)
		want = append(want, name)
		must(t, s.FlowCreate(ctx, flow(acct, name, fmt.Sprintf("p%d", i%3))))
	}
	must(t, s.FlowCreate(ctx, flow(acct2, "flow-other")))

	// The default page is 100.
	got, next, err := s.FlowList(ctx, &store.FlowListParams{AccountID: acct})
	must(t, err)
	if len(got) != 100 || next == "" {
		t.Fatalf("FlowList default: got %d rows and next %q, want 100 and a cursor", len(got), next)
	}
	diff(t, "FlowList page 1", names(got, flowName), want[:100])
	diff(t, "FlowList ProfileNames", got[4].ProfileNames, []string{"p1"})
	got, next, err = s.FlowList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{After: next}})
	must(t, err)
	diff(t, "FlowList page 2", names(got, flowName), want[100:])
	if next != "" {
		t.Errorf("FlowList last page: next %q, want none", next)
	}
	if got[0].Version != 1 || string(got[0].Doc) != `{"flowName":"flow-100"}` {
		t.Errorf("FlowList row: got version %d doc %s", got[0].Version, got[0].Doc)
	}

	// Exactly a page's worth: the cursor may lead to an empty last page, never lose rows.
	var all []string
	params := store.FlowListParams{AccountID: acct, Page: store.Page{Limit: 35}}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("FlowList: cursor never ends")
		}
		got, next, err := s.FlowList(ctx, &params)
		must(t, err)
		all = append(all, names(got, flowName)...)
		if next == "" {
			break
		}
		params.Page.After = next
	}
	diff(t, "FlowList paged by 35", all, want)
}

func testFlowListByStatus(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	var want []string
	for i := range 7 {
		for _, a := range []string{acct2, acct} {
			f := flow(a, fmt.Sprintf("f%d", i), "p")
			if i%3 == 0 {
				f.Status = "Suspended"
			} else {
				want = append(want, a+"/"+f.Name)
			}
			must(t, s.FlowCreate(ctx, f))
		}
	}
	sort.Strings(want)
	var got []string
	params := store.FlowListByStatusParams{Status: "Active", Page: store.Page{Limit: 3}}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("FlowListByStatus: cursor never ends")
		}
		rows, next, err := s.FlowListByStatus(ctx, &params)
		must(t, err)
		for _, f := range rows {
			got = append(got, f.AccountID+"/"+f.Name)
			if f.Status != "Active" || len(f.ProfileNames) != 1 || string(f.State) != `{"watermark":0}` {
				t.Errorf("FlowListByStatus row %s: got status %q profiles %v state %s", f.Name, f.Status, f.ProfileNames, f.State)
			}
		}
		if next == "" {
			break
		}
		params.Page.After = next
	}
	diff(t, "FlowListByStatus Active", got, want)
	if _, _, err := s.FlowListByStatus(ctx, &store.FlowListByStatusParams{Status: "Active", Page: store.Page{After: "junk"}}); err == nil {
		t.Error("FlowListByStatus with a bad cursor: got no error")
	}
}

func execution(account, flowName, id string, started time.Time) *store.Execution {
	return &store.Execution{
		AccountID: account, FlowName: flowName, ExecutionID: id,
		Status:    "InProgress",
		Doc:       []byte(`{"executionId":"` + id + `"}`),
		StartedAt: started, UpdatedAt: started,
	}
}

func testExecutions(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	wantIs(t, "ExecutionCreate without flow", s.ExecutionCreate(ctx, execution(acct, "f", "e1", t0)), store.ErrNotFound)
	must(t, s.FlowCreate(ctx, flow(acct, "f")))
	e := execution(acct, "f", "e1", t0)
	must(t, s.ExecutionCreate(ctx, e))
	got, err := s.ExecutionGet(ctx, acct, "f", "e1")
	must(t, err)
	diff(t, "ExecutionGet", got, e)
	wantIs(t, "ExecutionCreate duplicate", s.ExecutionCreate(ctx, execution(acct, "f", "e1", t0)), store.ErrConflict)
	_, err = s.ExecutionGet(ctx, acct, "f", "e2")
	wantIs(t, "ExecutionGet missing", err, store.ErrNotFound)

	if got.Version != 1 || e.Version != 1 {
		t.Errorf("versions after ExecutionCreate: stored %d, given back %d; want 1", got.Version, e.Version)
	}

	upd := *got
	upd.Status = "Successful"
	upd.Doc = []byte(`{"recordsProcessed":10}`)
	upd.UpdatedAt = t0.Add(time.Second)
	upd.Owner, upd.LeaseUntil = "replica-a", t0.Add(time.Minute)
	must(t, s.ExecutionUpdate(ctx, &upd))
	if upd.Version != 2 {
		t.Errorf("Version after ExecutionUpdate = %d, want 2", upd.Version)
	}
	got, err = s.ExecutionGet(ctx, acct, "f", "e1")
	must(t, err)
	diff(t, "ExecutionGet after update", got, &upd)

	stale := upd
	stale.Version = 1
	stale.Status = "Error"
	wantIs(t, "ExecutionUpdate with a stale version", s.ExecutionUpdate(ctx, &stale), store.ErrConflict)
	got, err = s.ExecutionGet(ctx, acct, "f", "e1")
	must(t, err)
	diff(t, "ExecutionGet after a stale update", got, &upd)

	// A lease cleared again reads back as zero.
	upd.Owner, upd.LeaseUntil = "", time.Time{}
	must(t, s.ExecutionUpdate(ctx, &upd))
	got, err = s.ExecutionGet(ctx, acct, "f", "e1")
	must(t, err)
	diff(t, "ExecutionGet after clearing the owner", got, &upd)

	missing := execution(acct, "f", "e9", t0)
	missing.Version = 1
	wantIs(t, "ExecutionUpdate missing", s.ExecutionUpdate(ctx, missing), store.ErrNotFound)

	// Of writers racing from one version, exactly one wins.
	base, err := s.ExecutionGet(ctx, acct, "f", "e1")
	must(t, err)
	const racers = 8
	errs := make(chan error, racers)
	for i := range racers {
		go func() {
			c := *base
			c.Owner = fmt.Sprintf("racer-%d", i)
			errs <- s.ExecutionUpdate(ctx, &c)
		}()
	}
	won := 0
	for range racers {
		switch err := <-errs; {
		case err == nil:
			won++
		case !store.IsConflict(err):
			t.Errorf("racing ExecutionUpdate: %v, want nil or ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d racing ExecutionUpdates won, want exactly 1", won, racers)
	}
}

func testExecutionList(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	must(t, s.FlowCreate(ctx, flow(acct, "f")))
	must(t, s.FlowCreate(ctx, flow(acct, "g")))
	// Ten executions over five start times, two per time: ties break by id, descending.
	var want []string
	for i := 4; i >= 0; i-- {
		for _, suffix := range []string{"b", "a"} {
			want = append(want, fmt.Sprintf("e%d%s", i, suffix))
		}
	}
	for _, id := range []string{"e3a", "e0b", "e4a", "e1a", "e2b", "e0a", "e4b", "e2a", "e1b", "e3b"} {
		started := t0.Add(time.Duration(id[1]-'0') * time.Minute)
		must(t, s.ExecutionCreate(ctx, execution(acct, "f", id, started)))
	}
	must(t, s.ExecutionCreate(ctx, execution(acct, "g", "g1", t0.Add(time.Hour))))

	got, next, err := s.ExecutionList(ctx, &store.ExecutionListParams{AccountID: acct, FlowName: "f"})
	must(t, err)
	diff(t, "ExecutionList", names(got, func(e *store.Execution) string { return e.ExecutionID }), want)
	if next != "" {
		t.Errorf("ExecutionList: next %q, want none", next)
	}
	for i := 1; i < len(got); i++ {
		if got[i].StartedAt.After(got[i-1].StartedAt) {
			t.Errorf("ExecutionList: %s started after %s", got[i].ExecutionID, got[i-1].ExecutionID)
		}
	}

	var all []string
	params := store.ExecutionListParams{AccountID: acct, FlowName: "f", Page: store.Page{Limit: 3}}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("ExecutionList: cursor never ends")
		}
		got, next, err := s.ExecutionList(ctx, &params)
		must(t, err)
		if len(got) > 3 {
			t.Fatalf("ExecutionList: got %d rows, want at most 3", len(got))
		}
		all = append(all, names(got, func(e *store.Execution) string { return e.ExecutionID })...)
		if next == "" {
			break
		}
		params.Page.After = next
	}
	diff(t, "ExecutionList paged by 3", all, want)

	// A new execution while paging does not shift later pages.
	params = store.ExecutionListParams{AccountID: acct, FlowName: "f", Page: store.Page{Limit: 4}}
	_, next, err = s.ExecutionList(ctx, &params)
	must(t, err)
	must(t, s.ExecutionCreate(ctx, execution(acct, "f", "new", t0.Add(time.Hour))))
	params.Page.After = next
	got, _, err = s.ExecutionList(ctx, &params)
	must(t, err)
	diff(t, "ExecutionList page 2 after an insert", names(got, func(e *store.Execution) string { return e.ExecutionID }), want[4:8])

	_, _, err = s.ExecutionList(ctx, &store.ExecutionListParams{AccountID: acct, FlowName: "f",
		Page: store.Page{After: "bm9wZQ"}})
	if fault.CodeOf(err) != fault.Invalid {
		t.Errorf("ExecutionList bad cursor: got %v, want an Invalid fault", err)
	}
}

func testRegistrations(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	reg := func(label string) *store.Registration {
		return &store.Registration{AccountID: acct, Label: label,
			Arn: "arn:aws:appflow:us-east-1:" + acct + ":connector/" + label,
			Doc: []byte(`{"label":"` + label + `"}`), CreatedAt: t0, UpdatedAt: t0}
	}
	r := reg("c1")
	must(t, s.RegistrationCreate(ctx, r))
	got, err := s.RegistrationGet(ctx, acct, "c1")
	must(t, err)
	diff(t, "RegistrationGet", got, r)
	wantIs(t, "RegistrationCreate duplicate", s.RegistrationCreate(ctx, reg("c1")), store.ErrConflict)
	_, err = s.RegistrationGet(ctx, acct, "c9")
	wantIs(t, "RegistrationGet missing", err, store.ErrNotFound)

	upd := *got
	upd.Doc = []byte(`{"v":2}`)
	upd.UpdatedAt = t0.Add(time.Hour)
	must(t, s.RegistrationUpdate(ctx, &upd))
	got, err = s.RegistrationGet(ctx, acct, "c1")
	must(t, err)
	diff(t, "RegistrationGet after update", got, &upd)
	wantIs(t, "RegistrationUpdate missing", s.RegistrationUpdate(ctx, reg("c9")), store.ErrNotFound)

	for _, l := range []string{"c4", "c2", "c3"} {
		must(t, s.RegistrationCreate(ctx, reg(l)))
	}
	list, next, err := s.RegistrationList(ctx, &store.RegistrationListParams{AccountID: acct, Page: store.Page{Limit: 3}})
	must(t, err)
	label := func(r *store.Registration) string { return r.Label }
	diff(t, "RegistrationList page 1", names(list, label), []string{"c1", "c2", "c3"})
	list, next, err = s.RegistrationList(ctx, &store.RegistrationListParams{AccountID: acct, Page: store.Page{Limit: 3, After: next}})
	must(t, err)
	diff(t, "RegistrationList page 2", names(list, label), []string{"c4"})
	if next != "" {
		t.Errorf("RegistrationList last page: next %q, want none", next)
	}

	must(t, s.RegistrationDelete(ctx, acct, "c1"))
	_, err = s.RegistrationGet(ctx, acct, "c1")
	wantIs(t, "RegistrationGet after delete", err, store.ErrNotFound)
	wantIs(t, "RegistrationDelete again", s.RegistrationDelete(ctx, acct, "c1"), store.ErrNotFound)
}

func testTags(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	arn := "arn:aws:appflow:us-east-1:" + acct + ":flow/f"
	other := "arn:aws:appflow:us-east-1:" + acct + ":flow/g"
	got, err := s.TagsGet(ctx, arn)
	must(t, err)
	if got == nil || len(got) != 0 {
		t.Errorf("TagsGet untagged: got %#v, want an empty map", got)
	}
	must(t, s.TagsSet(ctx, arn, map[string]string{"env": "dev", "team": "data"}))
	must(t, s.TagsSet(ctx, other, map[string]string{"env": "prod"}))
	must(t, s.TagsSet(ctx, arn, map[string]string{"env": "prod", "cost": "42"}))
	got, err = s.TagsGet(ctx, arn)
	must(t, err)
	diff(t, "TagsGet after merge", got, map[string]string{"env": "prod", "team": "data", "cost": "42"})

	must(t, s.TagsRemove(ctx, arn, []string{"team", "absent"}))
	got, err = s.TagsGet(ctx, arn)
	must(t, err)
	diff(t, "TagsGet after remove", got, map[string]string{"env": "prod", "cost": "42"})

	must(t, s.TagsDeleteAll(ctx, arn))
	got, err = s.TagsGet(ctx, arn)
	must(t, err)
	diff(t, "TagsGet after delete all", got, map[string]string{})
	got, err = s.TagsGet(ctx, other)
	must(t, err)
	diff(t, "TagsGet of another ARN", got, map[string]string{"env": "prod"})
	must(t, s.TagsDeleteAll(ctx, arn)) // nothing left: not an error
}

func testTokens(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	tok := func(hash string, at time.Time) *store.Token {
		return &store.Token{AccountID: acct, Operation: "CreateFlow", Token: "tok-1", RequestHash: hash, CreatedAt: at}
	}
	notBefore := t0.Add(-time.Hour)

	res, err := s.TokenClaim(ctx, tok("h1", t0), notBefore)
	must(t, err)
	if res.Existing != nil {
		t.Fatalf("first claim: got Existing %+v, want nil", res.Existing)
	}
	// A second claim while the first runs sees it, without a response.
	res, err = s.TokenClaim(ctx, tok("h2", t0.Add(time.Second)), notBefore)
	must(t, err)
	if res.Existing == nil {
		t.Fatal("second claim: got no Existing, want the first use")
	}
	diff(t, "second claim Existing", res.Existing, &store.Token{AccountID: acct, Operation: "CreateFlow",
		Token: "tok-1", RequestHash: "h1", CreatedAt: t0.Truncate(time.Microsecond)})

	must(t, s.TokenComplete(ctx, acct, "CreateFlow", "tok-1", []byte(`{"flowArn":"x"}`)))
	res, err = s.TokenClaim(ctx, tok("h1", t0.Add(2*time.Second)), notBefore)
	must(t, err)
	if res.Existing == nil || string(res.Existing.Response) != `{"flowArn":"x"}` {
		t.Fatalf("claim after complete: got %+v, want the stored response", res.Existing)
	}
	wantIs(t, "TokenComplete unknown", s.TokenComplete(ctx, acct, "CreateFlow", "nope", []byte(`{}`)), store.ErrNotFound)

	// Another operation, or another account, is another token.
	other := tok("h1", t0)
	other.Operation = "StartFlow"
	res, err = s.TokenClaim(ctx, other, notBefore)
	must(t, err)
	if res.Existing != nil {
		t.Errorf("claim for another operation: got Existing %+v, want nil", res.Existing)
	}
	other = tok("h1", t0)
	other.AccountID = acct2
	res, err = s.TokenClaim(ctx, other, notBefore)
	must(t, err)
	if res.Existing != nil {
		t.Errorf("claim in another account: got Existing %+v, want nil", res.Existing)
	}

	// Release forgets the claim: a retry runs again.
	must(t, s.TokenRelease(ctx, acct, "CreateFlow", "tok-1"))
	must(t, s.TokenRelease(ctx, acct, "CreateFlow", "tok-1"))
	res, err = s.TokenClaim(ctx, tok("h3", t0.Add(3*time.Second)), notBefore)
	must(t, err)
	if res.Existing != nil {
		t.Fatalf("claim after release: got Existing %+v, want nil", res.Existing)
	}

	// A use older than notBefore is replaced: this claim wins, and the next sees it.
	must(t, s.TokenComplete(ctx, acct, "CreateFlow", "tok-1", []byte(`{"old":true}`)))
	later := t0.Add(48 * time.Hour)
	res, err = s.TokenClaim(ctx, tok("h4", later), later.Add(-time.Hour))
	must(t, err)
	if res.Existing != nil {
		t.Fatalf("claim after expiry: got Existing %+v, want nil", res.Existing)
	}
	res, err = s.TokenClaim(ctx, tok("h5", later.Add(time.Second)), later.Add(-time.Hour))
	must(t, err)
	if res.Existing == nil || res.Existing.RequestHash != "h4" || res.Existing.Response != nil {
		t.Fatalf("claim after replacement: got %+v, want h4 without a response", res.Existing)
	}
	// A zero notBefore never expires a use.
	res, err = s.TokenClaim(ctx, tok("h7", later.Add(3*time.Second)), time.Time{})
	must(t, err)
	if res.Existing == nil || res.Existing.RequestHash != "h4" {
		t.Fatalf("claim with zero notBefore: got %+v, want h4", res.Existing)
	}
	// The boundary: a use at exactly notBefore is still valid.
	res, err = s.TokenClaim(ctx, tok("h6", later.Add(2*time.Second)), later)
	must(t, err)
	if res.Existing == nil || res.Existing.RequestHash != "h4" {
		t.Fatalf("claim with notBefore == created: got %+v, want h4", res.Existing)
	}
}

func testTokenClaimRace(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	for round := range 3 {
		const n = 20
		var wg sync.WaitGroup
		results := make([]*store.TokenClaimResult, n)
		errs := make([]error, n)
		start := make(chan struct{})
		// Round 2 races to replace an expired use.
		notBefore := t0.Add(time.Duration(round) * time.Hour)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = s.TokenClaim(ctx, &store.Token{AccountID: acct, Operation: "StartFlow",
					Token: fmt.Sprintf("race-%d", min(round, 1)), RequestHash: fmt.Sprint(i),
					CreatedAt: notBefore.Add(time.Minute)}, notBefore)
			}()
		}
		close(start)
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d claim %d: %v", round, i, errs[i])
			}
			if results[i].Existing == nil {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d concurrent claims won, want exactly 1", round, winners)
		}
	}
}

func testAccounts(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	for _, a := range []string{acct, acct2} {
		must(t, s.ProfileCreate(ctx, profile(a, "same", "S3", "")))
		must(t, s.FlowCreate(ctx, flow(a, "same", "same")))
		must(t, s.ExecutionCreate(ctx, execution(a, "same", "e1", t0)))
		must(t, s.RegistrationCreate(ctx, &store.Registration{AccountID: a, Label: "same", Arn: a, Doc: []byte(a)}))
	}
	p := profile(acct2, "same", "Slack", "")
	must(t, s.ProfileUpdate(ctx, p))
	got, err := s.ProfileGet(ctx, acct, "same")
	must(t, err)
	if got.ConnectorType != "S3" {
		t.Errorf("update in account 2 changed account 1's profile: got type %q", got.ConnectorType)
	}
	must(t, s.FlowDelete(ctx, acct2, "same"))
	if _, err := s.FlowGet(ctx, acct, "same"); err != nil {
		t.Errorf("delete in account 2 removed account 1's flow: %v", err)
	}
	if _, err := s.ExecutionGet(ctx, acct, "same", "e1"); err != nil {
		t.Errorf("delete in account 2 removed account 1's execution: %v", err)
	}
	using, err := s.FlowsUsingProfile(ctx, acct2, "same")
	must(t, err)
	diff(t, "FlowsUsingProfile account 2", using, []string{})
	using, err = s.FlowsUsingProfile(ctx, acct, "same")
	must(t, err)
	diff(t, "FlowsUsingProfile account 1", using, []string{"same"})
	flows, _, err := s.FlowList(ctx, &store.FlowListParams{AccountID: acct2})
	must(t, err)
	if len(flows) != 0 {
		t.Errorf("FlowList account 2: got %d flows, want 0", len(flows))
	}
	r, err := s.RegistrationGet(ctx, acct2, "same")
	must(t, err)
	if string(r.Doc) != acct2 {
		t.Errorf("RegistrationGet account 2: got doc %s", r.Doc)
	}
	must(t, s.ProfileDelete(ctx, acct, "same"))
	if _, err := s.ProfileGet(ctx, acct2, "same"); err != nil {
		t.Errorf("delete in account 1 removed account 2's profile: %v", err)
	}
}

func testReopen(t *testing.T, s store.Store, open func(*testing.T) store.Store) {
	ctx := context.Background()
	p := profile(acct, "p", "S3", "")
	f := flow(acct, "f", "p")
	e := execution(acct, "f", "e1", t0)
	r := &store.Registration{AccountID: acct, Label: "c", Arn: "arn:c", Doc: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0}
	must(t, s.ProfileCreate(ctx, p))
	must(t, s.FlowCreate(ctx, f))
	must(t, s.FlowUpdate(ctx, f))
	must(t, s.ExecutionCreate(ctx, e))
	must(t, s.RegistrationCreate(ctx, r))
	must(t, s.TagsSet(ctx, f.Arn, map[string]string{"k": "v"}))
	_, err := s.TokenClaim(ctx, &store.Token{AccountID: acct, Operation: "CreateFlow", Token: "t", RequestHash: "h", CreatedAt: t0}, t0)
	must(t, err)
	must(t, s.TokenComplete(ctx, acct, "CreateFlow", "t", []byte(`{"ok":1}`)))
	must(t, s.Close())

	s = open(t)
	gp, err := s.ProfileGet(ctx, acct, "p")
	must(t, err)
	diff(t, "profile after reopen", gp, p)
	gf, err := s.FlowGet(ctx, acct, "f")
	must(t, err)
	diff(t, "flow after reopen", gf, f)
	if gf.Version != 2 {
		t.Errorf("flow version after reopen: got %d, want 2", gf.Version)
	}
	ge, err := s.ExecutionGet(ctx, acct, "f", "e1")
	must(t, err)
	diff(t, "execution after reopen", ge, e)
	gr, err := s.RegistrationGet(ctx, acct, "c")
	must(t, err)
	diff(t, "registration after reopen", gr, r)
	tags, err := s.TagsGet(ctx, f.Arn)
	must(t, err)
	diff(t, "tags after reopen", tags, map[string]string{"k": "v"})
	res, err := s.TokenClaim(ctx, &store.Token{AccountID: acct, Operation: "CreateFlow", Token: "t", RequestHash: "h", CreatedAt: t0}, t0)
	must(t, err)
	if res.Existing == nil || string(res.Existing.Response) != `{"ok":1}` {
		t.Errorf("token after reopen: got %+v, want the stored response", res.Existing)
	}
}
