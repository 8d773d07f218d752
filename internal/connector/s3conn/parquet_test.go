package s3conn

import "testing"

// The fast cell constructors check parquet.Value's layout at init and fall
// back to the public ones when it changed; this says when that happens (a
// parquet-go upgrade), so the mirror can be updated.
func TestParquetValueLayoutMatches(t *testing.T) {
	if !fastValues {
		t.Fatal("parquet.Value no longer matches pqLayout: Parquet writes use the slower public constructors")
	}
}
