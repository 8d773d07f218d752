package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse is returned by New when another process holds the data
// dir: two processes on one dir would each settle the other's live runs as
// orphans and collect each other's staging.
var ErrDataDirInUse = errors.New("data dir in use")

// LockDataDir is lockDataDir for commands that use a data dir without an
// App (`appflowd run`): a server's collection of staging must not take
// theirs.
func LockDataDir(dir string) (release func(), err error) { return lockDataDir(dir) }

// lockDataDir takes an exclusive lock on dir (flock on dir/appflowd.lock),
// released when the process ends, however it ends. The file holds the
// holder's pid for the message a second process prints.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "appflowd.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		holder := strings.TrimSpace(string(b[:n]))
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if holder != "" {
				holder = " (pid " + holder + ")"
			}
			abs, _ := filepath.Abs(dir)
			return nil, fmt.Errorf("%w: another appflowd process%s is using %s; stop it or give this one another --data-dir", ErrDataDirInUse, holder, abs)
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
