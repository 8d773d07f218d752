package retiredconn_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
)

// TestRetiredDestinations: flows to Lookout for Metrics and Honeycode (and
// a Honeycode profile) round-trip through the AppFlow SDK, DescribeConnectors
// lists both as destinations, and every run ends in Error with the
// retirement message alone, before the source is read.
func TestRetiredDestinations(t *testing.T) {
	srv := apptest.Start(t, app.Config{PlanInterval: -1}, "raw")
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Join(srv.DataDir, "s3", "raw", "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srv.DataDir, "s3", "raw", "in", "rows.csv"), []byte("id\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	if _, err := srv.Client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("hc"), ConnectorType: types.ConnectorTypeHoneycode,
		ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Honeycode: &types.HoneycodeConnectorProfileProperties{}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Honeycode: &types.HoneycodeConnectorProfileCredentials{
				AccessToken: aws.String("at"), RefreshToken: aws.String("rt")}},
		},
	}); err != nil {
		t.Fatalf("CreateConnectorProfile Honeycode: %v", err)
	}
	profs, err := srv.Client.DescribeConnectorProfiles(ctx, &appflow.DescribeConnectorProfilesInput{ConnectorProfileNames: []string{"hc"}})
	if err != nil || len(profs.ConnectorProfileDetails) != 1 || profs.ConnectorProfileDetails[0].ConnectorType != types.ConnectorTypeHoneycode {
		t.Fatalf("DescribeConnectorProfiles hc: %+v, %v", profs, err)
	}

	source := &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
		SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
			BucketName: aws.String("raw"), BucketPrefix: aws.String("in"),
			S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}}
	tasks := []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
		ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}}
	for _, tc := range []struct {
		flow string
		dest types.DestinationFlowConfig
		want string
	}{
		{"to-lookout", types.DestinationFlowConfig{ConnectorType: types.ConnectorTypeLookoutmetrics,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{LookoutMetrics: &types.LookoutMetricsDestinationProperties{}}},
			"Amazon Lookout for Metrics reached end of support on 2025-10-09"},
		{"to-honeycode", types.DestinationFlowConfig{ConnectorType: types.ConnectorTypeHoneycode, ConnectorProfileName: aws.String("hc"),
			DestinationConnectorProperties: &types.DestinationConnectorProperties{Honeycode: &types.HoneycodeDestinationProperties{Object: aws.String("wb/table")}}},
			"Amazon Honeycode was discontinued on 2024-02-29"},
	} {
		if _, err := srv.Client.CreateFlow(ctx, &appflow.CreateFlowInput{FlowName: aws.String(tc.flow),
			TriggerConfig:    &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
			SourceFlowConfig: source, DestinationFlowConfigList: []types.DestinationFlowConfig{tc.dest}, Tasks: tasks}); err != nil {
			t.Fatalf("CreateFlow %s: %v", tc.flow, err)
		}
		fl, err := srv.Client.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String(tc.flow)})
		if err != nil {
			t.Fatal(err)
		}
		d := fl.DestinationFlowConfigList[0]
		if d.ConnectorType != tc.dest.ConnectorType || d.DestinationConnectorProperties == nil ||
			(tc.dest.ConnectorType == types.ConnectorTypeLookoutmetrics && d.DestinationConnectorProperties.LookoutMetrics == nil) ||
			(tc.dest.ConnectorType == types.ConnectorTypeHoneycode && aws.ToString(d.DestinationConnectorProperties.Honeycode.Object) != "wb/table") {
			t.Errorf("%s: DescribeFlow destination %+v, want the one created", tc.flow, d)
		}
		rec := srv.RunFlow(t, tc.flow, time.Minute)
		if rec.ExecutionStatus != types.ExecutionStatusError || apptest.Message(rec) != tc.want {
			t.Errorf("%s run: %s %q, want Error %q", tc.flow, rec.ExecutionStatus, apptest.Message(rec), tc.want)
		}
		if n := aws.ToInt64(rec.ExecutionResult.RecordsProcessed); n != 0 {
			t.Errorf("%s run read %d records, want 0: the source is not read", tc.flow, n)
		}
	}

	cons, err := srv.Client.DescribeConnectors(ctx, &appflow.DescribeConnectorsInput{
		ConnectorTypes: []types.ConnectorType{types.ConnectorTypeLookoutmetrics, types.ConnectorTypeHoneycode}})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []types.ConnectorType{types.ConnectorTypeLookoutmetrics, types.ConnectorTypeHoneycode} {
		c, ok := cons.ConnectorConfigurations[string(typ)]
		if !ok || !c.CanUseAsDestination || c.CanUseAsSource {
			t.Errorf("DescribeConnectors %s: %+v (listed %v), want a destination-only connector", typ, c, ok)
		}
	}
}
