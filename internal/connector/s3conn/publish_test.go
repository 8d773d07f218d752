package s3conn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/events/eventstest"
	"github.com/appflowd/appflowd/internal/record"
)

// steps is a failpoint that records the steps it passes and fails the
// crashAt'th (from 0) with err.
type steps struct {
	mu      sync.Mutex
	seen    []string
	crashAt int
	err     error
}

func newSteps(crashAt int, err error) *steps { return &steps{crashAt: crashAt, err: err} }

func (s *steps) at(step string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, step)
	if len(s.seen)-1 == s.crashAt {
		return s.err
	}
	return nil
}

// crashFixture is one run's request and input: 12 Parquet files (two
// splits of 12 rows in six partition folders) and one row that does not convert, so
// the result carries a failure.
type crashFixture struct {
	e       *env
	exec    string
	batches []*record.Batch
	// The reference output, from a run without a crash in another bucket.
	want    map[string][]byte
	wantRes *connector.WriteResult
}

func newCrashFixture(t *testing.T, e *env, exec string) *crashFixture {
	t.Helper()
	a, b := benchBatch("a", 0, 12, true), benchBatch("b", 12, 12, true)
	b.Row(2)[3] = record.Str("not a number")
	fx := &crashFixture{e: e, exec: exec, batches: []*record.Batch{a, b}}
	ref := e.makeBucket(t)
	fx.wantRes = writeAll(t, e.drv, fx.req(ref), fx.batches...)
	if len(fx.wantRes.Objects) != 12 || len(fx.wantRes.Failures) != 1 || fx.wantRes.RecordsWritten != 23 {
		t.Fatalf("reference run: %d objects, %d failures, %d records; want 12, 1, 23",
			len(fx.wantRes.Objects), len(fx.wantRes.Failures), fx.wantRes.RecordsWritten)
	}
	fx.want = fx.output(t, ref)
	if len(fx.want) != 12 {
		t.Fatalf("reference bucket holds %d objects, want 12", len(fx.want))
	}
	e.checkStagingSettled(t, ref)
	return fx
}

func (fx *crashFixture) req(bucket string) *connector.WriteRequest {
	req := writeRequest(bucket, "out", map[string]any{"fileType": "PARQUET", "preserveSourceDataTyping": true,
		"aggregationConfig": map[string]any{"aggregationType": "None"}},
		[]connector.FieldSpec{{Name: "id", Type: "integer"}, {Name: "name"}, {Name: "email"}, {Name: "amount", Type: "double"},
			{Name: "created_at", Type: "datetime"}, {Name: "country"}})
	req.ExecutionID = fx.exec
	req.PartitionKeys = []string{"country"}
	return req
}

// output is the bucket's objects outside staging, with their bytes.
func (fx *crashFixture) output(t *testing.T, bucket string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for k := range fx.e.list(t, bucket, "") {
		if !isStagingKey(k) {
			out[k] = fx.e.get(t, bucket, k)
		}
	}
	return out
}

// run writes the fixture into bucket and commits with the failpoint fp.
func (fx *crashFixture) run(t *testing.T, bucket string, fp failpoint) (*connector.WriteResult, error) {
	t.Helper()
	ctx := context.Background()
	fx.e.drv.fp = fp
	defer func() { fx.e.drv.fp = nil }()
	w, err := fx.e.drv.OpenWriter(ctx, fx.req(bucket))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range fx.batches {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return w.Commit(ctx)
}

// recover runs RecoverPublish with the failpoint fp.
func (fx *crashFixture) recover(bucket string, fp failpoint) (*connector.WriteResult, bool, error) {
	fx.e.drv.fp = fp
	defer func() { fx.e.drv.fp = nil }()
	return fx.e.drv.RecoverPublish(context.Background(), fx.req(bucket))
}

// checkAll checks the bucket holds exactly the reference output and res
// is the reference result.
func (fx *crashFixture) checkAll(t *testing.T, bucket string, res *connector.WriteResult) {
	t.Helper()
	got := fx.output(t, bucket)
	if len(got) != len(fx.want) {
		t.Errorf("bucket holds %d objects, want all %d", len(got), len(fx.want))
	}
	for k, v := range fx.want {
		if !bytes.Equal(got[k], v) {
			t.Errorf("object %s: %d bytes, want the reference's %d", k, len(got[k]), len(v))
		}
	}
	fx.checkResult(t, res)
}

func (fx *crashFixture) checkResult(t *testing.T, res *connector.WriteResult) {
	t.Helper()
	if res == nil {
		t.Fatal("no result")
	}
	if res.RecordsWritten != fx.wantRes.RecordsWritten || res.BytesWritten != fx.wantRes.BytesWritten ||
		!slices.Equal(res.Objects, fx.wantRes.Objects) || !reflect.DeepEqual(res.Failures, fx.wantRes.Failures) {
		t.Errorf("result %d records %d bytes %d objects %v failures;\nwant %d records %d bytes %d objects %v",
			res.RecordsWritten, res.BytesWritten, len(res.Objects), res.Failures,
			fx.wantRes.RecordsWritten, fx.wantRes.BytesWritten, len(fx.wantRes.Objects), fx.wantRes.Failures)
	}
}

func (fx *crashFixture) checkNone(t *testing.T, bucket string) {
	t.Helper()
	if got := fx.output(t, bucket); len(got) != 0 {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		t.Errorf("bucket holds %d objects after a roll back, want none: %v", len(got), keys)
	}
	for k := range fx.e.list(t, bucket, "") {
		t.Errorf("staging left after a roll back: %s", k)
	}
	if left := fx.e.stagingLeft(t); len(left) != 0 {
		t.Errorf("data dir staging left after a roll back: %v", left)
	}
}

func crashEnvs() []func(testing.TB) *env { return []func(testing.TB) *env{localEnv, motoEnv} }

// A crash at every step of Commit is settled by RecoverPublish: before the
// intent, to nothing; from the intent on, to exactly the full output and
// result. Recovering twice changes nothing.
func TestCrashAtEveryCommitStep(t *testing.T) {
	for _, mk := range crashEnvs() {
		e := mk(t)
		t.Run(e.name, func(t *testing.T) {
			fx := newCrashFixture(t, e, "exec-crash")
			rec := newSteps(-1, nil)
			first := e.makeBucket(t)
			res, err := fx.run(t, first, rec.at)
			if err != nil {
				t.Fatal(err)
			}
			fx.checkResult(t, res)
			want := []string{"staged", "intent"}
			for i := range 12 {
				want = append(want, fmt.Sprintf("publish %06d", i+1))
			}
			want = append(want, "settled")
			if !slices.Equal(rec.seen, want) {
				t.Fatalf("commit steps %v, want %v", rec.seen, want)
			}
			// Recovery finds a run's staging by execution id: collect
			// the finished run's before the crashes.
			e.checkStagingSettled(t, first)
			for k, step := range rec.seen {
				bucket := e.makeBucket(t)
				if _, err := fx.run(t, bucket, newSteps(k, errCrash).at); !errors.Is(err, errCrash) {
					t.Fatalf("crash at %s: Commit returned %v", step, err)
				}
				forward := step != "staged"
				for round := range 2 {
					res, published, err := fx.recover(bucket, nil)
					if err != nil {
						t.Fatalf("crash at %s, recovery %d: %v", step, round, err)
					}
					if published != forward {
						t.Fatalf("crash at %s, recovery %d: published=%v, want %v", step, round, published, forward)
					}
					if forward {
						fx.checkAll(t, bucket, res)
					} else if res != nil {
						t.Errorf("crash at %s: a roll back returned a result %+v", step, res)
					}
				}
				if forward {
					e.checkStagingSettled(t, bucket)
				} else {
					fx.checkNone(t, bucket)
				}
			}
		})
	}
}

// A crash while the run still writes (no Commit at all) rolls back.
func TestCrashBeforeCommitRollsBack(t *testing.T) {
	for _, mk := range crashEnvs() {
		e := mk(t)
		t.Run(e.name, func(t *testing.T) {
			fx := &crashFixture{e: e, exec: "exec-mid", batches: []*record.Batch{benchBatch("a", 0, 6, true), benchBatch("b", 6, 6, false)}}
			bucket := e.makeBucket(t)
			ctx := context.Background()
			w, err := e.drv.OpenWriter(ctx, fx.req(bucket))
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range fx.batches {
				if err := w.Write(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			// Let the background writer close split a's files, as a run
			// does before a crash; the writer is then abandoned.
			wr := w.(*writer)
			wr.mu.Lock()
			wr.finish()
			for _, f := range wr.files {
				_ = wr.closeOut(f)
			}
			wr.mu.Unlock()
			if len(e.stagingFiles(t)) == 0 {
				t.Fatal("nothing staged before the crash")
			}
			if e.client != nil && len(e.list(t, bucket, "out/"+stagingDir)) == 0 {
				t.Fatal("nothing staged in the bucket before the crash")
			}
			res, published, err := e.drv.RecoverPublish(ctx, fx.req(bucket))
			if err != nil || published || res != nil {
				t.Fatalf("RecoverPublish = %v, %v, %v; want a roll back", res, published, err)
			}
			fx.checkNone(t, bucket)
		})
	}
}

// A crash during recovery is settled by recovering again.
func TestCrashDuringRecovery(t *testing.T) {
	for _, mk := range crashEnvs() {
		e := mk(t)
		t.Run(e.name, func(t *testing.T) {
			fx := newCrashFixture(t, e, "exec-again")
			// Commit crashes after 3 of 12 files; recovery passes one
			// step per file and one to settle.
			for j := 0; j < 12; j += 1 + j/4 {
				bucket := e.makeBucket(t)
				if _, err := fx.run(t, bucket, newSteps(4, errCrash).at); !errors.Is(err, errCrash) {
					t.Fatalf("Commit returned %v, want the crash", err)
				}
				if _, _, err := fx.recover(bucket, newSteps(j, errCrash).at); !errors.Is(err, errCrash) {
					t.Fatalf("recovery crash at step %d: %v", j, err)
				}
				res, published, err := fx.recover(bucket, nil)
				if err != nil || !published {
					t.Fatalf("second recovery after a crash at step %d: published=%v, %v", j, published, err)
				}
				fx.checkAll(t, bucket, res)
				e.checkStagingSettled(t, bucket)
			}
		})
	}
}

// A publish that fails (not a crash) is undone: Commit returns the error
// and leaves neither output, nor staging, nor an intent.
func TestFailedPublishLeavesNothing(t *testing.T) {
	for _, mk := range crashEnvs() {
		e := mk(t)
		t.Run(e.name, func(t *testing.T) {
			fx := newCrashFixture(t, e, "exec-fail")
			boom := errors.New("disk on fire")
			for _, k := range []int{2, 7, 14} { // the first publish, a middle one, settle
				bucket := e.makeBucket(t)
				if _, err := fx.run(t, bucket, newSteps(k, boom).at); !errors.Is(err, boom) {
					t.Fatalf("Commit returned %v, want %v", err, boom)
				}
				fx.checkNone(t, bucket)
				res, published, err := fx.recover(bucket, nil)
				if err != nil || published || res != nil {
					t.Fatalf("recovery after a failed publish: %v, %v, %v; want nothing to do", res, published, err)
				}
			}
		})
	}
}

// A retried job opens a new writer for the same execution: its files never
// mix with the older attempt's, and recovery settles both (the old,
// intent-less one is removed; the new one's publish stands).
func TestRetriedAttemptDoesNotMix(t *testing.T) {
	for _, mk := range crashEnvs() {
		e := mk(t)
		t.Run(e.name, func(t *testing.T) {
			fx := newCrashFixture(t, e, "exec-retry")
			bucket := e.makeBucket(t)
			if _, err := fx.run(t, bucket, newSteps(0, errCrash).at); !errors.Is(err, errCrash) {
				t.Fatalf("first attempt: %v", err)
			}
			res, err := fx.run(t, bucket, nil)
			if err != nil {
				t.Fatal(err)
			}
			fx.checkAll(t, bucket, res)
			res, published, err := fx.recover(bucket, nil)
			if err != nil || !published {
				t.Fatalf("recovery: published=%v, %v", published, err)
			}
			fx.checkAll(t, bucket, res)
			e.checkStagingSettled(t, bucket)
		})
	}
}

// CollectStaging removes the staging of finished runs only.
func TestCollectStagingKeepsUnfinished(t *testing.T) {
	for _, mk := range crashEnvs() {
		e := mk(t)
		t.Run(e.name, func(t *testing.T) {
			bucket := e.makeBucket(t)
			runs := map[string]*crashFixture{}
			// Each crashes after its intent and one published file.
			for _, id := range []string{"exec-live", "exec-done", "exec-live-2"} {
				fx := &crashFixture{e: e, exec: id, batches: []*record.Batch{benchBatch("a", 0, 6, true)}}
				runs[id] = fx
				if _, err := fx.run(t, bucket, newSteps(2, errCrash).at); !errors.Is(err, errCrash) {
					t.Fatalf("%s: %v", id, err)
				}
			}
			// Junk the driver did not make is left alone.
			if err := os.MkdirAll(filepath.Join(e.deps.DataDir, stagingRoot, "not-a-tag"), 0o777); err != nil {
				t.Fatal(err)
			}
			var asked []string
			err := e.drv.CollectStaging(context.Background(), func(id string) bool {
				asked = append(asked, id)
				return strings.HasPrefix(id, "exec-live")
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(asked)
			if want := []string{"exec-done", "exec-live", "exec-live-2"}; !slices.Equal(asked, want) {
				t.Errorf("asked about %v, want %v", asked, want)
			}
			var tags []string
			for _, f := range e.stagingFiles(t) {
				if !strings.Contains(f, "/") {
					tags = append(tags, f)
				}
			}
			if len(tags) != 3 || !slices.Contains(tags, "not-a-tag") {
				t.Errorf("staging folders left %v, want the two live runs' and the junk", tags)
			}
			for _, tag := range tags {
				if strings.HasPrefix(tag, "exec-done-") {
					t.Errorf("the finished run's staging %s was kept", tag)
				}
			}
			// The live runs still recover; the collected one has nothing left.
			for id, fx := range runs {
				res, published, err := fx.recover(bucket, nil)
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				if live := id != "exec-done"; published != live {
					t.Errorf("%s: published=%v after collection, want %v", id, published, live)
				} else if live && (res.RecordsWritten != 6 || len(res.Objects) != 6) {
					t.Errorf("%s: result %d records %d objects, want 6 and 6", id, res.RecordsWritten, len(res.Objects))
				}
			}
			for k := range e.list(t, bucket, "") {
				if isStagingKey(k) && !strings.Contains(k, "/exec-live") {
					t.Errorf("the finished run's staging left in the bucket: %s", k)
				}
			}
		})
	}
}

// settle fsyncs each folder a file went into and the parent of each folder
// publishing made, so the new entries survive a power loss.
func TestLocalSettleSyncsNewFolders(t *testing.T) {
	base := t.TempDir()
	bucketDir := filepath.Join(base, "bkt")
	st := &localStager{dir: filepath.Join(base, "stage"), bucketDir: bucketDir}
	if err := os.MkdirAll(filepath.Join(bucketDir, "a"), 0o777); err != nil {
		t.Fatal(err)
	}
	for i, key := range []string{"a/b/c/f1", "a/b/c/f2", "a/x/f3", "top"} {
		w, err := st.create(context.Background(), fmt.Sprint(i), "")
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		if err := st.publish(context.Background(), fmt.Sprint(i), key); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for d := range st.dirs {
		rel, _ := filepath.Rel(bucketDir, d)
		got = append(got, filepath.ToSlash(rel))
	}
	slices.Sort(got)
	// a/b/c holds f1 and f2; a gained b and x; a/b gained c; the bucket holds top.
	if want := []string{".", "a", "a/b", "a/b/c", "a/x"}; !slices.Equal(got, want) {
		t.Errorf("folders to sync %v, want %v", got, want)
	}
	if err := st.settle(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// A crashed process's requests may land after recovery rolled its run
// back (a PUT or CompleteMultipartUpload in flight at the kill): a late
// intent whose files are all gone is a roll back still, and late objects
// are deleted by collection through the pointer the roll back keeps for
// pointerGrace.
func TestLateRequestsAfterRollBackS3API(t *testing.T) {
	e := motoEnv(t)
	fx := newCrashFixture(t, e, "exec-late")
	bucket := e.makeBucket(t)
	if _, err := fx.run(t, bucket, newSteps(0, errCrash).at); !errors.Is(err, errCrash) {
		t.Fatalf("Commit: %v", err)
	}
	if _, published, err := fx.recover(bucket, nil); err != nil || published {
		t.Fatalf("recovery: published=%v, %v; want a roll back", published, err)
	}
	fx.checkNone(t, bucket)
	dirs, _ := filepath.Glob(filepath.Join(e.deps.DataDir, stagingRoot, "exec-late-*"))
	if len(dirs) != 1 {
		t.Fatalf("pointers after the roll back: %v, want one", dirs)
	}
	ref, err := readRemote(dirs[0])
	if err != nil || ref.RolledBack.IsZero() {
		t.Fatalf("pointer %+v, %v; want one marked rolled back", ref, err)
	}

	// The intent lands late: recovering again finds its files gone and
	// rolls back, removing it.
	files := make([]intentFile, len(fx.wantRes.Objects))
	for i, k := range fx.wantRes.Objects {
		files[i] = intentFile{Name: fmt.Sprintf("%06d", i+1), Key: k}
	}
	data, _ := json.Marshal(newIntent("exec-late", bucket, fx.wantRes, files))
	e.put(t, bucket, ref.Prefix+intentName, data)
	res, published, err := fx.recover(bucket, nil)
	if err != nil || published || res != nil {
		t.Fatalf("recovery with a late intent: %v, %v, %v; want a roll back", res, published, err)
	}
	fx.checkNone(t, bucket)

	// A staged object lands late: collection deletes it and keeps the
	// pointer while a request may still land, then drops it.
	e.put(t, bucket, ref.Prefix+"000002", []byte("late"))
	if err := e.drv.CollectStaging(context.Background(), func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	fx.checkNone(t, bucket)
	if _, err := readRemote(dirs[0]); err != nil {
		t.Fatalf("the pointer went within pointerGrace: %v", err)
	}
	defer func(g time.Duration) { pointerGrace = g }(pointerGrace)
	pointerGrace = 0
	if err := e.drv.CollectStaging(context.Background(), func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if left := e.stagingFiles(t); len(left) != 0 {
		t.Errorf("staging left after pointerGrace: %v", left)
	}
}

// A run killed while uploading its first large file leaves only an
// unfinished multipart upload, which listings do not show: recovery finds
// it all the same (here without a pointer, as on another replica) and
// aborts it.
func TestRecoverAbortsUnfinishedUploadS3API(t *testing.T) {
	e := motoEnv(t)
	bucket := e.makeBucket(t)
	fx := &crashFixture{e: e, exec: "exec-up"}
	key := "out/" + stagingDir + "/" + runTag("exec-up") + "/000001"
	ctx := context.Background()
	up, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(make([]byte, 5<<20))}); err != nil {
		t.Fatal(err)
	}
	res, published, err := fx.recover(bucket, nil)
	if err != nil || published || res != nil {
		t.Fatalf("RecoverPublish = %v, %v, %v; want a roll back", res, published, err)
	}
	out, err := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Errorf("unfinished uploads after recovery: %d, want none", len(out.Uploads))
	}
}

// Upsolver runs on the S3 writer: its recovery reads its own properties,
// and the files it publishes carry SSE-KMS under the flow's key as the
// run's would have.
func TestUpsolverRecoverPublish(t *testing.T) {
	for _, mk := range crashEnvs() {
		e := mk(t)
		t.Run(e.name, func(t *testing.T) {
			u := upsolverEnv(t, e)
			h := &upsolverHarness{e: e, u: u, format: "JSON"}
			req := h.NewRequest(context.Background(), t, nil)
			req.KMSKeyArn = testKeyArn // moto keeps SSE headers without checking the key; local buckets have none
			ctx := context.Background()
			u.s3.fp = newSteps(2, errCrash).at // after the intent and one file
			w, err := u.OpenWriter(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []*record.Batch{benchBatch("a", 0, 5, true), benchBatch("b", 5, 5, true)} {
				if err := w.Write(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Commit(ctx); !errors.Is(err, errCrash) {
				t.Fatalf("Commit: %v, want the crash", err)
			}
			u.s3.fp = nil
			if got := len(h.Visible(ctx, t, req)); got != 1 {
				t.Fatalf("%d objects visible after the crash, want the 1 published", got)
			}
			res, published, err := u.RecoverPublish(ctx, req)
			if err != nil || !published || res.RecordsWritten != 10 || len(res.Objects) != 2 {
				t.Fatalf("RecoverPublish = %+v, %v, %v; want both files, 10 records", res, published, err)
			}
			if got := len(h.ReadBack(ctx, t, req)); got != 10 {
				t.Errorf("%d rows in the bucket, want 10", got)
			}
			e.checkStagingSettled(t, h.bucket)
			if e.client != nil {
				if bad := eventstest.NotUnderKey(eventstest.Heads(t, e.client, h.bucket, ""), req.KMSKeyArn); len(bad) > 0 {
					t.Errorf("objects not under the flow's key: %v", bad)
				}
			}
		})
	}
}
