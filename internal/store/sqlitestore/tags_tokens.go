package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

func (s *Store) TagsGet(ctx context.Context, arn string) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, value FROM tags WHERE arn = ?`, arn)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", arn, err)
	}
	defer rows.Close()
	tags := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("tags of %s: %w", arn, err)
		}
		tags[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tags of %s: %w", arn, err)
	}
	return tags, nil
}

// TagsSet adds tags to the resource's, replacing the values of keys it has.
func (s *Store) TagsSet(ctx context.Context, arn string, tags map[string]string) error {
	if len(tags) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for k, v := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)
				ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value`, arn, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tag %s: %w", arn, err)
	}
	return nil
}

// TagsRemove removes the keys; keys the resource lacks are ignored.
func (s *Store) TagsRemove(ctx context.Context, arn string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE arn = ? AND key = ?`, arn, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("untag %s: %w", arn, err)
	}
	return nil
}

func (s *Store) TagsDeleteAll(ctx context.Context, arn string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM tags WHERE arn = ?`, arn); err != nil {
		return fmt.Errorf("untag %s: %w", arn, err)
	}
	return nil
}

// TokenClaim inserts the token, or replaces a use older than notBefore, in
// one statement inside BEGIN IMMEDIATE, so two claimers (even in two
// processes) cannot both win.
func (s *Store) TokenClaim(ctx context.Context, t *store.Token, notBefore time.Time) (*store.TokenClaimResult, error) {
	t.CreatedAt = keyset.Time(t.CreatedAt)
	t.Response = nil
	var res store.TokenClaimResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		var won int
		err := tx.QueryRowContext(ctx, `INSERT INTO tokens (account_id, operation, token, request_hash, response, created_at)
			VALUES (?, ?, ?, ?, NULL, ?)
			ON CONFLICT (account_id, operation, token) DO UPDATE
			SET request_hash = excluded.request_hash, response = NULL, created_at = excluded.created_at
			WHERE tokens.created_at < ?
			RETURNING 1`,
			t.AccountID, t.Operation, t.Token, t.RequestHash, keyset.Micros(t.CreatedAt),
			keyset.Micros(keyset.Bound(notBefore))).Scan(&won)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		prev := store.Token{AccountID: t.AccountID, Operation: t.Operation, Token: t.Token}
		var created int64
		if err := tx.QueryRowContext(ctx, `SELECT request_hash, response, created_at FROM tokens
			WHERE account_id = ? AND operation = ? AND token = ?`,
			t.AccountID, t.Operation, t.Token).Scan(&prev.RequestHash, &prev.Response, &created); err != nil {
			return err
		}
		prev.CreatedAt = keyset.FromMicros(created)
		res.Existing = &prev
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim %s token %q: %w", t.Operation, t.Token, err)
	}
	return &res, nil
}

func (s *Store) TokenComplete(ctx context.Context, accountID, operation, token string, response []byte) error {
	err := mustAffect(s.w.ExecContext(ctx, `UPDATE tokens SET response = ?
		WHERE account_id = ? AND operation = ? AND token = ?`, response, accountID, operation, token))
	return classify(err, fmt.Sprintf("%s token %q", operation, token))
}

// TokenRelease forgets the claim; releasing an unknown token is not an error.
func (s *Store) TokenRelease(ctx context.Context, accountID, operation, token string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM tokens WHERE account_id = ? AND operation = ? AND token = ?`,
		accountID, operation, token)
	if err != nil {
		return fmt.Errorf("release %s token %q: %w", operation, token, err)
	}
	return nil
}
