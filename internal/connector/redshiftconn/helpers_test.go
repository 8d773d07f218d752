package redshiftconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

// pgURL is the test database, or the test is skipped.
func pgURL(t testing.TB) string {
	u := os.Getenv("APPFLOWD_TEST_POSTGRES")
	if u == "" {
		t.Skip("APPFLOWD_TEST_POSTGRES is unset (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); skipping PostgreSQL tests")
	}
	return u
}

func adminConn(t testing.TB) *pgx.Conn {
	conn, err := pgx.Connect(context.Background(), pgURL(t))
	if err != nil {
		t.Fatalf("connect to APPFLOWD_TEST_POSTGRES: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func randName(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// newSchema creates a schema of its own for one test and drops it after.
func newSchema(t testing.TB, conn *pgx.Conn) string {
	s := randName("rs_")
	mustExec(t, conn, "CREATE SCHEMA "+s)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgURL(t))
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+s+" CASCADE")
			c.Close(context.Background())
		}
	})
	return s
}

func mustExec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

type fixture struct {
	dataDir string
	props   map[string]any
	creds   map[string]any
}

func newFixture(t testing.TB) *fixture {
	dir := t.TempDir()
	for _, b := range []string{"stage", "errors"} {
		if err := os.MkdirAll(filepath.Join(dir, "s3", b), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	// Tests that need the database skip in adminConn; the Data API tests
	// drop databaseUrl and run without one.
	dbURL := os.Getenv("APPFLOWD_TEST_POSTGRES")
	if dbURL == "" {
		dbURL = "postgres://127.0.0.1:1/unset?sslmode=disable"
	}
	return &fixture{
		dataDir: dir,
		props: map[string]any{
			"databaseUrl": dbURL, "bucketName": "stage", "bucketPrefix": "loads",
			"roleArn": "arn:aws:iam::000000000000:role/redshift-s3",
		},
		creds: map[string]any{},
	}
}

func (f *fixture) driver(t testing.TB, mode string) *Driver {
	t.Helper()
	props, _ := json.Marshal(f.props)
	creds, _ := json.Marshal(f.creds)
	d, err := New(connector.Deps{DataDir: f.dataDir, Now: time.Now}, connector.Profile{Name: "p", Properties: props, Credentials: creds})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	d.mode = mode
	d.pollEvery = time.Millisecond
	return d
}

// tableText returns every row of a table as text, columns in order,
// ordered by the whole row; NULL is "<null>".
func tableText(t testing.TB, conn *pgx.Conn, ident string) [][]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT * FROM "+ident, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("read %s: %v", ident, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		raw := rows.RawValues()
		row := make([]string, len(raw))
		for i, v := range raw {
			if v == nil {
				row[i] = "<null>"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read %s: %v", ident, err)
	}
	sortRows(out)
	return out
}

func sortRows(rows [][]string) {
	key := func(r []string) string { return strings.Join(r, "\x00") }
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && key(rows[j]) < key(rows[j-1]); j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

func batch(split string, first int64, fields []string, rows ...[]record.Value) *record.Batch {
	b := &record.Batch{Fields: fields, Split: split, FirstLine: first}
	for _, r := range rows {
		b.AppendRow(r)
	}
	return b
}

func itoa(i int) string { return strconv.Itoa(i) }
