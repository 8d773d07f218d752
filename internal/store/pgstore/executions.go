package pgstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const executionColumns = `account_id, flow_name, execution_id, status, doc, started_at, updated_at`

func scanExecution(row pgx.Row) (*store.Execution, error) {
	var e store.Execution
	if err := row.Scan(&e.AccountID, &e.FlowName, &e.ExecutionID, &e.Status, &e.Doc,
		&e.StartedAt, &e.UpdatedAt); err != nil {
		return nil, err
	}
	e.StartedAt, e.UpdatedAt = e.StartedAt.UTC(), e.UpdatedAt.UTC()
	return &e, nil
}

// ExecutionCreate stores a new execution; ErrNotFound if its flow does not
// exist, ErrConflict if the id is taken.
func (s *Store) ExecutionCreate(ctx context.Context, e *store.Execution) error {
	e.StartedAt, e.UpdatedAt = keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO executions (`+executionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.AccountID, e.FlowName, e.ExecutionID, e.Status, e.Doc, e.StartedAt, e.UpdatedAt)
	return classify(err, fmt.Sprintf("flow %q execution %q", e.FlowName, e.ExecutionID))
}

func (s *Store) ExecutionGet(ctx context.Context, accountID, flowName, executionID string) (*store.Execution, error) {
	e, err := scanExecution(s.pool.QueryRow(ctx, `SELECT `+executionColumns+` FROM executions
		WHERE account_id = $1 AND flow_name = $2 AND execution_id = $3`, accountID, flowName, executionID))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("flow %q execution %q", flowName, executionID))
	}
	return e, nil
}

// ExecutionUpdate writes Status, Doc, StartedAt and UpdatedAt.
func (s *Store) ExecutionUpdate(ctx context.Context, e *store.Execution) error {
	e.StartedAt, e.UpdatedAt = keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt)
	err := mustAffect(s.pool.Exec(ctx, `UPDATE executions
		SET status = $1, doc = $2, started_at = $3, updated_at = $4
		WHERE account_id = $5 AND flow_name = $6 AND execution_id = $7`,
		e.Status, e.Doc, e.StartedAt, e.UpdatedAt, e.AccountID, e.FlowName, e.ExecutionID))
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
	query := `SELECT ` + executionColumns + ` FROM executions WHERE account_id = $1 AND flow_name = $2`
	args := []any{params.AccountID, params.FlowName}
	if after != nil {
		started, err := strconv.ParseInt(after[0], 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("list executions: %w", keyset.ErrBadCursor)
		}
		query += ` AND (started_at, execution_id) < ($3, $4)`
		args = append(args, keyset.FromMicros(started), after[1])
	}
	args = append(args, limit+1)
	query += ` ORDER BY started_at DESC, execution_id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, query, args...)
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
	rows, err := s.pool.Query(ctx, `SELECT `+executionColumns+` FROM executions
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
