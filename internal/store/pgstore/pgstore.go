// Package pgstore is the store.Store on PostgreSQL (pgx), the one several
// appflowd replicas share.
//
// Everything that must hold across replicas is done by the database in one
// statement: FlowUpdate checks the version in its UPDATE's WHERE clause,
// TokenClaim is an INSERT ... ON CONFLICT that only replaces an expired use,
// and migrations run under a session advisory lock so replicas starting
// together migrate once. Commits are durable as PostgreSQL makes them
// (synchronous_commit as the server is configured; on by default).
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/appflowd/appflowd/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store on a pgx pool.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// or postgresql:// URL;
// search_path=... in its query picks the schema) and brings the schema up to
// date.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return nil, errors.New("open postgres store: want a postgres:// or postgresql:// URL")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN with its password; keep only the kind.
		return nil, errors.New("open postgres store: cannot parse the database URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.fillSummaries(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: flow summaries: %w", err)
	}
	return s, nil
}

// Close closes the pool; it may be called more than once.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrateLockClass is the first key of the advisory lock that serializes
// migrations; the second is a hash of the schema, so databases and schemas
// migrate independently.
const migrateLockClass = 0x61666c77 // "aflw"

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()

	// Hold a session advisory lock on one connection while goose migrates on
	// others: a second replica waits here, then finds nothing to do. A
	// blocking lock, not goose's polling one, so it waits no longer than the
	// migration takes. If this process dies, its session and lock go with it.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	const key = `$1::int4, hashtext(coalesce(current_schema(), ''))`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`, migrateLockClass); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`, migrateLockClass)

	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithTableName("appflowd_store_migrations"),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// classify turns PostgreSQL's errors into the store's: what names the row,
// as in `flow "x"`.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w", what, store.ErrConflict)
		case "23503": // foreign_key_violation: the parent row is missing
			return fmt.Errorf("%s: parent %w", what, store.ErrNotFound)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// mustAffect is pgx.ErrNoRows when tag changed no row.
func mustAffect(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return pgx.ErrNoRows
	}
	return nil
}
