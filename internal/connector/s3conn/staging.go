package s3conn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"gocloud.dev/blob"
)

// A run's files are written to a staging area and published at Commit, so a
// failed or aborted run leaves nothing in the output folders.
//
// Local buckets stage in <DataDir>/s3-staging/<executionId>-<random>/ (next
// to, not inside, the buckets folder) and publish by rename. S3 APIs stage
// under {bucketPrefix}/.appflowd-staging/<executionId>-<random>/ in the same
// bucket and publish by server-side copy (so one file is at most 5 GB, the
// CopyObject limit), then delete the staged objects.
type stager interface {
	create(ctx context.Context, name, contentType string) (io.WriteCloser, error)
	publish(ctx context.Context, name, key string) error
	unpublish(ctx context.Context, key string) error
	discard(ctx context.Context) error
}

func runTag(executionID string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return executionID + "-" + hex.EncodeToString(b[:])
}

type localStager struct {
	dir       string
	bucketDir string
	made      bool
}

func (s *localStager) create(_ context.Context, name, _ string) (io.WriteCloser, error) {
	if !s.made {
		if err := os.MkdirAll(s.dir, 0o777); err != nil {
			return nil, fmt.Errorf("s3 destination: make staging folder: %w", err)
		}
		s.made = true
	}
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return nil, fmt.Errorf("s3 destination: create staging file: %w", err)
	}
	return f, nil
}

func (s *localStager) publish(_ context.Context, name, key string) error {
	src := filepath.Join(s.dir, name)
	dst := filepath.Join(s.bucketDir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return fmt.Errorf("s3 destination: publish %s: %w", key, err)
	}
	err := os.Rename(src, dst)
	if errors.Is(err, syscall.EXDEV) {
		err = copyFile(src, dst)
	}
	if err != nil {
		return fmt.Errorf("s3 destination: publish %s: %w", key, err)
	}
	return nil
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
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// unpublish removes a published file and the folders that held only it.
func (s *localStager) unpublish(_ context.Context, key string) error {
	p := filepath.Join(s.bucketDir, filepath.FromSlash(key))
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for d := filepath.Dir(p); len(d) > len(s.bucketDir); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

func (s *localStager) discard(context.Context) error {
	return os.RemoveAll(s.dir)
}

type s3Stager struct {
	bucket *blob.Bucket
	prefix string // ends with '/'
}

func (s *s3Stager) create(ctx context.Context, name, contentType string) (io.WriteCloser, error) {
	w, err := s.bucket.NewWriter(ctx, s.prefix+name, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		return nil, classify(err, "s3 destination: create staging object %s", s.prefix+name)
	}
	return w, nil
}

func (s *s3Stager) publish(ctx context.Context, name, key string) error {
	return classify(s.bucket.Copy(ctx, key, s.prefix+name, nil), "s3 destination: publish %s", key)
}

func (s *s3Stager) unpublish(ctx context.Context, key string) error {
	return classify(s.bucket.Delete(ctx, key), "s3 destination: remove %s", key)
}

func (s *s3Stager) discard(ctx context.Context) error {
	it := s.bucket.List(&blob.ListOptions{Prefix: s.prefix})
	var first error
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return classify(err, "s3 destination: list staging %s", s.prefix)
		}
		if err := s.bucket.Delete(ctx, obj.Key); err != nil && first == nil {
			first = classify(err, "s3 destination: delete staging %s", obj.Key)
		}
	}
	return first
}
