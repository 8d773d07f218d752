package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const profileColumns = `account_id, name, arn, connector_type, label, doc, credentials, created_at, updated_at`

func scanProfile(row interface{ Scan(...any) error }) (*store.Profile, error) {
	var p store.Profile
	var created, updated int64
	if err := row.Scan(&p.AccountID, &p.Name, &p.Arn, &p.ConnectorType, &p.Label,
		&p.Doc, &p.Credentials, &created, &updated); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = keyset.FromMicros(created), keyset.FromMicros(updated)
	return &p, nil
}

func (s *Store) ProfileCreate(ctx context.Context, p *store.Profile) error {
	p.CreatedAt, p.UpdatedAt = keyset.Time(p.CreatedAt), keyset.Time(p.UpdatedAt)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO profiles (`+profileColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.AccountID, p.Name, p.Arn, p.ConnectorType, p.Label, p.Doc, p.Credentials,
			keyset.Micros(p.CreatedAt), keyset.Micros(p.UpdatedAt)); err != nil {
			return err
		}
		return checkQuota(ctx, tx, "profiles", p.AccountID, p.MaxPerAccount)
	})
	return classify(err, fmt.Sprintf("profile %q", p.Name))
}

func (s *Store) ProfileGet(ctx context.Context, accountID, name string) (*store.Profile, error) {
	p, err := scanProfile(s.r.QueryRowContext(ctx, `SELECT `+profileColumns+`
		FROM profiles WHERE account_id = ? AND name = ?`, accountID, name))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("profile %q", name))
	}
	return p, nil
}

func (s *Store) ProfileUpdate(ctx context.Context, p *store.Profile) error {
	p.UpdatedAt = keyset.Time(p.UpdatedAt)
	err := mustAffect(s.w.ExecContext(ctx, `UPDATE profiles
		SET arn = ?, connector_type = ?, label = ?, doc = ?, credentials = ?, updated_at = ?
		WHERE account_id = ? AND name = ?`,
		p.Arn, p.ConnectorType, p.Label, p.Doc, p.Credentials, keyset.Micros(p.UpdatedAt),
		p.AccountID, p.Name))
	return classify(err, fmt.Sprintf("profile %q", p.Name))
}

func (s *Store) ProfileDelete(ctx context.Context, accountID, name string) error {
	err := mustAffect(s.w.ExecContext(ctx,
		`DELETE FROM profiles WHERE account_id = ? AND name = ?`, accountID, name))
	return classify(err, fmt.Sprintf("profile %q", name))
}

func (s *Store) ProfileList(ctx context.Context, params *store.ProfileListParams) ([]*store.Profile, string, error) {
	after, err := keyset.Decode(params.Page.After, 1)
	if err != nil {
		return nil, "", err
	}
	limit := keyset.Limit(params.Page.Limit)
	where := []string{"account_id = ?"}
	args := []any{params.AccountID}
	if params.ConnectorType != "" {
		where = append(where, "connector_type = ?")
		args = append(args, params.ConnectorType)
	}
	if params.Label != "" {
		where = append(where, "label = ?")
		args = append(args, params.Label)
	}
	if len(params.Names) > 0 {
		where = append(where, "name IN (?"+strings.Repeat(", ?", len(params.Names)-1)+")")
		for _, n := range params.Names {
			args = append(args, n)
		}
	}
	if after != nil {
		where = append(where, "name > ?")
		args = append(args, after[0])
	}
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, `SELECT `+profileColumns+` FROM profiles
		WHERE `+strings.Join(where, " AND ")+` ORDER BY name LIMIT ?`, args...)
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
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
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
