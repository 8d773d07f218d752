package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
)

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

// UnionMembers returns every member set in a connector-keyed union (a
// struct such as ConnectorProfileProperties), by key, as raw JSON.
func UnionMembers(v any) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode %T: %w", v, err)
	}
	for k, r := range m {
		if bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			delete(m, k)
		}
	}
	return m, nil
}

// UnionMember returns the raw JSON of connector type t's member of a
// connector-keyed union; nil when that member is not set.
func UnionMember(v any, t ConnectorType) (json.RawMessage, error) {
	m, err := UnionMembers(v)
	if err != nil {
		return nil, err
	}
	return m[UnionKey(t)], nil
}
