package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const profileColumns = `account_id, name, arn, connector_type, label, doc, credentials, created_at, updated_at`

func scanProfile(row pgx.Row) (*store.Profile, error) {
	var p store.Profile
	if err := row.Scan(&p.AccountID, &p.Name, &p.Arn, &p.ConnectorType, &p.Label,
		&p.Doc, &p.Credentials, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

func (s *Store) ProfileCreate(ctx context.Context, p *store.Profile) error {
	p.CreatedAt, p.UpdatedAt = keyset.Time(p.CreatedAt), keyset.Time(p.UpdatedAt)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockQuota(ctx, tx, "profiles", p.AccountID, p.MaxPerAccount); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO profiles (`+profileColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			p.AccountID, p.Name, p.Arn, p.ConnectorType, p.Label, p.Doc, p.Credentials, p.CreatedAt, p.UpdatedAt); err != nil {
			return err
		}
		return checkQuota(ctx, tx, "profiles", p.AccountID, p.MaxPerAccount)
	})
	return classify(err, fmt.Sprintf("profile %q", p.Name))
}

func (s *Store) ProfileGet(ctx context.Context, accountID, name string) (*store.Profile, error) {
	p, err := scanProfile(s.pool.QueryRow(ctx, `SELECT `+profileColumns+`
		FROM profiles WHERE account_id = $1 AND name = $2`, accountID, name))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("profile %q", name))
	}
	return p, nil
}

func (s *Store) ProfileUpdate(ctx context.Context, p *store.Profile) error {
	p.UpdatedAt = keyset.Time(p.UpdatedAt)
	err := mustAffect(s.pool.Exec(ctx, `UPDATE profiles
		SET arn = $1, connector_type = $2, label = $3, doc = $4, credentials = $5, updated_at = $6
		WHERE account_id = $7 AND name = $8`,
		p.Arn, p.ConnectorType, p.Label, p.Doc, p.Credentials, p.UpdatedAt, p.AccountID, p.Name))
	return classify(err, fmt.Sprintf("profile %q", p.Name))
}

func (s *Store) ProfileDelete(ctx context.Context, accountID, name string) error {
	err := mustAffect(s.pool.Exec(ctx,
		`DELETE FROM profiles WHERE account_id = $1 AND name = $2`, accountID, name))
	return classify(err, fmt.Sprintf("profile %q", name))
}

func (s *Store) ProfileList(ctx context.Context, params *store.ProfileListParams) ([]*store.Profile, string, error) {
	after, err := keyset.Decode(params.Page.After, 1)
	if err != nil {
		return nil, "", err
	}
	limit := keyset.Limit(params.Page.Limit)
	args := []any{params.AccountID}
	where := []string{"account_id = $1"}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if params.ConnectorType != "" {
		add("connector_type = $?", params.ConnectorType)
	}
	if params.Label != "" {
		add("label = $?", params.Label)
	}
	if len(params.Names) > 0 {
		add("name = ANY($?)", params.Names)
	}
	if after != nil {
		add("name > $?", after[0])
	}
	args = append(args, limit+1)
	rows, err := s.pool.Query(ctx, `SELECT `+profileColumns+` FROM profiles
		WHERE `+strings.Join(where, " AND ")+` ORDER BY name LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list profiles: %w", err)
	}
	out, err := collect(rows, scanProfile)
	if err != nil {
		return nil, "", fmt.Errorf("list profiles: %w", err)
	}
	var next string
	if len(out) > limit {
		out = out[:limit]
		next = keyset.Encode(out[limit-1].Name)
	}
	return out, next, nil
}

// collect scans every row and closes rows.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
