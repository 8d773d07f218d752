package pgstore

import (
	"context"
	"encoding/binary"
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
//
// The first two columns are the flow's name and stamp: xmin, the id of the
// transaction that wrote the row's current version, which every change of
// the flow and every trigger's write of its tags, newest run or labels
// replaces (a row lock does not; freezing keeps it), beside the flow's
// version, which guards against the ids' wraparound.
func flowViewSelect(doc string) string {
	return `SELECT f.name, f.xmin, f.version, f.arn, f.status, ` + doc + `, f.created_at, f.updated_at, f.tags, f.labels,
	f.newest_id, f.newest_status, f.newest_doc, f.newest_started_at, f.newest_updated_at
	FROM flows f`
}

// stamp reads a view row's name and FlowView.Stamp (from its xmin and
// version): raw where pgx asked for them in binary (a uint32 and an int64,
// big-endian), so that a known view's row is not scanned, else (the simple
// protocol's text) scanned.
func stamp(row pgx.Rows) (string, uint64, error) {
	raw, fds := row.RawValues(), row.FieldDescriptions()
	if len(raw) >= 3 && fds[1].Format == pgx.BinaryFormatCode && fds[2].Format == pgx.BinaryFormatCode && len(raw[1]) == 4 && len(raw[2]) == 8 {
		return string(raw[0]), binary.BigEndian.Uint64(raw[2])<<32 | uint64(binary.BigEndian.Uint32(raw[1])), nil
	}
	var name string
	var xmin uint32
	var version int64
	dest := make([]any, len(fds))
	dest[0], dest[1], dest[2] = &name, &xmin, &version
	if err := row.Scan(dest...); err != nil {
		return "", 0, fmt.Errorf("flow view stamp: %w", err)
	}
	return name, uint64(version)<<32 | uint64(xmin), nil
}

// listDoc is what a list reads of a flow's document: its summary when the
// summary was written with the flow's current version, else the document.
const listDoc = `CASE WHEN f.summary_version = f.version AND f.summary IS NOT NULL THEN f.summary ELSE f.doc END`

// scanFlowView reads a row of flowViewSelect of the account's flows; a
// list's row carries the summary (listDoc) where a flow's has the document.
// A known view (see store.KnownView) is left unscanned. row is the Rows of
// a Query (collect's), whose raw values stamp reads.
func scanFlowView(accountID string, list bool, known store.KnownView) func(row pgx.Row) (*store.FlowView, error) {
	return func(row pgx.Row) (*store.FlowView, error) {
		name, st, err := stamp(row.(pgx.Rows))
		if err != nil {
			return nil, err
		}
		if known != nil && known(name, st) {
			return &store.FlowView{Flow: &store.Flow{AccountID: accountID, Name: name}, Stamp: st, Known: true}, nil
		}
		f := store.Flow{AccountID: accountID, Name: name}
		var tags, labels []byte
		// The newest execution's columns are NULL when the flow has none.
		// pgtype values, not pointers: pgx scans those without reflection.
		var e struct {
			id, status       pgtype.Text
			doc              []byte
			started, updated pgtype.Timestamptz
		}
		if err := row.Scan(nil, nil, &f.Version, &f.Arn, &f.Status, &f.Doc, &f.CreatedAt, &f.UpdatedAt,
			&tags, &labels, &e.id, &e.status, &e.doc, &e.started, &e.updated); err != nil {
			return nil, err
		}
		f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
		v := &store.FlowView{Flow: &f, Stamp: st}
		if list {
			v.Summary, f.Doc = f.Doc, nil
		}
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

func (s *Store) FlowViewGet(ctx context.Context, accountID, name string, known store.KnownView) (*store.FlowView, error) {
	rows, err := s.pool.Query(ctx, flowViewGet+`
		WHERE f.account_id = $1 AND f.name = $2`, accountID, name)
	if err != nil {
		return nil, classify(err, fmt.Sprintf("flow %q", name))
	}
	out, err := collect(rows, scanFlowView(accountID, false, known))
	if err == nil && len(out) == 0 {
		err = pgx.ErrNoRows
	}
	if err != nil {
		return nil, classify(err, fmt.Sprintf("flow %q", name))
	}
	return out[0], nil
}

func (s *Store) FlowViewList(ctx context.Context, params *store.FlowListParams) ([]*store.FlowView, string, error) {
	from, err := keyset.NameAfter(params.Page.After)
	if err != nil {
		return nil, "", err
	}
	limit := keyset.Limit(params.Page.Limit)
	if params.Known != nil {
		return s.flowViewListKnown(ctx, params.AccountID, from, limit, params.Known)
	}
	rows, err := s.pool.Query(ctx, flowViewList+`
		WHERE f.account_id = $1 AND f.name > $2 ORDER BY f.name LIMIT $3`, params.AccountID, from, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	out, err := collect(rows, scanFlowView(params.AccountID, true, nil))
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	out, next := keyset.Cut(out, limit, func(v *store.FlowView) string { return v.Flow.Name })
	return out, next, nil
}

// flowViewListKnown is FlowViewList with a KnownView: a first query reads
// the page's names and stamps alone, and only the rows the caller does not
// know are read whole, by a second. A flow deleted between the two is left
// out of the page; one changed between them is read as it is then.
func (s *Store) flowViewListKnown(ctx context.Context, accountID, from string, limit int, known store.KnownView) ([]*store.FlowView, string, error) {
	rows, err := s.pool.Query(ctx, `SELECT f.name, f.xmin, f.version FROM flows f
		WHERE f.account_id = $1 AND f.name > $2 ORDER BY f.name LIMIT $3`, accountID, from, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	out, err := collect(rows, func(row pgx.Row) (*store.FlowView, error) {
		name, st, err := stamp(row.(pgx.Rows))
		if err != nil {
			return nil, err
		}
		return &store.FlowView{Flow: &store.Flow{AccountID: accountID, Name: name}, Stamp: st}, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	out, next := keyset.Cut(out, limit, func(v *store.FlowView) string { return v.Flow.Name })
	var unknown []string
	for _, v := range out {
		if v.Known = known(v.Flow.Name, v.Stamp); !v.Known {
			unknown = append(unknown, v.Flow.Name)
		}
	}
	if len(unknown) == 0 {
		return out, next, nil
	}
	rows, err = s.pool.Query(ctx, flowViewList+`
		WHERE f.account_id = $1 AND f.name = ANY($2)`, accountID, unknown)
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	whole, err := collect(rows, scanFlowView(accountID, true, nil))
	if err != nil {
		return nil, "", fmt.Errorf("list flows: %w", err)
	}
	byName := make(map[string]*store.FlowView, len(whole))
	for _, v := range whole {
		byName[v.Flow.Name] = v
	}
	page := out[:0]
	for _, v := range out {
		if !v.Known {
			if v = byName[v.Flow.Name]; v == nil {
				continue // deleted since the first query
			}
		}
		page = append(page, v)
	}
	return page, next, nil
}
