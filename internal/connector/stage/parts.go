package stage

import (
	"compress/gzip"
	"context"
	"fmt"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
)

// Parts writes a run's rows to gzipped part files under a prefix of the
// intermediate bucket, each closed once it holds PartBytes of rows so that
// the warehouse loads them in parallel. Files carry SSE-KMS under the
// flow's key through an S3 API.
type Parts struct {
	Vendor    string // names the driver in errors
	Bucket    *blob.Bucket
	Name      string // the bucket's name
	Prefix    string // ends in "/"
	Ext       string // of each part: "csv.gz", "jsonl.gz"
	Type      string // its Content-Type
	KMSKeyArn string
	Header    []byte // starts every part (a CSV header), or nil
	PartBytes int64

	Keys  []string // the parts begun, in order
	Bytes int64    // compressed bytes of the closed parts

	ctx     context.Context // outlives the request that opened the writer
	cancel  context.CancelFunc
	bw      *blob.Writer
	gz      *gzip.Writer
	written int64 // uncompressed bytes of the open part
	n       countWriter
}

type countWriter struct {
	w *blob.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Start readies p for writes that go on after ctx's request ends (until
// Release); call it once the fields are set.
func (p *Parts) Start(ctx context.Context) {
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
}

// Write adds rows (whole lines) to the open part, opening one first when
// none is (started says so: rows are the new last key's first), and closes
// it once it is full.
func (p *Parts) Write(rows []byte) (started bool, err error) {
	if p.bw == nil {
		key := fmt.Sprintf("%spart-%05d.%s", p.Prefix, len(p.Keys), p.Ext)
		bw, err := p.Bucket.NewWriter(p.ctx, key, awsconfig.SSEKMS(p.KMSKeyArn, &blob.WriterOptions{ContentType: p.Type, ContentEncoding: "gzip"}))
		if err != nil {
			return false, p.stageErr(key, err)
		}
		p.n = countWriter{w: bw}
		p.bw, p.gz, p.written, started = bw, gzip.NewWriter(&p.n), 0, true
		p.Keys = append(p.Keys, key)
		if _, err := p.gz.Write(p.Header); err != nil {
			return started, p.stageErr(key, err)
		}
	}
	if _, err := p.gz.Write(rows); err != nil {
		return started, p.stageErr(p.Keys[len(p.Keys)-1], err)
	}
	p.written += int64(len(rows))
	if p.written >= p.PartBytes {
		return started, p.Close()
	}
	return started, nil
}

// Close closes the open part, if any.
func (p *Parts) Close() error {
	if p.bw == nil {
		return nil
	}
	err := p.gz.Close()
	if cerr := p.bw.Close(); err == nil {
		err = cerr
	}
	p.Bytes += p.n.n
	p.bw, p.gz = nil, nil
	if err != nil {
		return p.stageErr(p.Keys[len(p.Keys)-1], err)
	}
	return nil
}

// Abort discards the open part and deletes those written, then releases
// p; a part already gone is no error.
func (p *Parts) Abort() error {
	if p.bw != nil {
		p.cancel() // a canceled blob.Writer discards its object
		_ = p.bw.Close()
		p.bw, p.gz = nil, nil
	}
	var firstErr error
	for _, k := range p.Keys {
		if err := p.Bucket.Delete(context.Background(), k); err != nil && firstErr == nil && gcerrors.Code(err) != gcerrors.NotFound {
			firstErr = fault.Wrap(fault.ConnectorServer, err, "%s: delete staged s3://%s/%s", p.Vendor, p.Name, k)
		}
	}
	p.Keys = nil
	p.Release()
	return firstErr
}

// Release ends p's writes and closes the bucket; the parts stay.
func (p *Parts) Release() {
	p.cancel()
	_ = p.Bucket.Close()
}

func (p *Parts) stageErr(key string, err error) error {
	return fault.Wrap(fault.ConnectorServer, err, "%s: stage s3://%s/%s", p.Vendor, p.Name, key)
}
