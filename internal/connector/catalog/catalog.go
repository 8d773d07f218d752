// Package catalog lists what DescribeConnectors says about every built-in
// AppFlow connector type, whether or not appflowd can run it yet.
//
// Source and destination capability, operators, metadata and write
// operations follow the pinned model (a test reads it, so the table cannot
// drift); triggers, frequencies, destinations and scopes follow
// control-plane spec §7.3 as corrected by the newer per-connector notes
// (connectors-saas-1.md, connectors-saas-2.md, connectors-aws.md).
package catalog

import (
	"strconv"

	"github.com/appflowd/appflowd/internal/connector"
)

var (
	// Salesforce's DescribeConnector sample, minus the internal "Locke"
	// (control-plane §7.2); §7.3 makes it the default for every source.
	defaultDestinations = []string{"S3", "Snowflake", "Redshift", "Salesforce", "EventBridge", "LookoutMetrics",
		"Honeycode", "Upsolver", "CustomerProfiles", "Zendesk", "Marketo", "CustomConnector"}
	// The user guide's list for Singular, Trend Micro, Veeva and Infor Nexus
	// (connectors-saas-2 §3.1-6.1).
	saasDestinations = []string{"S3", "Snowflake", "Redshift", "Salesforce", "LookoutMetrics",
		"Honeycode", "Upsolver", "CustomerProfiles", "Zendesk", "Marketo", "CustomConnector"}

	byMinute = []string{"BYMINUTE", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "ONCE"}
	hourly   = []string{"HOURLY", "DAILY", "WEEKLY", "MONTHLY", "ONCE"}
	daily    = []string{"DAILY", "WEEKLY", "MONTHLY", "ONCE"}

	scheduledOnDemand = []string{"Scheduled", "OnDemand"}

	allOperators = withTransforms("PROJECTION", "LESS_THAN", "GREATER_THAN", "CONTAINS", "BETWEEN",
		"LESS_THAN_OR_EQUAL_TO", "GREATER_THAN_OR_EQUAL_TO", "EQUAL_TO", "NOT_EQUAL_TO")
	allWrites = []string{"INSERT", "UPSERT", "UPDATE", "DELETE"}
)

// SourceDestinations is where a source may send data unless its entry
// says otherwise: AppFlow's default list, which custom source connectors
// get too. The slice is fresh on every call.
func SourceDestinations() []string { return clone(defaultDestinations) }

// withTransforms appends the arithmetic, mask and validate operators and
// NO_OP, which every operator enum but Amplitude's and Google Analytics'
// carries.
func withTransforms(filters ...string) []string {
	return append(filters, "ADDITION", "MULTIPLICATION", "DIVISION", "SUBTRACTION",
		"MASK_ALL", "MASK_FIRST_N", "MASK_LAST_N",
		"VALIDATE_NON_NULL", "VALIDATE_NON_ZERO", "VALIDATE_NON_NEGATIVE", "VALIDATE_NUMERIC", "NO_OP")
}

// source fills what every schedulable source shares; minMinutes is its
// floor from the user guide's quotas page (data-plane §6.1).
func source(c connector.Capabilities, minMinutes int) connector.Capabilities {
	c.CanUseAsSource = true
	if c.TriggerTypes == nil {
		c.TriggerTypes = scheduledOnDemand
	}
	switch minMinutes {
	case 1:
		c.Frequencies = byMinute
	case 60:
		c.Frequencies = hourly
	case 24 * 60:
		c.Frequencies = daily
	default:
		panic("catalog: no frequency list for a floor of " + strconv.Itoa(minMinutes) + " minutes")
	}
	c.MinScheduleMinutes = minMinutes
	if c.SupportedDestinations == nil {
		c.SupportedDestinations = defaultDestinations
	}
	return c
}

// Builtin returns the capabilities of every ConnectorType but
// CustomConnector (registered connectors describe themselves), in the
// model's enum order. The slices are fresh on every call.
func Builtin() []connector.Capabilities {
	out := []connector.Capabilities{
		source(connector.Capabilities{
			Type: "Salesforce", Description: "Salesforce", CanUseAsDestination: true, NeedsProfile: true,
			TriggerTypes:       []string{"Scheduled", "OnDemand", "Event"}, // the only Event source [C]
			Operators:          allOperators,
			WriteOperations:    allWrites, // data-plane §9.4
			PrivateLinkEnabled: true,      // [C] DescribeConnector sample
			OAuthScopes:        []string{"api", "refresh_token", "id"},
			DataTransferAPIs:   []string{"AUTOMATIC", "BULKV2", "REST_SYNC"},
			OAuth2GrantTypes:   []string{"CLIENT_CREDENTIALS", "AUTHORIZATION_CODE", "JWT_BEARER"},
			// A profile may rely on the process's connected app (spec 6.2).
			CredentialsOptional: true,
			ProfileRules:        salesforceRules,
		}, 1),
		source(connector.Capabilities{
			Type: "Singular", Description: "Singular", NeedsProfile: true,
			Operators:             withTransforms("PROJECTION", "EQUAL_TO"),
			SupportedDestinations: saasDestinations,
		}, 60),
		source(connector.Capabilities{
			Type: "Slack", Description: "Slack", NeedsProfile: true,
			Operators: withTransforms("PROJECTION", "LESS_THAN", "GREATER_THAN", "BETWEEN",
				"LESS_THAN_OR_EQUAL_TO", "GREATER_THAN_OR_EQUAL_TO", "EQUAL_TO"),
			// The user-token scopes the user guide asks for (connectors-saas-1 §2.1).
			OAuthScopes: []string{"channels:history", "channels:read", "groups:history", "groups:read",
				"im:history", "im:read", "mpim:history", "mpim:read"},
		}, 1),
		{
			Type: "Redshift", Description: "Amazon Redshift", CanUseAsDestination: true, NeedsProfile: true,
			CredentialsOptional: true, // the Data API signs with a role instead
			ProfileRules:        redshiftRules,
			TypedDestination:    true,
		},
		source(connector.Capabilities{
			Type: "S3", Description: "Amazon S3", CanUseAsDestination: true,
			Operators: withTransforms("PROJECTION", "LESS_THAN", "GREATER_THAN", "BETWEEN",
				"LESS_THAN_OR_EQUAL_TO", "GREATER_THAN_OR_EQUAL_TO", "EQUAL_TO", "NOT_EQUAL_TO"),
			// The default plus SAPOData: SAP deep insert reads JSON Lines from
			// S3 (connectors-saas-2 §8.1).
			SupportedDestinations: []string{"S3", "Snowflake", "Redshift", "Salesforce", "EventBridge",
				"LookoutMetrics", "Honeycode", "Upsolver", "CustomerProfiles", "Zendesk", "Marketo",
				"SAPOData", "CustomConnector"},
			TypedDestination: true, // Parquet keeps the Map tasks' types
			// Files are read whole; no projection is needed (spec §4.1.6).
			ProjectionOptional: true,
		}, 1),
		source(connector.Capabilities{
			Type: "Marketo", Description: "Marketo", CanUseAsDestination: true, NeedsProfile: true,
			Operators: withTransforms("PROJECTION", "LESS_THAN", "GREATER_THAN", "BETWEEN"),
		}, 60),
		source(connector.Capabilities{
			Type: "Googleanalytics", Description: "Google Analytics", NeedsProfile: true,
			ProfileRules:          tokenRules("GoogleAnalytics"),
			Operators:             []string{"PROJECTION", "BETWEEN"},
			OAuthScopes:           []string{"https://www.googleapis.com/auth/analytics.readonly"},
			SupportedDestinations: []string{"S3", "LookoutMetrics", "Upsolver", "CustomConnector"},
		}, 24*60),
		source(connector.Capabilities{
			Type: "Zendesk", Description: "Zendesk", CanUseAsDestination: true, NeedsProfile: true,
			Operators: withTransforms("PROJECTION", "GREATER_THAN"),
			// DELETE is in the enum but Zendesk does not offer it (connectors-saas-1 §1.1).
			WriteOperations: []string{"INSERT", "UPSERT", "UPDATE"},
			OAuthScopes:     []string{"read", "write"},
		}, 1),
		source(connector.Capabilities{
			Type: "Servicenow", Description: "ServiceNow", NeedsProfile: true,
			Operators:    allOperators,
			ProfileRules: serviceNowRules,
		}, 1),
		source(connector.Capabilities{
			Type: "Datadog", Description: "Datadog", NeedsProfile: true,
			Operators: withTransforms("PROJECTION", "BETWEEN", "EQUAL_TO"),
		}, 1),
		source(connector.Capabilities{
			Type: "Trendmicro", Description: "Trend Micro", NeedsProfile: true,
			Operators:             withTransforms("PROJECTION", "EQUAL_TO"),
			SupportedDestinations: saasDestinations,
		}, 60),
		{
			Type: "Snowflake", Description: "Snowflake", CanUseAsDestination: true, NeedsProfile: true,
			PrivateLinkEnabled: true, // its profile carries privateLinkServiceName
			TypedDestination:   true,
		},
		source(connector.Capabilities{
			Type: "Dynatrace", Description: "Dynatrace", NeedsProfile: true,
			Operators: withTransforms("PROJECTION", "BETWEEN", "EQUAL_TO"),
		}, 1),
		source(connector.Capabilities{
			Type: "Infornexus", Description: "Infor Nexus", NeedsProfile: true,
			Operators:             withTransforms("PROJECTION", "BETWEEN", "EQUAL_TO"),
			SupportedDestinations: saasDestinations,
		}, 1),
		source(connector.Capabilities{
			Type: "Amplitude", Description: "Amplitude", NeedsProfile: true,
			Operators:             []string{"BETWEEN"},
			SupportedDestinations: []string{"S3", "LookoutMetrics", "CustomConnector"},
		}, 24*60),
		source(connector.Capabilities{
			Type: "Veeva", Description: "Veeva", NeedsProfile: true,
			Operators:             allOperators,
			SupportedDestinations: saasDestinations,
		}, 1),
		{Type: "EventBridge", Description: "Amazon EventBridge", CanUseAsDestination: true},
		{Type: "LookoutMetrics", Description: "Amazon Lookout for Metrics", CanUseAsDestination: true},
		{Type: "Upsolver", Description: "Upsolver", CanUseAsDestination: true},
		// Honeycode's scopes were never published; it is discontinued.
		{Type: "Honeycode", Description: "Amazon Honeycode", CanUseAsDestination: true, NeedsProfile: true,
			ProfileRules: tokenRules("Honeycode")},
		{
			Type: "CustomerProfiles", Description: "Amazon Connect Customer Profiles",
			CanUseAsDestination: true,
		},
		source(connector.Capabilities{
			Type: "SAPOData", Description: "SAP OData", CanUseAsDestination: true, NeedsProfile: true,
			Operators:             allOperators,
			WriteOperations:       allWrites, // INSERT/UPDATE documented, UPSERT/DELETE allowed by the model
			PrivateLinkEnabled:    true,      // its profile carries privateLinkServiceName
			SupportedDestinations: []string{"S3", "Redshift", "CustomerProfiles", "SAPOData", "CustomConnector"},
			ProfileRules:          sapODataRules,
		}, 1),
		source(connector.Capabilities{
			Type: "Pardot", Description: "Salesforce Pardot", NeedsProfile: true,
			Operators: withTransforms("PROJECTION", "EQUAL_TO"),
			// The user guide's destinations for Pardot are the default list.
			CredentialsOptional: true, // as Salesforce's
		}, 1),
	}
	for i := range out {
		c := &out[i]
		c.UnionKey = unionKey(c.Type)
		c.HasMetadata = c.Type != "LookoutMetrics" // the one type without a ConnectorMetadata member
		c.TriggerTypes = clone(c.TriggerTypes)
		c.Frequencies = clone(c.Frequencies)
		c.SupportedDestinations = clone(c.SupportedDestinations)
		c.Operators = clone(c.Operators)
		c.WriteOperations = clone(c.WriteOperations)
	}
	return out
}

// unionKey spells a ConnectorType the way the model's unions do.
func unionKey(typ string) string {
	switch typ {
	case "Googleanalytics":
		return "GoogleAnalytics"
	case "Servicenow":
		return "ServiceNow"
	case "Infornexus":
		return "InforNexus"
	}
	return typ
}

func clone(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// RegisterAll registers every built-in type in r, without an Open. A driver
// registered before or after keeps its Open and gets the capabilities it
// left out from here (connector.Registry.Register).
func RegisterAll(r *connector.Registry) {
	for _, c := range Builtin() {
		r.Register(connector.Spec{Capabilities: c})
	}
}
