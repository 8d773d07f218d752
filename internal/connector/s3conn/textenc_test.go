package s3conn

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

// writeAllAhead writes bs as the engine does with a BatchEncoder: each
// batch is encoded three batches ahead of its write (the first three in
// reverse order), then written with WriteEncoded, or Write when it could
// not be encoded ahead. It returns how many went encoded.
func writeAllAhead(t *testing.T, d *Driver, req *connector.WriteRequest, bs ...*record.Batch) (*connector.WriteResult, int) {
	t.Helper()
	ctx := context.Background()
	w, err := d.OpenWriter(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	be := w.(connector.BatchEncoder)
	encs := make([]connector.Encoded, len(bs))
	encode := func(i int) {
		if i < len(bs) {
			if encs[i], err = be.EncodeBatch(bs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 2; i >= 0; i-- {
		encode(i)
	}
	n := 0
	for i, b := range bs {
		if encs[i] != nil {
			n++
			err = be.WriteEncoded(ctx, b, encs[i])
		} else {
			err = w.Write(ctx, b)
		}
		if err != nil {
			t.Fatal(err)
		}
		encode(i + 3)
	}
	res, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res, n
}

// Batches encoded ahead and written with WriteEncoded give Write's output
// byte for byte: the same files, partition folders, rollover points and
// CSV header, whatever order they were encoded in.
func TestEncodedWritesMatchWrite(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	const rows, per = 48000, 4000
	var bs []*record.Batch
	for i := 0; i < rows; i += per {
		bs = append(bs, benchBatch(fmt.Sprint("s", i/per%3), i, per, i+3*per >= rows))
	}
	declared := []connector.FieldSpec{{Name: "id"}, {Name: "absent"}, {Name: "email"}, {Name: "country"}, {Name: "amount"}}
	single := map[string]any{"aggregationType": "SingleFile", "targetFileSize": 1}
	none := map[string]any{"aggregationType": "None"}
	for _, c := range []struct {
		name   string
		format string
		agg    map[string]any
		fields []connector.FieldSpec
		parts  []string
	}{
		{"json-partitioned-rollover", "JSON", single, nil, []string{"country"}},
		{"json-declared-per-split", "JSON", none, declared, nil},
		{"csv-partitioned-per-split", "CSV", none, nil, []string{"country"}},
		{"csv-declared-rollover", "CSV", single, declared, nil},
		{"csv-partitioned-rollover", "CSV", single, nil, []string{"country", "absent"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := func(prefix string) *connector.WriteRequest {
				r := writeRequest(bucket, prefix, map[string]any{"fileType": c.format, "aggregationConfig": c.agg}, c.fields)
				r.PartitionKeys = c.parts
				return r
			}
			want := writeAll(t, e.drv, req("seq-"+c.name), bs...)
			got, encoded := writeAllAhead(t, e.drv, req("ahead-"+c.name), bs...)
			if encoded < len(bs)-3 {
				t.Errorf("%d of %d batches written encoded, want all but the first few", encoded, len(bs))
			}
			if got.RecordsWritten != want.RecordsWritten || got.BytesWritten != want.BytesWritten || len(got.Objects) != len(want.Objects) {
				t.Fatalf("%d records, %d bytes, %d files; Write gave %d, %d, %d",
					got.RecordsWritten, got.BytesWritten, len(got.Objects), want.RecordsWritten, want.BytesWritten, len(want.Objects))
			}
			if len(want.Objects) < 2 {
				t.Fatalf("only %d files: the case does not test several", len(want.Objects))
			}
			for i := range want.Objects {
				wk, gk := want.Objects[i], got.Objects[i]
				if strings.TrimPrefix(wk, "seq-") != strings.TrimPrefix(gk, "ahead-") {
					t.Fatalf("file %d is %s, Write wrote %s", i, gk, wk)
				}
				if g, w := e.get(t, bucket, gk), e.get(t, bucket, wk); !bytes.Equal(g, w) {
					t.Errorf("%s: %d bytes differ from Write's %d", gk, len(g), len(w))
				}
			}
		})
	}
}

// Without declared fields, CSV columns are fixed by the first batch
// written: nothing is encoded ahead before, and afterwards a batch with a
// new field fails to encode as its Write would.
func TestEncodeAheadWaitsForCSVColumns(t *testing.T) {
	e := localEnv(t)
	bucket := e.makeBucket(t)
	ctx := context.Background()
	w, err := e.drv.OpenWriter(ctx, writeRequest(bucket, "c", map[string]any{"fileType": "CSV"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(ctx)
	be := w.(connector.BatchEncoder)
	b := benchBatch("s", 0, 10, false)
	if enc, err := be.EncodeBatch(b); enc != nil || err != nil {
		t.Fatalf("EncodeBatch before the columns are fixed = %v, %v; want nil, nil", enc, err)
	}
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	enc, err := be.EncodeBatch(benchBatch("s", 10, 10, false))
	if enc == nil || err != nil {
		t.Fatalf("EncodeBatch once the columns are fixed = %v, %v; want an encoding", enc, err)
	}
	enc.Release()
	b2 := &record.Batch{Fields: []string{"id", "new"}, Split: "s", Cells: []record.Value{record.Str("1"), record.Str("2")}}
	if _, err := be.EncodeBatch(b2); err == nil || !strings.Contains(err.Error(), `"new"`) {
		t.Errorf("a new field after the header: %v, want an error naming it", err)
	}

	pw, err := e.drv.OpenWriter(ctx, writeRequest(bucket, "p", map[string]any{"fileType": "PARQUET"}, []connector.FieldSpec{{Name: "id"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Abort(ctx)
	if enc, err := pw.(connector.BatchEncoder).EncodeBatch(b); enc != nil || err != nil {
		t.Errorf("Parquet EncodeBatch = %v, %v; want nil, nil (Write encodes)", enc, err)
	}
}
