package redshiftconn

import (
	"compress/gzip"
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/connector/rejects"
	"github.com/appflowd/appflowd/internal/connector/stage"
	"github.com/appflowd/appflowd/internal/fault"
)

// partBytes is the uncompressed size at which a staged file is closed and
// the next begun, so Redshift can load files in parallel.
const partBytes = 128 << 20

// stageSink writes gzipped JSON Lines under
// s3://<intermediate bucket>/<bucketPrefix>/<flow>/<execution>/ and loads
// them with one COPY at Commit: one statement, so all rows or none.
type stageSink struct {
	d      *Driver
	tbl    *table
	bucket *blob.Bucket
	name   string // bucket name
	prefix string // key prefix of this run's files, ending in "/"
	// kmsKeyArn is the flow's key: staged files carry SSE-KMS under it.
	kmsKeyArn string
	ts        []target

	wctx    context.Context
	cancel  context.CancelFunc
	bw      *blob.Writer
	gz      *gzip.Writer
	written int64 // uncompressed bytes of the current part
	keys    []string
}

func (d *Driver) newStageSink(ctx context.Context, req *connector.WriteRequest, dp stage.Dest, tbl *table) (*stageSink, error) {
	name := dp.IntermediateBucketName
	if name == "" {
		name = d.props.BucketName
	}
	if name == "" {
		return nil, fault.New(fault.Invalid, "redshift: no intermediate bucket (intermediateBucketName or the profile's bucketName)")
	}
	if d.props.RoleArn == "" {
		return nil, fault.New(fault.Invalid, "redshift: the profile has no roleArn for COPY to read the intermediate bucket")
	}
	prefix := dp.BucketPrefix
	if prefix == "" {
		prefix = d.props.BucketPrefix
	}
	b, err := d.openBucket(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("redshift: intermediate bucket: %w", err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &stageSink{
		d: d, tbl: tbl, bucket: b, name: name,
		prefix:    rejects.JoinKey(prefix, req.FlowName, req.ExecutionID) + "/",
		kmsKeyArn: req.KMSKeyArn,
		wctx:      wctx, cancel: cancel,
	}, nil
}

func (s *stageSink) encode(buf []byte, ts []target, cells []string, nulls []bool) []byte {
	return appendJSONLine(buf, ts, cells, nulls)
}

func (s *stageSink) begin(_ context.Context, ts []target) error {
	s.ts = ts
	return nil
}

func (s *stageSink) write(ctx context.Context, rows []byte) error {
	if ctx.Err() != nil {
		return canceled(ctx, "write")
	}
	if s.bw == nil {
		key := fmt.Sprintf("%spart-%05d.jsonl.gz", s.prefix, len(s.keys))
		bw, err := s.bucket.NewWriter(s.wctx, key, awsconfig.SSEKMS(s.kmsKeyArn, &blob.WriterOptions{ContentType: "application/x-ndjson", ContentEncoding: "gzip"}))
		if err != nil {
			return fmt.Errorf("redshift: stage s3://%s/%s: %w", s.name, key, err)
		}
		s.bw, s.gz, s.written = bw, gzip.NewWriter(bw), 0
		s.keys = append(s.keys, key)
	}
	if _, err := s.gz.Write(rows); err != nil {
		return fmt.Errorf("redshift: stage s3://%s/%s: %w", s.name, s.keys[len(s.keys)-1], err)
	}
	s.written += int64(len(rows))
	if s.written >= partBytes {
		return s.closePart()
	}
	return nil
}

func (s *stageSink) closePart() error {
	if s.bw == nil {
		return nil
	}
	err := s.gz.Close()
	if cerr := s.bw.Close(); err == nil {
		err = cerr
	}
	s.bw, s.gz = nil, nil
	if err != nil {
		return fmt.Errorf("redshift: stage s3://%s/%s: %w", s.name, s.keys[len(s.keys)-1], err)
	}
	return nil
}

// copySQL is the statement that loads the staged files.
func (s *stageSink) copySQL() string {
	cols := make([]string, len(s.ts))
	for i, t := range s.ts {
		cols[i] = pgx.Identifier{t.Col.Name}.Sanitize()
	}
	return fmt.Sprintf("COPY %s (%s) FROM %s IAM_ROLE %s FORMAT AS JSON 'auto ignorecase' GZIP TIMEFORMAT 'auto' DATEFORMAT 'auto'",
		s.tbl.ident(), strings.Join(cols, ", "), quoteLiteral("s3://"+s.name+"/"+s.prefix), quoteLiteral(s.d.props.RoleArn))
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (s *stageSink) load(ctx context.Context, publish func([]rowReject) error) (int64, error) {
	if err := s.closePart(); err != nil {
		return 0, err
	}
	if err := publish(nil); err != nil {
		return 0, err
	}
	if len(s.keys) == 0 {
		s.release()
		return 0, nil
	}
	sql := s.copySQL()
	var n int64
	var err error
	if s.d.data != nil {
		n, err = s.d.runStatementRows(ctx, sql, "appflowd-load")
	} else {
		n, err = s.d.loadSQL(ctx, sql)
	}
	if err != nil {
		return 0, fault.Wrap(fault.CodeOf(err), err, "redshift: load %s from s3://%s/%s", s.tbl, s.name, s.prefix)
	}
	s.release()
	return n, nil
}

func (s *stageSink) release() {
	s.cancel()
	s.bucket.Close()
}

// abort drops the staged files.
func (s *stageSink) abort(context.Context) error {
	if s.bw != nil {
		s.cancel() // a canceled blob.Writer discards its object
		_ = s.bw.Close()
		s.bw, s.gz = nil, nil
	}
	var firstErr error
	for _, k := range s.keys {
		if err := s.bucket.Delete(context.Background(), k); err != nil && firstErr == nil && !isNotFound(err) {
			firstErr = fmt.Errorf("redshift: delete staged s3://%s/%s: %w", s.name, k, err)
		}
	}
	s.keys = nil
	s.release()
	return firstErr
}

// execer runs one statement on a SQL session; tests record it.
type execer interface {
	Exec(ctx context.Context, sql string) (rowsAffected int64, err error)
	Close() error
}

type pgExecer struct{ conn *pgx.Conn }

func (e pgExecer) Exec(ctx context.Context, sql string) (int64, error) {
	// The simple protocol: Redshift's extended-protocol support is partial.
	res, err := e.conn.PgConn().Exec(ctx, sql).ReadAll()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range res {
		n += r.CommandTag.RowsAffected()
	}
	return n, nil
}

func (e pgExecer) Close() error { return e.conn.Close(context.Background()) }

func (d *Driver) sqlExecer(ctx context.Context) (execer, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	return pgExecer{conn}, nil
}

// loadSQL runs the COPY in an explicit transaction on the SQL connection.
func (d *Driver) loadSQL(ctx context.Context, copySQL string) (int64, error) {
	ex, err := d.exec(ctx)
	if err != nil {
		return 0, err
	}
	defer ex.Close()
	if _, err := ex.Exec(ctx, "BEGIN"); err != nil {
		return 0, fmt.Errorf("redshift: BEGIN: %w", err)
	}
	n, err := ex.Exec(ctx, copySQL)
	if err != nil {
		_, _ = ex.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return 0, copyError(err, "the table")
	}
	if _, err := ex.Exec(ctx, "COMMIT"); err != nil {
		return 0, fmt.Errorf("redshift: COMMIT: %w", err)
	}
	return n, nil
}

func isNotFound(err error) bool { return gcerrors.Code(err) == gcerrors.NotFound }
