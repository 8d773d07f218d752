package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const registrationColumns = `account_id, label, arn, doc, created_at, updated_at`

func scanRegistration(row pgx.Row) (*store.Registration, error) {
	var r store.Registration
	if err := row.Scan(&r.AccountID, &r.Label, &r.Arn, &r.Doc, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

func (s *Store) RegistrationCreate(ctx context.Context, r *store.Registration) error {
	r.CreatedAt, r.UpdatedAt = keyset.Time(r.CreatedAt), keyset.Time(r.UpdatedAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO registrations (`+registrationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6)`, r.AccountID, r.Label, r.Arn, r.Doc, r.CreatedAt, r.UpdatedAt)
	return classify(err, fmt.Sprintf("connector %q", r.Label))
}

func (s *Store) RegistrationGet(ctx context.Context, accountID, label string) (*store.Registration, error) {
	r, err := scanRegistration(s.pool.QueryRow(ctx, `SELECT `+registrationColumns+`
		FROM registrations WHERE account_id = $1 AND label = $2`, accountID, label))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("connector %q", label))
	}
	return r, nil
}

func (s *Store) RegistrationUpdate(ctx context.Context, r *store.Registration) error {
	r.UpdatedAt = keyset.Time(r.UpdatedAt)
	err := mustAffect(s.pool.Exec(ctx, `UPDATE registrations SET arn = $1, doc = $2, updated_at = $3
		WHERE account_id = $4 AND label = $5`, r.Arn, r.Doc, r.UpdatedAt, r.AccountID, r.Label))
	return classify(err, fmt.Sprintf("connector %q", r.Label))
}

func (s *Store) RegistrationDelete(ctx context.Context, accountID, label string) error {
	err := mustAffect(s.pool.Exec(ctx,
		`DELETE FROM registrations WHERE account_id = $1 AND label = $2`, accountID, label))
	return classify(err, fmt.Sprintf("connector %q", label))
}

func (s *Store) RegistrationList(ctx context.Context, params *store.RegistrationListParams) ([]*store.Registration, string, error) {
	after, err := keyset.Decode(params.Page.After, 1)
	if err != nil {
		return nil, "", err
	}
	limit := keyset.Limit(params.Page.Limit)
	from := ""
	if after != nil {
		from = after[0]
	}
	rows, err := s.pool.Query(ctx, `SELECT `+registrationColumns+` FROM registrations
		WHERE account_id = $1 AND label > $2 ORDER BY label LIMIT $3`, params.AccountID, from, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list connectors: %w", err)
	}
	out, err := collect(rows, scanRegistration)
	if err != nil {
		return nil, "", fmt.Errorf("list connectors: %w", err)
	}
	var next string
	if len(out) > limit {
		out = out[:limit]
		next = keyset.Encode(out[limit-1].Label)
	}
	return out, next, nil
}
