package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/transform"
)

// recordingDest is a fakeDest that keeps task-level failures itself
// (connector.FailureRecorder) and returns them with its own at Commit.
type recordingDest struct {
	fakeDest
	calls    int
	beforeOf []int // for each RecordFailures call, the Write calls made before it
	err      error
}

func (d *recordingDest) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	d.req = req
	return d, nil
}

func (d *recordingDest) RecordFailures(ctx context.Context, f []connector.RecordFailure) error {
	d.calls++
	d.beforeOf = append(d.beforeOf, int(d.writes.Load()))
	if d.err != nil {
		return d.err
	}
	d.failures = append(d.failures, f...)
	return nil
}

var _ connector.FailureRecorder = (*recordingDest)(nil)

func TestFailureRecorderGetsTaskFailuresOnce(t *testing.T) {
	typed, err := transform.Compile([]transform.Task{
		task("Map", "NO_OP", []string{"id"}, "customer_id"),
		task("Map", "NO_OP", []string{"ts"}, "when", "DESTINATION_DATA_TYPE", "integer"),
	}, transform.Options{TypedDestination: true})
	if err != nil {
		t.Fatal(err)
	}
	continueOnErrors := &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{FailOnFirstError: false}}

	t.Run("continue", func(t *testing.T) {
		src := &fakeSource{splits: []fakeSplit{{name: "in/a.csv", batches: 2, rows: 3}}}
		dst := &recordingDest{}
		res, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: typed, Write: continueOnErrors})
		if err != nil {
			t.Fatal(err)
		}
		// Every row fails the Map task: 6 failures, each once, in input order.
		if len(dst.failures) != 6 || len(res.Failures) != 6 {
			t.Fatalf("writer kept %d failures, result has %d; want 6 and 6 (not counted twice)", len(dst.failures), len(res.Failures))
		}
		for i, f := range res.Failures {
			if f.Line != int64(i+2) || f.Split != "in/a.csv" || !strings.Contains(f.Reason, "tasks[1] (Map) field ts") {
				t.Errorf("failure %d = %+v", i, f)
			}
		}
		// One call per batch, each before that batch's Write.
		if dst.calls != 2 || dst.beforeOf[0] != 0 || dst.beforeOf[1] != 1 {
			t.Errorf("RecordFailures calls %d, Writes before each %v; want 2 calls, [0 1]", dst.calls, dst.beforeOf)
		}
	})

	t.Run("fail first: not called", func(t *testing.T) {
		src := &fakeSource{splits: []fakeSplit{{name: "in/a.csv", batches: 1, rows: 3}}}
		dst := &recordingDest{}
		_, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: typed,
			Write: &connector.WriteRequest{ErrorHandling: &connector.ErrorHandling{FailOnFirstError: true}}})
		if err == nil || dst.calls != 0 || !dst.aborted {
			t.Errorf("err %v, RecordFailures calls %d, aborted %v; want a run error, 0 calls, aborted", err, dst.calls, dst.aborted)
		}
	})

	t.Run("recorder error fails the run", func(t *testing.T) {
		src := &fakeSource{splits: []fakeSplit{{name: "in/a.csv", batches: 1, rows: 3}}}
		boom := errors.New("error bucket is gone")
		dst := &recordingDest{err: boom}
		_, err := Execute(context.Background(), &Run{Source: src, Dest: dst, Program: typed, Write: continueOnErrors})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "error bucket is gone") || !dst.aborted || dst.committed {
			t.Errorf("err %v, aborted %v committed %v; want the recorder's error and an abort", err, dst.aborted, dst.committed)
		}
	})
}
