package service_test

// Behaviours from the specs' "most often got wrong" lists (control-plane
// §13 = CP, data-plane §13 = DP) that had no test of their own, driven the
// way users drive them: the real AWS SDK client against the assembled app.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/connector/zendeskconn/zdtest"
)

// behaviourClock is a settable clock for the whole app.
type behaviourClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *behaviourClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *behaviourClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type behaviourEnv struct {
	ctx    context.Context
	app    *app.App
	srv    *httptest.Server
	client *appflow.Client
	clock  *behaviourClock
}

// newBehaviourEnv assembles appflowd as `appflowd serve` does, on a temp
// data dir, with the SDK client pointed at it.
func newBehaviourEnv(t *testing.T) *behaviourEnv {
	t.Helper()
	ctx := context.Background()
	clock := &behaviourClock{now: time.Date(2024, 3, 5, 14, 7, 0, 0, time.UTC)}
	a, err := app.New(ctx, app.Config{DataDir: t.TempDir(), Region: "us-east-1", AccountID: "123456789012", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		a.Close()
	})
	client := appflow.New(appflow.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{},
		HTTPClient: srv.Client(), RetryMaxAttempts: 1,
	})
	return &behaviourEnv{ctx: ctx, app: a, srv: srv, client: client, clock: clock}
}

func behaviourS3Flow(name string) *appflow.CreateFlowInput {
	return &appflow.CreateFlowInput{
		FlowName:      aws.String(name),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{
				BucketName: aws.String("src-bucket"), BucketPrefix: aws.String("in")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{
				BucketName: aws.String("dst-bucket")}}}},
		Tasks: []types.Task{{TaskType: types.TaskTypeMap, SourceFields: []string{"id"}, DestinationField: aws.String("id"),
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
	}
}

// CP8: a clientToken binds to its first call for 8 hours, then is free:
// within them a replay returns the first answer and other input conflicts;
// after them the same token is a new call.
func TestBehaviourCP08ClientTokenExpiresAfter8Hours(t *testing.T) {
	e := newBehaviourEnv(t)
	in := behaviourS3Flow("first")
	in.ClientToken = aws.String("token-8h")
	first, err := e.client.CreateFlow(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(8*time.Hour - time.Minute)
	again, err := e.client.CreateFlow(e.ctx, in)
	if err != nil || aws.ToString(again.FlowArn) != aws.ToString(first.FlowArn) {
		t.Fatalf("replay after 7h59m got %+v, %v; want the first answer", again, err)
	}
	other := behaviourS3Flow("second")
	other.ClientToken = in.ClientToken
	_, err = e.client.CreateFlow(e.ctx, other)
	var conflict *types.ConflictException
	if !errors.As(err, &conflict) {
		t.Fatalf("other input with the token after 7h59m got %v, want ConflictException", err)
	}

	e.clock.Advance(2 * time.Minute) // 8h01m after the first call
	out, err := e.client.CreateFlow(e.ctx, other)
	if err != nil {
		t.Fatalf("the token after 8 hours: %v, want a new call", err)
	}
	if !strings.HasSuffix(aws.ToString(out.FlowArn), ":flow/second") {
		t.Errorf("the token after 8 hours got %s, want flow/second", aws.ToString(out.FlowArn))
	}
}

// CP11 (and CP12's "bodies are JSON objects"): the results of list calls
// are sent even when empty — "flows": [] — so boto3 callers can index them
// (resp["flows"]); a missing member is a KeyError there. An empty request
// body is read as {}.
func TestBehaviourCP11EmptyListResultsAreEchoed(t *testing.T) {
	e := newBehaviourEnv(t)
	if _, err := e.client.CreateFlow(e.ctx, behaviourS3Flow("untagged")); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:appflow:us-east-1:123456789012:flow/untagged"
	for _, c := range []struct {
		method, path, body, member, want string
	}{
		{"POST", "/describe-connector-profiles", ``, "connectorProfileDetails", `[]`},
		{"POST", "/list-connectors", ``, "connectors", `[]`},
		{"POST", "/describe-connectors", `{"connectorTypes":["S3"]}`, "connectors", `[]`},
		{"POST", "/describe-flow-execution-records", `{"flowName":"untagged"}`, "flowExecutions", `[]`},
		{"POST", "/cancel-flow-executions", `{"flowName":"untagged"}`, "invalidExecutions", `[]`},
		{"GET", "/tags/" + strings.NewReplacer(":", "%3A", "/", "%2F").Replace(arn), ``, "tags", `{}`},
	} {
		req, err := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var doc map[string]json.RawMessage
		if resp.StatusCode != 200 || json.Unmarshal(body, &doc) != nil {
			t.Errorf("%s %s: got %d %s", c.method, c.path, resp.StatusCode, body)
			continue
		}
		if got, ok := doc[c.member]; !ok || string(got) != c.want {
			t.Errorf("%s %s: got %s, want %q: %s", c.method, c.path, body, c.member, c.want)
		}
	}
	// ListFlows with every flow deleted: "flows": [] and no nextToken.
	if _, err := e.client.DeleteFlow(e.ctx, &appflow.DeleteFlowInput{FlowName: aws.String("untagged")}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Post(e.srv.URL+"/list-flows", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"flows":[]}` {
		t.Errorf("ListFlows with no flows and no request body got %d %s, want {\"flows\":[]}", resp.StatusCode, body)
	}
}

// DP1: connectorOperator is keyed by the source connector, whatever the
// destination: an S3 source writing to Zendesk takes {"S3": ...}, which
// DescribeFlow echoes as sent; two keys are ambiguous and refused.
func TestBehaviourDP01ConnectorOperatorKeyedBySource(t *testing.T) {
	e := newBehaviourEnv(t)
	zd := zdtest.New(t) // the profile check logs in: to a local Zendesk, never a real host
	_, err := e.client.CreateConnectorProfile(e.ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("zd"), ConnectorType: types.ConnectorTypeZendesk, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{Zendesk: &types.ZendeskConnectorProfileProperties{
				InstanceUrl: aws.String(zd.URL())}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Zendesk: &types.ZendeskConnectorProfileCredentials{
				ClientId: aws.String("id"), ClientSecret: aws.String("secret"), AccessToken: aws.String(zdtest.AccessToken)}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	in := behaviourS3Flow("s3-to-zendesk")
	in.DestinationFlowConfigList = []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeZendesk,
		ConnectorProfileName: aws.String("zd"),
		DestinationConnectorProperties: &types.DestinationConnectorProperties{Zendesk: &types.ZendeskDestinationProperties{
			Object: aws.String("tickets")}}}}
	if _, err := e.client.CreateFlow(e.ctx, in); err != nil {
		t.Fatalf("CreateFlow S3 -> Zendesk with S3-keyed operators: %v", err)
	}
	d, err := e.client.DescribeFlow(e.ctx, &appflow.DescribeFlowInput{FlowName: in.FlowName})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Tasks) != 1 || d.Tasks[0].ConnectorOperator == nil || d.Tasks[0].ConnectorOperator.S3 != types.S3ConnectorOperatorNoOp ||
		d.Tasks[0].ConnectorOperator.Zendesk != "" {
		t.Errorf("DescribeFlow tasks %+v, want the operator keyed S3 as sent", d.Tasks)
	}

	both := behaviourS3Flow("ambiguous")
	both.Tasks[0].ConnectorOperator.Zendesk = types.ZendeskConnectorOperatorNoOp
	_, err = e.client.CreateFlow(e.ctx, both)
	var ve *types.ValidationException
	if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), "keyed by the source connector type S3") {
		t.Errorf("two connectorOperator keys got %v, want ValidationException naming the source S3", err)
	}
}
