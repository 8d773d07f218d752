package service

import (
	"context"

	"github.com/appflowd/appflowd/internal/catalogreg"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// flowCheckAWS checks a flow against the AWS services it names, at
// CreateFlow and UpdateFlow: a destination that can check its properties
// remotely (a Customer Profiles domain and object type exist), and Glue
// Data Catalog registration (S3 destinations only, the database exists).
func (s *Service) flowCheckAWS(ctx context.Context, d *flowDef) error {
	dst := &d.Dests[0]
	if spec, ok := s.flowRegistry().Lookup(string(dst.ConnectorType)); ok && spec.Open != nil && dst.ConnectorProfileName == "" {
		props, err := unionMember(dst.DestinationConnectorProperties, string(dst.ConnectorType))
		if err != nil {
			return err
		}
		// A driver that cannot open here (no data dir, say) is left to
		// fail its runs with its own message: this check is for remote state.
		if conn, err := s.flowRegistry().Open(ctx, string(dst.ConnectorType), s.connectorDeps(ctx), connector.Profile{}); err == nil {
			err = conn.CheckDestination(ctx, props)
			_ = conn.Close()
			if err != nil {
				return connectorFailure(err)
			}
		}
	}
	if d.Catalog != nil && d.Catalog.GlueDataCatalog != nil {
		if dst.ConnectorType != wire.ConnectorTypeS3 {
			return fault.New(fault.Invalid, "metadataCatalogConfig (Glue Data Catalog) is supported only for Amazon S3 destinations, not %s.", dst.ConnectorType)
		}
		if err := catalogreg.CheckDatabase(ctx, s.connectorDeps(ctx), d.Catalog.GlueDataCatalog); err != nil {
			return err
		}
	}
	return nil
}
