package slackconn_test

// End-to-end: the whole server (internal/app behind httptest) driven by the
// real AWS SDK AppFlow client, reading a slacktest workspace into a local
// bucket (DataDir/s3/<bucket>).

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector/slackconn/slacktest"
)

func TestE2ESlackToS3(t *testing.T) {
	w := slacktest.New(t)
	t.Setenv("APPFLOWD_SLACK_API_URL", w.URL())
	w.AddChannel("C1", "general", "public_channel")
	w.Post("C1", map[string]any{"type": "message", "user": "U1", "text": "hello, world", "ts": "1704067200.000100"})
	w.Post("C1", map[string]any{"type": "message", "user": "U2", "text": "second", "ts": "1704067260.000200", "reply_count": 3})
	w.Post("C1", map[string]any{"type": "message", "user": "U1", "text": "later", "ts": "1704070800.000000"})

	ctx := context.Background()
	srv := apptest.Start(t, app.Config{}, "lake")
	dataDir, c := srv.DataDir, srv.Client

	profile := func(name, token string) error {
		_, err := c.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
			ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeSlack, ConnectionMode: types.ConnectionModePublic,
			ConnectorProfileConfig: &types.ConnectorProfileConfig{
				ConnectorProfileProperties: &types.ConnectorProfileProperties{Slack: &types.SlackConnectorProfileProperties{InstanceUrl: aws.String("https://acme.slack.com")}},
				ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Slack: &types.SlackConnectorProfileCredentials{
					ClientId: aws.String(slacktest.ClientID), ClientSecret: aws.String(slacktest.ClientSecret), AccessToken: aws.String(token)}},
			}})
		return err
	}
	if err := profile("bad", "xoxp-wrong"); err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("profile with a bad token: %v, want a ConnectorAuthenticationException naming invalid_auth", err)
	}
	if err := profile("slack", slacktest.UserToken); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}

	ents, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("slack"), EntitiesPath: aws.String("conversations")})
	if err != nil {
		t.Fatal(err)
	}
	if ch := ents.ConnectorEntityMap["Channels"]; len(ch) != 1 || aws.ToString(ch[0].Name) != "conversations/C1" || aws.ToString(ch[0].Label) != "general" {
		t.Errorf("channels: %+v", ents.ConnectorEntityMap)
	}

	op := func(o types.SlackConnectorOperator) *types.ConnectorOperator {
		return &types.ConnectorOperator{Slack: o}
	}
	mapTask := func(src, dst, typ string) types.Task {
		return types.Task{TaskType: types.TaskTypeMap, SourceFields: []string{src}, DestinationField: aws.String(dst), ConnectorOperator: op(types.SlackConnectorOperatorNoOp),
			TaskProperties: map[string]string{"SOURCE_DATA_TYPE": typ, "DESTINATION_DATA_TYPE": typ}}
	}
	_, err = c.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("slack-to-s3"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeSlack, ConnectorProfileName: aws.String("slack"),
			SourceConnectorProperties: &types.SourceConnectorProperties{Slack: &types.SlackSourceProperties{Object: aws.String("conversations/C1")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("lake"), BucketPrefix: aws.String("slack"),
				S3OutputFormatConfig: &types.S3OutputFormatConfig{FileType: types.FileTypeCsv,
					AggregationConfig: &types.AggregationConfig{AggregationType: types.AggregationTypeSingleFile}}}}}},
		Tasks: []types.Task{
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"ts", "user", "text", "reply_count"}, ConnectorOperator: op(types.SlackConnectorOperatorProjection)},
			{TaskType: types.TaskTypeFilter, SourceFields: []string{"ts"}, ConnectorOperator: op(types.SlackConnectorOperatorLessThan),
				TaskProperties: map[string]string{"DATA_TYPE": "datetime", "VALUE": "1704070800000"}},
			mapTask("ts", "ts", "datetime"), mapTask("user", "user", "string"), mapTask("text", "text", "string"), mapTask("reply_count", "replies", "integer"),
		},
	})
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	st, err := c.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("slack-to-s3")})
	if err != nil {
		t.Fatal(err)
	}
	var rec types.ExecutionRecord
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := c.DescribeFlowExecutionRecords(ctx, &appflow.DescribeFlowExecutionRecordsInput{FlowName: aws.String("slack-to-s3")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.FlowExecutions) > 0 && aws.ToString(out.FlowExecutions[0].ExecutionId) == aws.ToString(st.ExecutionId) &&
			out.FlowExecutions[0].ExecutionStatus != types.ExecutionStatusInprogress {
			rec = out.FlowExecutions[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not finish in 60 s")
		}
	}
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		msg := ""
		if rec.ExecutionResult != nil && rec.ExecutionResult.ErrorInfo != nil {
			msg = aws.ToString(rec.ExecutionResult.ErrorInfo.ExecutionMessage)
		}
		t.Fatalf("run %s: %s", rec.ExecutionStatus, msg)
	}
	var files []string
	var body string
	root := filepath.Join(dataDir, "s3", "lake")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
			b, _ := os.ReadFile(p)
			body = string(b)
		}
		return err
	})
	if len(files) != 1 || !strings.HasPrefix(files[0], "slack/slack-to-s3/"+aws.ToString(st.ExecutionId)) {
		t.Fatalf("objects %v, want one under slack/slack-to-s3/<execution>", files)
	}
	want := "ts,user,text,replies\n" +
		"2024-01-01T00:01:00.000Z,U2,second,3\n" +
		"2024-01-01T00:00:00.000Z,U1,\"hello, world\",\n"
	if body != want {
		t.Errorf("output\n%q\nwant\n%q", body, want)
	}
	if n := aws.ToInt64(rec.ExecutionResult.RecordsProcessed); n != 2 {
		t.Errorf("recordsProcessed %d, want 2", n)
	}
}
