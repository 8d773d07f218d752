package s3conn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// EventSource is the connector.EventSource of S3 sources: a new object
// under the flow's bucketPrefix, or an object whose size, modification time
// or ETag changed, is an event whose split is the object key. It lists what
// the S3 source reads (readable), so staging folders, folder markers and
// empty objects are never events.
//
// Its cursor is the set of objects listed at the last poll, each as the
// first 8 bytes of the SHA-256 of its event id, sorted and base64-encoded:
// 8 bytes per object under the prefix, whatever the key length. An object
// deleted from the prefix leaves the set, so putting it back is an event.
//
// Local buckets: write objects under the prefix atomically (write elsewhere,
// then rename), as an S3 PUT is; a file seen half written is an event, and
// the same file complete is another.
type EventSource struct {
	deps connector.Deps

	once sync.Once
	drv  *Driver
	err  error
}

var _ connector.EventSource = (*EventSource)(nil)

// NewEventSource returns the S3 EventSource for the process's connector
// dependencies (DataDir, the s3 endpoint, Region, HTTPClient).
func NewEventSource(deps connector.Deps) *EventSource { return &EventSource{deps: deps} }

type s3Object struct {
	key  string
	id   string
	hash uint64
	mod  time.Time
}

// Poll implements connector.EventSource.
func (s *EventSource) Poll(ctx context.Context, src connector.EventFlow, cursor json.RawMessage, max int) (connector.EventPoll, error) {
	var props struct {
		BucketName   string `json:"bucketName"`
		BucketPrefix string `json:"bucketPrefix"`
	}
	if len(src.Properties) == 0 || json.Unmarshal(src.Properties, &props) != nil || props.BucketName == "" {
		return connector.EventPoll{}, errors.New("s3 events: the flow's source has no bucketName")
	}
	objs, err := s.list(ctx, src.AccountID, props.BucketName, props.BucketPrefix)
	if err != nil {
		return connector.EventPoll{}, err
	}
	all := make([]uint64, len(objs))
	for i, o := range objs {
		all[i] = o.hash
	}
	if cursor == nil {
		return connector.EventPoll{Cursor: encodeHashes(all)}, nil
	}
	seen, err := decodeHashes(cursor)
	if err != nil {
		return connector.EventPoll{}, fmt.Errorf("s3 events: cursor: %w", err)
	}
	var fresh []s3Object
	for _, o := range objs {
		if _, found := slices.BinarySearch(seen, o.hash); !found {
			fresh = append(fresh, o)
		}
	}
	slices.SortFunc(fresh, func(a, b s3Object) int {
		if c := a.mod.Compare(b.mod); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	next := all
	if len(fresh) > max {
		// The rest stay unseen for the next poll.
		later := map[uint64]bool{}
		for _, o := range fresh[max:] {
			later[o.hash] = true
		}
		next = slices.DeleteFunc(slices.Clone(all), func(h uint64) bool { return later[h] })
		fresh = fresh[:max]
	}
	out := connector.EventPoll{Cursor: encodeHashes(next)}
	for _, o := range fresh {
		out.Events = append(out.Events, connector.Event{Split: o.key, ID: o.id})
	}
	return out, nil
}

// A bucket that does not exist holds nothing. It is not an error, so that a
// flow activated before its bucket exists takes an empty baseline and sees
// every object put into the bucket later.

// list lists the objects a run of the S3 source would read in an
// account's bucket.
func (s *EventSource) list(ctx context.Context, account, bucket, prefix string) ([]s3Object, error) {
	s.once.Do(func() { s.drv, s.err = New(context.WithoutCancel(ctx), s.deps) })
	if s.err != nil {
		return nil, s.err
	}
	b, err := s.drv.blobs.ForAccount(account).Open(ctx, bucket)
	if fault.Is(err, fault.NotFound) {
		return nil, nil // no bucket yet: it holds nothing (see above)
	}
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var out []s3Object
	for obj, err := range awsconfig.List(ctx, b, &blob.ListOptions{Prefix: prefix}) {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, nil // no bucket: nothing in it
		}
		if err != nil {
			return nil, fmt.Errorf("s3 events: list s3://%s/%s: %w", bucket, prefix, err)
		}
		if !readable(obj) {
			continue
		}
		id := strings.Join([]string{obj.Key, strconv.FormatInt(obj.Size, 10),
			obj.ModTime.UTC().Format(time.RFC3339Nano), hex.EncodeToString(obj.MD5)}, "\x00")
		sum := sha256.Sum256([]byte(id))
		out = append(out, s3Object{key: obj.Key, id: id, hash: binary.BigEndian.Uint64(sum[:8]), mod: obj.ModTime})
	}
	return out, nil
}

// encodeHashes is the cursor of a set of object hashes: a JSON string.
func encodeHashes(hs []uint64) json.RawMessage {
	hs = slices.Clone(hs)
	slices.Sort(hs)
	hs = slices.Compact(hs)
	var buf bytes.Buffer
	buf.Grow(8 * len(hs))
	for _, h := range hs {
		buf.Write(binary.BigEndian.AppendUint64(nil, h))
	}
	out, _ := json.Marshal(base64.StdEncoding.EncodeToString(buf.Bytes()))
	return out
}

func decodeHashes(cursor json.RawMessage) ([]uint64, error) {
	var s string
	if err := json.Unmarshal(cursor, &s); err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(raw)%8 != 0 {
		return nil, errors.New("not a whole number of hashes")
	}
	hs := make([]uint64, len(raw)/8)
	for i := range hs {
		hs[i] = binary.BigEndian.Uint64(raw[8*i:])
	}
	if !slices.IsSorted(hs) {
		slices.Sort(hs)
	}
	return hs, nil
}
