package s3conn

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

var (
	errInvalid = syscall.EINVAL
	errBadFD   = syscall.EBADF
)

// openDirect creates name for writing with O_DIRECT.
var openDirect = func(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_DIRECT, 0o666)
}

// clearDirect makes f's later writes go through the page cache.
func clearDirect(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var fl int
		if fl, serr = unix.FcntlInt(fd, unix.F_GETFL, 0); serr == nil {
			_, serr = unix.FcntlInt(fd, unix.F_SETFL, fl&^unix.O_DIRECT)
		}
	}); err != nil {
		return err
	}
	return serr
}
