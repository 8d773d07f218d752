package apptest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
)

// LakeFlow is the flow the SaaS drivers' e2e tests create: source with
// tasks, written as one JSON Lines file a run under s3://lake/<name>/.
func LakeFlow(name string, trigger *types.TriggerConfig, source *types.SourceFlowConfig, tasks []types.Task) *appflow.CreateFlowInput {
	return &appflow.CreateFlowInput{
		FlowName: aws.String(name), TriggerConfig: trigger, SourceFlowConfig: source,
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("lake"), BucketPrefix: aws.String(name),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeJson,
					AggregationConfig: &types.AggregationConfig{AggregationType: types.AggregationTypeSingleFile}}}}}},
		Tasks: tasks,
	}
}

// Projected is a PROJECTION of fields followed by a NO_OP Map of each
// field to itself, with the source connector's own operators.
func Projected(fields []string, projection, noop *types.ConnectorOperator) []types.Task {
	tasks := []types.Task{{TaskType: types.TaskTypeFilter, SourceFields: fields, ConnectorOperator: projection}}
	for _, f := range fields {
		tasks = append(tasks, types.Task{TaskType: types.TaskTypeMap, SourceFields: []string{f}, DestinationField: aws.String(f),
			ConnectorOperator: noop, TaskProperties: map[string]string{}})
	}
	return tasks
}

// LakeLines are the JSON Lines a LakeFlow run wrote in a server with data
// dir dir: every line of every file under s3://lake/<flow>/<flow>/<execution>/.
func LakeLines(t testing.TB, dir, flow, execution string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, "s3", "lake", flow, flow, execution)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, strings.Split(strings.TrimSpace(string(b)), "\n")...)
		return nil
	})
	if err != nil {
		t.Fatalf("output of %s: %v", execution, err)
	}
	return out
}
