// Package retiredconn keeps the destinations whose AWS services have ended:
// Amazon Lookout for Metrics (end of support 2025-10-09) and Amazon
// Honeycode (discontinued 2024-02-29). Profiles and flows that name them
// round-trip as on AppFlow, and DescribeConnectors lists them as AppFlow
// did; every run ends in Error saying why, since there is nothing left to
// write to.
package retiredconn

import (
	"context"

	"github.com/appflowd/appflowd/internal/connector"
)

// The executionMessage of every run, by connector type (connectors-aws 6, 7).
const (
	LookoutMetricsMessage = "Amazon Lookout for Metrics reached end of support on 2025-10-09"
	HoneycodeMessage      = "Amazon Honeycode was discontinued on 2024-02-29"
)

func init() {
	connector.Register(spec("LookoutMetrics", LookoutMetricsMessage, false))
	connector.Register(spec("Honeycode", HoneycodeMessage, true))
}

func spec(typ, msg string, needsProfile bool) connector.Spec {
	return connector.Spec{
		Capabilities: connector.Capabilities{Type: typ, CanUseAsDestination: true, NeedsProfile: needsProfile},
		Open: func(context.Context, connector.Deps, connector.Profile) (connector.Driver, error) {
			return driver{msg}, nil
		},
	}
}

// driver opens for any profile, so profiles and flows validate as before,
// and refuses every run.
type driver struct{ msg string }

var (
	_ connector.DestinationDriver = driver{}
	_ connector.Retired           = driver{}
)

func (d driver) Retired() string { return d.msg }

func (d driver) OpenWriter(context.Context, *connector.WriteRequest) (connector.Writer, error) {
	return nil, &connector.RetiredError{Message: d.msg}
}
