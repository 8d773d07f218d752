package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const executionColumns = `account_id, flow_name, execution_id, status, doc, started_at, updated_at, owner, lease_until, version`

func scanExecution(row pgx.Row) (*store.Execution, error) {
	var e store.Execution
	var lease *time.Time
	if err := row.Scan(&e.AccountID, &e.FlowName, &e.ExecutionID, &e.Status, &e.Doc,
		&e.StartedAt, &e.UpdatedAt, &e.Owner, &lease, &e.Version); err != nil {
		return nil, err
	}
	e.StartedAt, e.UpdatedAt = e.StartedAt.UTC(), e.UpdatedAt.UTC()
	if lease != nil {
		e.LeaseUntil = lease.UTC()
	}
	return &e, nil
}

// leaseArg stores a zero lease as NULL, others at the store's precision.
func leaseArg(t time.Time) (time.Time, *time.Time) {
	if t.IsZero() {
		return t, nil
	}
	t = keyset.Time(t)
	return t, &t
}

// ExecutionCreate stores a new execution; ErrNotFound if its flow does not
// exist, ErrConflict if the id is taken.
func (s *Store) ExecutionCreate(ctx context.Context, e *store.Execution) error {
	e.StartedAt, e.UpdatedAt = keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt)
	var lease *time.Time
	e.LeaseUntil, lease = leaseArg(e.LeaseUntil)
	_, err := s.pool.Exec(ctx, `INSERT INTO executions (`+executionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)`,
		e.AccountID, e.FlowName, e.ExecutionID, e.Status, e.Doc, e.StartedAt, e.UpdatedAt, e.Owner, lease)
	if err != nil {
		return classify(err, fmt.Sprintf("flow %q execution %q", e.FlowName, e.ExecutionID))
	}
	e.Version = 1
	return nil
}

func (s *Store) ExecutionGet(ctx context.Context, accountID, flowName, executionID string) (*store.Execution, error) {
	e, err := scanExecution(s.pool.QueryRow(ctx, `SELECT `+executionColumns+` FROM executions
		WHERE account_id = $1 AND flow_name = $2 AND execution_id = $3`, accountID, flowName, executionID))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("flow %q execution %q", flowName, executionID))
	}
	return e, nil
}

// ExecutionUpdate writes the execution if its version is current. The
// version check and the write are one statement: of two writers of the same
// version, the second waits for the first's row lock, then matches no row.
// It locks the flow's row before the execution's, in the order FlowDelete
// takes them (the flow, then its executions): migration 00005's trigger
// writes the flow's newest run, and the other order could deadlock with a
// delete.
func (s *Store) ExecutionUpdate(ctx context.Context, e *store.Execution) error {
	started, updated := keyset.Time(e.StartedAt), keyset.Time(e.UpdatedAt)
	leaseT, lease := leaseArg(e.LeaseUntil)
	what := fmt.Sprintf("flow %q execution %q", e.FlowName, e.ExecutionID)
	err := mustAffect(s.pool.Exec(ctx, `WITH flow AS (
			SELECT 1 FROM flows WHERE account_id = $7 AND name = $8 FOR NO KEY UPDATE)
		UPDATE executions
		SET status = $1, doc = $2, started_at = $3, updated_at = $4, owner = $5, lease_until = $6, version = version + 1
		WHERE account_id = $7 AND flow_name = $8 AND execution_id = $9 AND version = $10
			AND EXISTS (SELECT 1 FROM flow)`,
		e.Status, e.Doc, started, updated, e.Owner, lease, e.AccountID, e.FlowName, e.ExecutionID, e.Version))
	if errors.Is(err, pgx.ErrNoRows) {
		var one int
		if err := s.pool.QueryRow(ctx, `SELECT 1 FROM executions WHERE account_id = $1 AND flow_name = $2 AND execution_id = $3`,
			e.AccountID, e.FlowName, e.ExecutionID).Scan(&one); err != nil {
			return classify(err, what)
		}
		return fmt.Errorf("%s: version %d is stale: %w", what, e.Version, store.ErrConflict)
	}
	if err != nil {
		return classify(err, what)
	}
	e.StartedAt, e.UpdatedAt, e.LeaseUntil = started, updated, leaseT
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
