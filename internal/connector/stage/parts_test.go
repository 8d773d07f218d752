package stage

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"testing"

	"gocloud.dev/blob/fileblob"
)

// TestParts: rows go to gzipped parts that begin with the header and
// close once full; Abort deletes them.
func TestParts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true})
	if err != nil {
		t.Fatal(err)
	}
	p := Parts{Vendor: "acme", Bucket: b, Name: "stage", Prefix: "flow/run/", Ext: "csv.gz", Type: "text/csv",
		Header: []byte("h\n"), PartBytes: 4}
	p.Start(ctx)
	var starts []bool
	for _, row := range []string{"a\n", "bb\n", "c\n"} {
		started, err := p.Write([]byte(row))
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, started)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true}; string(fmtBools(starts)) != string(fmtBools(want)) {
		t.Errorf("started %v, want %v", starts, want)
	}
	if len(p.Keys) != 2 || p.Keys[0] != "flow/run/part-00000.csv.gz" || p.Keys[1] != "flow/run/part-00001.csv.gz" {
		t.Fatalf("keys %v", p.Keys)
	}
	var total int64
	for i, want := range []string{"h\na\nbb\n", "h\nc\n"} {
		raw, err := b.ReadAll(ctx, p.Keys[i])
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(raw))
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(zr)
		if string(got) != want {
			t.Errorf("part %d = %q, want %q", i, got, want)
		}
	}
	if p.Bytes != total {
		t.Errorf("Bytes %d, want the parts' %d", p.Bytes, total)
	}
	if _, err := p.Write([]byte("d\n")); err != nil { // an open part, discarded by Abort
		t.Fatal(err)
	}
	keys := p.Keys
	if err := p.Abort(); err != nil {
		t.Fatal(err)
	}
	b, err = fileblob.OpenBucket(dir, nil) // Abort closed the first
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, k := range keys {
		if ok, err := b.Exists(ctx, k); ok || err != nil {
			t.Errorf("%s is still staged after Abort (%v)", k, err)
		}
	}
}

func fmtBools(bs []bool) []byte {
	var out []byte
	for _, b := range bs {
		if b {
			out = append(out, 't')
		} else {
			out = append(out, 'f')
		}
	}
	return out
}
