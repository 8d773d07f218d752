// Package rejects writes the records a destination refused to the flow's
// error location, the one way every destination does it: JSON Lines
// {"split", "line", "reason", "record"} at
// s3://<bucketName>/<bucketPrefix>/<flow>/<execution>/<name>.
// The layout is appflowd's choice (data-plane spec §8 leaves it open).
package rejects

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// Write puts failures at the error location of req's ErrorHandling, when
// it names a bucket and there are failures; otherwise it does nothing.
// Through an S3 API the file carries SSE-KMS under req.KMSKeyArn, the
// flow's key. name is the file name,
// e.g. "redshift-rejected-records.jsonl". It returns the object key ("" when
// nothing was written) and undo, which deletes the file again (for a load
// that fails after the file was written); undo is never nil.
func Write(ctx context.Context, deps connector.Deps, req *connector.WriteRequest, name string, failures []connector.RecordFailure) (key string, undo func(), err error) {
	undo = func() {}
	eh := req.ErrorHandling
	if len(failures) == 0 || eh == nil || eh.BucketName == "" {
		return "", undo, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, f := range failures {
		_ = enc.Encode(struct {
			Split  string            `json:"split"`
			Line   int64             `json:"line"`
			Reason string            `json:"reason"`
			Record map[string]string `json:"record"`
		}{f.Split, f.Line, f.Reason, f.Record})
	}
	// The file outlives a canceled run: the records were rejected.
	ctx = context.WithoutCancel(ctx)
	buckets, err := awsconfig.NewBuckets(ctx, deps)
	if err != nil {
		return "", undo, err
	}
	b, err := buckets.Open(ctx, eh.BucketName)
	if err != nil {
		return "", undo, fault.Wrap(fault.CodeOf(err), err, "error bucket")
	}
	defer b.Close()
	key = JoinKey(eh.BucketPrefix, req.FlowName, req.ExecutionID, name)
	if err := buckets.CheckKey(eh.BucketName, key); err != nil {
		return "", undo, fault.Wrap(fault.CodeOf(err), err, "error bucket")
	}
	if err := b.WriteAll(ctx, key, buf.Bytes(), awsconfig.SSEKMS(req.KMSKeyArn, nil)); err != nil {
		return "", undo, fault.Wrap(fault.ConnectorServer, err, "write rejected records to s3://%s/%s", eh.BucketName, key)
	}
	return key, func() {
		b, err := buckets.Open(context.Background(), eh.BucketName)
		if err != nil {
			return
		}
		defer b.Close()
		_ = b.Delete(context.Background(), key)
	}, nil
}

// Check opens the error bucket eh names, if any, so that a missing one
// fails a run before anything is written.
func Check(ctx context.Context, deps connector.Deps, eh *connector.ErrorHandling) error {
	if eh == nil || eh.BucketName == "" {
		return nil
	}
	b, err := awsconfig.OpenFolder(ctx, deps, eh.BucketName, eh.BucketPrefix)
	if err != nil {
		return fault.Wrap(fault.CodeOf(err), err, "error bucket")
	}
	return b.Close()
}

// JoinKey joins key parts with "/", dropping empty parts and stray slashes.
func JoinKey(parts ...string) string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}
