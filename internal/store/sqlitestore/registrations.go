package sqlitestore

import (
	"context"
	"fmt"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const registrationColumns = `account_id, label, arn, doc, created_at, updated_at`

func scanRegistration(row interface{ Scan(...any) error }) (*store.Registration, error) {
	var r store.Registration
	var created, updated int64
	if err := row.Scan(&r.AccountID, &r.Label, &r.Arn, &r.Doc, &created, &updated); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = keyset.FromMicros(created), keyset.FromMicros(updated)
	return &r, nil
}

func (s *Store) RegistrationCreate(ctx context.Context, r *store.Registration) error {
	r.CreatedAt, r.UpdatedAt = keyset.Time(r.CreatedAt), keyset.Time(r.UpdatedAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO registrations (`+registrationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?)`,
		r.AccountID, r.Label, r.Arn, r.Doc, keyset.Micros(r.CreatedAt), keyset.Micros(r.UpdatedAt))
	return classify(err, fmt.Sprintf("connector %q", r.Label))
}

func (s *Store) RegistrationGet(ctx context.Context, accountID, label string) (*store.Registration, error) {
	r, err := scanRegistration(s.r.QueryRowContext(ctx, `SELECT `+registrationColumns+`
		FROM registrations WHERE account_id = ? AND label = ?`, accountID, label))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("connector %q", label))
	}
	return r, nil
}

func (s *Store) RegistrationUpdate(ctx context.Context, r *store.Registration) error {
	r.UpdatedAt = keyset.Time(r.UpdatedAt)
	err := mustAffect(s.w.ExecContext(ctx, `UPDATE registrations SET arn = ?, doc = ?, updated_at = ?
		WHERE account_id = ? AND label = ?`,
		r.Arn, r.Doc, keyset.Micros(r.UpdatedAt), r.AccountID, r.Label))
	return classify(err, fmt.Sprintf("connector %q", r.Label))
}

func (s *Store) RegistrationDelete(ctx context.Context, accountID, label string) error {
	err := mustAffect(s.w.ExecContext(ctx,
		`DELETE FROM registrations WHERE account_id = ? AND label = ?`, accountID, label))
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+registrationColumns+` FROM registrations
		WHERE account_id = ? AND label > ? ORDER BY label LIMIT ?`, params.AccountID, from, limit+1)
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
