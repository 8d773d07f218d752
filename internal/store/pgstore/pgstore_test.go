package pgstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/appflowd/appflowd/internal/pgtest"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/pgstore"
	"github.com/appflowd/appflowd/internal/store/storetest"
)

func open(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) { runSuite(t, "") }

// TestStoreSimpleProtocol runs the suite with pgx's simple protocol (as
// behind a transaction-pooling PgBouncer), whose rows come as text: the
// views' stamps are scanned, not read raw.
func TestStoreSimpleProtocol(t *testing.T) { runSuite(t, "simple_protocol") }

// runSuite runs storetest's suite, with the DSN's default_query_exec_mode
// set to mode unless it is "".
func runSuite(t *testing.T, mode string) {
	if os.Getenv(pgtest.EnvDSN) == "" {
		t.Skip(pgtest.EnvDSN + " is unset: set it to a PostgreSQL URL to run the pgstore tests")
	}
	var dsns sync.Map // *testing.T -> its schema's DSN, so a reopen finds it
	storetest.Run(t, func(t *testing.T) store.Store {
		dsn, ok := dsns.Load(t)
		if !ok {
			u, err := url.Parse(pgtest.Schema(t, "storetest"))
			if err != nil {
				t.Fatal(err)
			}
			if mode != "" {
				q := u.Query()
				q.Set("default_query_exec_mode", mode)
				u.RawQuery = q.Encode()
			}
			dsn, _ = dsns.LoadOrStore(t, u.String())
		}
		return open(t, dsn.(string))
	})
}

func TestOpenRejectsOtherURLs(t *testing.T) {
	for _, dsn := range []string{"", "mysql://x", "host=localhost user=postgres", "file:x.db"} {
		if _, err := pgstore.Open(context.Background(), dsn); err == nil {
			t.Errorf("Open(%q): got no error, want one", dsn)
		}
	}
}

func TestOpenAcceptsPostgresqlScheme(t *testing.T) {
	dsn := pgtest.Schema(t, "storetest")
	u, _ := url.Parse(dsn)
	u.Scheme = "postgresql"
	s := open(t, u.String())
	if _, err := s.FlowsUsingProfile(context.Background(), "1", "p"); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateConcurrently starts several "replicas" on one empty schema at
// once: all must open, and each migration must be applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.Schema(t, "storetest")
	const n = 5
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pgstore.Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var applied, distinct int
	if err := c.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT version_id)
		FROM appflowd_store_migrations WHERE version_id > 0`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied != distinct || applied == 0 {
		t.Errorf("migrations recorded %d times for %d versions, want each once", applied, distinct)
	}
}

// TestTwoReplicas races two stores (two pools, as two processes would have)
// on one schema: one winner per token claim and per flow version.
func TestTwoReplicas(t *testing.T) {
	dsn := pgtest.Schema(t, "storetest")
	replicas := []store.Store{open(t, dsn), open(t, dsn)}
	ctx := context.Background()
	now := time.Now()
	if err := replicas[0].FlowCreate(ctx, &store.Flow{AccountID: "1", Name: "f", Arn: "f", Status: "Active"}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	claimWon := make([]bool, n)
	updateErr := make([]error, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := replicas[i%2]
			<-start
			res, err := s.TokenClaim(ctx, &store.Token{AccountID: "1", Operation: "StartFlow", Token: "t",
				RequestHash: fmt.Sprint(i), CreatedAt: now}, now.Add(-time.Hour))
			errs[i] = err
			claimWon[i] = err == nil && res.Existing == nil
			updateErr[i] = s.FlowUpdate(ctx, &store.Flow{AccountID: "1", Name: "f", Arn: "f",
				Status: fmt.Sprint(i), Version: 1})
		}()
	}
	close(start)
	wg.Wait()
	claims, updates := 0, 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("claim %d: %v", i, errs[i])
		}
		if claimWon[i] {
			claims++
		}
		switch {
		case updateErr[i] == nil:
			updates++
		case !store.IsConflict(updateErr[i]):
			t.Fatalf("update %d: got %v, want nil or ErrConflict", i, updateErr[i])
		}
	}
	if claims != 1 || updates != 1 {
		t.Errorf("across two replicas: %d claims and %d updates won, want 1 and 1", claims, updates)
	}
}

func BenchmarkViews(b *testing.B) {
	if os.Getenv(pgtest.EnvDSN) == "" {
		b.Skip(pgtest.EnvDSN + " is unset")
	}
	s, err := pgstore.Open(context.Background(), pgtest.Schema(b, "storebench"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkViews(b, s)
}

func TestFlowSummaryCatchUp(t *testing.T) {
	if os.Getenv(pgtest.EnvDSN) == "" {
		t.Skip(pgtest.EnvDSN + " is unset: set it to a PostgreSQL URL to run the pgstore tests")
	}
	dsn := pgtest.Schema(t, "storetest")
	storetest.FlowSummaryCatchUp(t, func(t *testing.T) store.Store { return open(t, dsn) },
		func(t *testing.T, account, name string, doc []byte) {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, `UPDATE flows SET doc = $1, version = version + 1 WHERE account_id = $2 AND name = $3`,
				doc, account, name); err != nil {
				t.Fatal(err)
			}
		})
}

// TestFlowViewsCatchUp takes a database back to before migration 00005 (as
// an older binary left it) and opens it again.
func TestFlowViewsCatchUp(t *testing.T) {
	if os.Getenv(pgtest.EnvDSN) == "" {
		t.Skip(pgtest.EnvDSN + " is unset: set it to a PostgreSQL URL to run the pgstore tests")
	}
	dsn := pgtest.Schema(t, "storetest")
	storetest.FlowViewsCatchUp(t, func(t *testing.T) store.Store { return open(t, dsn) }, goose.DialectPostgres,
		func(t *testing.T) *sql.DB {
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			return db
		})
}
