package s3conn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// A run's files are written to a staging area and published at Commit, so a
// failed or aborted run leaves nothing in the output folders.
//
// Local buckets stage in <DataDir>/s3-staging/<tag>/ (next to, not inside,
// the buckets folder) and publish by rename. S3 APIs stage under
// {bucketPrefix}/.appflowd-staging/<tag>/ in the same bucket and publish by
// server-side copy (so one file is at most 5 GB, the CopyObject limit), then
// delete the staged object; <DataDir>/s3-staging/<tag>/remote.json then
// names that folder so CollectStaging can find it (the data dir is the one
// place the driver can list).
//
// <tag> is <executionId>-<12 hex>: a fresh writer of an execution (a retried
// job) never mixes with an older attempt's files, and recovery finds every
// attempt of an execution by its id. The publish intent is intent.json in
// the tag's folder (see publish.go).
type stager interface {
	create(ctx context.Context, name, contentType string) (io.WriteCloser, error)
	// writeIntent stores the intent once the named staged files are
	// durable.
	writeIntent(ctx context.Context, data []byte, names []string) error
	// readIntent returns nil when there is no intent.
	readIntent(ctx context.Context) ([]byte, error)
	// publish moves a staged file to key. It is idempotent: a file whose
	// staged copy is gone while key exists was moved already.
	publish(ctx context.Context, name, key string) error
	// unpublish moves a published file back to staging (undoing a publish
	// when a later one fails).
	unpublish(ctx context.Context, name, key string) error
	// settle makes the published keys durable and removes the staged
	// copies left.
	settle(ctx context.Context, keys []string) error
	removeIntent(ctx context.Context) error
	// anyLeft reports whether any of files is staged or published.
	anyLeft(ctx context.Context, files []intentFile) (bool, error)
	// discard removes everything staged, the intent included.
	discard(ctx context.Context) error
}

const (
	intentName  = "intent.json"
	remoteName  = "remote.json" // an S3-API run's pointer in the data dir
	tagRandHex  = 12
	stagingRoot = "s3-staging" // under DataDir
)

func runTag(executionID string) string {
	var b [tagRandHex / 2]byte
	_, _ = rand.Read(b[:])
	return executionID + "-" + hex.EncodeToString(b[:])
}

// tagExecution returns the execution id of a staging tag.
func tagExecution(tag string) (string, bool) {
	i := strings.LastIndexByte(tag, '-')
	if i <= 0 || len(tag)-i-1 != tagRandHex {
		return "", false
	}
	if _, err := hex.DecodeString(tag[i+1:]); err != nil {
		return "", false
	}
	return tag[:i], true
}

// errGone says a staged file is gone and its key was not published.
var errGone = errors.New("is gone and was not published")

// errCrash is what a test failpoint returns to stop a Commit or a recovery
// where it stands, as a crash of the process would.
var errCrash = errors.New("s3conn: simulated crash")

// failpoint is the tests' hook into publish and recovery steps; nil in
// production. A non-nil error from it is returned from the step: errCrash
// abandons the operation as is, any other error is a failure of the step.
type failpoint func(step string) error

func (f failpoint) at(step string) error {
	if f == nil {
		return nil
	}
	return f(step)
}

// ---- local buckets

type localStager struct {
	dir       string // <DataDir>/s3-staging/<tag>
	bucketDir string
	fp        failpoint
	mu        sync.Mutex
	made      bool
	dirs      map[string]bool // to fsync at settle; publish is not concurrent
}

func (s *localStager) mkdir() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.made {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o777); err != nil {
		return fmt.Errorf("s3 destination: make staging folder: %w", err)
	}
	s.made = true
	return nil
}

func (s *localStager) create(_ context.Context, name, _ string) (io.WriteCloser, error) {
	if err := s.mkdir(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return nil, fmt.Errorf("s3 destination: create staging file: %w", err)
	}
	return &writebackFile{f: f}, nil
}

// fsyncAll fsyncs paths (files or folders) several at a time: an fsync
// mostly waits for the disk, and the waits overlap.
func fsyncAll(paths []string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan string)
	)
	for range min(16, len(paths)) {
		wg.Go(func() {
			for p := range next {
				if err := fsyncPath(p); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, p := range paths {
		next <- p
	}
	close(next)
	wg.Wait()
	return first
}

func fsyncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeIntent makes the staged files durable and then the intent, in two
// rounds of fsyncs: the files with the intent's temporary file, then, once
// it is renamed into place, the staging folder and its parent (which
// gained the folder).
func (s *localStager) writeIntent(_ context.Context, data []byte, names []string) error {
	if err := s.mkdir(); err != nil {
		return err
	}
	p := filepath.Join(s.dir, intentName)
	tmp := p + ".tmp"
	err := os.WriteFile(tmp, data, 0o666)
	if err == nil {
		paths := make([]string, 0, len(names)+1)
		for _, n := range names {
			paths = append(paths, filepath.Join(s.dir, n))
		}
		err = fsyncAll(append(paths, tmp))
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err == nil {
		err = fsyncAll([]string{s.dir, filepath.Dir(s.dir)})
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("s3 destination: write publish intent: %w", err)
	}
	return s.fp.at("intent")
}

func (s *localStager) readIntent(context.Context) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, intentName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (s *localStager) removeIntent(context.Context) error {
	err := os.Remove(filepath.Join(s.dir, intentName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return fsyncPath(s.dir)
}

func (s *localStager) publish(_ context.Context, name, key string) error {
	src := filepath.Join(s.dir, name)
	dst := filepath.Join(s.bucketDir, filepath.FromSlash(key))
	if err := checkPublishPath(s.bucketDir, key); err != nil {
		return err
	}
	s.noteDirs(filepath.Dir(dst))
	if err := moveFile(src, dst); err != nil {
		return fmt.Errorf("s3 destination: publish %s: %w", key, err)
	}
	return s.fp.at("publish " + name)
}

// noteDirs records the folders settle must fsync for a file published into
// dir: dir itself, and the parent of each folder the move is about to make.
func (s *localStager) noteDirs(dir string) {
	if s.dirs == nil {
		s.dirs = map[string]bool{}
	}
	if s.dirs[dir] {
		return
	}
	s.dirs[dir] = true
	for d := dir; len(d) > len(s.bucketDir); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		s.dirs[filepath.Dir(d)] = true
	}
}

func (s *localStager) unpublish(_ context.Context, name, key string) error {
	dst := filepath.Join(s.bucketDir, filepath.FromSlash(key))
	if err := moveFile(dst, filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("s3 destination: unpublish %s: %w", key, err)
	}
	for d := filepath.Dir(dst); len(d) > len(s.bucketDir); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

// moveFile renames src to dst (copying across file systems). When src is
// gone and dst exists, the move happened already.
func moveFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return err
	}
	err := os.Rename(src, dst)
	if errors.Is(err, syscall.EXDEV) {
		if err = copyFile(src, dst); err == nil {
			err = os.Remove(src)
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(src); errors.Is(serr, os.ErrNotExist) {
			if _, derr := os.Stat(dst); derr == nil {
				return nil
			}
			return fmt.Errorf("staged file %s %w", filepath.Base(src), errGone)
		}
	}
	return err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".appflowd-tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// settle fsyncs the folders the published files went to and the folders
// that gained a folder, at once. (Each rename is one journal entry, so the
// staging folder it left needs no fsync of its own.)
func (s *localStager) settle(context.Context, []string) error {
	dirs := make([]string, 0, len(s.dirs))
	for d := range s.dirs {
		dirs = append(dirs, d)
	}
	if err := fsyncAll(dirs); err != nil {
		return fmt.Errorf("s3 destination: sync published files: %w", err)
	}
	return nil
}

func (s *localStager) anyLeft(_ context.Context, files []intentFile) (bool, error) {
	for _, f := range files {
		for _, p := range []string{filepath.Join(s.dir, f.Name), filepath.Join(s.bucketDir, filepath.FromSlash(f.Key))} {
			if _, err := os.Stat(p); err == nil {
				return true, nil
			} else if !errors.Is(err, os.ErrNotExist) {
				return false, err
			}
		}
	}
	return false, nil
}

func (s *localStager) discard(context.Context) error {
	return os.RemoveAll(s.dir)
}

// ---- S3 APIs

type s3Stager struct {
	bucket *blob.Bucket
	client *s3.Client
	name   string // the bucket's name
	prefix string // {bucketPrefix/}.appflowd-staging/<tag>/
	local  string // <DataDir>/s3-staging/<tag>, holding remote.json; "" without a data dir
	// key is the KMS key ARN every object staged and published is
	// encrypted under (SSE-KMS); "": the bucket's default.
	key  string
	fp   failpoint
	gone bool // the bucket no longer exists: only the pointer is left
	// recovering: files may have been published and settled by a crashed
	// Commit.
	recovering bool

	mu      sync.Mutex
	pointed bool
}

// remoteRef is remote.json: where an S3-API run stages.
type remoteRef struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
	// RolledBack is when recovery removed the staging of a run a crash
	// cut short. Requests that run's process had in flight (a PUT, the
	// CompleteMultipartUpload of a large file) may still land after it,
	// so collection keeps deleting there for pointerGrace before it drops
	// the pointer.
	RolledBack time.Time `json:"rolledBack,omitzero"`
}

// pointerGrace bounds how long a request of a dead process may still land.
var pointerGrace = 15 * time.Minute

// point writes remote.json before the first object is staged, so a crash
// leaves a way to the staged objects. It is not fsynced: losing it with
// the machine leaves garbage, never wrong output.
func (s *s3Stager) point() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pointed || s.local == "" {
		return nil
	}
	if err := os.MkdirAll(s.local, 0o777); err != nil {
		return fmt.Errorf("s3 destination: make staging folder: %w", err)
	}
	if err := writeRemote(s.local, &remoteRef{Bucket: s.name, Prefix: s.prefix}); err != nil {
		return fmt.Errorf("s3 destination: write staging pointer: %w", err)
	}
	s.pointed = true
	return nil
}

func (s *s3Stager) create(ctx context.Context, name, contentType string) (io.WriteCloser, error) {
	if err := s.point(); err != nil {
		return nil, err
	}
	w, err := s.bucket.NewWriter(ctx, s.prefix+name, awsconfig.SSEKMS(s.key, &blob.WriterOptions{ContentType: contentType}))
	if err != nil {
		return nil, classify(err, "s3 destination: create staging object %s", s.prefix+name)
	}
	return w, nil
}

// writeIntent: an S3 API has made an object durable when its PUT returned.
func (s *s3Stager) writeIntent(ctx context.Context, data []byte, _ []string) error {
	if err := s.point(); err != nil {
		return err
	}
	if err := s.bucket.WriteAll(ctx, s.prefix+intentName, data, awsconfig.SSEKMS(s.key, &blob.WriterOptions{ContentType: "application/json"})); err != nil {
		return classify(err, "s3 destination: write publish intent")
	}
	return s.fp.at("intent")
}

func (s *s3Stager) readIntent(ctx context.Context) ([]byte, error) {
	if s.gone {
		return nil, nil
	}
	// HEAD first: moto answers a GET of a missing key with a 500.
	ok, err := s.bucket.Exists(ctx, s.prefix+intentName)
	if err != nil {
		return nil, classify(err, "s3 destination: read publish intent")
	}
	if !ok {
		return nil, nil
	}
	b, err := s.bucket.ReadAll(ctx, s.prefix+intentName)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err, "s3 destination: read publish intent")
	}
	return b, nil
}

func (s *s3Stager) removeIntent(ctx context.Context) error {
	err := s.bucket.Delete(ctx, s.prefix+intentName)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil
	}
	return classify(err, "s3 destination: remove publish intent")
}

// publish copies the staged object to key; settle deletes the staged
// objects, a request per thousand. A staged object that is gone while key
// exists was published before a crash.
func (s *s3Stager) publish(ctx context.Context, name, key string) error {
	var err error
	if s.recovering {
		// A crash may have settled this file: ask first, as moto answers
		// a copy of a missing key with a 500.
		var ok bool
		if ok, err = s.bucket.Exists(ctx, s.prefix+name); err == nil && !ok {
			err = fault.New(fault.NotFound, "staged object %s is gone", s.prefix+name)
		}
		if err != nil && fault.CodeOf(err) != fault.NotFound {
			return classify(err, "s3 destination: publish %s", key)
		}
	}
	if err == nil {
		err = s.bucket.Copy(ctx, key, s.prefix+name, awsconfig.SSEKMSCopy(s.key))
	}
	if gcerrors.Code(err) == gcerrors.NotFound || fault.CodeOf(err) == fault.NotFound {
		ok, xerr := s.bucket.Exists(ctx, key)
		if xerr != nil {
			return classify(xerr, "s3 destination: publish %s", key)
		}
		if !ok {
			return fmt.Errorf("s3 destination: publish %s: staged object %s %w", key, s.prefix+name, errGone)
		}
		return s.fp.at("publish " + name)
	}
	if err != nil {
		return classify(err, "s3 destination: publish %s", key)
	}
	return s.fp.at("publish " + name)
}

// unpublish deletes key, first copying it back to staging if settle
// deleted the staged object already.
func (s *s3Stager) unpublish(ctx context.Context, name, key string) error {
	published, err := s.bucket.Exists(ctx, key)
	if err != nil || !published {
		return classify(err, "s3 destination: unpublish %s", key)
	}
	staged, err := s.bucket.Exists(ctx, s.prefix+name)
	if err == nil && !staged {
		err = s.bucket.Copy(ctx, s.prefix+name, key, awsconfig.SSEKMSCopy(s.key))
	}
	if err == nil {
		err = s.bucket.Delete(ctx, key)
	}
	return classify(err, "s3 destination: unpublish %s", key)
}

// settle deletes the staged objects, keeping the intent.
func (s *s3Stager) anyLeft(ctx context.Context, files []intentFile) (bool, error) {
	for _, f := range files {
		for _, k := range []string{s.prefix + f.Name, f.Key} {
			ok, err := s.bucket.Exists(ctx, k)
			if err != nil || ok {
				return ok, classify(err, "s3 destination: look for %s", k)
			}
		}
	}
	return false, nil
}

func (s *s3Stager) settle(ctx context.Context, _ []string) error {
	return s.deleteStaged(ctx, false)
}

// discard deletes every object and unfinished upload under the staging
// folder, then the pointer in the data dir.
func (s *s3Stager) discard(ctx context.Context) error {
	if s.gone {
		return os.RemoveAll(s.local)
	}
	if s.recovering && s.local != "" {
		// The crashed process's last requests may land after this:
		// leave collection a pointer to delete them by.
		if err := writeRemote(s.local, &remoteRef{Bucket: s.name, Prefix: s.prefix, RolledBack: time.Now().UTC()}); err != nil {
			return err
		}
	}
	if err := s.deleteStaged(ctx, true); err != nil {
		return err
	}
	if err := abortUploads(ctx, s.client, s.name, s.prefix); err != nil {
		return err
	}
	if s.local != "" && !s.recovering {
		if err := os.RemoveAll(s.local); err != nil {
			return fmt.Errorf("s3 destination: remove staging pointer: %w", err)
		}
	}
	return nil
}

func writeRemote(dir string, r *remoteRef) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("s3 destination: make staging folder: %w", err)
	}
	data, err := json.Marshal(r)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, remoteName), data, 0o666)
	}
	if err != nil {
		return fmt.Errorf("s3 destination: write staging pointer: %w", err)
	}
	return nil
}

// deleteStaged deletes the objects under the staging folder (the intent
// too when all is set), by the keys as stored: the listing gives them, so
// gocloud's escaping of odd keys needs no mirroring here.
func (s *s3Stager) deleteStaged(ctx context.Context, all bool) error {
	var keys []string
	for obj, err := range awsconfig.List(ctx, s.bucket, &blob.ListOptions{Prefix: s.prefix}) {
		if err != nil {
			return classify(err, "s3 destination: list staging %s", s.prefix)
		}
		if !all && obj.Key == s.prefix+intentName {
			continue
		}
		var o s3types.Object
		if !obj.As(&o) {
			return fmt.Errorf("s3 destination: list staging %s: no S3 object for %s", s.prefix, obj.Key)
		}
		keys = append(keys, aws.ToString(o.Key))
	}
	return deleteObjects(ctx, s.client, s.name, keys)
}

// deleteObjects deletes stored keys, 1,000 to a request; a missing key is
// no error (S3 reports it deleted).
func deleteObjects(ctx context.Context, c *s3.Client, bucket string, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		ids := make([]s3types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = s3types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
			Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("s3 destination: delete staged objects: %w", err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("s3 destination: delete %s: %s %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		keys = keys[n:]
	}
	return nil
}

// abortUploads aborts the multipart uploads under prefix that a crash left
// unfinished: invisible in listings, but stored (and billed).
func abortUploads(ctx context.Context, c *s3.Client, bucket, prefix string) error {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		out, err := c.ListMultipartUploads(ctx, in)
		if err != nil {
			return fmt.Errorf("s3 destination: list unfinished uploads under %s: %w", prefix, err)
		}
		for _, u := range out.Uploads {
			_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId})
			var nsu *s3types.NoSuchUpload
			if err != nil && !errors.As(err, &nsu) {
				return fmt.Errorf("s3 destination: abort upload of %s: %w", aws.ToString(u.Key), err)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
