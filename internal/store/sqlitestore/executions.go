package sqlitestore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const executionColumns = `account_id, flow_name, execution_id, status, doc, started_at, updated_at`

func scanExecution(row interface{ Scan(...any) error }) (*store.Execution, error) {
	var e store.Execution
	var started, updated int64
	if err := row.Scan(&e.AccountID, &e.FlowName, &e.ExecutionID, &e.Status, &e.Doc,
		&started, &updated); err != nil {
		return nil, err
	}
	e.StartedAt, e.UpdatedAt = keyset.FromMicros(started), keyset.FromMicros(updated)
	return &e, nil
}

// ExecutionCreate stores a new execution; ErrNotFound if its flow does not
// exist, ErrConflict if the id is taken.
func (s *Store) ExecutionCreate(ctx context.Context, e *store.Execution) error {
	e.StartedAt, e.UpdatedAt = keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO executions (`+executionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.AccountID, e.FlowName, e.ExecutionID, e.Status, e.Doc,
		keyset.Micros(e.StartedAt), keyset.Micros(e.UpdatedAt))
	return classify(err, fmt.Sprintf("flow %q execution %q", e.FlowName, e.ExecutionID))
}

func (s *Store) ExecutionGet(ctx context.Context, accountID, flowName, executionID string) (*store.Execution, error) {
	e, err := scanExecution(s.r.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions
		WHERE account_id = ? AND flow_name = ? AND execution_id = ?`, accountID, flowName, executionID))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("flow %q execution %q", flowName, executionID))
	}
	return e, nil
}

// ExecutionUpdate writes Status, Doc, StartedAt and UpdatedAt.
func (s *Store) ExecutionUpdate(ctx context.Context, e *store.Execution) error {
	e.StartedAt, e.UpdatedAt = keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt)
	err := mustAffect(s.w.ExecContext(ctx, `UPDATE executions
		SET status = ?, doc = ?, started_at = ?, updated_at = ?
		WHERE account_id = ? AND flow_name = ? AND execution_id = ?`,
		e.Status, e.Doc, keyset.Micros(e.StartedAt), keyset.Micros(e.UpdatedAt),
		e.AccountID, e.FlowName, e.ExecutionID))
	return classify(err, fmt.Sprintf("flow %q execution %q", e.FlowName, e.ExecutionID))
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
