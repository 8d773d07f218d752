package service

import (
	"sync"

	"github.com/appflowd/appflowd/internal/store"
)

// viewCache keeps, by flow, the DescribeFlow body and the ListFlows entry
// last written from the flow's stored view, with the view's stamp
// (store.FlowView.Stamp): a read whose row still has that stamp copies the
// bytes instead of scanning the row and writing them again. Both depend on
// the view alone. Entries of a changed or deleted flow are not used again
// (their stamp is stale); the cache is emptied when it fills.
type viewCache struct {
	mu sync.Mutex
	m  map[viewKey]*viewEntry
}

// viewCacheMax bounds the entries (a few KiB each).
const viewCacheMax = 4096

type viewKey struct{ account, name string }

// viewEntry is immutable once stored: a change replaces it.
type viewEntry struct {
	stamp    uint64
	describe []byte // nil until a DescribeFlow writes it
	list     []byte // nil until a ListFlows writes it
}

func newViewCache() *viewCache { return &viewCache{m: map[viewKey]*viewEntry{}} }

// get is the entry of the flow if it has stamp.
func (c *viewCache) get(account, name string, stamp uint64) *viewEntry {
	c.mu.Lock()
	e := c.m[viewKey{account, name}]
	c.mu.Unlock()
	if e == nil || e.stamp != stamp {
		return nil
	}
	return e
}

// known is a store.KnownView for one of the account's DescribeFlow
// (describe) or ListFlows calls: it answers true when the cache has that
// body or entry of the view, and keeps it in *hits by flow name.
func (c *viewCache) known(account string, describe bool, hits *map[string][]byte) store.KnownView {
	return func(name string, stamp uint64) bool {
		e := c.get(account, name, stamp)
		if e == nil {
			return false
		}
		b := e.list
		if describe {
			b = e.describe
		}
		if b == nil {
			return false
		}
		if *hits == nil {
			*hits = map[string][]byte{}
		}
		(*hits)[name] = b
		return true
	}
}

// put keeps a view's DescribeFlow body (describe) or ListFlows entry,
// written from the view of stamp; a view without a stamp is not kept.
func (c *viewCache) put(account, name string, stamp uint64, describe bool, b []byte) {
	if stamp == 0 {
		return
	}
	k := viewKey{account, name}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &viewEntry{stamp: stamp}
	if old := c.m[k]; old != nil && old.stamp == stamp {
		*e = *old
	} else if len(c.m) >= viewCacheMax {
		clear(c.m)
	}
	if describe {
		e.describe = b
	} else {
		e.list = b
	}
	c.m[k] = e
}
