package eventbridgeconn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/connector/spool"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// props is destinationConnectorProperties.EventBridge; errorHandlingConfig
// arrives decoded in WriteRequest.ErrorHandling.
type props struct {
	Object string `json:"object"`
}

// frame is one buffered event. In the temporary file it is length-prefixed
// (uvarint lengths, varint line), so a record whose nested JSON is broken
// still reaches PutEvents, which rejects it as that record's failure.
type frame struct {
	Split  string
	Line   int64
	Type   string // "": the writer's default
	Detail []byte
}

func appendFrame(dst []byte, split string, line int64, typ string, detail []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(split)))
	dst = append(dst, split...)
	dst = binary.AppendVarint(dst, line)
	dst = binary.AppendUvarint(dst, uint64(len(typ)))
	dst = append(dst, typ...)
	dst = binary.AppendUvarint(dst, uint64(len(detail)))
	return append(dst, detail...)
}

// readFrame reads the next frame; io.EOF at the end.
func readFrame(r *bufio.Reader, f *frame) error {
	str := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		// Grow with the bytes read, not the length a damaged file claims.
		var b bytes.Buffer
		m, err := io.CopyN(&b, r, int64(min(n, math.MaxInt64)))
		if err == nil && uint64(m) != n || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return b.Bytes(), err
	}
	split, err := str()
	if err != nil {
		return err // io.EOF only here, between frames
	}
	if f.Line, err = binary.ReadVarint(r); err != nil {
		return noEOF(err)
	}
	typ, err := str()
	if err != nil {
		return noEOF(err)
	}
	if f.Detail, err = str(); err != nil {
		return noEOF(err)
	}
	f.Split, f.Type = string(split), string(typ)
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

type writer struct {
	d           *Driver
	req         *connector.WriteRequest
	source      string // Source and EventBusName of every event
	defaultType string
	spool       *spool.File
	n           int64 // events buffered
	detail      []byte
	frame       []byte
	// failures are records rejected before they reached the writer
	// (RecordFailures); Commit adds its own.
	failures []connector.RecordFailure
	connector.WriterLife
}

// OpenWriter checks the destination's properties and opens the buffer
// file; nothing reaches EventBridge before Commit.
func (d *Driver) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	var p props
	if len(req.Properties) > 0 {
		if err := json.Unmarshal(req.Properties, &p); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "eventbridge: destination properties")
		}
	}
	if p.Object == "" {
		p.Object = req.Object
	}
	if strings.TrimSpace(p.Object) == "" {
		return nil, fault.New(fault.Invalid, "eventbridge: object (the partner event source name) is required")
	}
	typ := req.SourceObject
	if typ == "" {
		typ = req.FlowName
	}
	if typ == "" {
		typ = "AppFlow Record"
	}
	sp, err := spool.New("eventbridge")
	if err != nil {
		return nil, err
	}
	return &writer{WriterLife: connector.WriterLife{Vendor: "eventbridge"}, d: d, req: req, source: p.Object, defaultType: typ, spool: sp}, nil
}

// Write buffers one event per row.
func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	if err := w.Usable(ctx, "Write"); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	// A record's detail is a JSON object in field order, encoded as the S3
	// connector's JSON Lines are (record.AppendJSON); Missing fields are left out.
	keys := record.JSONKeys(b.Fields)
	header := b.Index("ChangeEventHeader")
	for r := range b.Len() {
		row := b.Row(r)
		line := b.Line(r)
		typ := ""
		if header >= 0 {
			typ = changeEventType(row[header])
		}
		w.detail = record.AppendJSONObject(w.detail[:0], keys, row)
		w.frame = appendFrame(w.frame[:0], b.Split, line, typ, w.detail)
		if _, err := w.spool.W.Write(w.frame); err != nil {
			return fmt.Errorf("eventbridge: buffer file: %w", err)
		}
		w.n++
	}
	return nil
}

// changeEventType is the Salesforce event name of a change event record:
// AccountChangeEvent for Account, Order__ChangeEvent for Order__c.
func changeEventType(v record.Value) string {
	if v.K != record.JSON && v.K != record.String {
		return ""
	}
	var h struct {
		EntityName string `json:"entityName"`
	}
	if json.Unmarshal([]byte(v.S), &h) != nil || h.EntityName == "" {
		return ""
	}
	if base, ok := strings.CutSuffix(h.EntityName, "__c"); ok {
		return base + "__ChangeEvent"
	}
	return h.EntityName + "ChangeEvent"
}

// RecordFailures keeps records rejected before the writer saw them, so
// they reach the error bucket with the writer's own (it is the engine's
// connector.FailureRecorder hook).
func (w *writer) RecordFailures(_ context.Context, f []connector.RecordFailure) error {
	w.failures = append(w.failures, f...)
	return nil
}

// Commit sends the buffered events. See the package doc for what a
// failure part way leaves behind.
func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if err := w.Usable(ctx, "Commit"); err != nil {
		return nil, err
	}
	s := &sender{w: w, res: &connector.WriteResult{}}
	err := s.run(ctx)
	if s.bucket != nil {
		s.bucket.Close()
	}
	if err == nil {
		err = w.writeFailures(ctx, append(w.failures, s.res.Failures...))
		if err != nil {
			err = fmt.Errorf("%w (all %d accepted events stay on the bus)", err, s.accepted)
		}
	}
	w.spool.Remove()
	if err != nil {
		w.End()
		if ctx.Err() != nil {
			return nil, errors.Join(w.Canceled(ctx, "commit"), err)
		}
		return nil, err
	}
	w.End()
	s.res.Failures = append(w.failures, s.res.Failures...)
	if s.accepted > 0 {
		s.res.Objects = append([]string{w.source}, s.res.Objects...)
	}
	return s.res, nil
}

// Abort drops the buffered events. Events a failed Commit already sent
// stay on the bus: EventBridge cannot take them back.
func (w *writer) Abort(context.Context) error {
	if !w.End() {
		return nil
	}
	w.spool.Remove()
	return nil
}

// pending is one event waiting for PutEvents.
type pending struct {
	frame
	typ      string
	detail   []byte
	size     int    // EventBridge's size of the entry
	largeKey string // the S3 object holding the whole event, for a pointer event
}

// sender sends one writer's events in greedy batches.
type sender struct {
	w          *writer
	res        *connector.WriteResult
	batch      []*pending
	batchBytes int
	accepted   int64
	large      int
	bucket     *blob.Bucket
}

func (s *sender) run(ctx context.Context) error {
	w := s.w
	br, err := w.spool.Reader()
	if err != nil {
		return err
	}
	for {
		p := &pending{}
		if err := readFrame(br, &p.frame); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("eventbridge: read buffer file: %w", err)
		}
		if err := s.add(ctx, p); err != nil {
			return err
		}
	}
	return s.flush(ctx)
}

func (s *sender) entrySize(p *pending) int { return len(s.w.source) + len(p.typ) + len(p.detail) }

func (s *sender) add(ctx context.Context, p *pending) error {
	p.typ = p.Type
	if p.typ == "" {
		p.typ = s.w.defaultType
	}
	p.detail = p.Detail
	p.size = s.entrySize(p)
	limit := s.w.d.MaxEventBytes
	if p.size > limit {
		if err := s.offload(ctx, p); err != nil {
			return err
		}
		if p.largeKey == "" {
			return nil // rejected
		}
	}
	if len(s.batch) == maxEntries || s.batchBytes+p.size > limit {
		if err := s.flush(ctx); err != nil {
			return err
		}
	}
	s.batch = append(s.batch, p)
	s.batchBytes += p.size
	return nil
}

// offload writes an event over the limit to the error bucket and turns p
// into the pointer event; without a bucket p is rejected.
func (s *sender) offload(ctx context.Context, p *pending) error {
	w := s.w
	eh := w.req.ErrorHandling
	if eh == nil || eh.BucketName == "" {
		return s.reject(p, "", fmt.Sprintf("the event is %d bytes, over the %d-byte EventBridge limit, and errorHandlingConfig names no bucket for large events", p.size, w.d.MaxEventBytes))
	}
	if s.bucket == nil {
		b, err := awsconfig.OpenFolder(ctx, w.d.deps, eh.BucketName, rejects.JoinKey(eh.BucketPrefix, w.req.FlowName, w.req.ExecutionID, "large-events"))
		if err != nil {
			return fmt.Errorf("large events: %w", err)
		}
		s.bucket = b
	}
	s.large++
	key := rejects.JoinKey(eh.BucketPrefix, w.req.FlowName, w.req.ExecutionID, "large-events", strconv.Itoa(s.large)+".json")
	body := append([]byte(`{"source":`), record.AppendJSONString(nil, w.source)...)
	body = append(body, `,"detail-type":`...)
	body = record.AppendJSONString(body, p.typ)
	body = append(body, `,"detail":`...)
	body = append(body, p.detail...)
	body = append(body, '}')
	if err := s.bucket.WriteAll(ctx, key, body, awsconfig.SSEKMS(w.req.KMSKeyArn, &blob.WriterOptions{ContentType: "application/json"})); err != nil {
		return fmt.Errorf("eventbridge: write large event to s3://%s/%s: %w", eh.BucketName, key, err)
	}
	ptr, _ := json.Marshal(struct {
		LargeEvent bool   `json:"largeEvent"`
		Bucket     string `json:"bucket"`
		Key        string `json:"key"`
		SizeBytes  int    `json:"sizeBytes"`
	}{true, eh.BucketName, key, len(body)})
	p.detail, p.largeKey = ptr, key
	p.size = s.entrySize(p)
	s.res.BytesWritten += int64(len(body))
	return nil
}

// reject records p as a put failure; with failOnFirstDestinationError it
// ends the run.
func (s *sender) reject(p *pending, code, msg string) error {
	reason := "EventBridge rejected the event"
	if code != "" {
		reason += " - " + code
	}
	reason += " - " + msg
	s.res.Failures = append(s.res.Failures, connector.RecordFailure{Split: p.Split, Line: p.Line, Reason: reason, Record: detailText(p.Detail)})
	if eh := s.w.req.ErrorHandling; eh != nil && eh.FailOnFirstError {
		return fault.New(fault.Invalid, "eventbridge: record %d of %s was rejected (%s); %d events were already accepted and stay on the bus %s, as EventBridge events cannot be withdrawn",
			p.Line, p.Split, strings.TrimPrefix(reason, "EventBridge rejected the event - "), s.accepted, s.w.source)
	}
	return nil
}

// flush sends the batch.
func (s *sender) flush(ctx context.Context) error {
	if len(s.batch) == 0 {
		return nil
	}
	batch := s.batch
	s.batch, s.batchBytes = s.batch[:0:0], 0
	out, err := s.put(ctx, batch)
	if err != nil {
		s.dropLarge(batch)
		return fmt.Errorf("eventbridge: PutEvents to bus %s failed after %d of %d events were accepted; those stay on the bus, as EventBridge events cannot be withdrawn: %w",
			s.w.source, s.accepted, s.w.n, err)
	}
	// Count what the bus took first: a rejection's error says how much.
	for i, p := range batch {
		if out[i].code == "" {
			s.accepted++
			s.res.RecordsWritten++
			s.res.BytesWritten += int64(len(p.detail))
			if p.largeKey != "" {
				s.res.Objects = append(s.res.Objects, "s3://"+s.w.req.ErrorHandling.BucketName+"/"+p.largeKey)
			}
		}
	}
	var first error
	for i, p := range batch {
		if out[i].code == "" {
			continue
		}
		s.dropLarge(batch[i : i+1])
		if err := s.reject(p, out[i].code, out[i].msg); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// dropLarge deletes the S3 objects of pointer events that never reached
// the bus.
func (s *sender) dropLarge(batch []*pending) {
	for _, p := range batch {
		if p.largeKey != "" && s.bucket != nil {
			_ = s.bucket.Delete(context.Background(), p.largeKey)
			s.res.BytesWritten -= int64(s.largeSize(p))
		}
	}
}

func (s *sender) largeSize(p *pending) int {
	var ptr struct {
		SizeBytes int `json:"sizeBytes"`
	}
	_ = json.Unmarshal(p.detail, &ptr)
	return ptr.SizeBytes
}

type outcome struct{ code, msg string }

// put sends one batch, resending entries EventBridge failed transiently;
// it returns each entry's final outcome, or the request's error.
func (s *sender) put(ctx context.Context, batch []*pending) ([]outcome, error) {
	out := make([]outcome, len(batch))
	todo := make([]int, len(batch))
	for i := range todo {
		todo[i] = i
	}
	var reqErr error
	err := s.w.d.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		entries := make([]ebtypes.PutEventsRequestEntry, len(todo))
		for j, i := range todo {
			entries[j] = ebtypes.PutEventsRequestEntry{
				Source:       aws.String(s.w.source),
				DetailType:   aws.String(batch[i].typ),
				Detail:       aws.String(string(batch[i].detail)),
				EventBusName: aws.String(s.w.source),
			}
		}
		resp, err := s.w.d.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		reqErr = err
		if err != nil {
			if awsconfig.Transient(err, "ThrottlingException", "InternalException", "InternalFailure", "ServiceUnavailable") {
				return retry.Retryable(err, 0)
			}
			return err
		}
		if len(resp.Entries) != len(todo) {
			reqErr = fault.New(fault.ConnectorServer, "EventBridge PutEvents answered %d entries for %d sent", len(resp.Entries), len(todo))
			return reqErr
		}
		var again []int
		for j, e := range resp.Entries {
			i := todo[j]
			out[i] = outcome{code: aws.ToString(e.ErrorCode), msg: aws.ToString(e.ErrorMessage)}
			if out[i].code == "InternalFailure" || out[i].code == "ThrottlingException" {
				again = append(again, i)
			}
		}
		todo = again
		if len(again) > 0 {
			return retry.Retryable(fmt.Errorf("EventBridge failed %d entries transiently", len(again)), 0)
		}
		return nil
	})
	switch {
	case ctx.Err() != nil:
		return nil, connector.Canceled(ctx, "eventbridge", "PutEvents")
	case err != nil && reqErr != nil:
		return nil, err
	}
	// Attempts ran out on entry failures only: those keep their last code.
	return out, nil
}

// writeFailures writes the rejected records to the error bucket, when the
// flow names one.
func (w *writer) writeFailures(ctx context.Context, fs []connector.RecordFailure) error {
	_, _, err := rejects.Write(ctx, w.d.deps, w.req,
		"eventbridge-rejected-records.jsonl", fs)
	return err
}

// detailText renders an event's detail as a failure's field texts.
func detailText(detail []byte) map[string]string {
	var m map[string]json.RawMessage
	if json.Unmarshal(detail, &m) != nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, raw := range m {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out[k] = s
		} else if string(raw) != "null" {
			out[k] = string(raw)
		}
	}
	return out
}
