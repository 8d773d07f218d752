//go:build !linux

package s3conn

import (
	"errors"
	"os"
)

var (
	errInvalid = errors.ErrUnsupported
	errBadFD   = errors.ErrUnsupported
)

// openDirect is refused where O_DIRECT does not exist: staging files go
// through the page cache.
var openDirect = func(string) (*os.File, error) { return nil, errors.ErrUnsupported }

func clearDirect(*os.File) error { return nil }
