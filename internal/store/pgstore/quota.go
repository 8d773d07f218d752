package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/store"
)

// lockQuota serializes the creates of one account's profiles or flows
// across every replica for the rest of tx (a transaction advisory lock),
// so that the count checkQuota makes after the insert sees every earlier
// create. Without a quota it takes no lock.
func lockQuota(ctx context.Context, tx pgx.Tx, table, accountID string, max int) error {
	if max <= 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('appflowd quota '||$1||' '||$2, 0))`, table, accountID)
	return err
}

// checkQuota counts the account's rows of table after the insert, under
// lockQuota's lock.
func checkQuota(ctx context.Context, tx pgx.Tx, table, accountID string, max int) error {
	if max <= 0 {
		return nil
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE account_id = $1`, accountID).Scan(&n); err != nil {
		return err
	}
	if n > max {
		return store.ErrQuotaExceeded
	}
	return nil
}
