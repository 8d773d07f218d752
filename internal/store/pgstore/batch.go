package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

// ExecutionCreateMany stores new executions in one transaction (one round
// trip), skipping taken ids and executions whose flow is gone.
func (s *Store) ExecutionCreateMany(ctx context.Context, es []*store.Execution) error {
	if len(es) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, e := range es {
			e.StartedAt, e.UpdatedAt = keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt)
			var lease *time.Time
			e.LeaseUntil, lease = leaseArg(e.LeaseUntil)
			b.Queue(`INSERT INTO executions (`+executionColumns+`)
				SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 1
				WHERE EXISTS (SELECT 1 FROM flows WHERE account_id = $1 AND name = $2)
				ON CONFLICT DO NOTHING`,
				e.AccountID, e.FlowName, e.ExecutionID, e.Status, e.Doc, e.StartedAt, e.UpdatedAt, e.Owner, lease)
		}
		return tx.SendBatch(ctx, &b).Close()
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
// equals its Version, in one transaction (one round trip), and increments
// those versions.
func (s *Store) FlowStateUpdateMany(ctx context.Context, fs []*store.Flow) ([]bool, error) {
	written := make([]bool, len(fs))
	if len(fs) == 0 {
		return written, nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, f := range fs {
			b.Queue(`UPDATE flows SET state = $1, version = version + 1,
					summary_version = CASE WHEN summary_version = version THEN version + 1 ELSE summary_version END
				WHERE account_id = $2 AND name = $3 AND version = $4`, f.State, f.AccountID, f.Name, f.Version)
		}
		br := tx.SendBatch(ctx, &b)
		for i := range fs {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			written[i] = tag.RowsAffected() == 1
		}
		return br.Close()
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
