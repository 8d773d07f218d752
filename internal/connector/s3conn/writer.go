package s3conn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"gocloud.dev/blob"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/parquetfile"
	"github.com/appflowd/appflowd/internal/record"
)

// destProps is destinationConnectorProperties.S3.
type destProps struct {
	BucketName           string `json:"bucketName"`
	BucketPrefix         string `json:"bucketPrefix"`
	S3OutputFormatConfig *struct {
		FileType          string        `json:"fileType"`
		PrefixConfig      *prefixConfig `json:"prefixConfig"`
		AggregationConfig *struct {
			AggregationType string `json:"aggregationType"`
			TargetFileSize  int64  `json:"targetFileSize"`
		} `json:"aggregationConfig"`
		PreserveSourceDataTyping bool `json:"preserveSourceDataTyping"`
	} `json:"s3OutputFormatConfig"`
}

const mib = 1 << 20

// Aggregation (data-plane 4.3): None writes a file per source split (per
// partition folder), closed when the split's Final batch arrives.
// SingleFile writes one file per partition folder for the run; with
// targetFileSize (MB, read as MiB) a file is closed before the row that
// would take it past the target, so every file but a partition's last stays
// at or under it (unless one row alone is larger). Parquet sizes are known
// only after encoding: a Parquet file rolls over once its encoded size
// reaches the target, overshooting by at most one batch.
type writerConfig struct {
	format     string // CSV, JSON, PARQUET; JSON when absent
	preserve   bool
	singleFile bool
	target     int64 // bytes; 0: no rollover
	prefix     *prefixConfig
}

func decodeDestProps(raw json.RawMessage) (*destProps, *writerConfig, error) {
	var p destProps
	if len(raw) == 0 {
		return nil, nil, fault.New(fault.Invalid, "no properties")
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, nil, fault.Wrap(fault.Invalid, err, "decode properties")
	}
	if err := checkBucketName(p.BucketName); err != nil {
		return nil, nil, err
	}
	c := &writerConfig{format: "JSON"}
	if f := p.S3OutputFormatConfig; f != nil {
		if f.FileType != "" {
			c.format = f.FileType
		}
		c.preserve = f.PreserveSourceDataTyping
		c.prefix = f.PrefixConfig
		if a := f.AggregationConfig; a != nil {
			switch a.AggregationType {
			case "", "None":
			case "SingleFile":
				c.singleFile = true
			default:
				return nil, nil, fault.New(fault.Invalid, "aggregationType %q is not None or SingleFile", a.AggregationType)
			}
			if a.TargetFileSize < 0 {
				return nil, nil, fault.New(fault.Invalid, "targetFileSize %d is negative", a.TargetFileSize)
			}
			if c.singleFile {
				c.target = a.TargetFileSize * mib
			}
		}
	}
	switch c.format {
	case "CSV", "JSON", "PARQUET":
	default:
		return nil, nil, fault.New(fault.Invalid, "fileType %q is not CSV, JSON or PARQUET", c.format)
	}
	return &p, c, nil
}

func contentType(format string) string {
	switch format {
	case "CSV":
		return "text/csv"
	case "PARQUET":
		return "application/vnd.apache.parquet"
	}
	return "application/x-ndjson"
}

// OpenWriter starts one run's output.
func (d *Driver) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	p, cfg, err := decodeDestProps(req.Properties)
	if err != nil {
		return nil, err
	}
	runAt := req.StartedAt
	if runAt.IsZero() {
		runAt = d.now()
	}
	lay, err := newLayout(p.BucketPrefix, req.FlowName, req.ExecutionID, req.SchemaVersion, runAt, cfg.prefix)
	if err != nil {
		return nil, err
	}
	b, err := d.openBucket(ctx, p.BucketName)
	if err != nil {
		return nil, err
	}
	spre, _ := stagingPrefix(p.BucketPrefix) // checked by newLayout
	st := d.newStager(b, p.BucketName, spre, runTag(req.ExecutionID), d.outputKey(req))
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &writer{
		req:     req,
		logger:  d.deps.Logger,
		bname:   p.BucketName,
		fp:      d.fp,
		cfg:     cfg,
		lay:     lay,
		bucket:  b,
		stage:   st,
		slots:   map[string]*slot{},
		bySplit: map[string][]*slot{},
		jobs:    make(chan job, 4),
		pqFree:  make(chan *pqJob, 8),
		bgDone:  make(chan struct{}),
		ctx:     bg,
		cancel:  cancel,
		procs:   runtime.GOMAXPROCS(0),
	}
	w.text.free = make(chan *[]byte, freeBufs)
	if len(req.Fields) > 0 {
		w.fields = make([]string, len(req.Fields))
		for i, f := range req.Fields {
			w.fields[i] = f.Name
		}
		w.text.fix(w.fields)
		if cfg.format == "PARQUET" {
			if err := w.makeParquetSchema(nil); err != nil {
				b.Close()
				cancel()
				return nil, err
			}
		}
	}
	go w.run()
	return w, nil
}

type writerState uint8

const (
	stateOpen writerState = iota
	stateCommitted
	stateDone // aborted, or a failed commit cleaned up
)

type writer struct {
	req    *connector.WriteRequest
	bname  string // the bucket's name
	fp     failpoint
	logger *slog.Logger
	cfg    *writerConfig
	lay    *layout
	bucket *blob.Bucket
	stage  stager
	procs  int

	// Caller side, under mu.
	mu       sync.Mutex
	state    writerState
	fields   []string // output fields, once known (always for JSON with declared fields)
	pschema  *parquetSchema
	header   []byte
	plan     *plan
	slots    map[string]*slot
	bySplit  map[string][]*slot
	failures []connector.RecordFailure
	pqFree   chan *pqJob // Parquet jobs written, for reuse

	text textState // text encoding ahead of Write, and its buffers (textenc.go)

	// The background goroutine writes files in job order.
	jobs   chan job
	bgDone chan struct{}
	ctx    context.Context // the files' context; Abort cancels it
	cancel context.CancelFunc
	emu    sync.Mutex
	bgErr  error

	// Background side (the caller reads them only after bgDone).
	seq    int
	files  []*outFile
	openPq int
	pqCols []parquetfile.Column // the Parquet files' columns
}

// slot is where one group of rows goes: a split's (None) or the run's
// (SingleFile) file in one partition folder.
type slot struct {
	part string
	cur  *outFile // background side
}

type outFile struct {
	name   string
	key    string
	w      io.WriteCloser
	cw     *countWriter
	pw     *parquetfile.Writer
	rgRows int64 // rows in pw's current row group
	rows   int64
	bytes  int64
	closed bool
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type job struct {
	slot  *slot
	close bool
	data  *[]byte
	ends  []int32
	rows  int
	pq    *pqJob // finishPQ lets go of its batch once written
}

func (w *writer) failed() error {
	w.emu.Lock()
	defer w.emu.Unlock()
	return w.bgErr
}

func (w *writer) fail(err error) {
	w.emu.Lock()
	if w.bgErr == nil {
		w.bgErr = err
	}
	w.emu.Unlock()
}

// Write writes b and returns once its rows are written (a failure to
// write them is its error).
func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	written := make(chan struct{})
	err := w.WriteDeferred(ctx, b, func() { close(written) })
	<-written
	if err == nil {
		err = w.failed()
	}
	return err
}

// WriteDeferred is connector.DeferredWriter's: Parquet rows are written by
// the background goroutine after it returns, and done is called once
// every job of b is written or dropped (at the latest in Commit or Abort,
// which wait for the background goroutine). Text is encoded before it
// returns: done is called then. At most cap(jobs)+2 batches are held: the
// one being handed over blocks while the jobs channel is full.
func (w *writer) WriteDeferred(ctx context.Context, b *record.Batch, done func()) error {
	h := newBatchHold(done)
	defer h.drop()
	return w.write(ctx, b, func() error { return w.writeRows(ctx, b, h) })
}

// write is Write with rows writing b's rows (when it has any); the caller
// does not hold mu.
func (w *writer) write(ctx context.Context, b *record.Batch, rows func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stateOpen {
		return fault.New(fault.Internal, "write after commit or abort")
	}
	if err := ctx.Err(); err != nil {
		return fault.Wrap(fault.Canceled, err, "write")
	}
	if err := w.failed(); err != nil {
		return err
	}
	if n := b.Len(); n > 0 {
		if err := rows(); err != nil {
			return err
		}
	}
	if b.Final && !w.cfg.singleFile {
		for _, s := range w.bySplit[b.Split] {
			if err := w.send(ctx, job{slot: s, close: true}); err != nil {
				return err
			}
			delete(w.slots, b.Split+"\x00"+s.part)
		}
		delete(w.bySplit, b.Split)
	}
	return nil
}

func (w *writer) send(ctx context.Context, j job) error {
	select {
	case w.jobs <- j:
		return nil
	case <-ctx.Done():
		return fault.Wrap(fault.Canceled, ctx.Err(), "write")
	case <-w.ctx.Done():
		return fault.New(fault.Canceled, "write aborted")
	}
}

func (w *writer) slotFor(split, part string) *slot {
	if w.cfg.singleFile {
		split = ""
	}
	k := split + "\x00" + part
	s := w.slots[k]
	if s == nil {
		s = &slot{part: part}
		w.slots[k] = s
		if split != "" {
			w.bySplit[split] = append(w.bySplit[split], s)
		}
	}
	return s
}

// planFor maps b's columns onto the output fields.
func (w *writer) planFor(b *record.Batch) (*plan, error) {
	if w.plan != nil && slices.Equal(w.plan.batchFs, b.Fields) {
		return w.plan, nil
	}
	fields := w.fields
	if fields == nil {
		if w.cfg.format == "JSON" {
			fields = b.Fields // JSON without declared fields follows each batch
		} else {
			// CSV and Parquet fix their columns at the first batch.
			w.fields = slices.Clone(b.Fields)
			fields = w.fields
			w.text.fix(w.fields)
			if w.cfg.format == "PARQUET" {
				if err := w.makeParquetSchema(b); err != nil {
					return nil, err
				}
			}
		}
	}
	p, err := w.newPlan(fields, b, w.req.Fields == nil && w.fields != nil)
	if err != nil {
		return nil, err
	}
	if w.header == nil && w.cfg.format == "CSV" {
		w.header = csvHeader(fields)
	}
	w.plan = p
	return p, nil
}

// newPlan maps b's columns onto fields. With fixed, the columns were fixed
// by the first batch (no declared fields): a field it did not have is refused.
func (w *writer) newPlan(fields []string, b *record.Batch, fixed bool) (*plan, error) {
	if fixed {
		for _, f := range b.Fields {
			if !slices.Contains(fields, f) {
				return nil, fault.New(fault.Invalid,
					"field %q appeared after the %s columns were fixed by the first batch; declare the destination fields", f, w.cfg.format)
			}
		}
	}
	p := &plan{fields: fields, batchFs: slices.Clone(b.Fields), cols: make([]int, len(fields))}
	for i, f := range fields {
		p.cols[i] = b.Index(f)
	}
	if w.cfg.format == "JSON" {
		p.keys = make([][]byte, len(fields))
		for i, f := range fields {
			p.keys[i] = append(record.AppendJSONString(nil, f), ':')
		}
	}
	return p, nil
}

func (w *writer) makeParquetSchema(b *record.Batch) error {
	kinds := make([]colKind, len(w.fields))
	if w.cfg.preserve {
		for i := range w.fields {
			if len(w.req.Fields) > 0 {
				kinds[i] = colKindOf(w.req.Fields[i].Type)
				continue
			}
			kinds[i] = colString
			if c := b.Index(w.fields[i]); c >= 0 {
				for r := range b.Len() {
					if v := b.Row(r)[c]; !v.IsAbsent() {
						kinds[i] = kindColumn(v.K)
						break
					}
				}
			}
		}
	}
	ps, err := newParquetSchema(w.fields, kinds)
	if err != nil {
		return fault.Wrap(fault.Invalid, err, "parquet schema")
	}
	w.pschema = ps
	w.pqCols = ps.cols
	return nil
}

const (
	rowGroupRows     = 128 << 10
	rowGroupBudget   = 16 * mib // row-group bytes held across open Parquet files (encoded pages and buffered values); parquet.go
	parallelMinRows  = 1024
	maxStoredRecords = 1000 // failures beyond this keep their reason but not the record
)

// group is the rows of a batch bound for one partition folder.
type group struct {
	part string
	rows []int32 // nil: every row
}

func (w *writer) partition(b *record.Batch) []group {
	keys := w.req.PartitionKeys
	if len(keys) == 0 {
		return []group{{}}
	}
	cols := make([]int, len(keys))
	for i, k := range keys {
		cols[i] = b.Index(k)
	}
	idx := map[string]int{}
	var out []group
	var sb strings.Builder
	for r := range b.Len() {
		row := b.Row(r)
		sb.Reset()
		for i, k := range keys {
			v := ""
			if c := cols[i]; c >= 0 {
				v = row[c].Text()
			}
			partitionSegment(&sb, k, v)
		}
		part := sb.String()
		g, ok := idx[part]
		if !ok {
			g = len(out)
			idx[part] = g
			out = append(out, group{part: part, rows: []int32{}})
		}
		out[g].rows = append(out[g].rows, int32(r))
	}
	return out
}

func (w *writer) writeRows(ctx context.Context, b *record.Batch, h *batchHold) error {
	p, err := w.planFor(b)
	if err != nil {
		return err
	}
	for _, g := range w.partition(b) {
		s := w.slotFor(b.Split, g.part)
		n := b.Len()
		if g.rows != nil {
			n = len(g.rows)
		}
		if w.cfg.format == "PARQUET" {
			if err := w.writeParquetRows(ctx, s, p, b, g.rows, n, h); err != nil {
				return err
			}
			continue
		}
		for _, c := range w.encodeText(p, b, g.rows, n) {
			if err := w.send(ctx, job{slot: s, data: c.data, ends: c.ends, rows: c.rows}); err != nil {
				w.text.put(c.data)
				return err
			}
		}
	}
	return nil
}

type chunk struct {
	data *[]byte
	ends []int32
	rows int
}

// encodeText encodes n rows, in parallel parts for big batches; the parts
// are sent in order.
func (w *writer) encodeText(p *plan, b *record.Batch, rows []int32, n int) []chunk {
	parts := 1
	if w.procs > 1 && n >= 2*parallelMinRows {
		parts = min(w.procs, n/parallelMinRows)
	}
	out := make([]chunk, parts)
	do := func(i int) { out[i] = w.encodeChunk(p, b, rows, n*i/parts, n*(i+1)/parts) }
	var wg sync.WaitGroup
	for i := 1; i < parts; i++ {
		wg.Go(func() { do(i) })
	}
	do(0)
	wg.Wait()
	return out
}

// encodeChunk encodes rows lo to hi (of rows, or of b when rows is nil)
// into a buffer of w.text's.
func (w *writer) encodeChunk(p *plan, b *record.Batch, rows []int32, lo, hi int) chunk {
	enc := encodeJSON
	if w.cfg.format == "CSV" {
		enc = encodeCSV
	}
	buf := w.text.get()
	var ends *[]int32
	if w.cfg.target > 0 {
		e := make([]int32, 0, hi-lo)
		ends = &e
	}
	*buf = enc((*buf)[:0], p, b, lo, hi, rows, ends)
	w.text.sized(len(*buf))
	c := chunk{data: buf, rows: hi - lo}
	if ends != nil {
		c.ends = *ends
	}
	return c
}

func recordFailure(p *plan, b *record.Batch, r int, reason string) connector.RecordFailure {
	f := connector.RecordFailure{Split: b.Split, Line: b.FirstLine + int64(r), Reason: reason}
	f.Record = make(map[string]string, len(p.fields))
	row := b.Row(r)
	for j, c := range p.cols {
		if c >= 0 && !row[c].IsAbsent() {
			// A copy: the batch's text may be refilled once it is
			// written (connector.Capabilities.CopiesStrings).
			f.Record[p.fields[j]] = strings.Clone(row[c].Text())
		}
	}
	return f
}

// run is the background goroutine: it owns the files.
func (w *writer) run() {
	defer close(w.bgDone)
	for j := range w.jobs {
		if w.failed() != nil || w.ctx.Err() != nil {
			if j.data != nil {
				w.text.put(j.data)
			}
			if j.pq != nil {
				w.finishPQ(j.pq)
			}
			continue
		}
		var err error
		switch {
		case j.close:
			err = w.closeFile(j.slot)
		case j.pq != nil:
			err = w.writeParquet(j.slot, j.pq)
		default:
			err = w.writeText(j.slot, *j.data, j.ends, j.rows)
			w.text.put(j.data)
		}
		if err != nil {
			w.fail(err)
		}
		if j.pq != nil {
			w.finishPQ(j.pq) // after fail: a Write waiting for done reads the error once it wakes
		}
	}
}

func (w *writer) openFile(s *slot) (*outFile, error) {
	if s.cur != nil {
		return s.cur, nil
	}
	w.seq++
	f := &outFile{name: fmt.Sprintf("%06d", w.seq), key: w.lay.key(s.part, w.seq)}
	wc, err := w.stage.create(w.ctx, f.name, contentType(w.cfg.format))
	if err != nil {
		return nil, err
	}
	if w.cfg.format == "PARQUET" {
		wc = newWriteBehind(wc) // row groups come in bursts: behind.go
	}
	f.w = wc
	f.cw = &countWriter{w: wc}
	switch w.cfg.format {
	case "PARQUET":
		pw, err := w.newParquetWriter(f.cw)
		if err != nil {
			wc.Close()
			return nil, fault.Wrap(fault.Invalid, err, "parquet schema")
		}
		f.pw = pw
		w.openPq++
	case "CSV":
		if _, err := f.cw.Write(w.header); err != nil {
			wc.Close()
			return nil, fmt.Errorf("write %s: %w", f.key, err)
		}
	}
	s.cur = f
	w.files = append(w.files, f)
	return f, nil
}

func (w *writer) closeFile(s *slot) error {
	f := s.cur
	if f == nil {
		return nil
	}
	s.cur = nil
	return w.closeOut(f)
}

func (w *writer) closeOut(f *outFile) error {
	if f.closed {
		return nil
	}
	f.closed = true
	var err error
	if f.pw != nil {
		w.openPq--
		err = w.closeParquet(f)
	}
	if cerr := f.w.Close(); err == nil {
		err = cerr
	}
	f.bytes = f.cw.n
	if err != nil {
		return classify(err, "close %s", f.key)
	}
	return nil
}

func (w *writer) writeText(s *slot, data []byte, ends []int32, rows int) error {
	for len(data) > 0 {
		f, err := w.openFile(s)
		if err != nil {
			return err
		}
		if w.cfg.target > 0 && f.cw.n+int64(len(data)) > w.cfg.target {
			room := w.cfg.target - f.cw.n
			k := sort.Search(len(ends), func(i int) bool { return int64(ends[i]) > room })
			if k == 0 && f.rows == 0 {
				k = 1 // one row larger than the target gets a file of its own
			}
			if k > 0 {
				cut := ends[k-1]
				if _, err := f.cw.Write(data[:cut]); err != nil {
					return classify(err, "write %s", f.key)
				}
				f.rows += int64(k)
				data, ends, rows = data[cut:], ends[k:], rows-k
				for i := range ends {
					ends[i] -= cut
				}
			}
			if err := w.closeFile(s); err != nil {
				return err
			}
			continue
		}
		if _, err := f.cw.Write(data); err != nil {
			return classify(err, "write %s", f.key)
		}
		f.rows += int64(rows)
		return nil
	}
	return nil
}

// finish stops the background goroutine; the caller holds mu.
func (w *writer) finish() {
	close(w.jobs)
	<-w.bgDone
}

// Commit publishes the staged files through a publish intent (publish.go):
// before the intent is stored a failure leaves nothing; after it, the
// publish is finished even if ctx is canceled meanwhile, and a crash is
// rolled forward by RecoverPublish.
func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stateOpen {
		return nil, fault.New(fault.Internal, "commit after commit or abort")
	}
	w.finish()
	err := w.failed()
	if err == nil {
		err = ctx.Err()
	}
	for _, f := range w.files {
		if cerr := w.closeOut(f); err == nil {
			err = cerr
		}
	}
	if err != nil {
		w.cleanup(ctx)
		return nil, err
	}
	res := &connector.WriteResult{Failures: w.failures, Objects: make([]string, len(w.files))}
	files := make([]intentFile, len(w.files))
	names := make([]string, len(w.files))
	for i, f := range w.files {
		res.RecordsWritten += f.rows
		res.BytesWritten += f.bytes
		res.Objects[i] = f.key
		files[i] = intentFile{Name: f.name, Key: f.key}
		names[i] = f.name
	}
	err = w.fp.at("staged")
	if err == nil {
		if err = ctx.Err(); err != nil {
			err = fault.Wrap(fault.Canceled, err, "commit")
		}
	}
	var data []byte
	if err == nil {
		data, err = json.Marshal(newIntent(w.req.ExecutionID, w.bname, res, files))
	}
	if err == nil {
		err = w.stage.writeIntent(ctx, data, names)
	}
	if err != nil {
		return nil, w.failCommit(ctx, err, false)
	}
	// The intent is the decision: finish the publish whatever ctx says.
	pctx := context.WithoutCancel(ctx)
	for i, f := range w.files {
		if err := w.stage.publish(pctx, f.name, f.key); err != nil {
			if !errors.Is(err, errCrash) {
				w.rollback(pctx, i+1) // a failed copy may have landed
			}
			return nil, w.failCommit(ctx, err, true)
		}
	}
	err = w.stage.settle(pctx, res.Objects)
	if err == nil {
		err = w.fp.at("settled")
	}
	if err != nil {
		if !errors.Is(err, errCrash) {
			w.rollback(pctx, len(w.files))
		}
		return nil, w.failCommit(ctx, err, true)
	}
	w.state = stateCommitted
	w.cancel()
	w.bucket.Close()
	return res, nil
}

// failCommit ends a Commit that failed: it removes the intent (when one
// was written) and the staging. A simulated crash leaves all as it is.
func (w *writer) failCommit(ctx context.Context, err error, intentWritten bool) error {
	if errors.Is(err, errCrash) {
		w.state = stateDone
		w.cancel()
		w.bucket.Close()
		return err
	}
	if intentWritten {
		if rerr := w.stage.removeIntent(context.WithoutCancel(ctx)); rerr != nil {
			w.log().Warn("s3 destination: a failed publish could not remove its intent; recovery would finish it",
				"execution", w.req.ExecutionID, "err", rerr)
			w.state = stateDone
			w.cancel()
			w.bucket.Close()
			return err
		}
	}
	w.cleanup(ctx)
	return err
}

// rollback moves the first n published files back to staging, last first.
// The intent still stands meanwhile, so a crash here is rolled forward.
func (w *writer) rollback(ctx context.Context, n int) {
	for i := n - 1; i >= 0; i-- {
		f := w.files[i]
		if err := w.stage.unpublish(ctx, f.name, f.key); err != nil {
			w.log().Warn("s3 destination: a failed publish left an object in place", "execution", w.req.ExecutionID,
				"key", f.key, "err", err)
		}
	}
}

func (w *writer) log() *slog.Logger {
	if w.logger != nil {
		return w.logger
	}
	return slog.Default()
}

func (w *writer) cleanup(ctx context.Context) {
	w.state = stateDone
	w.cancel()
	_ = w.stage.discard(context.WithoutCancel(ctx))
	w.bucket.Close()
}

func (w *writer) Abort(ctx context.Context) error {
	w.cancel() // unblocks a Write waiting on the pipeline
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stateOpen {
		return nil
	}
	w.finish()
	for _, f := range w.files {
		_ = w.closeOut(f)
	}
	w.state = stateDone
	err := w.stage.discard(context.WithoutCancel(ctx))
	w.bucket.Close()
	if err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	return nil
}
