package catalog_test

// End-to-end: the catalog's destination lists are what CreateFlow
// enforces, through the whole server and the AWS SDK client.

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector/sapodataconn/odatatest"
)

// TestE2EDestinationLists: S3 sends to SAPOData (SAP deep insert reads
// JSON Lines from S3, connectors-saas-2 §8.1), as the catalog lists and
// DescribeConnectors says; SAPOData does not send to Snowflake.
func TestE2EDestinationLists(t *testing.T) {
	ctx := context.Background()
	sap := odatatest.New(t)
	srv := apptest.Start(t, app.Config{}, "inbox")
	c := srv.Client

	dc, err := c.DescribeConnectors(ctx, &appflow.DescribeConnectorsInput{ConnectorTypes: []types.ConnectorType{types.ConnectorTypeS3}})
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, d := range dc.ConnectorConfigurations["S3"].SupportedDestinationConnectors {
		listed = listed || d == types.ConnectorTypeSapodata
	}
	if !listed {
		t.Errorf("DescribeConnectors(S3) does not list SAPOData among %v", dc.ConnectorConfigurations["S3"].SupportedDestinationConnectors)
	}

	_, err = c.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("sap"), ConnectorType: types.ConnectorTypeSapodata, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{SAPOData: &types.SAPODataConnectorProfileProperties{
				ApplicationHostUrl: aws.String("http://127.0.0.1"), PortNumber: aws.Int32(int32(sap.Port())),
				ApplicationServicePath: aws.String(odatatest.CatalogPath), ClientNumber: aws.String(odatatest.SAPClient), LogonLanguage: aws.String("EN"),
			}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{SAPOData: &types.SAPODataConnectorProfileCredentials{
				BasicAuthCredentials: &types.BasicAuthCredentials{Username: aws.String(odatatest.User), Password: aws.String(odatatest.Password)}}},
		},
	})
	if err != nil {
		t.Fatalf("CreateConnectorProfile SAPOData: %v", err)
	}

	noOp := &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}
	_, err = c.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("orders-to-sap"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("inbox"), BucketPrefix: aws.String("orders"),
				S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeJson}}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeSapodata, ConnectorProfileName: aws.String("sap"),
			DestinationConnectorProperties: &types.DestinationConnectorProperties{SAPOData: &types.SAPODataDestinationProperties{
				ObjectPath: aws.String(odatatest.ServicePath + "/A_SalesOrder"), WriteOperationType: types.WriteOperationTypeInsert}}}},
		Tasks: []types.Task{
			{TaskType: types.TaskTypeMap, SourceFields: []string{"SalesOrder"}, DestinationField: aws.String("SalesOrder"), ConnectorOperator: noOp},
			{TaskType: types.TaskTypeMap, SourceFields: []string{"SoldToParty"}, DestinationField: aws.String("SoldToParty"), ConnectorOperator: noOp},
		},
	})
	if err != nil {
		t.Fatalf("CreateFlow S3 -> SAPOData: %v", err)
	}
	df, err := c.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String("orders-to-sap")})
	if err != nil {
		t.Fatal(err)
	}
	if got := df.DestinationFlowConfigList[0].ConnectorType; got != types.ConnectorTypeSapodata {
		t.Errorf("DescribeFlow destination %s, want SAPOData", got)
	}

	// SAPOData's own list has no Snowflake: refused at CreateFlow.
	_, err = c.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("sap-to-snowflake"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeSapodata, ConnectorProfileName: aws.String("sap"),
			SourceConnectorProperties: &types.SourceConnectorProperties{SAPOData: &types.SAPODataSourceProperties{
				ObjectPath: aws.String(odatatest.ServicePath + "/A_SalesOrder")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeSnowflake, ConnectorProfileName: aws.String("sap"),
			DestinationConnectorProperties: &types.DestinationConnectorProperties{Snowflake: &types.SnowflakeDestinationProperties{
				Object: aws.String("T"), IntermediateBucketName: aws.String("inbox")}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{}, ConnectorOperator: &types.ConnectorOperator{SAPOData: types.SAPODataConnectorOperatorNoOp}}},
	})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("CreateFlow SAPOData -> Snowflake: %v, want a ValidationException", err)
	}
}
