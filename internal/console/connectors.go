package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/appflowd/appflowd/internal/wire"
)

type profilesView struct{ Profiles []profileRow }

func (profilesView) title() string { return "Connector profiles" }

type profileRow struct {
	Name, Connector, Mode string
	Created, Updated      *wire.Timestamp
	Props                 []kv
}

// profilesPage lists the account's connector profiles. DescribeConnectorProfiles
// never returns credentials, so none can show here.
func (c *Console) profilesPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	var view profilesView
	in := &wire.DescribeConnectorProfilesRequest{}
	for len(view.Profiles) < maxListed {
		page, err := c.d.Service.DescribeConnectorProfiles(v.ctx, in)
		if err != nil {
			c.fail(w, r, v, "Connector profiles", err)
			return
		}
		for _, p := range page.ConnectorProfileDetails {
			view.Profiles = append(view.Profiles, profileRow{Name: p.ConnectorProfileName, Connector: connectorName(p.ConnectorType, p.ConnectorLabel),
				Mode: string(p.ConnectionMode), Created: p.CreatedAt, Updated: p.LastUpdatedAt,
				Props: unionProps(p.ConnectorProfileProperties, p.ConnectorType)})
		}
		if page.NextToken == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	slices.SortFunc(view.Profiles, func(a, b profileRow) int { return strings.Compare(a.Name, b.Name) })
	c.render(w, r, v, http.StatusOK, "profiles", view)
}

type connectorsView struct {
	BuiltIn []connectorRow
	Custom  []connectorRow
}

func (connectorsView) title() string { return "Connectors" }

type connectorRow struct {
	Name, Label, Description, Version, Owner string
	Source, Destination                      bool
	Triggers, Frequencies, Writes, Transfers string
	Destinations                             string // what a source can feed
	RegisteredAt                             *wire.Timestamp
	Error                                    string
}

func (c *Console) connectorsPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	var view connectorsView
	in := &wire.DescribeConnectorsRequest{}
	var customs []wire.ConnectorDetail
	for {
		page, err := c.d.Service.DescribeConnectors(v.ctx, in)
		if err != nil {
			c.fail(w, r, v, "Connectors", err)
			return
		}
		for typ, cfg := range page.ConnectorConfigurations {
			row := capabilities(cfg)
			row.Name = typ
			view.BuiltIn = append(view.BuiltIn, row)
		}
		customs = append(customs, page.Connectors...)
		if page.NextToken == "" || len(view.BuiltIn)+len(customs) >= maxListed {
			break
		}
		in.NextToken = page.NextToken
	}
	for _, d := range customs {
		row := connectorRow{Name: d.ConnectorName, Label: d.ConnectorLabel, Description: d.ConnectorDescription, Version: d.ConnectorVersion,
			Owner: d.ConnectorOwner, RegisteredAt: d.RegisteredAt}
		out, err := c.d.Service.DescribeConnector(v.ctx, &wire.DescribeConnectorRequest{ConnectorType: wire.ConnectorTypeCustomConnector, ConnectorLabel: d.ConnectorLabel})
		if err != nil || out.ConnectorConfiguration == nil {
			row.Error = "capabilities unavailable"
		} else {
			cap := capabilities(*out.ConnectorConfiguration)
			cap.Name, cap.Label, cap.Owner, cap.RegisteredAt = row.Name, row.Label, row.Owner, row.RegisteredAt
			if cap.Description == "" {
				cap.Description = row.Description
			}
			row = cap
		}
		view.Custom = append(view.Custom, row)
	}
	slices.SortFunc(view.BuiltIn, func(a, b connectorRow) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(view.Custom, func(a, b connectorRow) int { return strings.Compare(a.Label, b.Label) })
	c.render(w, r, v, http.StatusOK, "connectors", view)
}

func capabilities(cfg wire.ConnectorConfiguration) connectorRow {
	return connectorRow{
		Description: cfg.ConnectorDescription, Version: cfg.ConnectorVersion, Owner: cfg.ConnectorOwner,
		Source: cfg.CanUseAsSource != nil && *cfg.CanUseAsSource, Destination: cfg.CanUseAsDestination != nil && *cfg.CanUseAsDestination,
		Triggers: join(cfg.SupportedTriggerTypes), Frequencies: join(cfg.SupportedSchedulingFrequencies),
		Writes: join(cfg.SupportedWriteOperations), Transfers: join(cfg.SupportedDataTransferTypes),
		Destinations: join(cfg.SupportedDestinationConnectors),
	}
}

func join[S ~string](xs []S) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = string(x)
	}
	return strings.Join(parts, ", ")
}
