package customconn

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/lambda"
	"github.com/appflowd/appflowd/internal/record"
)

// Write batches: at most writeBatchRecords records and writeBatchBytes of
// records per WriteData call, under the 6 MB Lambda payload limit with room
// for the request's context.
const (
	writeBatchRecords = 1000
	writeBatchBytes   = lambda.MaxPayload - 512<<10
)

// OpenWriter starts a write to the destination entity.
func (d *driver) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	props, err := parseFlowProperties(req.Properties)
	if err != nil {
		return nil, err
	}
	op := req.WriteOperation
	if op == "" {
		op = "INSERT"
	}
	cc := d.context(props.CustomProperties, nil)
	cc.FlowName, cc.ExecutionID = req.FlowName, req.ExecutionID
	return &writer{d: d, req: req, entity: props.EntityName, op: op, cc: cc}, nil
}

// pendingRecord is a record waiting for Commit.
type pendingRecord struct {
	json  string
	split string
	line  int64
	cells map[string]string
}

// writer holds records until Commit: the connector's application has no
// staging area, so nothing may reach it before the run commits. Records
// are held in memory.
type writer struct {
	d       *driver
	req     *connector.WriteRequest
	entity  string
	op      string
	cc      ConnectorContext
	pending []pendingRecord
	done    bool // committed or aborted
	aborted bool
}

func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	if err := ctx.Err(); err != nil {
		return fault.Wrap(fault.Canceled, err, "write to %s", w.entity)
	}
	if w.done {
		return fault.New(fault.Internal, "write to %s after Commit or Abort", w.entity)
	}
	for i := range b.Len() {
		row := b.Row(i)
		obj := make(map[string]json.RawMessage, len(row))
		cells := make(map[string]string, len(row))
		for j, v := range row {
			if v.K == record.Missing {
				continue
			}
			obj[b.Fields[j]] = jsonValue(v)
			cells[b.Fields[j]] = v.Text()
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			return fault.Wrap(fault.Internal, err, "encode record %d of %s", b.FirstLine+int64(i), b.Split)
		}
		w.pending = append(w.pending, pendingRecord{json: string(raw), split: b.Split, line: b.FirstLine + int64(i), cells: cells})
	}
	return nil
}

// jsonValue encodes a cell as the JSON value a connector reads.
func jsonValue(v record.Value) json.RawMessage {
	switch v.K {
	case record.Null:
		return json.RawMessage("null")
	case record.Int:
		return json.RawMessage(strconv.FormatInt(v.Int(), 10))
	case record.Float:
		if f := v.Float(); f == f && f < 1e300 && f > -1e300 { // NaN and Inf are not JSON
			return json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64))
		}
	case record.Bool:
		return json.RawMessage(strconv.FormatBool(v.Bool()))
	case record.Decimal:
		if json.Valid([]byte(v.S)) {
			return json.RawMessage(v.S)
		}
	case record.JSON:
		if json.Valid([]byte(v.S)) {
			return json.RawMessage(v.S)
		}
	}
	s, _ := json.Marshal(v.Text())
	return s
}

// Commit sends the records in WriteData batches. Records the connector
// refuses become Failures; a call that fails as a whole fails the commit.
func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if w.aborted {
		return nil, fault.New(fault.Internal, "commit to %s after Abort", w.entity)
	}
	if err := ctx.Err(); err != nil {
		return nil, fault.Wrap(fault.Canceled, err, "commit to %s", w.entity)
	}
	w.done = true
	res := &connector.WriteResult{}
	for start := 0; start < len(w.pending); {
		end, size := start, 0
		for end < len(w.pending) && end-start < writeBatchRecords && (end == start || size+len(w.pending[end].json) <= writeBatchBytes) {
			size += len(w.pending[end].json)
			end++
		}
		if err := w.send(ctx, w.pending[start:end], res); err != nil {
			return nil, err
		}
		start = end
	}
	if res.RecordsWritten > 0 {
		res.Objects = []string{w.entity}
	}
	w.pending = nil
	return res, nil
}

func (w *writer) send(ctx context.Context, batch []pendingRecord, res *connector.WriteResult) error {
	recs := make([]string, len(batch))
	for i, r := range batch {
		recs[i] = r.json
	}
	var resp writeDataResponse
	err := w.d.c.call(ctx, w.d.c.dataTimeout(), "WriteData", writeDataRequest{
		Type: typeWriteData, EntityIdentifier: w.entity, ConnectorContext: w.cc,
		Operation: w.op, IDFieldNames: w.req.IDFields, Records: recs,
	}, &resp)
	if err != nil && len(resp.WriteRecordResults) == 0 {
		return fmt.Errorf("write %d records to %s: %w", len(batch), w.entity, err)
	}
	if err == nil && resp.IsSuccess == nil && len(resp.WriteRecordResults) == 0 { // a handler that returned null or {}
		return fault.New(fault.ConnectorServer, "write %d records to %s: the connector answered WriteData without isSuccess", len(batch), w.entity)
	}
	if err == nil && len(resp.WriteRecordResults) == 0 {
		// Success without per-record results: every record was written.
		for _, r := range batch {
			res.RecordsWritten++
			res.BytesWritten += int64(len(r.json))
		}
		return nil
	}
	if n := len(resp.WriteRecordResults); n != len(batch) {
		return fault.New(fault.ConnectorServer, "write to %s: the connector answered %d record results for %d records", w.entity, n, len(batch))
	}
	for i, r := range resp.WriteRecordResults {
		if r.IsSuccess {
			res.RecordsWritten++
			res.BytesWritten += int64(len(batch[i].json))
			continue
		}
		reason := r.ErrorMessage
		if reason == "" {
			reason = "the connector refused the record"
		}
		res.Failures = append(res.Failures, connector.RecordFailure{
			Split: batch[i].split, Line: batch[i].line, Reason: reason, Record: batch[i].cells,
		})
	}
	return nil
}

// Abort drops the records; after Commit it changes nothing.
func (w *writer) Abort(context.Context) error {
	if !w.done {
		w.aborted, w.done = true, true
	}
	w.pending = nil
	return nil
}
