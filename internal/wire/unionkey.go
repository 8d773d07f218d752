package wire

// UnionKeys maps each ConnectorType to its member key in the connector-keyed
// unions (connectorProfileProperties, sourceConnectorProperties,
// connectorMetadata, ...). Three differ in case from the enum (spec 13.10).
var UnionKeys = map[ConnectorType]string{
	ConnectorTypeSalesforce:       "Salesforce",
	ConnectorTypeSingular:         "Singular",
	ConnectorTypeSlack:            "Slack",
	ConnectorTypeRedshift:         "Redshift",
	ConnectorTypeS3:               "S3",
	ConnectorTypeMarketo:          "Marketo",
	ConnectorTypeGoogleanalytics:  "GoogleAnalytics",
	ConnectorTypeZendesk:          "Zendesk",
	ConnectorTypeServicenow:       "ServiceNow",
	ConnectorTypeDatadog:          "Datadog",
	ConnectorTypeTrendmicro:       "Trendmicro",
	ConnectorTypeSnowflake:        "Snowflake",
	ConnectorTypeDynatrace:        "Dynatrace",
	ConnectorTypeInfornexus:       "InforNexus",
	ConnectorTypeAmplitude:        "Amplitude",
	ConnectorTypeVeeva:            "Veeva",
	ConnectorTypeEventBridge:      "EventBridge",
	ConnectorTypeLookoutMetrics:   "LookoutMetrics",
	ConnectorTypeUpsolver:         "Upsolver",
	ConnectorTypeHoneycode:        "Honeycode",
	ConnectorTypeCustomerProfiles: "CustomerProfiles",
	ConnectorTypeSAPOData:         "SAPOData",
	ConnectorTypeCustomConnector:  "CustomConnector",
	ConnectorTypePardot:           "Pardot",
}

// UnionKey is the member name of connector type t in the connector-keyed
// unions; an unknown type is spelled as given.
func UnionKey(t ConnectorType) string {
	if k, ok := UnionKeys[t]; ok {
		return k
	}
	return string(t)
}
