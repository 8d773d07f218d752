package sqlitestore_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
	"github.com/appflowd/appflowd/internal/store/storetest"
)

func TestStore(t *testing.T) {
	var dirs sync.Map // *testing.T -> its database directory, so a reopen finds it
	storetest.Run(t, func(t *testing.T) store.Store {
		dir, _ := dirs.LoadOrStore(t, t.TempDir())
		s, err := sqlitestore.Open(context.Background(), filepath.Join(dir.(string), "appflowd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestOpenRejectsMemory(t *testing.T) {
	if _, err := sqlitestore.Open(context.Background(), ":memory:"); err == nil {
		t.Fatal("Open(:memory:): got no error, want one")
	}
}

// TestOpenTwice checks that migrations run once and a second Open of a
// migrated file (a restart) works.
func TestOpenTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "appflowd.db")
	for i := range 2 {
		s, err := sqlitestore.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
}

const crashEnv = "APPFLOWD_SQLITESTORE_CRASH_CHILD"

// TestCrashChild is the helper process of TestKill9: it writes flows one by
// one and prints each name after the store acknowledged it, until killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestKill9")
	}
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		name := "flow-" + strconv.Itoa(i)
		f := &store.Flow{AccountID: "1", Name: name, Arn: name, Status: "Active", Doc: []byte(`{}`)}
		if err := s.FlowCreate(ctx, f); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		w.WriteString(name + "\n")
		w.Flush()
	}
}

// TestKill9 kills a writing process with SIGKILL and checks that every write
// it had acknowledged is there after reopening.
func TestKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appflowd.db")
	const want = 200
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > 5 && line[:5] == "flow-" {
			acked = append(acked, line)
		} else if line[:min(len(line), 6)] == "error:" {
			t.Fatalf("child: %s", line)
		}
		if len(acked) == want {
			// Kill while the child is in the middle of its next write.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	cmd.Wait()
	if len(acked) < want {
		t.Fatalf("child acknowledged %d writes before it stopped, want %d", len(acked), want)
	}

	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	for _, name := range acked {
		if _, err := s.FlowGet(context.Background(), "1", name); err != nil {
			t.Errorf("acknowledged %s lost after SIGKILL: %v", name, err)
		}
	}
}

// BenchmarkFlowUpdate measures one durable write (a commit with fsync).
func BenchmarkFlowUpdate(b *testing.B) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "appflowd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	f := &store.Flow{AccountID: "1", Name: "f", Arn: "f", Status: "Active", Doc: make([]byte, 2048),
		ProfileNames: []string{"a", "b"}}
	if err := s.FlowCreate(ctx, f); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f.UpdatedAt = time.Time{}
		if err := s.FlowUpdate(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFlowGetParallel measures reads beside nothing else.
func BenchmarkFlowGetParallel(b *testing.B) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "appflowd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.FlowCreate(ctx, &store.Flow{AccountID: "1", Name: "f", Arn: "f", Doc: make([]byte, 2048)}); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.FlowGet(ctx, "1", "f"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkViews(b *testing.B) {
	s, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "appflowd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkViews(b, s)
}

func TestFlowSummaryCatchUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appflowd.db")
	storetest.FlowSummaryCatchUp(t, func(t *testing.T) store.Store {
		s, err := sqlitestore.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, func(t *testing.T, account, name string, doc []byte) {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`UPDATE flows SET doc = ?, version = version + 1 WHERE account_id = ? AND name = ?`,
			doc, account, name); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFlowViewsCatchUp takes a database back to before migration 00005 (as
// an older binary left it) and opens it again.
func TestFlowViewsCatchUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "appflowd.db")
	storetest.FlowViewsCatchUp(t, func(t *testing.T) store.Store {
		s, err := sqlitestore.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, goose.DialectSQLite3, func(t *testing.T) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
