package connector

import (
	"errors"
	"sync"
	"testing"
)

func TestShared(t *testing.T) {
	s := NewShared()
	calls := 0
	mk := func() (any, error) { calls++; return calls, nil }
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := s.Get("a", mk); err != nil || v != 1 {
				t.Errorf("Get(a) = %v, %v; want the first value", v, err)
			}
		}()
	}
	wg.Wait()
	if calls != 1 {
		t.Errorf("make called %d times, want once", calls)
	}
	if v, _ := s.Get("b", mk); v != 2 {
		t.Errorf("Get(b) = %v, want a value of its own", v)
	}
	boom := errors.New("boom")
	if _, err := s.Get("c", func() (any, error) { return nil, boom }); err != boom {
		t.Errorf("a failing make: %v", err)
	}
	if v, err := s.Get("c", mk); err != nil || v != 3 {
		t.Errorf("after a failure, Get(c) = %v, %v; want a fresh value", v, err)
	}
	var none *Shared
	if v, _ := none.Get("a", mk); v != 4 {
		t.Errorf("nil Shared: got %v, want make's value each time", v)
	}
}
