package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

func (s *Store) ConsoleSessionCreate(ctx context.Context, cs *store.ConsoleSession) error {
	cs.CreatedAt, cs.ExpiresAt = keyset.Time(cs.CreatedAt), keyset.Bound(cs.ExpiresAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO console_sessions
		(token_hash, account_id, access_key_id, key_proof, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		cs.TokenHash, cs.AccountID, cs.AccessKeyID, cs.KeyProof, cs.CSRF, keyset.Micros(cs.CreatedAt), keyset.Micros(cs.ExpiresAt))
	return classify(err, "console session")
}

func (s *Store) ConsoleSessionGet(ctx context.Context, tokenHash []byte, now time.Time) (*store.ConsoleSession, error) {
	cs := store.ConsoleSession{TokenHash: tokenHash}
	var created, expires int64
	err := s.r.QueryRowContext(ctx, `SELECT account_id, access_key_id, key_proof, csrf, created_at, expires_at
		FROM console_sessions WHERE token_hash = ? AND expires_at > ?`, tokenHash, keyset.Micros(keyset.Bound(now))).
		Scan(&cs.AccountID, &cs.AccessKeyID, &cs.KeyProof, &cs.CSRF, &created, &expires)
	if err != nil {
		return nil, classify(err, "console session")
	}
	cs.CreatedAt, cs.ExpiresAt = keyset.FromMicros(created), keyset.FromMicros(expires)
	return &cs, nil
}

func (s *Store) ConsoleSessionDelete(ctx context.Context, tokenHash []byte) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM console_sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("end console session: %w", err)
	}
	return nil
}

func (s *Store) ConsoleSessionDeleteExpired(ctx context.Context, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= ?`, keyset.Micros(keyset.Bound(now))); err != nil {
		return fmt.Errorf("delete expired console sessions: %w", err)
	}
	return nil
}

func (s *Store) SignInFailureAdd(ctx context.Context, p *store.SignInFailureAddParams) error {
	at := keyset.Micros(keyset.Time(p.At))
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE failed_at < ?`, keyset.Micros(keyset.Bound(p.ForgetBefore))); err != nil {
			return err
		}
		for _, subject := range p.Subjects {
			if _, err := tx.ExecContext(ctx, `INSERT INTO sign_in_failures (subject, failed_at) VALUES (?, ?)`, subject, at); err != nil {
				return err
			}
		}
		return nil
	})
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
	args := []any{keyset.Micros(keyset.Bound(since))}
	for _, subject := range subjects {
		args = append(args, subject)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT subject, failed_at FROM sign_in_failures WHERE failed_at >= ? AND subject IN (`+
		strings.TrimSuffix(strings.Repeat("?,", len(subjects)), ",")+`) ORDER BY failed_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("failed sign-ins: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var subject string
		var at int64
		if err := rows.Scan(&subject, &at); err != nil {
			return nil, fmt.Errorf("failed sign-ins: %w", err)
		}
		out[subject] = append(out[subject], keyset.FromMicros(at))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed sign-ins: %w", err)
	}
	return out, nil
}

func (s *Store) SignInFailureClear(ctx context.Context, subject string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE subject = ?`, subject); err != nil {
		return fmt.Errorf("clear failed sign-ins: %w", err)
	}
	return nil
}
