package s3conn

import (
	"fmt"
	"slices"
	"testing"

	"github.com/appflowd/appflowd/internal/record"
)

// tasksJob is a job of n rows as the bench's tasks make them: a bigint,
// three strings, a double and a string, every cell direct.
func tasksJob(n int) *pqJob {
	b := &record.Batch{Fields: []string{"customer_id", "full_name", "email_masked", "amount_x2", "created_at", "country_code"}}
	for i := range n {
		b.AppendRow([]record.Value{record.IntVal(int64(i)), record.Str("Name"), record.Str("**ail@x.com"),
			record.FloatVal(float64(i)), record.Str("2023-05-17T08:12:45Z"), record.Str("US")})
	}
	return &pqJob{p: &plan{cols: []int{0, 1, 2, 3, 4, 5}}, b: b, n: n,
		kinds: []colKind{colInt64, colString, colString, colDouble, colString, colString}}
}

// A column is slow when any one of its cells needs a conversion, wherever
// that cell is (the first row, the last ones past a multiple of four, a
// row left out of the selection does not count), and a column missing from
// the batch never is.
func TestSlowColumnsFindsEveryCell(t *testing.T) {
	for _, n := range []int{1, 3, 4, 7, 9, 64} {
		for _, sel := range []bool{false, true} {
			for r := range n {
				for j := range 6 {
					name := fmt.Sprintf("%d rows, selected %v, row %d column %d", n, sel, r, j)
					q := tasksJob(n)
					q.b.Row(r)[j] = record.BoolVal(true) // direct for none of the kinds
					if sel {
						// Every row but the first, which the scan must skip.
						for i := 1; i < n; i++ {
							q.rows = append(q.rows, int32(i))
						}
						q.n = n - 1
					}
					want := []int{j}
					if sel && r == 0 {
						want = nil
					}
					if got := q.slowColumns(nil); !slices.Equal(got, want) {
						t.Errorf("%s: slow columns %v, want %v", name, got, want)
					}
				}
			}
		}
	}
	q := tasksJob(10)
	q.p.cols[2] = -1
	q.b.Row(9)[2] = record.BoolVal(true)
	if got := q.slowColumns(nil); len(got) != 0 {
		t.Errorf("a column missing from the batch is slow: %v", got)
	}
}

func BenchmarkSlowColumns(b *testing.B) {
	q := tasksJob(920)
	for b.Loop() {
		q.slowColumns(nil)
	}
}
