package runner

import (
	"context"
	"encoding/json"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// executionWindow is the incremental window the scheduler (internal/jobs)
// wrote into the execution record as dataPullStartTime/dataPullEndTime
// before the run; ok is false for a run without one.
func (r *Runner) executionWindow(ctx context.Context, account, flowName, id string) (start, end time.Time, ok bool, err error) {
	e, err := r.d.Store.ExecutionGet(ctx, account, flowName, id)
	if err != nil {
		return start, end, false, err
	}
	var rec wire.ExecutionRecord
	if err := json.Unmarshal(e.Doc, &rec); err != nil {
		return start, end, false, fault.Wrap(fault.Internal, err, "execution %s record", id)
	}
	if rec.DataPullStartTime == nil || rec.DataPullEndTime == nil {
		return start, end, false, nil
	}
	return rec.DataPullStartTime.Time, rec.DataPullEndTime.Time, true, nil
}

// ApplyWindow narrows a prepared run to the incremental window [start, end):
// the source is asked for what changed in it, and the transform drops
// records whose incrementalPullConfig.datetimeTypeFieldName falls outside,
// for sources that cannot filter. A source whose capabilities say
// WindowByModifiedTime (S3) selects whole objects by modification time, so
// its records are not filtered by a field.
func (p *Prepared) ApplyWindow(f *Flow, start, end time.Time) {
	if p.windowByModifiedTime {
		p.Run.Read.Window = &connector.Window{Start: start, End: end}
		return
	}
	field := ""
	if c := f.SourceFlowConfig.IncrementalPullConfig; c != nil {
		field = c.DatetimeTypeFieldName
	}
	w := &connector.Window{Field: field, Start: start, End: end}
	p.Run.Read.Window = w
	if field != "" {
		p.Run.Program = p.Run.Program.WithWindow(w)
	}
}
