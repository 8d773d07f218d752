package connector

import "sync"

// Shared keeps what drivers reuse across opens for the life of the process
// (an SDK client, a secret read a moment ago), keyed by the driver. The
// process makes one and passes it in Deps, so no driver keeps package
// state and a test gets a fresh one with each Deps.
type Shared struct {
	mu sync.Mutex
	m  map[string]any
}

// NewShared returns an empty Shared.
func NewShared() *Shared { return &Shared{m: map[string]any{}} }

// Get returns the value under key, calling make to build it the first
// time; an error from make is returned and nothing is kept. A nil Shared
// keeps nothing: every Get calls make. make must not call Get: the
// Shared is locked meanwhile.
func (s *Shared) Get(key string, make func() (any, error)) (any, error) {
	if s == nil {
		return make()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[key]; ok {
		return v, nil
	}
	v, err := make()
	if err != nil {
		return nil, err
	}
	s.m[key] = v
	return v, nil
}
