package e2e_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
)

// TestInvalidTasks: a bad task list is refused at CreateFlow with a
// ValidationException naming the task (AWS-style 1-based "tasks.N.member"
// for the model's enums), not at run time.
func TestInvalidTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	cases := []struct {
		name  string
		tasks []types.Task
		want  string
	}{
		{"contains-not-an-s3-operator", tasks(mapAll(nil), types.Task{TaskType: types.TaskTypeFilter, SourceFields: []string{"a"},
			ConnectorOperator: &types.ConnectorOperator{S3: "CONTAINS"}, TaskProperties: map[string]string{"DATA_TYPE": "string", "VALUE": "x"}}), "tasks.2.member.connectorOperator.S3"},
		{"map-two-fields", tasks(mapAll(nil), types.Task{TaskType: types.TaskTypeMap, SourceFields: []string{"a", "b"}, DestinationField: aws.String("c"),
			ConnectorOperator: op(types.S3ConnectorOperatorNoOp)}), "tasks[1]"},
		{"truncate-not-a-number", tasks(maps("a"), task(types.TaskTypeTruncate, types.S3ConnectorOperatorNoOp, []string{"a"}, "",
			map[string]string{"TRUNCATE_LENGTH": "many"})), "tasks[1]"},
		{"bad-exclude-list", tasks(mapAll(map[string]string{"EXCLUDE_SOURCE_FIELDS_LIST": `["a"`})), "tasks[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.client.CreateFlow(e.ctx, &appflow.CreateFlowInput{
				FlowName:      aws.String(c.name),
				TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
				SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
					SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{BucketName: aws.String(e.src), BucketPrefix: aws.String("in")}}},
				DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
					DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{BucketName: aws.String(e.dst)}}}},
				Tasks: c.tasks,
			})
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Fatalf("CreateFlow: %v, want a ValidationException", err)
			}
			if !strings.Contains(ve.ErrorMessage(), c.want) {
				t.Errorf("message %q does not name %s", ve.ErrorMessage(), c.want)
			}
		})
	}
}
