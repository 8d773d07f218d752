package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/appflowd/appflowd/internal/store"
)

// testQuotas fills an account to 95 profiles and 95 flows, then races 30
// creates of each against a quota of 100 from two stores on the same
// database (two replicas, or two processes on one SQLite file): exactly 5
// win and 25 get ErrQuotaExceeded, whatever the interleaving.
func testQuotas(t *testing.T, s store.Store, open func(*testing.T) store.Store) {
	ctx := context.Background()
	const max, before, racers = 100, 95, 30
	s2 := open(t)
	creates := []struct {
		what   string
		create func(s store.Store, account, name string) error
		count  func(account string) int
	}{
		{"profiles", func(s store.Store, account, name string) error {
			p := profile(account, name, "S3", "")
			p.MaxPerAccount = max
			return s.ProfileCreate(ctx, p)
		}, func(account string) int {
			ps, _, err := s.ProfileList(ctx, &store.ProfileListParams{AccountID: account, Page: store.Page{Limit: 1000}})
			must(t, err)
			return len(ps)
		}},
		{"flows", func(s store.Store, account, name string) error {
			f := flow(account, name)
			f.MaxPerAccount = max
			return s.FlowCreate(ctx, f)
		}, func(account string) int {
			n, after := 0, ""
			for {
				fs, next, err := s.FlowList(ctx, &store.FlowListParams{AccountID: account, Page: store.Page{After: after, Limit: 100}})
				must(t, err)
				n += len(fs)
				if next == "" {
					return n
				}
				after = next
			}
		}},
	}
	for _, c := range creates {
		for i := 0; i < before; i++ {
			must(t, c.create(s, acct, fmt.Sprintf("seed-%03d", i)))
		}
		var wg sync.WaitGroup
		errs := make([]error, racers)
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				on := s
				if i%2 == 1 {
					on = s2
				}
				errs[i] = c.create(on, acct, fmt.Sprintf("race-%03d", i))
			}()
		}
		close(start)
		wg.Wait()
		won, refused := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case store.IsQuotaExceeded(err):
				refused++
			default:
				t.Errorf("%s: create %d: got %v, want nil or ErrQuotaExceeded", c.what, i, err)
			}
		}
		if won != max-before || refused != racers-(max-before) {
			t.Errorf("%s: %d creates won and %d were refused, want %d and %d", c.what, won, refused, max-before, racers-(max-before))
		}
		if n := c.count(acct); n != max {
			t.Errorf("%s: the account holds %d, want the quota %d", c.what, n, max)
		}
		// A taken name is a conflict even when the account is full.
		wantIs(t, c.what+": duplicate name at the quota", c.create(s, acct, "seed-000"), store.ErrConflict)
		// Another account has its own quota.
		must(t, c.create(s2, acct2, "other"))
		// Without MaxPerAccount there is no limit.
		if c.what == "profiles" {
			must(t, s.ProfileCreate(ctx, profile(acct, "unlimited", "S3", "")))
		} else {
			must(t, s.FlowCreate(ctx, flow(acct, "unlimited")))
		}
	}
	// A delete frees a slot.
	must(t, s.ProfileDelete(ctx, acct, "unlimited"))
	must(t, s.ProfileDelete(ctx, acct, "seed-000"))
	p := profile(acct, "after-delete", "S3", "")
	p.MaxPerAccount = max
	must(t, s.ProfileCreate(ctx, p))
}
