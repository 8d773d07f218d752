package catalogreg

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// CheckDatabase refuses a catalog configuration whose database does not
// exist (GetDatabase), as AppFlow does for flows set up through the API:
// appflowd never creates the database.
func CheckDatabase(ctx context.Context, deps connector.Deps, cfg *wire.GlueDataCatalogConfig) error {
	c, err := client(ctx, deps, cfg, "appflowd-glue")
	if err != nil {
		return err
	}
	_, err = c.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String(cfg.DatabaseName)})
	var nf *gluetypes.EntityNotFoundException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return fault.New(fault.Invalid, "The Glue Data Catalog database %s does not exist: create it before naming it in metadataCatalogConfig.", cfg.DatabaseName)
	}
	return fault.Wrap(fault.ConnectorServer, err, "Glue GetDatabase %s", cfg.DatabaseName)
}
