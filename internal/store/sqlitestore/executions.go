package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const executionColumns = `account_id, flow_name, execution_id, status, doc, started_at, updated_at, owner, lease_until, version`

func scanExecution(row interface{ Scan(...any) error }) (*store.Execution, error) {
	var e store.Execution
	var started, updated, lease int64
	if err := row.Scan(&e.AccountID, &e.FlowName, &e.ExecutionID, &e.Status, &e.Doc,
		&started, &updated, &e.Owner, &lease, &e.Version); err != nil {
		return nil, err
	}
	e.StartedAt, e.UpdatedAt = keyset.FromMicros(started), keyset.FromMicros(updated)
	if lease != 0 {
		e.LeaseUntil = keyset.FromMicros(lease)
	}
	return &e, nil
}

// leaseMicros stores a zero lease as 0.
func leaseMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return keyset.Micros(t)
}

// ExecutionCreate stores a new execution; ErrNotFound if its flow does not
// exist, ErrConflict if the id is taken.
func (s *Store) ExecutionCreate(ctx context.Context, e *store.Execution) error {
	e.StartedAt, e.UpdatedAt = keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt)
	e.LeaseUntil = leaseTime(e.LeaseUntil)
	_, err := s.w.ExecContext(ctx, `INSERT INTO executions (`+executionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		e.AccountID, e.FlowName, e.ExecutionID, e.Status, e.Doc,
		keyset.Micros(e.StartedAt), keyset.Micros(e.UpdatedAt), e.Owner, leaseMicros(e.LeaseUntil))
	if err != nil {
		return classify(err, fmt.Sprintf("flow %q execution %q", e.FlowName, e.ExecutionID))
	}
	e.Version = 1
	return nil
}

// leaseTime is t at the store's precision; zero stays zero.
func leaseTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return keyset.FromMicros(keyset.Micros(t))
}

func (s *Store) ExecutionGet(ctx context.Context, accountID, flowName, executionID string) (*store.Execution, error) {
	e, err := scanExecution(s.r.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions
		WHERE account_id = ? AND flow_name = ? AND execution_id = ?`, accountID, flowName, executionID))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("flow %q execution %q", flowName, executionID))
	}
	return e, nil
}

// ExecutionUpdate writes the execution if its version is current.
func (s *Store) ExecutionUpdate(ctx context.Context, e *store.Execution) error {
	started, updated, lease := keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt), leaseTime(e.LeaseUntil)
	what := fmt.Sprintf("flow %q execution %q", e.FlowName, e.ExecutionID)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE executions
			SET status = ?, doc = ?, started_at = ?, updated_at = ?, owner = ?, lease_until = ?, version = version + 1
			WHERE account_id = ? AND flow_name = ? AND execution_id = ? AND version = ?`,
			e.Status, e.Doc, keyset.Micros(started), keyset.Micros(updated), e.Owner, leaseMicros(lease),
			e.AccountID, e.FlowName, e.ExecutionID, e.Version)
		if err := mustAffect(res, err); err == sql.ErrNoRows {
			// Tell a missing execution from a stale version.
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM executions WHERE account_id = ? AND flow_name = ? AND execution_id = ?`,
				e.AccountID, e.FlowName, e.ExecutionID).Scan(&one); err != nil {
				return err
			}
			return fmt.Errorf("%s: version %d is stale: %w", what, e.Version, store.ErrConflict)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		if store.IsConflict(err) {
			return err
		}
		return classify(err, what)
	}
	e.StartedAt, e.UpdatedAt, e.LeaseUntil = started, updated, lease
	e.Version++
	return nil
}

// ExecutionList lists the executions of one flow, newest first; an empty
// FlowName matches none.
func (s *Store) ExecutionList(ctx context.Context, params *store.ExecutionListParams) ([]*store.Execution, string, error) {
	after, err := keyset.Decode(params.Page.After, 2)
	if err != nil {
		return nil, "", err
	}
	limit := keyset.Limit(params.Page.Limit)
	query := `SELECT ` + executionColumns + ` FROM executions WHERE account_id = ? AND flow_name = ?`
	args := []any{params.AccountID, params.FlowName}
	if after != nil {
		started, err := strconv.ParseInt(after[0], 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("list executions: %w", keyset.ErrBadCursor)
		}
		query += ` AND (started_at, execution_id) < (?, ?)`
		args = append(args, started, after[1])
	}
	query += ` ORDER BY started_at DESC, execution_id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list executions: %w", err)
	}
	out, err := collect(rows, scanExecution)
	if err != nil {
		return nil, "", fmt.Errorf("list executions: %w", err)
	}
	var next string
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = keyset.Encode(strconv.FormatInt(keyset.Micros(last.StartedAt), 10), last.ExecutionID)
	}
	return out, next, nil
}

// ExecutionListUnfinished lists InProgress and CancelStarted executions of
// every account, oldest first.
func (s *Store) ExecutionListUnfinished(ctx context.Context) ([]*store.Execution, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+executionColumns+` FROM executions
		WHERE status IN ('InProgress', 'CancelStarted') ORDER BY started_at, execution_id`)
	if err != nil {
		return nil, fmt.Errorf("list unfinished executions: %w", err)
	}
	out, err := collect(rows, scanExecution)
	if err != nil {
		return nil, fmt.Errorf("list unfinished executions: %w", err)
	}
	return out, nil
}
