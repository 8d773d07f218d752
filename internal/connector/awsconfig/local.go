package awsconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// Local buckets (no S3 endpoint) are folders, kept apart per account:
//
//	the default account (deps.DefaultAccountID, or no account): <DataDir>/s3/<bucket>
//	every other account:                                      <DataDir>/accounts/<account>/s3/<bucket>
//
// so one account's flows never read or write another's buckets.
//
// Symbolic links: the data dir and an account's buckets folder may be links
// (the operator's choice of disk), but nothing below the buckets folder is
// followed. A bucket, a folder or an object that is a symbolic link is
// refused with an error naming it, so every read and write stays inside
// the account's own folder, whatever the links point at.

var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)

// LocalRoot is the folder holding deps.AccountID's local buckets.
func LocalRoot(deps connector.Deps) string {
	if deps.AccountID == "" || deps.AccountID == deps.DefaultAccountID || deps.DefaultAccountID == "" {
		return filepath.Join(deps.DataDir, "s3")
	}
	return filepath.Join(deps.DataDir, "accounts", deps.AccountID, "s3")
}

// ForAccount is b for another account's buckets (sharing b's S3 client).
func (b *Buckets) ForAccount(accountID string) *Buckets {
	c := *b
	c.deps.AccountID = accountID
	return &c
}

// openLocal opens a local bucket folder that must exist and not be a link.
func (b *Buckets) openLocal(name string) (*blob.Bucket, error) {
	if id := b.deps.AccountID; id != "" && id != b.deps.DefaultAccountID && !accountIDRE.MatchString(id) {
		return nil, fault.New(fault.Invalid, "account id %q is not 12 digits", id)
	}
	dir := b.LocalDir(name)
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && fi.Mode().IsRegular()) {
		return nil, fault.New(fault.NotFound, "bucket %q does not exist (local buckets are folders: create %s)", name, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %q: %w", name, err)
	}
	if !fi.IsDir() {
		return nil, linkError("bucket "+quote(name), fi)
	}
	bk, err := fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, fmt.Errorf("open bucket %q: %w", name, err)
	}
	return bk, nil
}

// CheckLocalPath refuses a key (or a folder: a key ending in "/") of the
// local bucket folder bucketDir that passes through a symbolic link: each
// of its folders and the key itself must be a real folder or file, or not
// exist yet (a writer then makes real ones). Callers check before every
// read and write of a local bucket; the error names s3://bucket/<part>.
func CheckLocalPath(bucketDir, bucket, key string) error {
	parts := strings.Split(strings.Trim(key, "/"), "/")
	p := bucketDir
	for i, part := range parts {
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			return fault.New(fault.Invalid, "key %q of bucket %q leaves the bucket", key, bucket)
		}
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("s3://%s/%s: %w", bucket, strings.Join(parts[:i+1], "/"), err)
		}
		if fi.Mode()&(fs.ModeSymlink|fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0 {
			return linkError("s3://"+bucket+"/"+strings.Join(parts[:i+1], "/"), fi)
		}
	}
	return nil
}

// IsLink reports whether a listed object's file info (from blob.ListObject.As)
// is a symbolic link.
func IsLink(fi os.FileInfo) bool { return fi != nil && fi.Mode()&fs.ModeSymlink != 0 }

// LinkError is the refusal of a link (or other non-file) named what.
func LinkError(what string) error {
	return fault.New(fault.Invalid, "%s is a symbolic link: appflowd does not follow links in local buckets, so that every read and write stays inside the data dir", what)
}

func linkError(what string, fi os.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return LinkError(what)
	}
	return fault.New(fault.Invalid, "%s is not a regular file or folder (%s)", what, fi.Mode().Type())
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
