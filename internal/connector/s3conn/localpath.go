package s3conn

import (
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector/awsconfig"
)

// Local buckets follow no symbolic link below the account's buckets folder
// (awsconfig.LocalRoot): a bucket, folder or object that is one is refused
// with an error naming it, so reads and writes stay inside the data dir.

// checkLocal refuses a key or folder of a local bucket that passes through
// a link; S3 APIs have no links.
func (d *Driver) checkLocal(bucket, key string) error {
	if d.client != nil {
		return nil
	}
	return awsconfig.CheckLocalPath(d.localDir(bucket), bucket, key)
}

// checkListed refuses a listed object of a local bucket that is a link
// (fileblob lists a link, to a file or to a folder, as an object).
func checkListed(bucket string, obj *blob.ListObject) error {
	var fi os.FileInfo
	if obj.As(&fi) && awsconfig.IsLink(fi) {
		return awsconfig.LinkError("s3://" + bucket + "/" + obj.Key)
	}
	return nil
}

// checkPublishPath is checkLocal for the local stager, which knows only
// the bucket's folder.
func checkPublishPath(bucketDir, key string) error {
	return awsconfig.CheckLocalPath(bucketDir, filepath.Base(bucketDir), key)
}

// prefixFolder is the folder part of a key prefix: what a listing of the
// prefix walks from.
func prefixFolder(prefix string) string {
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		return prefix[:i]
	}
	return ""
}
