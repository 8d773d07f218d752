package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/internal/keyset"
	"github.com/appflowd/appflowd/internal/store/internal/pairs"
)

// flowViewSelect reads flows with their tags, profile labels and newest
// execution in one statement, all from the flow's row: migrations 00005's
// and 00006's triggers keep them there.
func flowViewSelect(doc string) string {
	return `SELECT f.name, f.arn, f.status, ` + doc + `, f.version, f.created_at, f.updated_at, f.tags, f.labels,
	f.newest_id, f.newest_status, f.newest_doc, f.newest_started_at, f.newest_updated_at
	FROM flows f`
}

// listDoc is what a list reads of a flow's document: its summary when the
// summary was written with the flow's current version, else the document.
const listDoc = `CASE WHEN f.summary_version = f.version AND f.summary IS NOT NULL THEN f.summary ELSE f.doc END`

const (
	flowViewGetQuery  = ` WHERE f.account_id = ? AND f.name = ?`
	flowViewListQuery = ` WHERE f.account_id = ? AND f.name > ? ORDER BY f.name LIMIT ?`
)

// views are the read statements the API's hottest calls use, prepared once
// (database/sql keeps each prepared on every read connection that runs it):
// parsing them took a fifth of DescribeFlow's time.
type views struct {
	get, list *sql.Stmt
}

func prepareViews(ctx context.Context, db *sql.DB) (*views, error) {
	get, err := db.PrepareContext(ctx, flowViewSelect("f.doc")+flowViewGetQuery)
	if err != nil {
		return nil, fmt.Errorf("prepare flow view: %w", err)
	}
	list, err := db.PrepareContext(ctx, flowViewSelect(listDoc)+flowViewListQuery)
	if err != nil {
		get.Close()
		return nil, fmt.Errorf("prepare flow view list: %w", err)
	}
	return &views{get: get, list: list}, nil
}

func (v *views) close() error {
	if v == nil {
		return nil
	}
	v.get.Close()
	return v.list.Close()
}

// scanFlowView reads a row of flowViewSelect of the account's flows; a
// list's row carries the summary (listDoc) where a flow's has the document.
func scanFlowView(accountID string, list bool) func(row interface{ Scan(...any) error }) (*store.FlowView, error) {
	return func(row interface{ Scan(...any) error }) (*store.FlowView, error) {
		f := store.Flow{AccountID: accountID}
		var created, updated int64
		var tags, labels []byte
		// The newest execution's columns are NULL when the flow has none.
		var e struct {
			id, status       sql.NullString
			doc              []byte
			started, updated sql.NullInt64
		}
		if err := row.Scan(&f.Name, &f.Arn, &f.Status, &f.Doc, &f.Version, &created, &updated, &tags, &labels,
			&e.id, &e.status, &e.doc, &e.started, &e.updated); err != nil {
			return nil, err
		}
		f.CreatedAt, f.UpdatedAt = keyset.FromMicros(created), keyset.FromMicros(updated)
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
				Doc: e.doc, StartedAt: keyset.FromMicros(e.started.Int64), UpdatedAt: keyset.FromMicros(e.updated.Int64)}
		}
		return v, nil
	}
}

// SQLite keeps no stamps: known is never asked (FlowView.Stamp 0).
func (s *Store) FlowViewGet(ctx context.Context, accountID, name string, _ store.KnownView) (*store.FlowView, error) {
	v, err := scanFlowView(accountID, false)(s.views.get.QueryRowContext(ctx, accountID, name))
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
	rows, err := s.views.list.QueryContext(ctx, params.AccountID, from, limit+1)
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
