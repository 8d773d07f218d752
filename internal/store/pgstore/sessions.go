package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

func (s *Store) ConsoleSessionCreate(ctx context.Context, cs *store.ConsoleSession) error {
	cs.CreatedAt, cs.ExpiresAt = keyset.Time(cs.CreatedAt), keyset.Bound(cs.ExpiresAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO console_sessions
		(token_hash, account_id, access_key_id, key_proof, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		cs.TokenHash, cs.AccountID, cs.AccessKeyID, cs.KeyProof, cs.CSRF, cs.CreatedAt, cs.ExpiresAt)
	return classify(err, "console session")
}

func (s *Store) ConsoleSessionGet(ctx context.Context, tokenHash []byte, now time.Time) (*store.ConsoleSession, error) {
	cs := store.ConsoleSession{TokenHash: tokenHash}
	err := s.pool.QueryRow(ctx, `SELECT account_id, access_key_id, key_proof, csrf, created_at, expires_at
		FROM console_sessions WHERE token_hash = $1 AND expires_at > $2`, tokenHash, keyset.Bound(now)).
		Scan(&cs.AccountID, &cs.AccessKeyID, &cs.KeyProof, &cs.CSRF, &cs.CreatedAt, &cs.ExpiresAt)
	if err != nil {
		return nil, classify(err, "console session")
	}
	cs.CreatedAt, cs.ExpiresAt = cs.CreatedAt.UTC(), cs.ExpiresAt.UTC()
	return &cs, nil
}

func (s *Store) ConsoleSessionDelete(ctx context.Context, tokenHash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("end console session: %w", err)
	}
	return nil
}

func (s *Store) ConsoleSessionDeleteExpired(ctx context.Context, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, keyset.Bound(now)); err != nil {
		return fmt.Errorf("delete expired console sessions: %w", err)
	}
	return nil
}

// SignInFailureAdd forgets old failures and records the new ones in one
// statement.
func (s *Store) SignInFailureAdd(ctx context.Context, p *store.SignInFailureAddParams) error {
	_, err := s.pool.Exec(ctx, `WITH forgotten AS (DELETE FROM sign_in_failures WHERE failed_at < $1)
		INSERT INTO sign_in_failures (subject, failed_at) SELECT subject, $2 FROM unnest($3::text[]) AS t (subject)`,
		keyset.Bound(p.ForgetBefore), keyset.Time(p.At), p.Subjects)
	if err != nil {
		return fmt.Errorf("record failed sign-in: %w", err)
	}
	return nil
}

func (s *Store) SignInFailureList(ctx context.Context, subjects []string, since time.Time) (map[string][]time.Time, error) {
	out := map[string][]time.Time{}
	if len(subjects) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT subject, failed_at FROM sign_in_failures
		WHERE subject = ANY($1) AND failed_at >= $2 ORDER BY failed_at`, subjects, keyset.Bound(since))
	if err != nil {
		return nil, fmt.Errorf("failed sign-ins: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var subject string
		var at time.Time
		if err := rows.Scan(&subject, &at); err != nil {
			return nil, fmt.Errorf("failed sign-ins: %w", err)
		}
		out[subject] = append(out[subject], at.UTC())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed sign-ins: %w", err)
	}
	return out, nil
}

func (s *Store) SignInFailureClear(ctx context.Context, subject string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sign_in_failures WHERE subject = $1`, subject); err != nil {
		return fmt.Errorf("clear failed sign-ins: %w", err)
	}
	return nil
}
