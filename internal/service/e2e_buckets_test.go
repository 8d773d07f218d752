package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
)

// TestE2EBucketNamesCheckedAtCreate: CreateFlow and UpdateFlow refuse a
// bucket name or prefix that can never work with a ValidationException
// naming the member, instead of a failed run later.
func TestE2EBucketNamesCheckedAtCreate(t *testing.T) {
	srv := apptest.Start(t, app.Config{PlanInterval: -1}, "src-bucket", "dst-bucket")
	ctx := context.Background()
	src := func(in *appflow.CreateFlowInput) *types.S3SourceProperties {
		return in.SourceFlowConfig.SourceConnectorProperties.S3
	}
	dst := func(in *appflow.CreateFlowInput) *types.S3DestinationProperties {
		return in.DestinationFlowConfigList[0].DestinationConnectorProperties.S3
	}
	tests := []struct {
		name   string
		edit   func(in *appflow.CreateFlowInput)
		member string
	}{
		{"source bucket ../x", func(in *appflow.CreateFlowInput) { src(in).BucketName = aws.String("../x") }, "sourceFlowConfig.sourceConnectorProperties.S3.bucketName"},
		{"source bucket UPPER", func(in *appflow.CreateFlowInput) { src(in).BucketName = aws.String("UPPER") }, "S3.bucketName"},
		{"destination bucket ab-", func(in *appflow.CreateFlowInput) { dst(in).BucketName = aws.String("ab-") }, "destinationFlowConfigList.1.member.destinationConnectorProperties.S3.bucketName"},
		{"destination bucket an IP", func(in *appflow.CreateFlowInput) { dst(in).BucketName = aws.String("192.168.1.1") }, "S3.bucketName"},
		{"destination bucket with ..", func(in *appflow.CreateFlowInput) { dst(in).BucketName = aws.String("a..b") }, "S3.bucketName"},
		{"source prefix ../x", func(in *appflow.CreateFlowInput) { src(in).BucketPrefix = aws.String("../x") }, "S3.bucketPrefix"},
		{"destination prefix a/./b", func(in *appflow.CreateFlowInput) { dst(in).BucketPrefix = aws.String("a/./b") }, "S3.bucketPrefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := flowE2ES3("bad-bucket", types.TriggerTypeOndemand)
			tt.edit(in)
			_, err := srv.Client.CreateFlow(ctx, in)
			var ve *types.ValidationException
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.member) {
				t.Errorf("CreateFlow: got %v, want ValidationException naming %s", err, tt.member)
			}
		})
	}

	// A good flow, then an UpdateFlow that breaks a bucket name.
	in := flowE2ES3("good", types.TriggerTypeOndemand)
	if _, err := srv.Client.CreateFlow(ctx, in); err != nil {
		t.Fatal(err)
	}
	dst(in).BucketName = aws.String("Dst_Bucket")
	_, err := srv.Client.UpdateFlow(ctx, &appflow.UpdateFlowInput{FlowName: in.FlowName, TriggerConfig: in.TriggerConfig,
		SourceFlowConfig: in.SourceFlowConfig, DestinationFlowConfigList: in.DestinationFlowConfigList, Tasks: in.Tasks})
	var ve *types.ValidationException
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "S3.bucketName") || !strings.Contains(err.Error(), "Dst_Bucket") {
		t.Errorf("UpdateFlow: got %v, want ValidationException naming the member and the name", err)
	}
}
