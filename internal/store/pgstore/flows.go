package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const flowColumns = `account_id, name, arn, status, doc, state, version, created_at, updated_at`

// profileNames is names sorted, without duplicates or empty names.
func profileNames(names []string) []string {
	out := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

func setFlowProfiles(ctx context.Context, tx pgx.Tx, accountID, flowName string, names []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM flow_profiles WHERE account_id = $1 AND flow_name = $2`,
		accountID, flowName); err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO flow_profiles (account_id, flow_name, profile_name)
		SELECT $1, $2, unnest($3::text[])`, accountID, flowName, names)
	return err
}

func (s *Store) FlowCreate(ctx context.Context, f *store.Flow) error {
	f.CreatedAt, f.UpdatedAt = keyset.Time(f.CreatedAt), keyset.Time(f.UpdatedAt)
	f.ProfileNames = profileNames(f.ProfileNames)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockQuota(ctx, tx, "flows", f.AccountID, f.MaxPerAccount); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO flows (`+flowColumns+`, summary, summary_version)
			VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, 1)`,
			f.AccountID, f.Name, f.Arn, f.Status, f.Doc, f.State, f.CreatedAt, f.UpdatedAt, store.FlowListSummary(f.Doc)); err != nil {
			return err
		}
		if err := checkQuota(ctx, tx, "flows", f.AccountID, f.MaxPerAccount); err != nil {
			return err
		}
		return setFlowProfiles(ctx, tx, f.AccountID, f.Name, f.ProfileNames)
	})
	if err != nil {
		return classify(err, fmt.Sprintf("flow %q", f.Name))
	}
	f.Version = 1
	return nil
}

// flowSelect reads flows with their profile names in one query.
const flowSelect = `SELECT ` + flowColumns + `,
	coalesce((SELECT array_agg(fp.profile_name ORDER BY fp.profile_name) FROM flow_profiles fp
		WHERE fp.account_id = flows.account_id AND fp.flow_name = flows.name), '{}')
	FROM flows`

func scanFlowWithProfiles(row pgx.Row) (*store.Flow, error) {
	var f store.Flow
	if err := row.Scan(&f.AccountID, &f.Name, &f.Arn, &f.Status, &f.Doc, &f.State,
		&f.Version, &f.CreatedAt, &f.UpdatedAt, &f.ProfileNames); err != nil {
		return nil, err
	}
	f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
	return &f, nil
}

func (s *Store) FlowGet(ctx context.Context, accountID, name string) (*store.Flow, error) {
	f, err := scanFlowWithProfiles(s.pool.QueryRow(ctx, flowSelect+`
		WHERE account_id = $1 AND name = $2`, accountID, name))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("flow %q", name))
	}
	return f, nil
}

func (s *Store) FlowUpdate(ctx context.Context, f *store.Flow) error {
	updated := keyset.Time(f.UpdatedAt)
	names := profileNames(f.ProfileNames)
	what := fmt.Sprintf("flow %q", f.Name)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The version check and the write are one statement: of two replicas
		// updating the same version, the second waits for the first's row lock,
		// then finds the version changed and matches no row.
		err := mustAffect(tx.Exec(ctx, `UPDATE flows
			SET status = $1, doc = $2, summary = $8, state = $3, updated_at = $4,
				version = version + 1, summary_version = version + 1
			WHERE account_id = $5 AND name = $6 AND version = $7`,
			f.Status, f.Doc, f.State, updated, f.AccountID, f.Name, f.Version, store.FlowListSummary(f.Doc)))
		if errors.Is(err, pgx.ErrNoRows) {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM flows WHERE account_id = $1 AND name = $2`,
				f.AccountID, f.Name).Scan(&one); err != nil {
				return err
			}
			return fmt.Errorf("%s: version %d is stale: %w", what, f.Version, store.ErrConflict)
		} else if err != nil {
			return err
		}
		return setFlowProfiles(ctx, tx, f.AccountID, f.Name, names)
	})
	if err != nil {
		if store.IsConflict(err) {
			return err
		}
		return classify(err, what)
	}
	f.UpdatedAt, f.ProfileNames = updated, names
	f.Version++
	return nil
}

func (s *Store) FlowDelete(ctx context.Context, accountID, name string) error {
	// Executions and flow_profiles go with it: ON DELETE CASCADE.
	err := mustAffect(s.pool.Exec(ctx, `DELETE FROM flows WHERE account_id = $1 AND name = $2`, accountID, name))
	return classify(err, fmt.Sprintf("flow %q", name))
}

func (s *Store) FlowList(ctx context.Context, params *store.FlowListParams) ([]*store.Flow, string, error) {
	from, err := keyset.NameAfter(params.Page.After)
	if err != nil {
		return nil, "", err
	}
	limit := keyset.Limit(params.Page.Limit)
	rows, err := s.pool.Query(ctx, flowSelect+`
		WHERE account_id = $1 AND name > $2 ORDER BY name LIMIT $3`, params.AccountID, from, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	out, err := collect(rows, scanFlowWithProfiles)
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	out, next := keyset.Cut(out, limit, flowName)
	return out, next, nil
}

func flowName(f *store.Flow) string { return f.Name }

func (s *Store) FlowsUsingProfile(ctx context.Context, accountID, profileName string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT flow_name FROM flow_profiles
		WHERE account_id = $1 AND profile_name = $2 ORDER BY flow_name`, accountID, profileName)
	if err != nil {
		return nil, fmt.Errorf("flows using profile %q: %w", profileName, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("flows using profile %q: %w", profileName, err)
	}
	return names, nil
}

func (s *Store) FlowListByStatus(ctx context.Context, params *store.FlowListByStatusParams) ([]*store.Flow, string, error) {
	after, err := keyset.Decode(params.Page.After, 2)
	if err != nil {
		return nil, "", err
	}
	limit := keyset.Limit(params.Page.Limit)
	fromAccount, fromName := "", ""
	if after != nil {
		fromAccount, fromName = after[0], after[1]
	}
	rows, err := s.pool.Query(ctx, flowSelect+`
		WHERE status = $1 AND (account_id, name) > ($2, $3) ORDER BY account_id, name LIMIT $4`,
		params.Status, fromAccount, fromName, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list %s flows: %w", params.Status, err)
	}
	out, err := collect(rows, scanFlowWithProfiles)
	if err != nil {
		return nil, "", fmt.Errorf("list %s flows: %w", params.Status, err)
	}
	var next string
	if len(out) > limit {
		out = out[:limit]
		next = keyset.Encode(out[limit-1].AccountID, out[limit-1].Name)
	}
	return out, next, nil
}

// fillSummaries writes the list summary of every flow whose summary was
// not written with its current version: flows stored before the summary
// column, or last written by a binary that does not know it. The version
// check leaves a flow that another replica writes meanwhile to its writer.
func (s *Store) fillSummaries(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT account_id, name, doc, version FROM flows
		WHERE summary_version IS DISTINCT FROM version`)
	if err != nil {
		return err
	}
	stale, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Flow, error) {
		var f store.Flow
		return &f, row.Scan(&f.AccountID, &f.Name, &f.Doc, &f.Version)
	})
	if err != nil {
		return err
	}
	for _, f := range stale {
		if _, err := s.pool.Exec(ctx, `UPDATE flows SET summary = $1, summary_version = version
			WHERE account_id = $2 AND name = $3 AND version = $4`,
			store.FlowListSummary(f.Doc), f.AccountID, f.Name, f.Version); err != nil {
			return err
		}
	}
	return nil
}
