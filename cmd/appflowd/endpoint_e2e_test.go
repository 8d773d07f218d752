package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/events/eventstest"
)

// TestEndpointFlagsReachMoto parses `serve --endpoint s3=... --endpoint
// eventbridge=...` as the binary does, assembles appflowd on the result,
// and runs an S3 -> S3 flow and an S3 -> EventBridge flow through the
// AppFlow SDK: the buckets are moto's, the events land on moto's bus, and
// each run's report reaches moto's default bus.
func TestEndpointFlagsReachMoto(t *testing.T) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"} {
		t.Setenv(k, v)
	}
	moto := eventstest.OwnMoto(t)
	c, err := parseServe([]string{"--endpoint", "s3=" + moto, "--endpoint", "eventbridge=" + moto + "/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := apptest.Start(t, app.Config{Endpoints: c.Endpoints, PlanInterval: -1})
	ctx := context.Background()

	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	for _, b := range []string{"raw", "lake"} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("raw"), Key: aws.String("in/rows.csv"),
		Body: strings.NewReader("id,name\n1,a\n2,b\n")}); err != nil {
		t.Fatal(err)
	}
	bus := eventstest.Name("bus-")
	object := "aws.partner/appflow/salesforce.com/123456789012/" + bus
	busEvents := eventstest.Subscribe(t, moto, bus, `{"source":["`+object+`"]}`)
	reports := eventstest.Subscribe(t, moto, "default", `{"source":["aws.appflow"]}`)

	source := &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
		SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
			BucketName: aws.String("raw"), BucketPrefix: aws.String("in"),
			S3InputFormatConfig: &types.S3InputFormatConfig{S3InputFileType: types.S3InputFileTypeCsv}}}}
	tasks := []types.Task{{TaskType: types.TaskTypeMapAll, SourceFields: []string{},
		ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}}
	for name, dest := range map[string]types.DestinationFlowConfig{
		"to-lake": {ConnectorType: types.ConnectorTypeS3, DestinationConnectorProperties: &types.DestinationConnectorProperties{
			S3: &types.S3DestinationProperties{BucketName: aws.String("lake"), BucketPrefix: aws.String("out"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeJson}}}},
		"to-bus": {ConnectorType: types.ConnectorTypeEventbridge, DestinationConnectorProperties: &types.DestinationConnectorProperties{
			EventBridge: &types.EventBridgeDestinationProperties{Object: aws.String(object)}}},
	} {
		if _, err := srv.Client.CreateFlow(ctx, &appflow.CreateFlowInput{FlowName: aws.String(name),
			TriggerConfig:    &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
			SourceFlowConfig: source, DestinationFlowConfigList: []types.DestinationFlowConfig{dest}, Tasks: tasks}); err != nil {
			t.Fatalf("CreateFlow %s: %v", name, err)
		}
	}

	rec := srv.RunFlow(t, "to-lake", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful || aws.ToInt64(rec.ExecutionResult.RecordsProcessed) != 2 {
		t.Fatalf("to-lake: status %s, %d records, message %q; want Successful with 2", rec.ExecutionStatus,
			aws.ToInt64(rec.ExecutionResult.RecordsProcessed), apptest.Message(rec))
	}
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("out/to-lake/")})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, o := range list.Contents {
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		lines = append(lines, strings.Fields(string(b))...)
	}
	if len(lines) != 2 || !strings.Contains(strings.Join(lines, " "), `"name":"b"`) {
		t.Errorf("moto's lake bucket holds %q under out/to-lake/, want the 2 rows as JSON lines", lines)
	}

	rec = srv.RunFlow(t, "to-bus", time.Minute)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("to-bus: status %s: %q", rec.ExecutionStatus, apptest.Message(rec))
	}
	names := map[string]bool{}
	for _, e := range busEvents.Wait(t, 2, 30*time.Second) {
		var d map[string]string
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatalf("detail %s: %v", e.Detail, err)
		}
		names[d["name"]] = true
	}
	if !names["a"] || !names["b"] {
		t.Errorf("events on moto's bus carry names %v, want a and b", names)
	}
	flows := map[string]bool{}
	for _, e := range reports.Wait(t, 2, 30*time.Second) {
		var d map[string]string
		_ = json.Unmarshal(e.Detail, &d)
		flows[d["flow-name"]] = true
	}
	if !flows["to-lake"] || !flows["to-bus"] {
		t.Errorf("run reports on moto's default bus name flows %v, want to-lake and to-bus", flows)
	}
}
