package s3conn

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
)

// TestEventSource polls local and S3-API buckets: a baseline first, then
// each new or changed object once, at most max per poll, never what the
// source does not read (empty objects, other prefixes, staging folders).
func TestEventSource(t *testing.T) {
	for _, mk := range []func(testing.TB) *env{localEnv, motoEnv} {
		e := mk(t)
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			bucket := e.makeBucket(t)
			es := NewEventSource(e.deps)
			src := connector.EventFlow{ConnectorType: "S3", Properties: json.RawMessage(`{"bucketName":"` + bucket + `","bucketPrefix":"data"}`)}
			e.put(t, bucket, "data/old.csv", []byte("a\n1\n"))
			poll, err := es.Poll(ctx, src, nil, 10)
			if err != nil || len(poll.Events) != 0 {
				t.Fatalf("baseline: %v %v, want no events", poll.Events, err)
			}
			e.put(t, bucket, "data/a.csv", []byte("a\n1\n"))
			e.put(t, bucket, "data/b.csv", []byte("a\n2\n"))
			e.put(t, bucket, "data/empty.csv", nil)
			e.put(t, bucket, "other/c.csv", []byte("a\n3\n"))
			e.put(t, bucket, "data/"+stagingDir+"/run-1/part-0.csv", []byte("a\n4\n"))
			// max 1: b waits for the next poll.
			poll, err = es.Poll(ctx, src, poll.Cursor, 1)
			if err != nil || len(poll.Events) != 1 {
				t.Fatalf("first poll: %v %v, want one event", poll.Events, err)
			}
			got := []string{poll.Events[0].Split}
			poll, err = es.Poll(ctx, src, poll.Cursor, 10)
			if err != nil || len(poll.Events) != 1 {
				t.Fatalf("second poll: %v %v, want one event", poll.Events, err)
			}
			got = append(got, poll.Events[0].Split)
			slices.Sort(got)
			if strings.Join(got, " ") != "data/a.csv data/b.csv" {
				t.Errorf("events: got %v, want data/a.csv and data/b.csv once each", got)
			}
			e.put(t, bucket, "data/a.csv", []byte("a\n1\n2\n")) // changed: a new event
			if poll, err = es.Poll(ctx, src, poll.Cursor, 10); err != nil || len(poll.Events) != 1 || poll.Events[0].Split != "data/a.csv" {
				t.Fatalf("poll after a change: %v %v, want data/a.csv", poll.Events, err)
			}
			if poll, err = es.Poll(ctx, src, poll.Cursor, 10); err != nil || len(poll.Events) != 0 {
				t.Errorf("poll with nothing new: %v %v", poll.Events, err)
			}
		})
	}
}

func TestEventSourceBadInput(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	es := NewEventSource(e.deps)
	missing := connector.EventFlow{Properties: json.RawMessage(`{"bucketName":"not-made-yet"}`)}
	if poll, err := es.Poll(ctx, missing, nil, 10); err != nil || len(poll.Events) != 0 || poll.Cursor == nil {
		t.Errorf("a bucket that does not exist yet: %+v %v, want an empty baseline", poll, err)
	}
	if _, err := es.Poll(ctx, connector.EventFlow{Properties: json.RawMessage(`{}`)}, nil, 10); err == nil || !strings.Contains(err.Error(), "bucketName") {
		t.Errorf("no bucketName: %v", err)
	}
	if _, err := es.Poll(ctx, missing, json.RawMessage(`"not base64!"`), 10); err == nil || !strings.Contains(err.Error(), "cursor") {
		t.Errorf("a damaged cursor: %v", err)
	}
}
