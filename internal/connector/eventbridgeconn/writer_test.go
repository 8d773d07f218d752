package eventbridgeconn

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/events/eventstest"
	"github.com/appflowd/appflowd/internal/record"
)

func request(object string, eh *connector.ErrorHandling) *connector.WriteRequest {
	props, _ := json.Marshal(map[string]string{"object": object})
	return &connector.WriteRequest{FlowName: "orders-flow", ExecutionID: eventstest.Name("exec-"), Object: object,
		Properties: props, ErrorHandling: eh}
}

// write sends rows (id, body) through a writer and commits.
func write(t *testing.T, d *Driver, req *connector.WriteRequest, b *record.Batch) (*connector.WriteResult, error) {
	t.Helper()
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, req)
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	if err := w.Write(ctx, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	res, err := w.Commit(ctx)
	if aerr := w.Abort(ctx); aerr != nil {
		t.Errorf("Abort after Commit: %v", aerr)
	}
	return res, err
}

func rows(n int, body func(i int) record.Value) *record.Batch {
	b := &record.Batch{Fields: []string{"id", "body"}, Split: "in.csv", FirstLine: 2, Final: true}
	for i := range n {
		b.AppendRow([]record.Value{record.IntVal(int64(i)), body(i)})
	}
	return b
}

func TestBatchesOfTen(t *testing.T) {
	srv := eventstest.NewServer(t)
	d := newDriver(t, srv.URL, "")
	req := request("aws.partner/appflow/salesforce.com/123456789012/orders", nil)
	req.SourceObject = "Order_Event__e"
	res, err := write(t, d, req, rows(25, func(i int) record.Value { return record.Str(fmt.Sprintf("b%d", i)) }))
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Puts(); got != 3 {
		t.Errorf("PutEvents calls: got %d, want 3 (10, 10, 5)", got)
	}
	evs := srv.Events(req.Object)
	if len(evs) != 25 || res.RecordsWritten != 25 {
		t.Fatalf("events: got %d on the bus, %d written, want 25", len(evs), res.RecordsWritten)
	}
	e := evs[0]
	if e.Source != req.Object || e.DetailType != "Order_Event__e" || string(e.Detail) != `{"id":0,"body":"b0"}` {
		t.Errorf("first event: got source %q detail-type %q detail %s, want %q, Order_Event__e, {\"id\":0,\"body\":\"b0\"}",
			e.Source, e.DetailType, e.Detail, req.Object)
	}
	if want := []string{req.Object}; fmt.Sprint(res.Objects) != fmt.Sprint(want) {
		t.Errorf("Objects: got %v, want %v", res.Objects, want)
	}
}

func TestChangeEventDetailType(t *testing.T) {
	srv := eventstest.NewServer(t)
	d := newDriver(t, srv.URL, "")
	req := request("aws.partner/appflow/salesforce.com/123456789012/cdc", nil)
	b := &record.Batch{Fields: []string{"ChangeEventHeader", "Name"}, Split: "cdc", Final: true}
	b.AppendRow([]record.Value{record.JSONVal(`{"entityName":"Account","changeType":"UPDATE"}`), record.Str("Acme")})
	b.AppendRow([]record.Value{record.JSONVal(`{"entityName":"Invoice__c","changeType":"CREATE"}`), record.Str("INV-1")})
	if _, err := write(t, d, req, b); err != nil {
		t.Fatal(err)
	}
	evs := srv.Events(req.Object)
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	for i, want := range []string{"AccountChangeEvent", "Invoice__ChangeEvent"} {
		if evs[i].DetailType != want {
			t.Errorf("event %d detail-type: got %q, want %q", i, evs[i].DetailType, want)
		}
	}
	if got, want := string(evs[0].Detail), `{"ChangeEventHeader":{"entityName":"Account","changeType":"UPDATE"},"Name":"Acme"}`; got != want {
		t.Errorf("detail: got %s, want %s", got, want)
	}
}

// TestRequestSizeLimit: ten 40 KB events do not fit one 256 KB request; the
// server answers an oversized request with a ValidationException.
func TestRequestSizeLimit(t *testing.T) {
	srv := eventstest.NewServer(t)
	d := newDriver(t, srv.URL, "")
	req := request("sized", nil)
	big := strings.Repeat("x", 40*1024)
	res, err := write(t, d, req, rows(10, func(int) record.Value { return record.Str(big) }))
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsWritten != 10 || len(srv.Events("sized")) != 10 {
		t.Errorf("got %d written, %d on the bus, want 10", res.RecordsWritten, len(srv.Events("sized")))
	}
	if got := srv.Puts(); got != 2 {
		t.Errorf("PutEvents calls: got %d, want 2 (6 events of ~40 KB, then 4)", got)
	}
}

func TestLargeEventGoesToS3(t *testing.T) {
	moto := eventstest.Moto(t)
	srv := eventstest.NewServer(t)
	d := newDriver(t, srv.URL, moto)
	bucket := makeBucket(t, moto)
	req := request("aws.partner/appflow/salesforce.com/123456789012/large", &connector.ErrorHandling{BucketName: bucket, BucketPrefix: "errors"})
	req.KMSKeyArn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" // the flow's own key
	huge := strings.Repeat("y", 300*1024)
	res, err := write(t, d, req, rows(2, func(i int) record.Value {
		if i == 1 {
			return record.Str(huge)
		}
		return record.Str("small")
	}))
	if err != nil {
		t.Fatal(err)
	}
	evs := srv.Events(req.Object)
	if len(evs) != 2 || res.RecordsWritten != 2 || len(res.Failures) != 0 {
		t.Fatalf("got %d events, %d written, failures %v; want 2, 2, none", len(evs), res.RecordsWritten, res.Failures)
	}
	key := "errors/orders-flow/" + req.ExecutionID + "/large-events/1.json"
	var ptr struct {
		LargeEvent bool   `json:"largeEvent"`
		Bucket     string `json:"bucket"`
		Key        string `json:"key"`
		SizeBytes  int    `json:"sizeBytes"`
	}
	if err := json.Unmarshal(evs[1].Detail, &ptr); err != nil {
		t.Fatal(err)
	}
	obj := getObject(t, moto, bucket, key)
	if bad := eventstest.NotUnderKey(eventstest.Heads(t, s3Client(moto), bucket, key), req.KMSKeyArn); len(bad) > 0 {
		t.Errorf("large event objects not under the flow's key: %v", bad)
	}
	if !ptr.LargeEvent || ptr.Bucket != bucket || ptr.Key != key || ptr.SizeBytes != len(obj) || evs[1].DetailType != "orders-flow" {
		t.Errorf("pointer event: got %s (%s), want largeEvent, bucket %s, key %s, sizeBytes %d", evs[1].Detail, evs[1].DetailType, bucket, key, len(obj))
	}
	var whole struct {
		Source     string         `json:"source"`
		DetailType string         `json:"detail-type"`
		Detail     map[string]any `json:"detail"`
	}
	if err := json.Unmarshal(obj, &whole); err != nil {
		t.Fatal(err)
	}
	if whole.Source != req.Object || whole.DetailType != "orders-flow" || whole.Detail["body"] != huge {
		t.Errorf("large event object: source %q detail-type %q, body of %d bytes", whole.Source, whole.DetailType, len(fmt.Sprint(whole.Detail["body"])))
	}
	wantObj := "s3://" + bucket + "/" + key
	if fmt.Sprint(res.Objects) != fmt.Sprint([]string{req.Object, wantObj}) {
		t.Errorf("Objects: got %v, want [%s %s]", res.Objects, req.Object, wantObj)
	}
}

func TestLargeEventWithoutBucket(t *testing.T) {
	srv := eventstest.NewServer(t)
	d := newDriver(t, srv.URL, "")
	d.MaxEventBytes = 100
	req := request("nobucket", nil)
	res, err := write(t, d, req, rows(2, func(i int) record.Value { return record.Str(strings.Repeat("z", 100*i)) }))
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsWritten != 1 || len(res.Failures) != 1 {
		t.Fatalf("got %d written, failures %v; want 1 and 1", res.RecordsWritten, res.Failures)
	}
	f := res.Failures[0]
	if f.Line != 3 || !strings.Contains(f.Reason, "over the 100-byte EventBridge limit") || f.Record["id"] != "1" {
		t.Errorf("failure: got %+v", f)
	}
}

// TestRejectedEntries: an entry PutEvents refuses is a failure, written to
// the error bucket; with failOnFirstDestinationError the commit fails and
// says what already reached the bus.
func TestRejectedEntries(t *testing.T) {
	srv := eventstest.NewServer(t)
	d := newDriver(t, srv.URL, "")
	if err := os.MkdirAll(filepath.Join(d.deps.DataDir, "s3", "errs"), 0o755); err != nil {
		t.Fatal(err)
	}
	body := func(i int) record.Value {
		if i == 1 {
			return record.JSONVal(`{"not":json`)
		}
		return record.Str("ok")
	}
	t.Run("Continue", func(t *testing.T) {
		req := request("rejects", &connector.ErrorHandling{BucketName: "errs", BucketPrefix: "p"})
		res, err := write(t, d, req, rows(3, body))
		if err != nil {
			t.Fatal(err)
		}
		if res.RecordsWritten != 2 || len(res.Failures) != 1 {
			t.Fatalf("got %d written, failures %v; want 2 and 1", res.RecordsWritten, res.Failures)
		}
		if f := res.Failures[0]; f.Split != "in.csv" || f.Line != 3 || f.Reason != "EventBridge rejected the event - MalformedDetail - Detail is malformed." {
			t.Errorf("failure: got %+v", f)
		}
		raw, err := os.ReadFile(filepath.Join(d.deps.DataDir, "s3", "errs", "p", "orders-flow", req.ExecutionID, "eventbridge-rejected-records.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"reason":"EventBridge rejected the event - MalformedDetail - Detail is malformed."`) ||
			!strings.Contains(string(raw), `"line":3`) {
			t.Errorf("error file: %s", raw)
		}
	})
	t.Run("FailOnFirst", func(t *testing.T) {
		req := request("rejects-ff", &connector.ErrorHandling{FailOnFirstError: true})
		_, err := write(t, d, req, rows(3, body))
		if err == nil || !strings.Contains(err.Error(), "MalformedDetail") || !strings.Contains(err.Error(), "2 events were already accepted") {
			t.Errorf("Commit error: got %v, want the rejection and the 2 events already accepted", err)
		}
		// One request held all three: the good ones are on the bus for good.
		if n := len(srv.Events("rejects-ff")); n != 2 {
			t.Errorf("events on the bus: got %d, want 2", n)
		}
	})
}

// TestRetries: a 503 is retried, and so are entries EventBridge throttled,
// each delivered once.
func TestRetries(t *testing.T) {
	srv := eventstest.NewServer(t)
	var mu sync.Mutex
	throttled := map[string]bool{}
	srv.Reject = func(e eventstest.Event) (string, string) {
		mu.Lock()
		defer mu.Unlock()
		if k := string(e.Detail); strings.Contains(k, `"id":3,`) && !throttled[k] {
			throttled[k] = true
			return "ThrottlingException", "Rate exceeded"
		}
		return "", ""
	}
	srv.Unavailable = 1
	d := newDriver(t, srv.URL, "")
	req := request("retries", nil)
	res, err := write(t, d, req, rows(5, func(int) record.Value { return record.Str("x") }))
	if err != nil {
		t.Fatal(err)
	}
	evs := srv.Events("retries")
	if res.RecordsWritten != 5 || len(evs) != 5 || len(res.Failures) != 0 {
		t.Fatalf("got %d written, %d on the bus, failures %v; want 5, 5, none", res.RecordsWritten, len(evs), res.Failures)
	}
	if got := srv.Puts(); got != 3 {
		t.Errorf("PutEvents calls: got %d, want 3 (503, 4 of 5 accepted, the throttled one)", got)
	}
}

// TestMotoSmoke sends through moto's EventBridge and reads the events back
// from a rule's SQS queue.
func TestMotoSmoke(t *testing.T) {
	moto := eventstest.Moto(t)
	tg := newTarget(t, moto)
	d := newDriver(t, moto, moto)
	req := request(tg.object, nil)
	req.SourceObject = "Order_Event__e"
	b := rows(3, func(i int) record.Value {
		if i == 1 {
			return record.JSONVal(`{"broken"`)
		}
		return record.FloatVal(2.5)
	})
	res, err := write(t, d, req, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsWritten != 2 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Reason, "MalformedDetail") {
		t.Fatalf("got %d written, failures %v; want 2 and one MalformedDetail", res.RecordsWritten, res.Failures)
	}
	evs := tg.queue.Wait(t, 2, 30*time.Second)
	for _, e := range evs {
		if e.Source != tg.object || e.DetailType != "Order_Event__e" {
			t.Errorf("event: source %q detail-type %q, want %q Order_Event__e", e.Source, e.DetailType, tg.object)
		}
	}
	got := []string{string(compact(t, evs[0].Detail)), string(compact(t, evs[1].Detail))}
	want := []string{`{"id":0,"body":2.5}`, `{"id":2,"body":2.5}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("details: got %v, want %v", got, want)
	}
}

func compact(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(struct {
		ID   json.RawMessage `json:"id"`
		Body json.RawMessage `json:"body"`
	}{m["id"], m["body"]})
	return out
}
