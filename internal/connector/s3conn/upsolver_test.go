package s3conn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/events/eventstest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

func upsolverEnv(t testing.TB, e *env) *UpsolverDriver {
	t.Helper()
	u, err := NewUpsolver(context.Background(), e.deps)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// makeUpsolverBucket makes a bucket whose name passes the Upsolver rule.
func (e *env) makeUpsolverBucket(t testing.TB) string {
	t.Helper()
	name := randName(upsolverBucketPrefix + "-")
	if e.client == nil {
		if err := os.MkdirAll(filepath.Join(e.deps.DataDir, "s3", name), 0o777); err != nil {
			t.Fatal(err)
		}
		return name
	}
	if _, err := e.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return name
}

func writeVia(t *testing.T, d connector.DestinationDriver, req *connector.WriteRequest, bs ...*record.Batch) *connector.WriteResult {
	t.Helper()
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestUpsolverRegistered(t *testing.T) {
	s, ok := connector.Default().Lookup(UpsolverType)
	if !ok || s.Open == nil {
		t.Fatalf("Upsolver: registered %v, opener set %v", ok, ok && s.Open != nil)
	}
	if s.CanUseAsSource || !s.CanUseAsDestination {
		t.Errorf("Upsolver source %v destination %v, want destination only", s.CanUseAsSource, s.CanUseAsDestination)
	}
	d, err := s.Open(context.Background(), connector.Deps{DataDir: t.TempDir()}, connector.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(connector.SourceDriver); ok {
		t.Error("the Upsolver driver is a source")
	}
	if _, ok := d.(connector.DestinationDriver); !ok {
		t.Error("the Upsolver driver is not a destination")
	}
}

func TestUpsolverProperties(t *testing.T) {
	e := localEnv(t)
	u := upsolverEnv(t, e)
	good := e.makeUpsolverBucket(t)
	pc := map[string]any{"prefixType": "PATH", "prefixFormat": "DAY"}
	tests := []struct {
		name  string
		props map[string]any
		want  string // in the error; "" means OpenWriter succeeds
	}{
		{"ok", map[string]any{"bucketName": good, "s3OutputFormatConfig": map[string]any{"prefixConfig": pc}}, ""},
		{"no bucket", map[string]any{"s3OutputFormatConfig": map[string]any{"prefixConfig": pc}}, "bucketName is required"},
		{"plain S3 bucket", map[string]any{"bucketName": "my-data-lake-bucket", "s3OutputFormatConfig": map[string]any{"prefixConfig": pc}},
			`must start with "upsolver-appflow"`},
		{"prefix not at start", map[string]any{"bucketName": "my-upsolver-appflow-x", "s3OutputFormatConfig": map[string]any{"prefixConfig": pc}},
			`must start with "upsolver-appflow"`},
		{"case matters", map[string]any{"bucketName": "Upsolver-AppFlow-data", "s3OutputFormatConfig": map[string]any{"prefixConfig": pc}},
			`must start with "upsolver-appflow"`},
		{"too long", map[string]any{"bucketName": upsolverBucketPrefix + "-" + strings.Repeat("x", 47), "s3OutputFormatConfig": map[string]any{"prefixConfig": pc}},
			"16 to 63 characters"},
		{"whitespace", map[string]any{"bucketName": upsolverBucketPrefix + "-a b", "s3OutputFormatConfig": map[string]any{"prefixConfig": pc}},
			"whitespace"},
		{"no format config", map[string]any{"bucketName": good}, "s3OutputFormatConfig is required"},
		{"no prefixConfig", map[string]any{"bucketName": good, "s3OutputFormatConfig": map[string]any{"fileType": "CSV"}}, "prefixConfig is required"},
		{"preserveSourceDataTyping", map[string]any{"bucketName": good, "s3OutputFormatConfig": map[string]any{"prefixConfig": pc, "preserveSourceDataTyping": true}},
			"no preserveSourceDataTyping"},
		{"bad fileType reaches the S3 check", map[string]any{"bucketName": good, "s3OutputFormatConfig": map[string]any{"prefixConfig": pc, "fileType": "XML"}},
			`fileType "XML"`},
		{"missing bucket is NotFound", map[string]any{"bucketName": upsolverBucketPrefix + "-missing", "s3OutputFormatConfig": map[string]any{"prefixConfig": pc}},
			"does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := json.Marshal(tt.props)
			req := &connector.WriteRequest{FlowName: "flow", ExecutionID: "exec-1", Properties: raw}
			w, err := u.OpenWriter(context.Background(), req)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				_ = w.Abort(context.Background())
				return
			}
			if err == nil {
				_ = w.Abort(context.Background())
				t.Fatalf("OpenWriter succeeded, want an error with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			wantCode := fault.Invalid
			if tt.name == "missing bucket is NotFound" {
				wantCode = fault.NotFound
			}
			if c := fault.CodeOf(err); c != wantCode {
				t.Errorf("code %v, want %v", c, wantCode)
			}
		})
	}
}

// TestUpsolverLayoutMatchesS3 writes the same batches with the same options
// through S3 and Upsolver and expects the same keys and bytes.
func TestUpsolverLayoutMatchesS3(t *testing.T) {
	e := localEnv(t)
	u := upsolverEnv(t, e)
	cases := []struct {
		name   string
		format map[string]any // Upsolver's s3OutputFormatConfig; S3 gets the same
		parts  []string
	}{
		{"JSON default prefix", map[string]any{"fileType": "JSON", "prefixConfig": map[string]any{}}, nil},
		{"CSV PATH DAY + hierarchy", map[string]any{"fileType": "CSV",
			"prefixConfig": map[string]any{"prefixType": "PATH", "prefixFormat": "DAY", "pathPrefixHierarchy": []string{"SCHEMA_VERSION", "EXECUTION_ID"}}}, nil},
		{"PARQUET PATH_AND_FILENAME HOUR, SingleFile", map[string]any{"fileType": "PARQUET",
			"prefixConfig":      map[string]any{"prefixType": "PATH_AND_FILENAME", "prefixFormat": "HOUR"},
			"aggregationConfig": map[string]any{"aggregationType": "SingleFile"}}, nil},
		{"CSV SingleFile rollover, partitioned", map[string]any{"fileType": "CSV",
			"prefixConfig":      map[string]any{"prefixType": "FILENAME", "prefixFormat": "MINUTE"},
			"aggregationConfig": map[string]any{"aggregationType": "SingleFile", "targetFileSize": 1}}, []string{"country"}},
		{"no fileType is JSON, None aggregation", map[string]any{
			"prefixConfig":      map[string]any{"prefixType": "PATH", "prefixFormat": "MINUTE"},
			"aggregationConfig": map[string]any{"aggregationType": "None"}}, nil},
	}
	batches := func() []*record.Batch {
		return []*record.Batch{benchBatch("a", 0, 9000, false), benchBatch("b", 0, 500, true), benchBatch("a", 9000, 9000, true)}
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s3Bucket, upBucket := e.makeBucket(t), e.makeUpsolverBucket(t)
			prefix := fmt.Sprintf("/raw/c%d/", i)
			req := func(props map[string]any) *connector.WriteRequest {
				raw, _ := json.Marshal(props)
				return &connector.WriteRequest{FlowName: "flow", ExecutionID: "exec-1", SchemaVersion: 2,
					StartedAt: time.Date(2024, 3, 5, 14, 7, 0, 0, time.UTC), Properties: raw, PartitionKeys: c.parts}
			}
			sres := writeVia(t, e.drv, req(map[string]any{"bucketName": s3Bucket, "bucketPrefix": prefix, "s3OutputFormatConfig": c.format}), batches()...)
			ures := writeVia(t, u, req(map[string]any{"bucketName": upBucket, "bucketPrefix": prefix, "s3OutputFormatConfig": c.format}), batches()...)
			if len(sres.Objects) == 0 {
				t.Fatal("S3 wrote nothing")
			}
			if fmt.Sprint(sres.Objects) != fmt.Sprint(ures.Objects) {
				t.Fatalf("objects differ:\n S3       %v\n Upsolver %v", sres.Objects, ures.Objects)
			}
			if sres.RecordsWritten != ures.RecordsWritten || sres.BytesWritten != ures.BytesWritten {
				t.Errorf("S3 wrote %d records, %d bytes; Upsolver %d, %d",
					sres.RecordsWritten, sres.BytesWritten, ures.RecordsWritten, ures.BytesWritten)
			}
			sl, ul := e.list(t, s3Bucket, ""), e.list(t, upBucket, "")
			if len(sl) != len(ul) {
				t.Fatalf("S3 bucket holds %d objects, Upsolver's %d", len(sl), len(ul))
			}
			for k := range sl {
				if _, ok := ul[k]; !ok {
					t.Errorf("Upsolver bucket lacks %s", k)
					continue
				}
				if !bytes.Equal(e.get(t, s3Bucket, k), e.get(t, upBucket, k)) {
					t.Errorf("%s differs between S3 and Upsolver", k)
				}
			}
		})
	}
}

// upsolverHarness runs the destination conformance suite against Upsolver.
type upsolverHarness struct {
	e      *env
	u      *UpsolverDriver
	bucket string
	format string
	n      int
}

func (h *upsolverHarness) DestinationDriver(context.Context, *testing.T) connector.DestinationDriver {
	return h.u
}

func (h *upsolverHarness) NewRequest(_ context.Context, t *testing.T, fields []connector.FieldSpec) *connector.WriteRequest {
	if h.bucket == "" {
		h.bucket = h.e.makeUpsolverBucket(t)
	}
	h.n++
	raw, _ := json.Marshal(map[string]any{"bucketName": h.bucket, "bucketPrefix": fmt.Sprintf("out%d", h.n),
		"s3OutputFormatConfig": map[string]any{"fileType": h.format,
			"prefixConfig": map[string]any{"prefixType": "PATH", "prefixFormat": "DAY", "pathPrefixHierarchy": []string{"EXECUTION_ID"}}}})
	return &connector.WriteRequest{
		FlowName: "flow", ExecutionID: randName("exec-"), SchemaVersion: 1,
		StartedAt: time.Date(2024, 3, 5, 14, 7, 0, 0, time.UTC), Properties: raw, Fields: fields,
	}
}

func (h *upsolverHarness) Visible(_ context.Context, t *testing.T, req *connector.WriteRequest) map[string]int64 {
	bucket, prefix := outPrefix(req)
	return h.e.list(t, bucket, prefix)
}

func (h *upsolverHarness) ReadBack(_ context.Context, t *testing.T, req *connector.WriteRequest) []connectortest.Row {
	bucket, prefix := outPrefix(req)
	var rows []connectortest.Row
	for key := range h.e.list(t, bucket, prefix) {
		rows = append(rows, decodeOutput(t, h.format, key, h.e.get(t, bucket, key))...)
	}
	return rows
}

func runUpsolverConformance(t *testing.T, mk func(testing.TB) *env) {
	for _, f := range []string{"JSON", "CSV", "PARQUET"} {
		t.Run("Destination"+f, func(t *testing.T) {
			e := mk(t)
			h := &upsolverHarness{e: e, u: upsolverEnv(t, e), format: f}
			connectortest.RunDestination(t, h)
			if h.bucket != "" {
				e.checkStagingSettled(t, h.bucket)
			}
		})
	}
}

func TestUpsolverConformanceLocal(t *testing.T) { runUpsolverConformance(t, localEnv) }

func TestUpsolverConformanceS3API(t *testing.T) { runUpsolverConformance(t, motoEnv) }

// testKeyArn is a flow's kmsArn; moto keeps the SSE headers it is given
// without looking the key up.
const testKeyArn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"

// Through an S3 API, every object Upsolver's output stages and publishes
// carries SSE-KMS under the flow's kmsArn, as AppFlow's staged objects do;
// the same request to S3's own destination keeps the bucket's default, and
// without a kmsArn both do.
func TestUpsolverOutputUnderFlowKey(t *testing.T) {
	e := motoEnv(t)
	u := upsolverEnv(t, e)
	keyArn := testKeyArn
	format := map[string]any{"fileType": "PARQUET", "prefixConfig": map[string]any{},
		"aggregationConfig": map[string]any{"aggregationType": "None"}}
	for _, key := range []string{keyArn, ""} {
		for _, c := range []struct {
			name   string
			drv    connector.DestinationDriver
			bucket string
			want   string
		}{
			{"Upsolver", u, e.makeUpsolverBucket(t), key},
			{"S3", e.drv, e.makeBucket(t), ""},
		} {
			raw, _ := json.Marshal(map[string]any{"bucketName": c.bucket, "bucketPrefix": "raw", "s3OutputFormatConfig": format})
			req := &connector.WriteRequest{FlowName: "flow", ExecutionID: randName("exec-"), SchemaVersion: 1,
				StartedAt: time.Date(2024, 3, 5, 14, 7, 0, 0, time.UTC), Properties: raw, KMSKeyArn: key}
			res := writeVia(t, c.drv, req, benchBatch("a", 0, 500, true), benchBatch("b", 0, 500, true))
			heads := eventstest.Heads(t, e.client, c.bucket, "")
			if len(res.Objects) != 2 || len(heads) < 2 {
				t.Fatalf("%s (key %q): %d objects written, %d in the bucket; want 2", c.name, key, len(res.Objects), len(heads))
			}
			if bad := eventstest.NotUnderKey(heads, c.want); len(bad) > 0 {
				t.Errorf("%s (key %q): objects not encrypted as wanted (%q): %v", c.name, key, c.want, bad)
			}
		}
	}
}
