package s3conn

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts the write-out of the file's dirty pages in
// [off, off+n) and returns at once (sync_file_range(2) with
// SYNC_FILE_RANGE_WRITE only).
func startWriteback(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}); err != nil {
		return err
	}
	return serr
}
