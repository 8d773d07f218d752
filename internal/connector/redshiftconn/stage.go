package redshiftconn

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

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
	d     *Driver
	tbl   *table
	ts    []target
	parts stage.Parts
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
	folder := rejects.JoinKey(prefix, req.FlowName, req.ExecutionID) + "/"
	b, err := awsconfig.OpenFolder(ctx, d.deps, name, folder)
	if err != nil {
		return nil, fmt.Errorf("redshift: intermediate bucket: %w", err)
	}
	s := &stageSink{d: d, tbl: tbl, parts: stage.Parts{Vendor: "redshift", Bucket: b, Name: name,
		Prefix: folder,
		Ext:    "jsonl.gz", Type: "application/x-ndjson", KMSKeyArn: req.KMSKeyArn, PartBytes: partBytes}}
	s.parts.Start(ctx)
	return s, nil
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
		return connector.Canceled(ctx, "redshift", "write")
	}
	_, err := s.parts.Write(rows)
	return err
}

// copySQL is the statement that loads the staged files.
func (s *stageSink) copySQL() string {
	cols := make([]string, len(s.ts))
	for i, t := range s.ts {
		cols[i] = pgx.Identifier{t.Col.Name}.Sanitize()
	}
	return fmt.Sprintf("COPY %s (%s) FROM %s IAM_ROLE %s FORMAT AS JSON 'auto ignorecase' GZIP TIMEFORMAT 'auto' DATEFORMAT 'auto'",
		s.tbl.ident(), strings.Join(cols, ", "), quoteLiteral("s3://"+s.parts.Name+"/"+s.parts.Prefix), quoteLiteral(s.d.props.RoleArn))
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (s *stageSink) load(ctx context.Context, publish func([]rowReject) error) (int64, error) {
	if err := s.parts.Close(); err != nil {
		return 0, err
	}
	if err := publish(nil); err != nil {
		return 0, err
	}
	if len(s.parts.Keys) == 0 {
		s.parts.Release()
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
		return 0, fault.Wrap(fault.CodeOf(err), err, "redshift: load %s from s3://%s/%s", s.tbl, s.parts.Name, s.parts.Prefix)
	}
	s.parts.Release()
	return n, nil
}

// abort drops the staged files.
func (s *stageSink) abort(context.Context) error { return s.parts.Abort() }

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
