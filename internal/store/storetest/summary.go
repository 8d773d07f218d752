package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/appflowd/appflowd/internal/store"
)

// summaryDoc is a flow document with what a list shows and what it does
// not (tasks, connector properties, a second destination).
func summaryDoc(name, description, trigger string) []byte {
	return fmt.Appendf(nil, `{"createdAt":1.7e9,"createdBy":"arn:aws:iam::1:user/a","description":%q,`+
		`"destinationFlowConfigList":[{"connectorProfileName":"out","connectorType":"S3","destinationConnectorProperties":{"S3":{"bucketName":"lake"}}},`+
		`{"connectorType":"Snowflake"}],"flowArn":"arn:aws:appflow:us-east-1:1:flow/%s","flowName":%q,"flowStatus":"Active",`+
		`"lastUpdatedAt":1700000000.123,"lastUpdatedBy":"arn:aws:iam::1:user/b","sourceFlowConfig":{"connectorProfileName":"in",`+
		`"connectorType":"Salesforce","sourceConnectorProperties":{"Salesforce":{"object":"Account"}}},`+
		`"tasks":[{"sourceFields":[],"taskType":"Map_all"}],"triggerConfig":{"triggerProperties":{},"triggerType":%q}}`,
		description, name, name, trigger)
}

// wantSummary checks that the list shows the flow's summary of the document
// FlowGet reads, so no write left it behind.
func wantSummary(t *testing.T, s store.Store, what, name string) {
	t.Helper()
	ctx := context.Background()
	f, err := s.FlowGet(ctx, acct, name)
	must(t, err)
	views, _, err := s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{Limit: 100}})
	must(t, err)
	for _, v := range views {
		if v.Flow.Name != name {
			continue
		}
		want := store.FlowListSummary(f.Doc)
		if want == nil {
			want = f.Doc
		}
		if !bytes.Equal(v.Summary, want) {
			t.Errorf("%s: list summary of %s\n got %s\nwant %s", what, name, v.Summary, want)
		}
		if v.Flow.Doc != nil {
			t.Errorf("%s: list view of %s has the document too", what, name)
		}
		return
	}
	t.Errorf("%s: %s not listed", what, name)
}

// testFlowSummary checks that every write of a flow's document writes its
// list summary with it: create, update, a state write, concurrent writers
// of either kind, and documents that are not objects.
func testFlowSummary(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	f := flow(acct, "sum")
	f.Doc = summaryDoc("sum", `a <b> & "c" \u00e9 é`, "OnDemand")
	must(t, s.FlowCreate(ctx, f))
	wantSummary(t, s, "FlowCreate", "sum")

	f.Doc = summaryDoc("sum", "changed", "Scheduled")
	must(t, s.FlowUpdate(ctx, f))
	wantSummary(t, s, "FlowUpdate", "sum")

	f.State = []byte(`{"watermark":7}`)
	written, err := s.FlowStateUpdateMany(ctx, []*store.Flow{f})
	must(t, err)
	if !written[0] {
		t.Fatal("FlowStateUpdateMany: not written")
	}
	f.Version++
	wantSummary(t, s, "FlowStateUpdateMany", "sum")

	// A document that is not an object is listed as it is.
	odd := flow(acct, "odd")
	odd.Doc = []byte(`not json`)
	must(t, s.FlowCreate(ctx, odd))
	wantSummary(t, s, "FlowCreate of a bad document", "odd")
	odd.Doc = summaryDoc("odd", "now an object", "Event")
	must(t, s.FlowUpdate(ctx, odd))
	wantSummary(t, s, "FlowUpdate to an object", "odd")

	// Writers of the document and of the state race; each retries on a
	// conflict. Whoever wins last, the summary is of the document kept.
	const writers = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	// race has a writer write five times, each from a fresh read, until
	// its write lands; write reports whether it did.
	race := func(write func(cur *store.Flow, round int) (bool, error)) {
		wg.Go(func() {
			for round := range 5 {
				for {
					cur, err := s.FlowGet(ctx, acct, "sum")
					if err != nil {
						errs <- err
						return
					}
					done, err := write(cur, round)
					if err != nil {
						errs <- err
						return
					}
					if done {
						break
					}
				}
			}
		})
	}
	for i := range writers {
		race(func(cur *store.Flow, round int) (bool, error) {
			cur.Doc = summaryDoc("sum", fmt.Sprintf("writer %d round %d", i, round), "OnDemand")
			err := s.FlowUpdate(ctx, cur)
			if errors.Is(err, store.ErrConflict) {
				return false, nil
			}
			return err == nil, err
		})
		race(func(cur *store.Flow, round int) (bool, error) {
			cur.State = fmt.Appendf(nil, `{"watermark":%d}`, 100*i+round)
			w, err := s.FlowStateUpdateMany(ctx, []*store.Flow{cur})
			return err == nil && w[0], err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantSummary(t, s, "after concurrent writers", "sum")
}

// FlowSummaryCatchUp checks that a flow whose document was written without
// its summary (stored before the summary existed, or written by an older
// binary) is listed from its document, and from a fresh summary once the
// store is opened again. oldWrite writes a document as an older binary
// did: the document and the version, nothing else.
func FlowSummaryCatchUp(t *testing.T, open func(t *testing.T) store.Store, oldWrite func(t *testing.T, account, name string, doc []byte)) {
	ctx := context.Background()
	s := open(t)
	f := flow(acct, "old")
	f.Doc = summaryDoc("old", "first", "OnDemand")
	must(t, s.FlowCreate(ctx, f))
	oldWrite(t, acct, "old", summaryDoc("old", "written by an older binary", "Scheduled"))
	views, _, err := s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{Limit: 10}})
	must(t, err)
	got, err := s.FlowGet(ctx, acct, "old")
	must(t, err)
	if len(views) != 1 || !bytes.Equal(views[0].Summary, got.Doc) {
		t.Fatalf("list after an older binary's write: got %q, want the document %s", views[0].Summary, got.Doc)
	}
	must(t, s.Close())
	s = open(t)
	wantSummary(t, s, "after reopening", "old")
	views, _, err = s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{Limit: 10}})
	must(t, err)
	if bytes.Equal(views[0].Summary, got.Doc) {
		t.Error("after reopening: still listed from the document")
	}
}
