package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/appflowd/appflowd/internal/store"
)

// checkQuota runs in the write transaction right after an insert into
// table (profiles or flows): the writer holds SQLite's write lock from
// BEGIN IMMEDIATE, so no other insert, from this process or another, lands
// between the insert and this count.
func checkQuota(ctx context.Context, tx *sql.Tx, table, accountID string, max int) error {
	if max <= 0 {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE account_id = ?`, accountID).Scan(&n); err != nil {
		return err
	}
	if n > max {
		return store.ErrQuotaExceeded
	}
	return nil
}
