package rejects

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"

	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// Suffix ends the name of every file Write is given by a destination
// ("salesforce-rejected-records.jsonl", ...).
const Suffix = "-rejected-records.jsonl"

// Rejected is one line of a rejected-records file.
type Rejected struct {
	File   string            `json:"-"` // the object key it was read from
	Split  string            `json:"split"`
	Line   int64             `json:"line"`
	Reason string            `json:"reason"`
	Record map[string]string `json:"record"`
}

// Read returns the first limit records a run's destination rejected, from
// the rejected-records files Write put at the error location of eh for
// flow and execution, in key order. No bucket, no folder or no such files
// is no records; a line that is not a rejected record is an error.
func Read(ctx context.Context, deps connector.Deps, eh *connector.ErrorHandling, flow, execution string, limit int) ([]Rejected, error) {
	if eh == nil || eh.BucketName == "" || limit <= 0 {
		return nil, nil
	}
	buckets, err := awsconfig.NewBuckets(ctx, deps)
	if err != nil {
		return nil, err
	}
	b, err := buckets.Open(ctx, eh.BucketName)
	if err != nil {
		return nil, fault.Wrap(fault.CodeOf(err), err, "error bucket")
	}
	defer b.Close()
	prefix := JoinKey(eh.BucketPrefix, flow, execution) + "/"
	if err := buckets.CheckKey(eh.BucketName, prefix); err != nil {
		return nil, fault.Wrap(fault.CodeOf(err), err, "error bucket")
	}
	var keys []string
	for obj, err := range awsconfig.List(ctx, b, &blob.ListOptions{Prefix: prefix, Delimiter: "/"}) {
		if err != nil {
			return nil, fault.Wrap(fault.ConnectorServer, err, "list s3://%s/%s", eh.BucketName, prefix)
		}
		if !obj.IsDir && strings.HasSuffix(obj.Key, Suffix) {
			keys = append(keys, obj.Key)
		}
	}
	sort.Strings(keys)
	var out []Rejected
	for _, key := range keys {
		if err := buckets.CheckKey(eh.BucketName, key); err != nil {
			return out, fault.Wrap(fault.CodeOf(err), err, "error bucket")
		}
		if err := readFile(ctx, b, eh.BucketName, key, limit, &out); err != nil {
			return out, err
		}
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

func readFile(ctx context.Context, b *blob.Bucket, bucket, key string, limit int, out *[]Rejected) error {
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "read s3://%s/%s", bucket, key)
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // a record may be long; bound it
	for n := 1; len(*out) < limit && sc.Scan(); n++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec := Rejected{File: key}
		if err := json.Unmarshal(line, &rec); err != nil {
			return fault.Wrap(fault.ConnectorServer, err, "s3://%s/%s line %d is not a rejected record", bucket, key, n)
		}
		*out = append(*out, rec)
	}
	if err := sc.Err(); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "read s3://%s/%s", bucket, key)
	}
	return nil
}
