package app

import (
	"context"
	"time"

	"github.com/appflowd/appflowd/internal/console"
	"github.com/appflowd/appflowd/internal/store"
)

// ConsoleSessions keeps the console's sessions and failed sign-ins in st,
// where every replica on the same database sees them.
func ConsoleSessions(st store.Store) console.Sessions { return consoleSessions{st} }

type consoleSessions struct{ st store.Store }

func (c consoleSessions) SessionCreate(ctx context.Context, s *console.Session) error {
	return c.st.ConsoleSessionCreate(ctx, &store.ConsoleSession{TokenHash: s.TokenHash, AccountID: s.AccountID,
		AccessKeyID: s.AccessKeyID, KeyProof: s.KeyProof, CSRF: s.CSRF, ExpiresAt: s.ExpiresAt})
}

func (c consoleSessions) SessionGet(ctx context.Context, tokenHash []byte, now time.Time) (*console.Session, error) {
	s, err := c.st.ConsoleSessionGet(ctx, tokenHash, now)
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &console.Session{TokenHash: s.TokenHash, AccountID: s.AccountID, AccessKeyID: s.AccessKeyID,
		KeyProof: s.KeyProof, CSRF: s.CSRF, ExpiresAt: s.ExpiresAt}, nil
}

func (c consoleSessions) SessionDelete(ctx context.Context, tokenHash []byte) error {
	return c.st.ConsoleSessionDelete(ctx, tokenHash)
}

func (c consoleSessions) SessionDeleteExpired(ctx context.Context, now time.Time) error {
	return c.st.ConsoleSessionDeleteExpired(ctx, now)
}

func (c consoleSessions) FailureAdd(ctx context.Context, subjects []string, at, forgetBefore time.Time) error {
	return c.st.SignInFailureAdd(ctx, &store.SignInFailureAddParams{Subjects: subjects, At: at, ForgetBefore: forgetBefore})
}

func (c consoleSessions) FailureList(ctx context.Context, subjects []string, since time.Time) (map[string][]time.Time, error) {
	return c.st.SignInFailureList(ctx, subjects, since)
}

func (c consoleSessions) FailureClear(ctx context.Context, subject string) error {
	return c.st.SignInFailureClear(ctx, subject)
}
