package s3conn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// Crash-safe publish (connector.PublishRecoverer). Commit stages every file,
// makes them durable, then stores the publish intent: the list of staged
// file -> key and the WriteResult Commit will return. Writing the intent is
// the decision. Before it, a crash leaves only staging, which recovery
// removes (the run ends with nothing published); after it, recovery moves
// the remaining files into place and returns the intent's result (the run
// ends Successful with all of its output). Moving is idempotent, so a crash
// during recovery is settled by recovering again. The intent stays until
// CollectStaging removes it, once the runner has recorded the outcome.

var (
	_ connector.PublishRecoverer = (*Driver)(nil)
	_ connector.PublishRecoverer = (*UpsolverDriver)(nil)
)

const intentVersion = 1

// intent is intent.json.
type intent struct {
	Version        int             `json:"version"`
	ExecutionID    string          `json:"executionId"`
	Bucket         string          `json:"bucket"`
	CreatedAt      time.Time       `json:"createdAt"`
	Files          []intentFile    `json:"files"`
	RecordsWritten int64           `json:"recordsWritten"`
	BytesWritten   int64           `json:"bytesWritten"`
	Failures       []intentFailure `json:"failures,omitempty"`
}

type intentFile struct {
	Name string `json:"name"` // in the staging folder
	Key  string `json:"key"`  // in the bucket
}

type intentFailure struct {
	Split  string            `json:"split,omitempty"`
	Line   int64             `json:"line,omitempty"`
	Reason string            `json:"reason"`
	Record map[string]string `json:"record,omitempty"`
}

func newIntent(executionID, bucket string, res *connector.WriteResult, files []intentFile) *intent {
	in := &intent{Version: intentVersion, ExecutionID: executionID, Bucket: bucket, CreatedAt: time.Now().UTC(),
		Files: files, RecordsWritten: res.RecordsWritten, BytesWritten: res.BytesWritten}
	for _, f := range res.Failures {
		in.Failures = append(in.Failures, intentFailure(f))
	}
	return in
}

func (in *intent) result() *connector.WriteResult {
	res := &connector.WriteResult{RecordsWritten: in.RecordsWritten, BytesWritten: in.BytesWritten}
	for _, f := range in.Failures {
		res.Failures = append(res.Failures, connector.RecordFailure(f))
	}
	res.Objects = make([]string, len(in.Files))
	for i, f := range in.Files {
		res.Objects[i] = f.Key
	}
	return res
}

func decodeIntent(data []byte) (*intent, error) {
	var in intent
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, err
	}
	if in.Version != intentVersion {
		return nil, fmt.Errorf("publish intent version %d, want %d", in.Version, intentVersion)
	}
	if err := checkBucketName(in.Bucket); err != nil {
		return nil, err
	}
	return &in, nil
}

// stagingBase is <DataDir>/s3-staging, "" without a data dir.
func (d *Driver) stagingBase() string {
	if d.deps.DataDir == "" {
		return ""
	}
	return filepath.Join(d.deps.DataDir, stagingRoot)
}

// stagingPrefix is {bucketPrefix/}.appflowd-staging/ in a destination bucket.
func stagingPrefix(bucketPrefix string) (string, error) {
	pre, err := cleanPrefix(bucketPrefix)
	if err != nil {
		return "", err
	}
	if pre != "" {
		pre += "/"
	}
	return pre + stagingDir + "/", nil
}

// newStager is the staging area of one run attempt (tag), whose objects
// are encrypted under key (S3 APIs only; "": the bucket's default).
func (d *Driver) newStager(b *blob.Bucket, bucket, prefix, tag, key string) stager {
	var local string
	if base := d.stagingBase(); base != "" {
		local = filepath.Join(base, tag)
	}
	if d.client == nil {
		return &localStager{dir: local, bucketDir: d.localDir(bucket), fp: d.fp}
	}
	return &s3Stager{bucket: b, client: d.client, name: bucket, prefix: prefix + tag + "/", local: local, key: key, fp: d.fp}
}

// staged is one attempt's staging area found by recovery.
type staged struct {
	tag    string
	st     stager
	intent *intent
}

// RecoverPublish settles the publish of a run a crash cut short: with an
// intent it finishes the publish and returns the intent's result; without
// one it removes whatever the run staged. Every attempt of the execution is
// settled (a retried job stages under a new tag): the intent-less ones are
// removed, one with an intent is rolled forward.
func (d *Driver) RecoverPublish(ctx context.Context, req *connector.WriteRequest) (*connector.WriteResult, bool, error) {
	if req.ExecutionID == "" || strings.ContainsAny(req.ExecutionID, "/\\") {
		return nil, false, fault.New(fault.Invalid, "s3 destination: recovery needs an execution id, not %q", req.ExecutionID)
	}
	runs, done, err := d.findStaged(ctx, req)
	defer done()
	if err != nil {
		return nil, false, err
	}
	var forward []*staged
	for _, r := range runs {
		data, err := r.st.readIntent(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("s3 destination: recover %s: %w", r.tag, err)
		}
		if data == nil {
			if err := r.st.discard(ctx); err != nil {
				return nil, false, fmt.Errorf("s3 destination: recover %s: %w", r.tag, err)
			}
			continue
		}
		in, err := decodeIntent(data)
		if err != nil {
			return nil, false, fault.Wrap(fault.Internal, err, "s3 destination: recover %s: publish intent", r.tag)
		}
		if ls, ok := r.st.(*localStager); ok {
			ls.bucketDir = d.localDir(in.Bucket)
		}
		r.intent = in
		forward = append(forward, r)
	}
	if len(forward) == 0 {
		return nil, false, nil
	}
	// Two intents for one execution mean a run was retried after its
	// publish was decided: each decision stands, the latest is the result.
	sort.Slice(forward, func(i, j int) bool {
		a, b := forward[i].intent, forward[j].intent
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return forward[i].tag < forward[j].tag
	})
	var last *intent
	for _, r := range forward {
		ok, err := d.rollForward(ctx, r)
		if err != nil {
			return nil, false, fmt.Errorf("s3 destination: recover %s: %w", r.tag, err)
		}
		if ok {
			last = r.intent
		}
	}
	if last == nil {
		return nil, false, nil
	}
	return last.result(), true, nil
}

// rollForward finishes r's publish. An intent none of whose files is staged
// or published any more reached the bucket after recovery had rolled the
// run back (the crashed process's PUT was still in flight): it is removed,
// and ok is false.
func (d *Driver) rollForward(ctx context.Context, r *staged) (ok bool, err error) {
	keys := make([]string, len(r.intent.Files))
	for i, f := range r.intent.Files {
		if err := r.st.publish(ctx, f.Name, f.Key); err != nil {
			if errors.Is(err, errGone) {
				if left, lerr := r.st.anyLeft(ctx, r.intent.Files); lerr == nil && !left {
					if err := r.st.removeIntent(ctx); err != nil {
						return false, err
					}
					return false, r.st.discard(ctx)
				}
			}
			return false, err
		}
		keys[i] = f.Key
	}
	return true, r.st.settle(ctx, keys)
}

// findStaged finds the staging areas of req's execution: in the data dir
// for local buckets; for an S3 API, in the destination's staging folder and
// wherever the data dir's pointers say (the flow's destination may have
// changed since). done closes the buckets opened.
func (d *Driver) findStaged(ctx context.Context, req *connector.WriteRequest) ([]*staged, func(), error) {
	var (
		out     []*staged
		buckets = map[string]*blob.Bucket{}
		seen    = map[string]bool{}
	)
	done := func() {
		for _, b := range buckets {
			b.Close()
		}
	}
	exec := req.ExecutionID
	var tags []string
	if base := d.stagingBase(); base != "" {
		entries, err := os.ReadDir(base)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, done, fmt.Errorf("s3 destination: list staging: %w", err)
		}
		for _, e := range entries {
			if id, ok := tagExecution(e.Name()); ok && id == exec && e.IsDir() {
				tags = append(tags, e.Name())
			}
		}
	}
	if d.client == nil {
		for _, tag := range tags {
			if _, err := readRemote(filepath.Join(d.stagingBase(), tag)); err == nil {
				// An S3-API run's pointer: this process has no S3 API.
				continue
			}
			out = append(out, &staged{tag: tag, st: &localStager{dir: filepath.Join(d.stagingBase(), tag), fp: d.fp}})
		}
		return out, done, nil
	}
	bucket := func(name string) (*blob.Bucket, error) {
		if b, ok := buckets[name]; ok {
			return b, nil
		}
		b, err := d.openBucket(ctx, name)
		if err != nil {
			return nil, err
		}
		buckets[name] = b
		return b, nil
	}
	add := func(name, prefix, tag string) error {
		if seen[name+"\x00"+prefix+tag] {
			return nil
		}
		seen[name+"\x00"+prefix+tag] = true
		b, err := bucket(name)
		if fault.CodeOf(err) == fault.NotFound {
			// Nothing of the run can be in a bucket that is gone.
			out = append(out, &staged{tag: tag, st: &s3Stager{name: name, prefix: prefix + tag + "/",
				local: filepath.Join(d.stagingBase(), tag), gone: true}})
			return nil
		}
		if err != nil {
			return err
		}
		st := d.newStager(b, name, prefix, tag, d.outputKey(req)).(*s3Stager)
		st.recovering = true
		out = append(out, &staged{tag: tag, st: st})
		return nil
	}
	for _, tag := range tags {
		ref, err := readRemote(filepath.Join(d.stagingBase(), tag))
		if err != nil || !strings.HasSuffix(ref.Prefix, "/"+tag+"/") {
			continue // a local-bucket run's staging, or no pointer yet
		}
		if err := add(ref.Bucket, strings.TrimSuffix(ref.Prefix, tag+"/"), tag); err != nil {
			return nil, done, err
		}
	}
	p, perr := decodeDestPropsLoose(req.Properties)
	if perr != nil {
		return out, done, nil // no destination to look in beyond the pointers
	}
	prefix, err := stagingPrefix(p.BucketPrefix)
	if err != nil {
		return out, done, nil
	}
	b, err := bucket(p.BucketName)
	if fault.CodeOf(err) == fault.NotFound {
		return out, done, nil
	}
	if err != nil {
		return nil, done, err
	}
	for obj, err := range awsconfig.List(ctx, b, &blob.ListOptions{Prefix: prefix + exec + "-", Delimiter: "/"}) {
		if err != nil {
			return nil, done, classify(err, "s3 destination: list staging %s", prefix)
		}
		tag := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix), "/")
		if id, ok := tagExecution(tag); !obj.IsDir || !ok || id != exec {
			continue
		}
		if err := add(p.BucketName, prefix, tag); err != nil {
			return nil, done, err
		}
	}
	// A run killed while uploading its first large file has only an
	// unfinished upload there, which listings do not show.
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(p.BucketName), Prefix: aws.String(prefix + exec + "-")}
	for {
		page, err := d.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, done, fmt.Errorf("s3 destination: list unfinished uploads under %s: %w", prefix, err)
		}
		for _, u := range page.Uploads {
			tag, _, _ := strings.Cut(strings.TrimPrefix(aws.ToString(u.Key), prefix), "/")
			if id, ok := tagExecution(tag); ok && id == exec {
				if err := add(p.BucketName, prefix, tag); err != nil {
					return nil, done, err
				}
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, done, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

// decodeDestPropsLoose reads the bucket and prefix of S3 properties.
func decodeDestPropsLoose(raw json.RawMessage) (*destProps, error) {
	var p destProps
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	if err := checkBucketName(p.BucketName); err != nil {
		return nil, err
	}
	return &p, nil
}

func readRemote(dir string) (*remoteRef, error) {
	data, err := os.ReadFile(filepath.Join(dir, remoteName))
	if err != nil {
		return nil, err
	}
	var r remoteRef
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if err := checkBucketName(r.Bucket); err != nil {
		return nil, err
	}
	return &r, nil
}

// CollectStaging removes the staging folders (and intents) in the data dir
// of runs that are no longer unfinished, and, for S3-API runs, the staging
// folder in the bucket their pointer names. Staging an S3-API run left in a
// bucket without a pointer here (a replica's with its own data dir) is
// removed by RecoverPublish only.
func (d *Driver) CollectStaging(ctx context.Context, unfinished func(executionID string) bool) error {
	base := d.stagingBase()
	if base == "" {
		return nil
	}
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("s3 destination: list staging: %w", err)
	}
	// The folders are listed before unfinished is first asked, so a run
	// that starts meanwhile (its record is InProgress before it stages)
	// is either not listed or known unfinished.
	var errs []error
	for _, e := range entries {
		id, ok := tagExecution(e.Name())
		if !ok || !e.IsDir() || unfinished(id) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := filepath.Join(base, e.Name())
		if ref, err := readRemote(dir); err == nil {
			if d.client == nil {
				continue // kept until the process runs with the S3 API again
			}
			if err := d.discardRemoteRun(ctx, ref, dir); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("s3 destination: remove staging %s: %w", e.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// discardRemoteRun deletes a finished run's staging in the bucket, and the
// pointer to it unless a roll back was recent enough for a request of the
// crashed process to land still (see remoteRef.RolledBack).
func (d *Driver) discardRemoteRun(ctx context.Context, ref *remoteRef, dir string) error {
	b, err := d.openBucket(ctx, ref.Bucket)
	if fault.CodeOf(err) == fault.NotFound {
		return os.RemoveAll(dir)
	}
	if err != nil {
		return err
	}
	defer b.Close()
	st := &s3Stager{bucket: b, client: d.client, name: ref.Bucket, prefix: ref.Prefix, local: dir}
	st.recovering = !ref.RolledBack.IsZero() && time.Since(ref.RolledBack) < pointerGrace
	if st.recovering {
		if err := st.deleteStaged(ctx, true); err != nil {
			return err
		}
		return abortUploads(ctx, d.client, ref.Bucket, ref.Prefix)
	}
	return st.discard(ctx)
}

// RecoverPublish settles a crashed Upsolver run: the S3 writer's recovery
// on the properties as S3's.
func (u *UpsolverDriver) RecoverPublish(ctx context.Context, req *connector.WriteRequest) (*connector.WriteResult, bool, error) {
	r := *req
	if props, err := upsolverToS3(req.Properties); err == nil {
		r.Properties = props
	} else {
		r.Properties = nil // the data dir's staging is still found
	}
	return u.s3.RecoverPublish(ctx, &r)
}

// CollectStaging is the S3 writer's: both share the data dir's staging.
func (u *UpsolverDriver) CollectStaging(ctx context.Context, unfinished func(string) bool) error {
	return u.s3.CollectStaging(ctx, unfinished)
}
