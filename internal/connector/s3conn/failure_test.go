package s3conn

import (
	"testing"
	"unsafe"

	"github.com/appflowd/appflowd/internal/record"
)

// A failure record keeps its own copy of the row's text: the source may
// refill the memory the cells point into once the batch is written
// (CopiesStrings in the S3 destination's capabilities).
func TestRecordFailureCopiesText(t *testing.T) {
	buf := []byte("7xjane@example.com")
	b := &record.Batch{Fields: []string{"id", "email"}, Cells: []record.Value{
		record.Str(unsafe.String(&buf[0], 2)), record.Str(unsafe.String(&buf[2], 16)),
	}}
	p := &plan{fields: []string{"customer_id", "email"}, cols: []int{0, 1}}
	f := recordFailure(p, b, 0, "not an integer")
	for i := range buf {
		buf[i] = '#'
	}
	if f.Record["customer_id"] != "7x" || f.Record["email"] != "jane@example.com" {
		t.Fatalf("failure record %v changed with the batch's memory", f.Record)
	}
}
