package engine

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/transform"
)

// unevenSource emits one split of batches of uneven sizes, some rows of
// which a Map to integer rejects, swapping cell arrays with the engine; it
// records any array handed back to it that still holds a cell.
type unevenSource struct {
	sizes []int
	dirty []string
}

func (s *unevenSource) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	return []connector.Split{{Name: "in/uneven.csv"}}, nil
}

func (s *unevenSource) ReadSplit(ctx context.Context, req *connector.ReadRequest, sp connector.Split, emit func(*record.Batch) error) error {
	b := &record.Batch{}
	id := 0
	for k, n := range s.sizes {
		if cells := b.Cells[:cap(b.Cells)]; slices.ContainsFunc(cells, func(v record.Value) bool { return v != record.Value{} }) {
			s.dirty = append(s.dirty, fmt.Sprintf("before batch %d", k))
		}
		*b = record.Batch{Fields: []string{"id", "amount"}, Split: sp.Name, FirstLine: int64(id + 2), Cells: b.Cells[:0], Swap: true,
			Final: k == len(s.sizes)-1}
		for range n {
			id++
			key := fmt.Sprint(id)
			if id%7 == 0 {
				key += "x" // not an integer: a record error
			}
			b.Cells = append(b.Cells, record.Str(key), record.Str(fmt.Sprint(id%10)))
		}
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

// The engine hands a swapping source back cleared arrays, and a recycling
// writer's batches hold no cell past their length (a stale cell would keep
// an old read buffer alive), whether the batch had record errors or not and
// whatever the sizes of the batches before it.
func TestRecycledArraysHoldNoStaleCells(t *testing.T) {
	src := &unevenSource{sizes: []int{40, 3, 40, 0, 17, 40, 1, 40, 40, 2}}
	var stale []string
	rows := 0
	dst := &fakeDest{onWrite: func(b *record.Batch) error {
		rows += b.Len()
		if rest := b.Cells[len(b.Cells):cap(b.Cells)]; slices.ContainsFunc(rest, func(v record.Value) bool { return v != record.Value{} }) {
			stale = append(stale, fmt.Sprintf("batch at line %d", b.FirstLine))
		}
		return nil
	}}
	p, err := transform.Compile([]transform.Task{
		task("Filter", "GREATER_THAN", []string{"amount"}, "", "DATA_TYPE", "integer", "VALUE", "2"),
		task("Map", "NO_OP", []string{"id"}, "customer_id", "DESTINATION_DATA_TYPE", "integer"),
		task("Map", "NO_OP", []string{"amount"}, "amount")}, transform.Options{SourceConnector: "S3", TypedDestination: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, conc := range []int{1, 2} {
		src.dirty, stale, rows = nil, nil, 0
		res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: p, RecycleBatches: true, Concurrency: conc,
			Write: &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{FailOnFirstError: false}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(src.dirty) > 0 || len(stale) > 0 {
			t.Errorf("concurrency %d: arrays handed back not cleared %v; stale cells past a written batch %v", conc, src.dirty, stale)
		}
		if res.RecordsRead != 223 || rows == 0 || len(res.Failures) == 0 {
			t.Errorf("concurrency %d: read %d, wrote %d, %d failures", conc, res.RecordsRead, rows, len(res.Failures))
		}
	}
}
