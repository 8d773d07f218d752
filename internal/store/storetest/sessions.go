package storetest

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/store"
)

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// testConsoleSessions: a session is found by its token's hash until it
// expires or is deleted; expired ones are swept, live ones kept.
func testConsoleSessions(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	a := &store.ConsoleSession{TokenHash: tokenHash("a"), AccountID: acct, AccessKeyID: "AKIDA", KeyProof: []byte{1, 2, 3},
		CSRF: "csrf-a", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	b := &store.ConsoleSession{TokenHash: tokenHash("b"), AccountID: acct2, AccessKeyID: "AKIDB", KeyProof: []byte{4},
		CSRF: "csrf-b", CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}
	must(t, s.ConsoleSessionCreate(ctx, a))
	must(t, s.ConsoleSessionCreate(ctx, b))
	if !a.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || a.CreatedAt.Nanosecond()%1000 != 0 {
		t.Errorf("CreatedAt written back: got %v, want %v at microseconds", a.CreatedAt, t0)
	}
	dup := *a
	dup.AccountID = acct2
	wantIs(t, "a second session with the same token hash", s.ConsoleSessionCreate(ctx, &dup), store.ErrConflict)

	got, err := s.ConsoleSessionGet(ctx, tokenHash("a"), t0)
	must(t, err)
	diff(t, "session a", got, a)
	_, err = s.ConsoleSessionGet(ctx, tokenHash("nope"), t0)
	wantIs(t, "an unknown token", err, store.ErrNotFound)

	// A session ends at ExpiresAt, not a microsecond later.
	got, err = s.ConsoleSessionGet(ctx, tokenHash("a"), a.ExpiresAt.Add(-time.Microsecond))
	must(t, err)
	diff(t, "session a just before it expires", got, a)
	_, err = s.ConsoleSessionGet(ctx, tokenHash("a"), a.ExpiresAt)
	wantIs(t, "session a when it expires", err, store.ErrNotFound)

	// The sweep takes a, which has expired, and keeps b.
	must(t, s.ConsoleSessionDeleteExpired(ctx, a.ExpiresAt))
	_, err = s.ConsoleSessionGet(ctx, tokenHash("a"), t0)
	wantIs(t, "session a after the sweep, asked at an earlier time", err, store.ErrNotFound)
	got, err = s.ConsoleSessionGet(ctx, tokenHash("b"), a.ExpiresAt)
	must(t, err)
	diff(t, "session b after the sweep", got, b)

	must(t, s.ConsoleSessionDelete(ctx, tokenHash("b")))
	_, err = s.ConsoleSessionGet(ctx, tokenHash("b"), t0)
	wantIs(t, "session b after it was deleted", err, store.ErrNotFound)
	must(t, s.ConsoleSessionDelete(ctx, tokenHash("b"))) // again: not an error
}

// testSignInFailures: failures are listed by subject within the window,
// oldest first; old ones are forgotten as new ones come; a subject can be
// cleared alone.
func testSignInFailures(t *testing.T, s store.Store, _ func(*testing.T) store.Store) {
	ctx := context.Background()
	add := func(at time.Time, subjects ...string) {
		t.Helper()
		must(t, s.SignInFailureAdd(ctx, &store.SignInFailureAddParams{Subjects: subjects, At: at, ForgetBefore: at.Add(-15 * time.Minute)}))
	}
	list := func(since time.Time, subjects ...string) map[string][]time.Time {
		t.Helper()
		got, err := s.SignInFailureList(ctx, subjects, since)
		must(t, err)
		return got
	}
	us := func(d time.Duration) time.Time { return t0.Add(d).Truncate(time.Microsecond) }

	add(t0, "key:A", "addr:1")
	add(t0.Add(time.Minute), "key:A", "addr:2")
	add(t0.Add(2*time.Minute), "key:B", "addr:1")
	diff(t, "failures since t0", list(t0, "key:A", "addr:1", "key:C"), map[string][]time.Time{
		"key:A":  {us(0), us(time.Minute)},
		"addr:1": {us(0), us(2 * time.Minute)},
	})
	diff(t, "failures since t0+1m", list(t0.Add(time.Minute), "key:A"), map[string][]time.Time{"key:A": {us(time.Minute)}})
	diff(t, "no subjects", list(t0), map[string][]time.Time{})

	// Sixteen minutes on, a new failure forgets those older than 15 minutes.
	add(t0.Add(16*time.Minute), "key:B")
	diff(t, "failures after the old ones were forgotten", list(time.Time{}, "key:A", "key:B", "addr:1", "addr:2"), map[string][]time.Time{
		"key:A":  {us(time.Minute)},
		"key:B":  {us(2 * time.Minute), us(16 * time.Minute)},
		"addr:1": {us(2 * time.Minute)},
		"addr:2": {us(time.Minute)},
	})

	must(t, s.SignInFailureClear(ctx, "key:B"))
	diff(t, "after clearing key:B", list(time.Time{}, "key:B", "addr:1"), map[string][]time.Time{"addr:1": {us(2 * time.Minute)}})
}
