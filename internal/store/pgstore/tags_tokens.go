package pgstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

func (s *Store) TagsGet(ctx context.Context, arn string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value FROM tags WHERE arn = $1`, arn)
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
	// Sorted keys: two concurrent sets on one ARN lock rows in the same order.
	keys := slices.Sorted(maps.Keys(tags))
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = tags[k]
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO tags (arn, key, value)
		SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t (k, v)
		ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value`, arn, keys, values)
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
	if _, err := s.pool.Exec(ctx, `DELETE FROM tags WHERE arn = $1 AND key = ANY($2)`, arn, keys); err != nil {
		return fmt.Errorf("untag %s: %w", arn, err)
	}
	return nil
}

func (s *Store) TagsDeleteAll(ctx context.Context, arn string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM tags WHERE arn = $1`, arn); err != nil {
		return fmt.Errorf("untag %s: %w", arn, err)
	}
	return nil
}

// TokenClaim inserts the token, or replaces a use older than notBefore, in
// one INSERT ... ON CONFLICT: of concurrent claimers, in any process, the
// database lets one insert (or replace) and the others find its row. If
// that row is released between the insert and the read, claim again.
func (s *Store) TokenClaim(ctx context.Context, t *store.Token, notBefore time.Time) (*store.TokenClaimResult, error) {
	t.CreatedAt = keyset.Time(t.CreatedAt)
	t.Response = nil
	for {
		var won bool
		err := s.pool.QueryRow(ctx, `INSERT INTO tokens (account_id, operation, token, request_hash, response, created_at)
			VALUES ($1, $2, $3, $4, NULL, $5)
			ON CONFLICT (account_id, operation, token) DO UPDATE
			SET request_hash = excluded.request_hash, response = NULL, created_at = excluded.created_at
			WHERE tokens.created_at < $6
			RETURNING true`,
			t.AccountID, t.Operation, t.Token, t.RequestHash, t.CreatedAt, keyset.Bound(notBefore)).Scan(&won)
		if err == nil {
			return &store.TokenClaimResult{}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("claim %s token %q: %w", t.Operation, t.Token, err)
		}
		prev := store.Token{AccountID: t.AccountID, Operation: t.Operation, Token: t.Token}
		err = s.pool.QueryRow(ctx, `SELECT request_hash, response, created_at FROM tokens
			WHERE account_id = $1 AND operation = $2 AND token = $3`,
			t.AccountID, t.Operation, t.Token).Scan(&prev.RequestHash, &prev.Response, &prev.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // released meanwhile: claim again
		}
		if err != nil {
			return nil, fmt.Errorf("claim %s token %q: %w", t.Operation, t.Token, err)
		}
		prev.CreatedAt = prev.CreatedAt.UTC()
		return &store.TokenClaimResult{Existing: &prev}, nil
	}
}

func (s *Store) TokenComplete(ctx context.Context, accountID, operation, token string, response []byte) error {
	err := mustAffect(s.pool.Exec(ctx, `UPDATE tokens SET response = $1
		WHERE account_id = $2 AND operation = $3 AND token = $4`, response, accountID, operation, token))
	return classify(err, fmt.Sprintf("%s token %q", operation, token))
}

// TokenRelease forgets the claim; releasing an unknown token is not an error.
func (s *Store) TokenRelease(ctx context.Context, accountID, operation, token string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE account_id = $1 AND operation = $2 AND token = $3`,
		accountID, operation, token)
	if err != nil {
		return fmt.Errorf("release %s token %q: %w", operation, token, err)
	}
	return nil
}
