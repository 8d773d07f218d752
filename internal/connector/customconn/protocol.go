package customconn

import (
	"encoding/json"

	"github.com/appflowd/appflowd/internal/connector"
)

// The request and response types of the AppFlow Custom Connector SDK's
// Lambda protocol (data-plane spec 11; the SDKs' requests.py/responses.py
// and the Java model). Requests carry a "type" discriminator; responses are
// read leniently: unknown keys are ignored and no "type" is required.

// Request type discriminators.
const (
	typeDescribeConfiguration = "DescribeConnectorConfigurationRequest"
	typeValidateCredentials   = "ValidateCredentialsRequest"
	typeValidateSettings      = "ValidateConnectorRuntimeSettingsRequest"
	typeListEntities          = "ListEntitiesRequest"
	typeDescribeEntity        = "DescribeEntityRequest"
	typeQueryData             = "QueryDataRequest"
	typeWriteData             = "WriteDataRequest"
)

// Credentials point the connector at the secret holding the credentials.
// AuthenticationType is the SDK's enum name: BasicAuth, ApiKey, OAuth2,
// CustomAuth.
type Credentials struct {
	SecretArn          string `json:"secretArn"`
	AuthenticationType string `json:"authenticationType"`
}

// ConnectorContext travels with every entity and data call.
type ConnectorContext struct {
	ConnectorRuntimeSettings map[string]string `json:"connectorRuntimeSettings,omitempty"`
	Credentials              *Credentials      `json:"credentials,omitempty"`
	APIVersion               string            `json:"apiVersion"`
	FlowName                 string            `json:"flowName,omitempty"`
	ExecutionID              string            `json:"executionId,omitempty"`
	ConnectorProfileLabel    string            `json:"connectorProfileLabel,omitempty"`
	// EntityDefinition is echoed as the connector described it.
	EntityDefinition json.RawMessage `json:"entityDefinition,omitempty"`
}

type describeConfigurationRequest struct {
	Type           string `json:"type"`
	Locale         string `json:"locale"`
	ConnectorLabel string `json:"connectorLabel,omitempty"`
}

type validateCredentialsRequest struct {
	Type                     string            `json:"type"`
	Credentials              *Credentials      `json:"credentials"`
	ConnectorRuntimeSettings map[string]string `json:"connectorRuntimeSettings,omitempty"`
}

type validateSettingsRequest struct {
	Type                     string            `json:"type"`
	Scope                    string            `json:"scope"`
	ConnectorRuntimeSettings map[string]string `json:"connectorRuntimeSettings"`
	AuthenticationType       string            `json:"authenticationType,omitempty"`
}

type listEntitiesRequest struct {
	Type             string           `json:"type"`
	ConnectorContext ConnectorContext `json:"connectorContext"`
	EntitiesPath     string           `json:"entitiesPath,omitempty"`
	NextToken        string           `json:"nextToken,omitempty"`
	MaxResult        int              `json:"maxResult"` // singular in the SDK
}

type describeEntityRequest struct {
	Type             string           `json:"type"`
	EntityIdentifier string           `json:"entityIdentifier"`
	ConnectorContext ConnectorContext `json:"connectorContext"`
}

type queryDataRequest struct {
	Type               string           `json:"type"`
	EntityIdentifier   string           `json:"entityIdentifier"`
	ConnectorContext   ConnectorContext `json:"connectorContext"`
	SelectedFieldNames []string         `json:"selectedFieldNames,omitempty"`
	FilterExpression   string           `json:"filterExpression,omitempty"`
	NextToken          string           `json:"nextToken,omitempty"`
	MaxResults         int              `json:"maxResults"` // plural in the SDK
}

type writeDataRequest struct {
	Type             string           `json:"type"`
	EntityIdentifier string           `json:"entityIdentifier"`
	ConnectorContext ConnectorContext `json:"connectorContext"`
	Operation        string           `json:"operation"`
	IDFieldNames     []string         `json:"idFieldNames,omitempty"`
	Records          []string         `json:"records"`
	AllOrNone        bool             `json:"allOrNone"`
}

// ErrorDetails is a connector's account of a failed call.
type ErrorDetails struct {
	ErrorCode         string `json:"errorCode"`
	ErrorMessage      string `json:"errorMessage"`
	RetryAfterSeconds *int   `json:"retryAfterSeconds"`
}

// result is the part every response shares.
type result struct {
	IsSuccess    *bool         `json:"isSuccess"`
	ErrorDetails *ErrorDetails `json:"errorDetails"`
}

func (r *result) outcome() *result { return r }

// configurationResponse is DescribeConnectorConfigurationResponse.
type configurationResponse struct {
	result
	connector.CustomConfiguration
}

type validateSettingsResponse struct {
	result
	ErrorsByInputField map[string]string `json:"errorsByInputField"`
}

// Entity is one entity a connector lists.
type Entity struct {
	EntityIdentifier  string `json:"entityIdentifier"`
	HasNestedEntities bool   `json:"hasNestedEntities"`
	Label             string `json:"label"`
	Description       string `json:"description"`
}

type listEntitiesResponse struct {
	result
	Entities  []Entity `json:"entities"`
	NextToken string   `json:"nextToken"`
}

type describeEntityResponse struct {
	result
	EntityDefinition json.RawMessage `json:"entityDefinition"`
}

// EntityDefinition is the part of a connector's entity description the
// driver reads.
type EntityDefinition struct {
	Entity Entity            `json:"entity"`
	Fields []FieldDefinition `json:"fields"`
}

// FieldDefinition describes one field of an entity.
type FieldDefinition struct {
	FieldName      string `json:"fieldName"`
	DataType       string `json:"dataType"`
	Label          string `json:"label"`
	IsPrimaryKey   bool   `json:"isPrimaryKey"`
	ReadProperties *struct {
		IsRetrievable                         *bool `json:"isRetrievable"`
		IsNullable                            *bool `json:"isNullable"`
		IsQueryable                           *bool `json:"isQueryable"`
		IsTimestampFieldForIncrementalQueries bool  `json:"isTimestampFieldForIncrementalQueries"`
	} `json:"readProperties"`
	WriteProperties *struct {
		IsCreatable              bool     `json:"isCreatable"`
		IsUpdatable              bool     `json:"isUpdatable"`
		IsNullable               bool     `json:"isNullable"`
		IsUpsertable             bool     `json:"isUpsertable"`
		SupportedWriteOperations []string `json:"supportedWriteOperations"`
	} `json:"writeProperties"`
	FilterOperators []string `json:"filterOperators"`
}

type queryDataResponse struct {
	result
	NextToken string   `json:"nextToken"`
	Records   []string `json:"records"`
}

// WriteRecordResult is the outcome of one written record, in input order.
type WriteRecordResult struct {
	IsSuccess    bool   `json:"isSuccess"`
	RecordID     string `json:"recordId"`
	ErrorMessage string `json:"errorMessage"`
}

type writeDataResponse struct {
	result
	WriteRecordResults []WriteRecordResult `json:"writeRecordResults"`
}
