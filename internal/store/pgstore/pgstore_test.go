package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/pgstore"
	"github.com/appflowd/appflowd/internal/store/storetest"
)

const envDSN = "APPFLOWD_TEST_POSTGRES"

const skipMsg = envDSN + " is unset: set it to a PostgreSQL URL " +
	"(e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to run the pgstore tests"

// freshSchema creates a uniquely named schema, dropped when t ends, and
// returns the DSN whose search_path selects it: parallel tests and packages
// never share tables.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv(envDSN)
	if base == "" {
		t.Skip(skipMsg)
	}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "storetest_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", envDSN, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", envDSN, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	if os.Getenv(envDSN) == "" {
		t.Skip(skipMsg)
	}
	var dsns sync.Map // *testing.T -> its schema's DSN, so a reopen finds it
	storetest.Run(t, func(t *testing.T) store.Store {
		dsn, ok := dsns.Load(t)
		if !ok {
			dsn, _ = dsns.LoadOrStore(t, freshSchema(t))
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
	dsn := freshSchema(t)
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
	dsn := freshSchema(t)
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
	dsn := freshSchema(t)
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
