package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
)

const flowColumns = `account_id, name, arn, status, doc, state, version, created_at, updated_at`

func scanFlow(row interface{ Scan(...any) error }) (*store.Flow, error) {
	var f store.Flow
	var created, updated int64
	if err := row.Scan(&f.AccountID, &f.Name, &f.Arn, &f.Status, &f.Doc, &f.State,
		&f.Version, &created, &updated); err != nil {
		return nil, err
	}
	f.CreatedAt, f.UpdatedAt = keyset.FromMicros(created), keyset.FromMicros(updated)
	return &f, nil
}

// profileNames is names sorted, without duplicates or empty names.
func profileNames(names []string) []string {
	out := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

func setFlowProfiles(ctx context.Context, tx *sql.Tx, f *store.Flow) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM flow_profiles WHERE account_id = ? AND flow_name = ?`,
		f.AccountID, f.Name); err != nil {
		return err
	}
	for _, p := range f.ProfileNames {
		if _, err := tx.ExecContext(ctx, `INSERT INTO flow_profiles (account_id, flow_name, profile_name)
			VALUES (?, ?, ?)`, f.AccountID, f.Name, p); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) FlowCreate(ctx context.Context, f *store.Flow) error {
	f.CreatedAt, f.UpdatedAt = keyset.Time(f.CreatedAt), keyset.Time(f.UpdatedAt)
	f.ProfileNames = profileNames(f.ProfileNames)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO flows (`+flowColumns+`, summary, summary_version)
			VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, 1)`,
			f.AccountID, f.Name, f.Arn, f.Status, f.Doc, f.State,
			keyset.Micros(f.CreatedAt), keyset.Micros(f.UpdatedAt), store.FlowListSummary(f.Doc)); err != nil {
			return err
		}
		if err := checkQuota(ctx, tx, "flows", f.AccountID, f.MaxPerAccount); err != nil {
			return err
		}
		return setFlowProfiles(ctx, tx, f)
	})
	if err != nil {
		return classify(err, fmt.Sprintf("flow %q", f.Name))
	}
	f.Version = 1
	return nil
}

func (s *Store) FlowGet(ctx context.Context, accountID, name string) (*store.Flow, error) {
	var f *store.Flow
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		f, err = scanFlow(tx.QueryRowContext(ctx, `SELECT `+flowColumns+`
			FROM flows WHERE account_id = ? AND name = ?`, accountID, name))
		if err != nil {
			return err
		}
		return loadFlowProfiles(ctx, tx, accountID, []*store.Flow{f})
	})
	if err != nil {
		return nil, classify(err, fmt.Sprintf("flow %q", name))
	}
	return f, nil
}

// loadFlowProfiles fills ProfileNames of flows, all of one account.
func loadFlowProfiles(ctx context.Context, tx *sql.Tx, accountID string, flows []*store.Flow) error {
	if len(flows) == 0 {
		return nil
	}
	byName := make(map[string]*store.Flow, len(flows))
	args := []any{accountID}
	for _, f := range flows {
		byName[f.Name] = f
		args = append(args, f.Name)
	}
	rows, err := tx.QueryContext(ctx, `SELECT flow_name, profile_name FROM flow_profiles
		WHERE account_id = ? AND flow_name IN (?`+strings.Repeat(", ?", len(flows)-1)+`)
		ORDER BY flow_name, profile_name`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var flow, profile string
		if err := rows.Scan(&flow, &profile); err != nil {
			return err
		}
		f := byName[flow]
		f.ProfileNames = append(f.ProfileNames, profile)
	}
	return rows.Err()
}

func (s *Store) FlowUpdate(ctx context.Context, f *store.Flow) error {
	updated := keyset.Time(f.UpdatedAt)
	names := profileNames(f.ProfileNames)
	what := fmt.Sprintf("flow %q", f.Name)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE flows
			SET status = ?, doc = ?, summary = ?, state = ?, updated_at = ?,
				version = version + 1, summary_version = version + 1
			WHERE account_id = ? AND name = ? AND version = ?`,
			f.Status, f.Doc, store.FlowListSummary(f.Doc), f.State, keyset.Micros(updated), f.AccountID, f.Name, f.Version)
		if err := mustAffect(res, err); err == sql.ErrNoRows {
			// Tell a missing flow from a stale version.
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM flows WHERE account_id = ? AND name = ?`,
				f.AccountID, f.Name).Scan(&one); err != nil {
				return err
			}
			return fmt.Errorf("%s: version %d is stale: %w", what, f.Version, store.ErrConflict)
		} else if err != nil {
			return err
		}
		return setFlowProfiles(ctx, tx, &store.Flow{AccountID: f.AccountID, Name: f.Name, ProfileNames: names})
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
	err := mustAffect(s.w.ExecContext(ctx,
		`DELETE FROM flows WHERE account_id = ? AND name = ?`, accountID, name))
	return classify(err, fmt.Sprintf("flow %q", name))
}

func (s *Store) FlowList(ctx context.Context, params *store.FlowListParams) ([]*store.Flow, string, error) {
	from, err := keyset.NameAfter(params.Page.After)
	if err != nil {
		return nil, "", err
	}
	limit := keyset.Limit(params.Page.Limit)
	var out []*store.Flow
	err = s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+flowColumns+` FROM flows
			WHERE account_id = ? AND name > ? ORDER BY name LIMIT ?`,
			params.AccountID, from, limit+1)
		if err != nil {
			return err
		}
		if out, err = collect(rows, scanFlow); err != nil {
			return err
		}
		return loadFlowProfiles(ctx, tx, params.AccountID, out)
	})
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	out, next := keyset.Cut(out, limit, flowName)
	return out, next, nil
}

func flowName(f *store.Flow) string { return f.Name }

func (s *Store) FlowsUsingProfile(ctx context.Context, accountID, profileName string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT flow_name FROM flow_profiles
		WHERE account_id = ? AND profile_name = ? ORDER BY flow_name`, accountID, profileName)
	if err != nil {
		return nil, fmt.Errorf("flows using profile %q: %w", profileName, err)
	}
	names, err := collect(rows, func(row interface{ Scan(...any) error }) (string, error) {
		var n string
		return n, row.Scan(&n)
	})
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
	var out []*store.Flow
	err = s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+flowColumns+` FROM flows
			WHERE status = ? AND (account_id > ? OR (account_id = ? AND name > ?))
			ORDER BY account_id, name LIMIT ?`,
			params.Status, fromAccount, fromAccount, fromName, limit+1)
		if err != nil {
			return err
		}
		if out, err = collect(rows, scanFlow); err != nil {
			return err
		}
		// loadFlowProfiles takes one account's flows.
		for i := 0; i < len(out); {
			j := i
			for j < len(out) && out[j].AccountID == out[i].AccountID {
				j++
			}
			if err := loadFlowProfiles(ctx, tx, out[i].AccountID, out[i:j]); err != nil {
				return err
			}
			i = j
		}
		return nil
	})
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
// column, or last written by a binary that does not know it.
func (s *Store) fillSummaries(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT account_id, name, doc, version FROM flows
			WHERE summary_version IS NOT version`)
		if err != nil {
			return err
		}
		var stale []*store.Flow
		for rows.Next() {
			var f store.Flow
			if err := rows.Scan(&f.AccountID, &f.Name, &f.Doc, &f.Version); err != nil {
				rows.Close()
				return err
			}
			stale = append(stale, &f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, f := range stale {
			if _, err := tx.ExecContext(ctx, `UPDATE flows SET summary = ?, summary_version = version
				WHERE account_id = ? AND name = ? AND version = ?`,
				store.FlowListSummary(f.Doc), f.AccountID, f.Name, f.Version); err != nil {
				return err
			}
		}
		return nil
	})
}
