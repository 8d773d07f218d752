package salesforceconn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
	"github.com/appflowd/appflowd/internal/jobs"
	"github.com/appflowd/appflowd/internal/record"
)

// cdcFixture is an org with an Account object and an EventSource on it.
type cdcFixture struct {
	t   *testing.T
	org *sftest.Org
	es  *EventSource
}

func newCDC(t *testing.T) *cdcFixture {
	org := sftest.NewOrg(t)
	org.AddObject("Account", sftest.F("Name", "string"), sftest.F("Employees", "int"))
	deps := connector.Deps{HTTPClient: org.Client()}
	profile := func(ctx context.Context, account, name string) (connector.Profile, error) {
		props, _ := json.Marshal(map[string]string{"instanceUrl": org.URL()})
		creds, _ := json.Marshal(map[string]string{"accessToken": sftest.AccessToken, "refreshToken": sftest.RefreshToken})
		return connector.Profile{Name: name, Properties: props, Credentials: creds}, nil
	}
	es := NewEventSource(deps, profile)
	es.Opts = Options{ClientID: sftest.ClientID, ClientSecret: sftest.ClientSecret}
	es.Wait = 100 * time.Millisecond
	return &cdcFixture{t: t, org: org, es: es}
}

func (f *cdcFixture) flow(deleted bool) jobs.EventFlow {
	props, _ := json.Marshal(map[string]any{"object": "Account", "includeDeletedRecords": deleted})
	return jobs.EventFlow{AccountID: "000000000000", FlowName: "f", ConnectorType: Type, ProfileName: "sf", Properties: props}
}

func (f *cdcFixture) poll(src jobs.EventFlow, cursor json.RawMessage, max int) jobs.EventPoll {
	f.t.Helper()
	p, err := f.es.Poll(context.Background(), src, cursor, max)
	if err != nil {
		f.t.Fatalf("Poll: %v", err)
	}
	if p.Cursor == nil {
		f.t.Fatal("Poll returned no cursor")
	}
	return p
}

func splitsOf(p jobs.EventPoll) []string {
	var out []string
	for _, e := range p.Events {
		out = append(out, e.Split)
	}
	return out
}

func TestCDCBaselineThenChanges(t *testing.T) {
	f := newCDC(t)
	src := f.flow(false)
	before := f.org.Insert("Account", map[string]any{"Name": "before activation"})

	base := f.poll(src, nil, 1000)
	if len(base.Events) != 0 {
		t.Fatalf("baseline poll returned events: %v", splitsOf(base))
	}
	if p := f.poll(src, base.Cursor, 1000); len(p.Events) != 0 {
		t.Fatalf("a change made before activation is an event: %v", splitsOf(p))
	}

	ids := f.org.Insert("Account", map[string]any{"Name": "new one"}, map[string]any{"Name": "new two"})
	f.org.Update("Account", before[0], map[string]any{"Employees": float64(7)})
	p := f.poll(src, base.Cursor, 1000)
	want := []string{ids[0], ids[1], before[0]}
	if got := splitsOf(p); !slices.Equal(got, want) {
		t.Fatalf("events: got %v, want %v", got, want)
	}
	for _, e := range p.Events {
		if !strings.HasPrefix(e.ID, "/data/AccountChangeEvent/") {
			t.Errorf("event id %q does not name its channel and replay id", e.ID)
		}
	}
	// The same cursor replays the same events (the planner may poll twice).
	again := f.poll(src, base.Cursor, 1000)
	if !slices.Equal(splitsOf(again), want) || string(again.Cursor) != string(p.Cursor) {
		t.Errorf("a second poll from the same cursor: %v %s, want %v %s", splitsOf(again), again.Cursor, want, p.Cursor)
	}
	// From the new cursor: nothing, until the next change.
	if q := f.poll(src, p.Cursor, 1000); len(q.Events) != 0 || string(q.Cursor) != string(p.Cursor) {
		t.Errorf("poll after the wave: %v cursor %s (was %s)", splitsOf(q), q.Cursor, p.Cursor)
	}
}

func TestCDCDeletesOnlyWithIncludeDeletedRecords(t *testing.T) {
	f := newCDC(t)
	ids := f.org.Insert("Account", map[string]any{"Name": "doomed"}, map[string]any{"Name": "kept"})
	without, with := f.flow(false), f.flow(true)
	c1 := f.poll(without, nil, 1000).Cursor
	c2 := f.poll(with, nil, 1000).Cursor
	f.org.AddObject("Other") // other objects' changes are not on the channel
	f.org.Insert("Other", map[string]any{})
	// Soft delete through sObject Collections, as a user's API client would.
	d := openTest(t, f.org, Options{ClientID: sftest.ClientID, ClientSecret: sftest.ClientSecret}, goodCreds)
	if _, err := d.c.do(context.Background(), req{method: "DELETE", path: "/composite/sobjects", query: map[string][]string{"ids": {ids[0]}}}); err != nil {
		t.Fatal(err)
	}
	f.org.Undelete("Account", ids[0])
	if got := splitsOf(f.poll(without, c1, 1000)); !slices.Equal(got, []string{ids[0]}) {
		t.Errorf("without includeDeletedRecords: %v, want the UNDELETE only", got)
	}
	if got := splitsOf(f.poll(with, c2, 1000)); !slices.Equal(got, []string{ids[0], ids[0]}) {
		t.Errorf("with includeDeletedRecords: %v, want the DELETE and the UNDELETE", got)
	}
}

func TestCDCMaxAndBatches(t *testing.T) {
	f := newCDC(t)
	f.org.SetCometBatch(7) // several connects per poll
	src := f.flow(false)
	cur := f.poll(src, nil, 1000).Cursor
	var want []string
	for i := range 25 {
		want = append(want, f.org.Insert("Account", map[string]any{"Name": fmt.Sprint("r", i)})...)
	}
	var got []string
	for range 10 {
		p := f.poll(src, cur, 10)
		if len(p.Events) > 10 {
			t.Fatalf("poll returned %d events, max 10", len(p.Events))
		}
		got = append(got, splitsOf(p)...)
		cur = p.Cursor
		if len(p.Events) == 0 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("events over bounded polls: got %v, want %v", got, want)
	}
}

func TestCDCRehandshakeAndTokenRefresh(t *testing.T) {
	f := newCDC(t)
	src := f.flow(false)
	cur := f.poll(src, nil, 1000).Cursor
	ids := f.org.Insert("Account", map[string]any{"Name": "a"})
	f.org.ExpireTokens() // 403::Handshake denied, failureReason 401::Authentication invalid
	p := f.poll(src, cur, 1000)
	if !slices.Equal(splitsOf(p), ids) {
		t.Fatalf("after token expiry: %v, want %v", splitsOf(p), ids)
	}
	if n := f.org.Logged("POST /services/oauth2/token"); n != 1 {
		t.Errorf("token requests: %d, want 1 refresh", n)
	}

	// A session the server dropped mid-poll: 403::Unknown client, advice
	// handshake; the poll handshakes again and resumes from what it took.
	f.org.SetCometBatch(1)
	more := f.org.Insert("Account", map[string]any{"Name": "b"}, map[string]any{"Name": "c"}, map[string]any{"Name": "d"})
	f.es.Wait = 300 * time.Millisecond
	f.org.DropCometClientsAfter(2) // the first two connects bring b and c
	shakes := f.org.CometHandshakes()
	q := f.poll(src, p.Cursor, 1000)
	if n := f.org.CometHandshakes() - shakes; n != 2 {
		t.Errorf("handshakes in the poll: %d, want 2", n)
	}
	if !slices.Equal(splitsOf(q), more) {
		t.Errorf("across a re-handshake: %v, want %v", splitsOf(q), more)
	}
}

func TestCDCExpiredReplayPositionReplaysRetained(t *testing.T) {
	f := newCDC(t)
	src := f.flow(false)
	cur := f.poll(src, nil, 1000).Cursor
	f.org.Insert("Account", map[string]any{"Name": "seen"})
	cur = f.poll(src, cur, 1000).Cursor
	f.org.ExpireEvents() // appflowd was down past the retention window
	ids := f.org.Insert("Account", map[string]any{"Name": "after"})
	if got := splitsOf(f.poll(src, cur, 1000)); !slices.Equal(got, ids) {
		t.Errorf("after the stored position expired: %v, want %v", got, ids)
	}
}

func TestCDCGapEvents(t *testing.T) {
	f := newCDC(t)
	src := f.flow(false)
	cur := f.poll(src, nil, 1000).Cursor
	f.org.Gap("Account", "GAP_UPDATE", "a00000000000000099")
	f.org.Gap("Account", "GAP_OVERFLOW")
	if got := splitsOf(f.poll(src, cur, 1000)); !slices.Equal(got, []string{"a00000000000000099", "*"}) {
		t.Errorf("gap events: %v", got)
	}
}

func TestCDCPollIsBounded(t *testing.T) {
	f := newCDC(t)
	f.es.Wait = 200 * time.Millisecond
	src := f.flow(false)
	cur := f.poll(src, nil, 1000).Cursor
	start := time.Now()
	f.poll(src, cur, 1000)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a quiet poll took %s", d)
	}
	// A stream that keeps delivering is cut by the budget, keeping what it took.
	f.es.Budget = 300 * time.Millisecond
	f.org.SetCometBatch(1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				f.org.Insert("Account", map[string]any{"Name": "busy"})
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	start = time.Now()
	p := f.poll(src, cur, 100000)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a busy poll took %s, budget 300ms", d)
	}
	if len(p.Events) == 0 {
		t.Error("a busy poll cut by its budget returned nothing")
	}
}

func TestCDCUnknownObject(t *testing.T) {
	f := newCDC(t)
	props, _ := json.Marshal(map[string]any{"object": "Nope__c"})
	_, err := f.es.Poll(context.Background(), jobs.EventFlow{ConnectorType: Type, ProfileName: "sf", Properties: props}, nil, 10)
	if err == nil || !strings.Contains(err.Error(), "doesn't exist") {
		t.Errorf("subscribe to a channel that does not exist: %v", err)
	}
}

func TestNamedSplitsReadExactlyThoseRecords(t *testing.T) {
	org := sftest.NewOrg(t)
	org.AddObject("Account", sftest.F("Name", "string"), sftest.F("Employees", "int"))
	var all []string
	for i := range 450 {
		all = append(all, org.Insert("Account", map[string]any{"Name": fmt.Sprint("n", i), "Employees": float64(i)})...)
	}
	d := openTest(t, org, Options{ClientID: sftest.ClientID, ClientSecret: sftest.ClientSecret}, goodCreds)
	want := append(slices.Clone(all[10:260]), all[400], all[400], all[20]) // 251 distinct, some twice
	props, _ := json.Marshal(map[string]any{"object": "AccountChangeEvent", "dataTransferApi": "AUTOMATIC"})
	r := &connector.ReadRequest{Object: "AccountChangeEvent", Properties: props, Fields: []string{"Id", "Name"},
		Filters: []connector.Filter{{Field: "Employees", Operator: "LESS_THAN", Values: []string{"300"}, DataType: "integer"}}}
	splits, err := d.NamedSplits(context.Background(), r, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) != 2 {
		t.Fatalf("splits: %d, want 2 chunks of at most %d ids", len(splits), idChunk)
	}
	var bs []*record.Batch
	for _, s := range splits {
		if err := d.ReadSplit(context.Background(), r, s, func(b *record.Batch) error { bs = append(bs, b); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, row := range rowsOf(bs) {
		got = append(got, row[0].Text())
	}
	slices.Sort(got)
	// Each named record once, only named ones, with the pushed-down
	// filter (Employees < 300) too: all[400] is named but filtered.
	exp := slices.Sorted(slices.Values(all[10:260]))
	if !slices.Equal(got, exp) {
		t.Errorf("records read: %d, want the %d named ones under 300 employees", len(got), len(exp))
	}
	if n := org.Logged("GET " + sftest.VersionPrefix + "/query"); n != 2 {
		t.Errorf("REST queries: %d, want 2 (no count query, one per chunk)", n)
	}

	// A wave with a GAP_OVERFLOW reads the whole object.
	splits, err = d.NamedSplits(context.Background(), r, []string{all[0], "*"})
	if err != nil || len(splits) != 1 || splits[0].Name != "Account" {
		t.Fatalf("whole-object wave: %v %v", splits, err)
	}
}

// The roles the driver plays, checked at compile time.
var (
	_ connector.SourceDriver      = (*Driver)(nil)
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
	_ connector.ProfileChecker    = (*Driver)(nil)
)
