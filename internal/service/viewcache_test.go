package service

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// stampingStore gives the views of the store under it (SQLite, which keeps
// no stamps) a stamp: a hash of what the view shows, read with it. The
// document is left out, so that a get's view (the document) and a list's
// (its summary) of one state have one stamp: every change of the document
// is an update, which changes the version. It counts the views its callers
// knew.
type stampingStore struct {
	store.Store
	known atomic.Int64
}

func (s *stampingStore) stamp(v *store.FlowView, known store.KnownView) *store.FlowView {
	f := *v.Flow
	f.Doc = nil
	h := sha256.New()
	fmt.Fprintf(h, "%+v|%q|%q|%v", f, v.Tags, v.Labels, v.Newest != nil)
	if v.Newest != nil {
		fmt.Fprintf(h, "%+v", *v.Newest)
	}
	v.Stamp = binary.BigEndian.Uint64(h.Sum(nil)) | 1
	if known != nil && known(v.Flow.Name, v.Stamp) {
		s.known.Add(1)
		return &store.FlowView{Flow: &store.Flow{AccountID: v.Flow.AccountID, Name: v.Flow.Name}, Stamp: v.Stamp, Known: true}
	}
	return v
}

func (s *stampingStore) FlowViewGet(ctx context.Context, account, name string, known store.KnownView) (*store.FlowView, error) {
	v, err := s.Store.FlowViewGet(ctx, account, name, nil)
	if err != nil {
		return nil, err
	}
	return s.stamp(v, known), nil
}

func (s *stampingStore) FlowViewList(ctx context.Context, params *store.FlowListParams) ([]*store.FlowView, string, error) {
	p := *params
	p.Known = nil
	vs, next, err := s.Store.FlowViewList(ctx, &p)
	for i, v := range vs {
		vs[i] = s.stamp(v, params.Known)
	}
	return vs, next, err
}

// TestViewCacheBodies: a service whose store keeps stamps answers
// DescribeFlow and ListFlows with the bodies of one that keeps none, read
// again (from its cache) and after each change of what they show.
func TestViewCacheBodies(t *testing.T) {
	env := respondEnv(t)
	ctx := context.Background()
	st := &stampingStore{Store: env.store}
	d := env.svc.d
	d.Store = st
	cached := New(d)
	names := []string{"a-plain", "b-tagged", "c-failed", "d-custom", "e-running", "f-old", "missing"}
	check := func(step string) {
		t.Helper()
		for range 2 {
			for _, in := range []wire.Input{&wire.ListFlowsRequest{}, &wire.ListFlowsRequest{MaxResults: flowPtr(int32(4))},
				&wire.ListFlowsRequest{MaxResults: flowPtr(int32(4)), NextToken: "e-running"}} {
				want, _, wantErr := env.svc.RespondJSON(ctx, in)
				got, _, err := cached.RespondJSON(ctx, in)
				if string(got) != string(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Errorf("%s: ListFlows %+v:\n got %s, %v\nwant %s, %v", step, in, got, err, want, wantErr)
				}
			}
			for _, name := range names {
				in := &wire.DescribeFlowRequest{FlowName: name}
				want, _, wantErr := env.svc.RespondJSON(ctx, in)
				got, _, err := cached.RespondJSON(ctx, in)
				if string(got) != string(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Errorf("%s: DescribeFlow %s:\n got %s, %v\nwant %s, %v", step, name, got, err, want, wantErr)
				}
				out, err := cached.DescribeFlow(ctx, in)
				if (err == nil) != (wantErr == nil) || err == nil && out.FlowName != name {
					t.Errorf("%s: DescribeFlow %s decoded: %+v, %v", step, name, out, err)
				}
			}
		}
	}
	check("first reads")
	if st.known.Load() == 0 {
		t.Fatal("no view was read from the cache")
	}
	arn := "arn:aws:appflow:us-east-1:" + flowTestAccount + ":flow/"
	changes := []struct {
		step string
		do   func() error
	}{
		{"tagged", func() error {
			_, err := env.svc.TagResource(ctx, &wire.TagResourceRequest{ResourceArn: arn + "a-plain", Tags: map[string]string{"new": "tag"}})
			return err
		}},
		{"untagged", func() error {
			_, err := env.svc.UntagResource(ctx, &wire.UntagResourceRequest{ResourceArn: arn + "b-tagged", TagKeys: []string{"team"}})
			return err
		}},
		{"a run", func() error {
			env.clock.Now()
			_, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: "a-plain"})
			return err
		}},
		{"updated", func() error {
			in := flowS3("c-failed", wire.TriggerTypeOnDemand)
			_, err := env.svc.UpdateFlow(ctx, &wire.UpdateFlowRequest{FlowName: in.FlowName, Description: "changed",
				TriggerConfig: in.TriggerConfig, SourceFlowConfig: in.SourceFlowConfig, DestinationFlowConfigList: in.DestinationFlowConfigList, Tasks: in.Tasks})
			return err
		}},
		{"relabelled", func() error {
			p, err := env.store.ProfileGet(ctx, flowTestAccount, "cc")
			if err != nil {
				return err
			}
			p.Label = "relabelled"
			return env.store.ProfileUpdate(ctx, p)
		}},
		{"deleted", func() error {
			_, err := env.svc.DeleteFlow(ctx, &wire.DeleteFlowRequest{FlowName: "e-running", ForceDelete: flowPtr(true)})
			return err
		}},
		{"created again", func() error {
			env.clock.Now()
			_, err := env.svc.CreateFlow(ctx, flowS3("e-running", wire.TriggerTypeOnDemand))
			return err
		}},
	}
	for _, c := range changes {
		if err := c.do(); err != nil {
			t.Fatalf("%s: %v", c.step, err)
		}
		check(c.step)
	}
}

// TestViewCacheConcurrent reads flows from the cache while their tags
// change (run it with -race): once the writes end, the reads give the
// bodies of a service without a cache.
func TestViewCacheConcurrent(t *testing.T) {
	env := respondEnv(t)
	ctx := context.Background()
	d := env.svc.d
	d.Store = &stampingStore{Store: env.store}
	cached := New(d)
	arn := "arn:aws:appflow:us-east-1:" + flowTestAccount + ":flow/"
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Go(func() {
			for range 20 {
				if _, _, err := cached.RespondJSON(ctx, &wire.ListFlowsRequest{}); err != nil {
					errs <- err
					return
				}
				if _, _, err := cached.RespondJSON(ctx, &wire.DescribeFlowRequest{FlowName: "b-tagged"}); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for j := range 5 {
				if _, err := env.svc.TagResource(ctx, &wire.TagResourceRequest{ResourceArn: arn + "b-tagged",
					Tags: map[string]string{fmt.Sprint("k", i): fmt.Sprint(j)}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, in := range []wire.Input{&wire.ListFlowsRequest{}, &wire.DescribeFlowRequest{FlowName: "b-tagged"}} {
		want, _, _ := env.svc.RespondJSON(ctx, in)
		got, _, err := cached.RespondJSON(ctx, in)
		if err != nil || string(got) != string(want) {
			t.Errorf("%T after the writes:\n got %s, %v\nwant %s", in, got, err, want)
		}
	}
}

// TestViewCacheBounded: the cache empties itself when full, and keeps no
// view without a stamp.
func TestViewCacheBounded(t *testing.T) {
	c := newViewCache()
	c.put("a", "x", 0, true, []byte("{}"))
	if len(c.m) != 0 {
		t.Fatal("kept a view without a stamp")
	}
	for i := range viewCacheMax {
		c.put("a", fmt.Sprint(i), 1, true, []byte("{}"))
	}
	c.put("a", "0", 1, false, []byte("[]"))
	if e := c.get("a", "0", 1); e == nil || string(e.describe) != "{}" || string(e.list) != "[]" {
		t.Errorf("both bodies of one stamp: %+v", e)
	}
	c.put("a", "more", 1, true, []byte("{}"))
	if len(c.m) != 1 || c.get("a", "more", 1) == nil || c.get("a", "1", 1) != nil {
		t.Errorf("after filling: %d entries", len(c.m))
	}
	c.put("a", "more", 2, false, []byte("[]"))
	if e := c.get("a", "more", 2); e == nil || e.describe != nil {
		t.Errorf("a new stamp kept the old body: %+v", e)
	}
	if c.get("a", "more", 1) != nil {
		t.Error("the old stamp is still found")
	}
}
