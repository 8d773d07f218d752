package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

type row struct {
	ID    int64   `parquet:"id,optional"`
	Name  *string `parquet:"name,optional"`
	Score float64 `parquet:"score,optional"`
}

type otherRow struct {
	ID   int64   `parquet:"id,optional"`
	Name *string `parquet:"name,optional"`
}

func write[T any](t *testing.T, name string, rows []T, opts ...parquet.WriterOption) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func rows(n int) []row {
	out := make([]row, n)
	for i := range out {
		out[i] = row{ID: int64(i), Score: float64(i) / 4}
		if i%7 != 0 {
			s := strings.Repeat("x", i%13) + "name"
			out[i].Name = &s
		}
	}
	return out
}

// The same rows written with other row groups, pages and compression are
// the same; a changed value, a null for a value, a missing row or another
// schema are not.
func TestDiff(t *testing.T) {
	const n = 5000 // several of diff's batches
	base := write(t, "base", rows(n))
	relaid := write(t, "relaid", rows(n), parquet.MaxRowsPerRowGroup(700), parquet.PageBufferSize(1024), parquet.Compression(&parquet.Zstd))
	changed := rows(n)
	s := "other"
	changed[4321].Name = &s
	nulled := rows(n)
	nulled[2048].Name = nil
	short := rows(n)[:n-1]
	other := make([]otherRow, n)
	for i, r := range rows(n) {
		other[i] = otherRow{ID: r.ID, Name: r.Name}
	}
	for _, tc := range []struct {
		name, b string
		same    bool
		says    string
	}{
		{"itself", base, true, "5000 rows"},
		{"relaid", relaid, true, "5000 rows"},
		{"changed", write(t, "changed", changed), false, "row 4321 differs"},
		{"nulled", write(t, "nulled", nulled), false, "row 2048 differs"},
		{"short", write(t, "short", short), false, "row counts differ"},
		{"schema", write(t, "schema", other), false, "schemas differ"},
	} {
		same, msg, err := diff(base, tc.b)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if same != tc.same || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: got same=%v %q, want same=%v and %q", tc.name, same, msg, tc.same, tc.says)
		}
	}
}
