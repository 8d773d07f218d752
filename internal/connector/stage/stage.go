// Package stage is what the destinations that load through staged files
// (Redshift, Snowflake) share: the destination they write, and the run's
// gzipped part files in the intermediate bucket that one COPY loads.
package stage

import (
	"cmp"
	"context"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// Spec registers a staged-load destination: it needs a profile and only
// INSERTs; the catalog entry supplies the rest of the capabilities.
func Spec(typ string, open func(context.Context, connector.Deps, connector.Profile) (connector.Driver, error)) connector.Spec {
	return connector.Spec{
		Capabilities: connector.Capabilities{Type: typ, CanUseAsDestination: true, NeedsProfile: true, WriteOperations: []string{"INSERT"}},
		Open:         open,
	}
}

// Dest is destinationConnectorProperties.<Redshift|Snowflake>.
type Dest struct {
	Object                 string `json:"object"`
	IntermediateBucketName string `json:"intermediateBucketName"`
	BucketPrefix           string `json:"bucketPrefix"`
}

// Target reads the destination of req for vendor, whose loads only
// INSERT: its properties, with Object the request's object or else the
// properties'.
func Target(req *connector.WriteRequest, vendor string) (Dest, error) {
	if req.WriteOperation != "" && !strings.EqualFold(req.WriteOperation, "INSERT") {
		return Dest{}, fault.New(fault.Unsupported, "%s: write operation %s is not supported; %s destinations INSERT",
			strings.ToLower(vendor), req.WriteOperation, vendor)
	}
	dp, err := connector.DecodeProperties[Dest](req.Properties, vendor, "destination")
	dp.Object = cmp.Or(req.Object, dp.Object)
	return dp, err
}
