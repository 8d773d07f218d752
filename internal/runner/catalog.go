package runner

import (
	"context"
	"encoding/json"

	"github.com/appflowd/appflowd/internal/catalogreg"
	"github.com/appflowd/appflowd/internal/engine"
	"github.com/appflowd/appflowd/internal/runstate"
	"github.com/appflowd/appflowd/internal/wire"
)

// registerCatalog registers a successful run's output in the Glue Data
// Catalog when its flow asks for it (metadataCatalogConfig). A catalog
// failure is reported in the details, never as the run's failure.
func (r *Runner) registerCatalog(ctx context.Context, k runstate.Key, status wire.ExecutionStatus, res *engine.Result) []wire.MetadataCatalogDetail {
	if status != runstate.Successful || res == nil || len(res.Objects) == 0 {
		return nil
	}
	fl, err := r.d.Store.FlowGet(ctx, k.Account, k.Flow)
	if err != nil {
		return nil // the flow is gone: no record will be kept either
	}
	var doc wire.DescribeFlowResponse
	if err := json.Unmarshal(fl.Doc, &doc); err != nil || doc.MetadataCatalogConfig == nil {
		return nil
	}
	deps := r.d.Connector
	deps.AccountID = k.Account
	return catalogreg.Register(ctx, deps, catalogreg.Run{Flow: &doc, ExecutionID: k.ID, Objects: res.Objects, Fields: res.Fields})
}
