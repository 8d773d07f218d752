package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

// ExecutionCreateMany stores new executions in one transaction, skipping
// taken ids and executions whose flow is gone.
func (s *Store) ExecutionCreateMany(ctx context.Context, es []*store.Execution) error {
	if len(es) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO executions (`+executionColumns+`)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, 1
			WHERE EXISTS (SELECT 1 FROM flows WHERE account_id = ? AND name = ?)
			ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range es {
			e.StartedAt, e.UpdatedAt = keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt)
			e.LeaseUntil = leaseTime(e.LeaseUntil)
			if _, err := stmt.ExecContext(ctx, e.AccountID, e.FlowName, e.ExecutionID, e.Status, e.Doc,
				keyset.Micros(e.StartedAt), keyset.Micros(e.UpdatedAt), e.Owner, leaseMicros(e.LeaseUntil),
				e.AccountID, e.FlowName); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return classify(err, "executions")
	}
	for _, e := range es {
		e.Version = 1
	}
	return nil
}

// FlowStateUpdateMany writes the State of each flow whose stored Version
// equals its Version, in one transaction, and increments those versions.
func (s *Store) FlowStateUpdateMany(ctx context.Context, fs []*store.Flow) ([]bool, error) {
	written := make([]bool, len(fs))
	if len(fs) == 0 {
		return written, nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE flows SET state = ?, version = version + 1,
				summary_version = CASE WHEN summary_version = version THEN version + 1 ELSE summary_version END
			WHERE account_id = ? AND name = ? AND version = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, f := range fs {
			res, err := stmt.ExecContext(ctx, f.State, f.AccountID, f.Name, f.Version)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			written[i] = n == 1
		}
		return nil
	})
	if err != nil {
		return nil, classify(err, "flows")
	}
	for i, f := range fs {
		if written[i] {
			f.Version++
		}
	}
	return written, nil
}
