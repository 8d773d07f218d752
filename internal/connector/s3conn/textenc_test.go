package s3conn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

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

// encodeJSONRef is encodeJSON written plainly: record.AppendJSON for every
// value.
func encodeJSONRef(p *plan, b *record.Batch) []byte {
	var dst []byte
	for r := range b.Len() {
		row := b.Row(r)
		dst = append(dst, '{')
		first := true
		for j, c := range p.cols {
			if c < 0 || row[c].K == record.Missing {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, p.keys[j]...)
			dst = record.AppendJSON(dst, row[c])
		}
		dst = append(dst, '}', '\n')
	}
	return dst
}

func jsonPlan(fields []string, cols []int) *plan {
	p := &plan{fields: fields, cols: cols}
	for _, f := range fields {
		p.keys = append(p.keys, append(record.AppendJSONString(nil, f), ':'))
	}
	return p
}

// checkEncodeJSON encodes b with every amount of spare room in the buffer
// (the inline copies depend on it) and compares with encodeJSONRef.
func checkEncodeJSON(t *testing.T, p *plan, b *record.Batch) {
	t.Helper()
	want := encodeJSONRef(p, b)
	for room := range 40 {
		dst := make([]byte, 1, 1+room)
		got := encodeJSON(dst, p, b, 0, b.Len(), nil, nil)
		if !bytes.Equal(got[1:], want) {
			t.Fatalf("room %d:\n got %s\nwant %s", room, got[1:], want)
		}
	}
}

func TestEncodeJSONMatchesAppendJSON(t *testing.T) {
	const text = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
	fields := []string{"s", "gone", "v", "k\"ey with a long name", "x"}
	p := jsonPlan(fields, []int{0, -1, 1, 2, 3})
	b := &record.Batch{Fields: []string{"s", "v", "k\"ey with a long name", "x"}}
	vals := []record.Value{
		record.Str("a\"b\\c\n\x01é"), record.Str("bad\xffutf8"), record.PlainStr(""), record.PlainStr("é"),
		record.IntVal(0), record.IntVal(-42), record.IntVal(math.MinInt64), record.IntVal(math.MaxInt64),
		record.FloatVal(1.5), record.FloatVal(math.NaN()), record.FloatVal(math.Inf(-1)), record.FloatVal(math.Copysign(0, -1)),
		record.FloatVal(1e21), record.FloatVal(123456789.123456), record.FloatVal(5e-324),
		record.DecimalVal("12.50"), record.DecimalVal("12,5"), record.BoolVal(true), record.BoolVal(false),
		record.MillisVal(1700000000123), record.JSONVal(`{"a":[1]}`), record.JSONVal(""), record.NullVal(), {},
	}
	for n := range 40 {
		vals = append(vals, record.PlainStr(text[:n]))
	}
	for i, v := range vals {
		for j := range 3 {
			// each value in each place, next to plain strings of every length
			row := []record.Value{record.PlainStr(text[:(i+j)%40]), {}, record.PlainStr(text[:(i*7+j)%40]), vals[(i+j)%len(vals)]}
			row[j%4] = v
			b.AppendRow(row)
		}
	}
	checkEncodeJSON(t, p, b)
}

func FuzzEncodeJSON(f *testing.F) {
	f.Add("plain text", "esc\"aped\n", int64(-7), 632.5, true)
	f.Add("", "\xff", int64(0), math.Inf(1), false)
	fields := []string{"customer_id", "full_name", "email_masked", "amount_x2"}
	p := jsonPlan(fields, []int{0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, s1, s2 string, i int64, x float64, plain bool) {
		str := record.Str
		if plain && utf8.ValidString(s1) && record.JSONStop(s1, 0) == len(s1) {
			str = record.PlainStr
		}
		b := &record.Batch{Fields: fields}
		b.AppendRow([]record.Value{record.IntVal(i), str(s1), record.Str(s2), record.FloatVal(x)})
		b.AppendRow([]record.Value{{}, record.FloatVal(x), str(s1), record.Str(s2)})
		checkEncodeJSON(t, p, b)
		var objs []map[string]any
		for _, line := range bytes.Split(bytes.TrimSuffix(encodeJSON(nil, p, b, 0, 2, nil, nil), []byte("\n")), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			objs = append(objs, m)
		}
		// encoding/json reads back the string as it writes it (invalid
		// UTF-8 as U+FFFD)
		want, _ := json.Marshal(s1)
		var ws string
		json.Unmarshal(want, &ws)
		if objs[0]["full_name"] != ws {
			t.Fatalf("full_name %q read back as %q, want %q", s1, objs[0]["full_name"], ws)
		}
	})
}
