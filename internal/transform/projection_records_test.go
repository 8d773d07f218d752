package transform

import (
	"slices"
	"testing"

	"github.com/appflowd/appflowd/internal/record"
)

// TestProjectionWritesRecords: a Google Analytics flow as AppFlow accepts
// it, a PROJECTION and a BETWEEN on the date and no Map task, compiles for
// a source that writes its records as read; the projection is fetched,
// the BETWEEN applied, and the projected fields left out of the output.
// Other sources still need an output task.
func TestProjectionWritesRecords(t *testing.T) {
	tasks := []Task{
		{Type: "Filter", Operator: "PROJECTION", SourceFields: []string{"ga:date|DIMENSION", "ga:sessions|METRIC"}},
		{Type: "Filter", Operator: "BETWEEN", SourceFields: []string{"ga:date|DIMENSION"},
			Properties: map[string]string{"DATA_TYPE": "datetime", "LOWER_BOUND": "1704067200000", "UPPER_BOUND": "1704153600000"}},
	}
	ops := []string{"PROJECTION", "BETWEEN"}
	if _, err := Compile(tasks, Options{SourceConnector: "Googleanalytics", SourceOperators: ops}); err == nil {
		t.Fatal("compiled without an output task for a source that does not write its records as read")
	}
	p, err := Compile(tasks, Options{SourceConnector: "Googleanalytics", SourceOperators: ops, ProjectionWritesRecords: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Projection(); !slices.Equal(got, []string{"ga:date|DIMENSION", "ga:sessions|METRIC"}) {
		t.Errorf("projection %v", got)
	}
	in := &record.Batch{Fields: []string{"dimensions", "metrics", "ga:date|DIMENSION", "ga:sessions|METRIC"}, Final: true}
	in.AppendRow([]record.Value{record.JSONVal(`["20240101"]`), record.JSONVal(`[{"values":["3"]}]`), record.MillisVal(1704067200000), record.Str("3")})
	in.AppendRow([]record.Value{record.JSONVal(`["20240105"]`), record.JSONVal(`[{"values":["4"]}]`), record.MillisVal(1704412800000), record.Str("4")})
	out := &record.Batch{}
	if _, _, err := p.Apply(in, out); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Fields, []string{"dimensions", "metrics"}) || out.Len() != 1 || out.Row(0)[0].Text() != `["20240101"]` {
		t.Errorf("output %v %v", out.Fields, out.Cells)
	}
}
