package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/store"
)

// BenchmarkViews measures FlowViewGet and FlowViewList (a page of 20) on
// s, filled with 20 flows of two tags and three runs each: the store's
// part of DescribeFlow and ListFlows.
func BenchmarkViews(b *testing.B, s store.Store) {
	ctx := context.Background()
	for i := range 20 {
		name := fmt.Sprintf("flow-%02d", i)
		f := flow(acct, name, "p")
		f.Doc = make([]byte, 0, 2048)
		f.Doc = fmt.Appendf(f.Doc, `{"flowName":%q,"tasks":[`, name)
		for j := range 20 {
			if j > 0 {
				f.Doc = append(f.Doc, ',')
			}
			f.Doc = fmt.Appendf(f.Doc, `{"sourceFields":["field%d"],"taskType":"Map"}`, j)
		}
		f.Doc = append(f.Doc, "]}"...)
		if err := s.FlowCreate(ctx, f); err != nil {
			b.Fatal(err)
		}
		if err := s.TagsSet(ctx, f.Arn, map[string]string{"team": "data", "n": name}); err != nil {
			b.Fatal(err)
		}
		for r := range 3 {
			if err := s.ExecutionCreate(ctx, execution(acct, name, fmt.Sprint(r), t0.Add(time.Duration(r)*time.Second))); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("FlowViewGet", func(b *testing.B) {
		for b.Loop() {
			v, err := s.FlowViewGet(ctx, acct, "flow-07", nil)
			if err != nil || v.Newest == nil || v.Tags["team"] != "data" {
				b.Fatalf("FlowViewGet: %v", err)
			}
		}
	})
	b.Run("FlowViewList", func(b *testing.B) {
		for b.Loop() {
			vs, _, err := s.FlowViewList(ctx, &store.FlowListParams{AccountID: acct, Page: store.Page{Limit: 20}})
			if err != nil || len(vs) != 20 || vs[19].Newest == nil {
				b.Fatalf("FlowViewList: %v, %d views", err, len(vs))
			}
		}
	})
}
