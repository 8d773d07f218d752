package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
	"github.com/appflowd/appflowd/internal/store/internal/pairs"
)

// flowViewSelect reads flows with their tags, profile labels and newest
// execution in one statement (one round trip), all from the flow's row:
// migrations 00005's and 00006's triggers keep them there. pgx prepares
// and caches it per connection.
func flowViewSelect(doc string) string {
	return `SELECT f.name, f.arn, f.status, ` + doc + `, f.version, f.created_at, f.updated_at, f.tags, f.labels,
	f.newest_id, f.newest_status, f.newest_doc, f.newest_started_at, f.newest_updated_at
	FROM flows f`
}

// listDoc is what a list reads of a flow's document: its summary when the
// summary was written with the flow's current version, else the document.
const listDoc = `CASE WHEN f.summary_version = f.version AND f.summary IS NOT NULL THEN f.summary ELSE f.doc END`

// scanFlowView reads a row of flowViewSelect of the account's flows; a
// list's row carries the summary (listDoc) where a flow's has the document.
func scanFlowView(accountID string, list bool) func(row pgx.Row) (*store.FlowView, error) {
	return func(row pgx.Row) (*store.FlowView, error) {
		f := store.Flow{AccountID: accountID}
		var tags, labels []byte
		// The newest execution's columns are NULL when the flow has none.
		// pgtype values, not pointers: pgx scans those without reflection.
		var e struct {
			id, status       pgtype.Text
			doc              []byte
			started, updated pgtype.Timestamptz
		}
		if err := row.Scan(&f.Name, &f.Arn, &f.Status, &f.Doc, &f.Version, &f.CreatedAt, &f.UpdatedAt,
			&tags, &labels, &e.id, &e.status, &e.doc, &e.started, &e.updated); err != nil {
			return nil, err
		}
		f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
		v := &store.FlowView{Flow: &f}
		if list {
			v.Summary, f.Doc = f.Doc, nil
		}
		var err error
		if v.Tags, err = pairs.Parse(tags); err != nil {
			return nil, fmt.Errorf("tags of flow %q: %w", f.Name, err)
		}
		if v.Labels, err = pairs.Parse(labels); err != nil {
			return nil, fmt.Errorf("profile labels of flow %q: %w", f.Name, err)
		}
		if e.id.Valid {
			v.Newest = &store.Execution{AccountID: accountID, FlowName: f.Name, ExecutionID: e.id.String, Status: e.status.String,
				Doc: e.doc, StartedAt: e.started.Time.UTC(), UpdatedAt: e.updated.Time.UTC()}
		}
		return v, nil
	}
}

// The statements FlowViewGet and FlowViewList run.
var flowViewGet, flowViewList = flowViewSelect("f.doc"), flowViewSelect(listDoc)

func (s *Store) FlowViewGet(ctx context.Context, accountID, name string) (*store.FlowView, error) {
	v, err := scanFlowView(accountID, false)(s.pool.QueryRow(ctx, flowViewGet+`
		WHERE f.account_id = $1 AND f.name = $2`, accountID, name))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("flow %q", name))
	}
	return v, nil
}

func (s *Store) FlowViewList(ctx context.Context, params *store.FlowListParams) ([]*store.FlowView, string, error) {
	from, err := keyset.NameAfter(params.Page.After)
	if err != nil {
		return nil, "", err
	}
	limit := keyset.Limit(params.Page.Limit)
	rows, err := s.pool.Query(ctx, flowViewList+`
		WHERE f.account_id = $1 AND f.name > $2 ORDER BY f.name LIMIT $3`, params.AccountID, from, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	out, err := collect(rows, scanFlowView(params.AccountID, true))
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	out, next := keyset.Cut(out, limit, func(v *store.FlowView) string { return v.Flow.Name })
	return out, next, nil
}
