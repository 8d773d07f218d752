package restjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// fakeService records what it was asked and answers with canned outputs or
// a canned error.
type fakeService struct {
	mu        sync.Mutex
	err       error
	panicWith any
	inputs    map[string]any
	callers   map[string]wire.Caller
	outputs   map[string]any
}

func newFake() *fakeService {
	return &fakeService{inputs: map[string]any{}, callers: map[string]wire.Caller{}, outputs: map[string]any{}}
}

func (f *fakeService) call(ctx context.Context, op string, in any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inputs[op] = in
	f.callers[op] = wire.CallerFrom(ctx)
	if f.panicWith != nil {
		panic(f.panicWith)
	}
	return f.err
}

func (f *fakeService) input(op string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inputs[op]
}

func output[T any](f *fakeService, op string) *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.outputs[op].(*T); ok {
		return v
	}
	return new(T)
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func newServer(t *testing.T, svc wire.Service, opts Options) *httptest.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	srv := httptest.NewServer(NewHandler(svc, opts))
	t.Cleanup(srv.Close)
	return srv
}

func newClient(srv *httptest.Server, akid, secret string) *appflow.Client {
	return appflow.New(appflow.Options{
		Region:       "us-west-2",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

func TestSDKRoundTrip(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, Options{DefaultAccountID: "000000000000", DefaultRegion: "us-east-1"})
	client := newClient(srv, "AKID", "secret")
	ctx := context.Background()

	fake.outputs["CreateFlow"] = &wire.CreateFlowResponse{FlowArn: "arn:aws:appflow:us-west-2:000000000000:flow/orders-copy", FlowStatus: wire.FlowStatusActive}
	out, err := client.CreateFlow(ctx, &appflow.CreateFlowInput{
		FlowName:      aws.String("orders-copy"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand},
		SourceFlowConfig: &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3,
			SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{BucketName: aws.String("src-bucket"), BucketPrefix: aws.String("flow")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3,
			DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{BucketName: aws.String("dst-bucket")}}}},
		Tasks: []types.Task{{SourceFields: []string{"id"}, TaskType: types.TaskTypeMap, DestinationField: aws.String("id"),
			ConnectorOperator: &types.ConnectorOperator{S3: types.S3ConnectorOperatorNoOp}}},
		Tags: map[string]string{"env": "test"},
	})
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	if aws.ToString(out.FlowArn) != "arn:aws:appflow:us-west-2:000000000000:flow/orders-copy" || out.FlowStatus != types.FlowStatusActive {
		t.Errorf("CreateFlow output = %+v", out)
	}
	in := fake.input("CreateFlow").(*wire.CreateFlowRequest)
	if in.FlowName != "orders-copy" || in.SourceFlowConfig.SourceConnectorProperties.S3.BucketPrefix != "flow" ||
		in.Tasks[0].ConnectorOperator.S3 != wire.S3ConnectorOperatorNoOp || in.Tags["env"] != "test" || in.ClientToken == "" {
		t.Errorf("service got %+v", in)
	}
	if c := fake.callers["CreateFlow"]; c.AccountID != "000000000000" || c.Region != "us-west-2" || c.AccessKeyID != "" {
		t.Errorf("caller = %+v, want default account, region from the scope, no key", c)
	}

	created := time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC)
	fake.outputs["DescribeFlow"] = &wire.DescribeFlowResponse{FlowName: "orders-copy", CreatedAt: wire.NewTimestamp(created),
		LastRunExecutionDetails: &wire.ExecutionDetails{MostRecentExecutionTime: wire.NewTimestamp(created.Add(time.Second))}}
	desc, err := client.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String("orders-copy")})
	if err != nil {
		t.Fatalf("DescribeFlow: %v", err)
	}
	if !desc.CreatedAt.Equal(created) || !desc.LastRunExecutionDetails.MostRecentExecutionTime.Equal(created.Add(time.Second)) {
		t.Errorf("timestamps = %v, %v; want %v and a second later", desc.CreatedAt, desc.LastRunExecutionDetails.MostRecentExecutionTime, created)
	}

	// Timestamps in the request: SDK -> epoch number -> wire.Timestamp.
	start := time.Date(2030, 1, 2, 3, 4, 5, 500e6, time.UTC)
	_, err = client.UpdateFlow(ctx, &appflow.UpdateFlowInput{
		FlowName: aws.String("orders-copy"),
		TriggerConfig: &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
			Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String("rate(1hours)"), ScheduleStartTime: aws.Time(start)}}},
		SourceFlowConfig:          &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeS3, SourceConnectorProperties: &types.SourceConnectorProperties{S3: &types.S3SourceProperties{BucketName: aws.String("src")}}},
		DestinationFlowConfigList: []types.DestinationFlowConfig{{ConnectorType: types.ConnectorTypeS3, DestinationConnectorProperties: &types.DestinationConnectorProperties{S3: &types.S3DestinationProperties{BucketName: aws.String("dst")}}}},
		Tasks:                     []types.Task{{SourceFields: []string{}, TaskType: types.TaskTypeMapAll}},
	})
	if err != nil {
		t.Fatalf("UpdateFlow: %v", err)
	}
	got := fake.input("UpdateFlow").(*wire.UpdateFlowRequest).TriggerConfig.TriggerProperties.Scheduled.ScheduleStartTime
	if got == nil || !got.Equal(start) {
		t.Errorf("scheduleStartTime = %v, want %v", got, start)
	}

	// Outputs with no members: the SDK accepts {}.
	if _, err := client.DeleteFlow(ctx, &appflow.DeleteFlowInput{FlowName: aws.String("orders-copy")}); err != nil {
		t.Fatalf("DeleteFlow: %v", err)
	}
}

func TestSDKValidationErrorFromServer(t *testing.T) {
	fake := newFake()
	client := newClient(newServer(t, fake, Options{}), "AKID", "secret")
	// CancelFlowExecutions models ValidationException (DescribeFlow does not,
	// so the SDK would return a generic API error there).
	_, err := client.CancelFlowExecutions(context.Background(), &appflow.CancelFlowExecutionsInput{FlowName: aws.String("my flow")})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want *types.ValidationException", err)
	}
	want := `1 validation error detected: Value 'my flow' at 'flowName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][\w!@#.-]+`
	if ve.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", ve.ErrorMessage(), want)
	}
	if fake.input("CancelFlowExecutions") != nil {
		t.Error("the service was called with an invalid input")
	}
}

func TestSDKExceptions(t *testing.T) {
	tests := []struct {
		code   fault.Code
		op     string // an operation that models the exception
		status int
		is     func(error) bool
	}{
		{fault.Invalid, "RegisterConnector", 400, func(err error) bool { var e *types.ValidationException; return errors.As(err, &e) }},
		{fault.NotFound, "RegisterConnector", 404, func(err error) bool { var e *types.ResourceNotFoundException; return errors.As(err, &e) }},
		{fault.Conflict, "RegisterConnector", 409, func(err error) bool { var e *types.ConflictException; return errors.As(err, &e) }},
		{fault.Unsupported, "StopFlow", 400, func(err error) bool { var e *types.UnsupportedOperationException; return errors.As(err, &e) }},
		{fault.AuthFailed, "RegisterConnector", 401, func(err error) bool { var e *types.ConnectorAuthenticationException; return errors.As(err, &e) }},
		{fault.ConnectorServer, "RegisterConnector", 400, func(err error) bool { var e *types.ConnectorServerException; return errors.As(err, &e) }},
		{fault.QuotaExceeded, "RegisterConnector", 402, func(err error) bool { var e *types.ServiceQuotaExceededException; return errors.As(err, &e) }},
		{fault.Throttled, "RegisterConnector", 429, func(err error) bool { var e *types.ThrottlingException; return errors.As(err, &e) }},
		{fault.AccessDenied, "RegisterConnector", 403, func(err error) bool { var e *types.AccessDeniedException; return errors.As(err, &e) }},
		{fault.Internal, "RegisterConnector", 500, func(err error) bool { var e *types.InternalServerException; return errors.As(err, &e) }},
		{fault.Unknown, "RegisterConnector", 500, func(err error) bool { var e *types.InternalServerException; return errors.As(err, &e) }},
	}
	fake := newFake()
	client := newClient(newServer(t, fake, Options{}), "AKID", "secret")
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			fake.mu.Lock()
			fake.err = fault.Wrap(tt.code, errors.New("db password is hunter2"), "it went wrong")
			fake.mu.Unlock()
			var err error
			switch tt.op {
			case "StopFlow":
				_, err = client.StopFlow(context.Background(), &appflow.StopFlowInput{FlowName: aws.String("ab")})
			default:
				_, err = client.RegisterConnector(context.Background(), &appflow.RegisterConnectorInput{ConnectorLabel: aws.String("label")})
			}
			if !tt.is(err) {
				t.Fatalf("got %T %v, want the modeled exception", errors.Unwrap(err), err)
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != tt.status || re.ServiceRequestID() == "" {
				t.Errorf("status %d, request id %q; want %d and an id", re.HTTPStatusCode(), re.ServiceRequestID(), tt.status)
			}
			var api smithy.APIError
			errors.As(err, &api)
			if tt.status == 500 {
				if strings.Contains(api.ErrorMessage(), "hunter2") || !strings.Contains(api.ErrorMessage(), re.ServiceRequestID()) {
					t.Errorf("500 message %q: want the request id and no internal detail", api.ErrorMessage())
				}
			} else if api.ErrorMessage() != "it went wrong: db password is hunter2" {
				t.Errorf("message = %q, want fault.Message of the error", api.ErrorMessage())
			}
		})
	}
}

func TestSDKTags(t *testing.T) {
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		opts := Options{}
		if signed {
			name = "sigv4"
			opts.Credentials = mustCreds(t, "AKIDTAGS secret-tags 123456789012")
		}
		t.Run(name, func(t *testing.T) {
			fake := newFake()
			client := newClient(newServer(t, fake, opts), "AKIDTAGS", "secret-tags")
			ctx := context.Background()
			// A profile name may hold '/', so ARNs carry several slashes.
			arn := "arn:aws:appflow:us-east-1:123456789012:connectorprofile/team/a:b+c"
			fake.outputs["ListTagsForResource"] = &wire.ListTagsForResourceResponse{Tags: map[string]string{"env": "prod"}}
			lt, err := client.ListTagsForResource(ctx, &appflow.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
			if err != nil {
				t.Fatalf("ListTagsForResource: %v", err)
			}
			if lt.Tags["env"] != "prod" {
				t.Errorf("tags = %v", lt.Tags)
			}
			if got := fake.input("ListTagsForResource").(*wire.ListTagsForResourceRequest).ResourceArn; got != arn {
				t.Errorf("ListTagsForResource ARN = %q, want %q", got, arn)
			}
			if _, err := client.TagResource(ctx, &appflow.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"k": "v w"}}); err != nil {
				t.Fatalf("TagResource: %v", err)
			}
			if got := fake.input("TagResource").(*wire.TagResourceRequest); got.ResourceArn != arn || got.Tags["k"] != "v w" {
				t.Errorf("TagResource got %+v", got)
			}
			if _, err := client.UntagResource(ctx, &appflow.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"a", "a+b=c", "x/y:z"}}); err != nil {
				t.Fatalf("UntagResource: %v", err)
			}
			got := fake.input("UntagResource").(*wire.UntagResourceRequest)
			if got.ResourceArn != arn || strings.Join(got.TagKeys, "|") != "a|a+b=c|x/y:z" {
				t.Errorf("UntagResource got %+v", got)
			}
			// The real service refuses reserved keys; so do we, before the service.
			_, err = client.TagResource(ctx, &appflow.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"aws:x": "v"}})
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Errorf("reserved tag key: got %v, want ValidationException", err)
			}
		})
	}
}

func mustCreds(t *testing.T, text string) *Credentials {
	t.Helper()
	c, err := ParseCredentials(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSigV4(t *testing.T) {
	creds := mustCreds(t, "# test keys\nAKIDALICE alice-secret 111111111111\n\nAKIDBOB\tbob/secret+x 222222222222\n")
	fake := newFake()
	var skew time.Duration
	var mu sync.Mutex
	srv := newServer(t, fake, Options{Credentials: creds, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(skew)
	}})
	ctx := context.Background()

	for _, k := range []struct{ akid, secret, account string }{{"AKIDALICE", "alice-secret", "111111111111"}, {"AKIDBOB", "bob/secret+x", "222222222222"}} {
		if _, err := newClient(srv, k.akid, k.secret).ListFlows(ctx, &appflow.ListFlowsInput{MaxResults: aws.Int32(10)}); err != nil {
			t.Fatalf("%s: ListFlows: %v", k.akid, err)
		}
		if c := fake.callers["ListFlows"]; c.AccountID != k.account || c.AccessKeyID != k.akid || c.Region != "us-west-2" {
			t.Errorf("%s: caller = %+v", k.akid, c)
		}
	}

	tests := []struct {
		name, akid, secret string
		skew               time.Duration
		code, msg          string
	}{
		{"wrong secret", "AKIDALICE", "not-the-secret", 0, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"unknown key", "AKIDMALLORY", "alice-secret", 0, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"stale date", "AKIDALICE", "alice-secret", 20 * time.Minute, "InvalidSignatureException", "Signature expired: "},
		{"future date", "AKIDALICE", "alice-secret", -20 * time.Minute, "InvalidSignatureException", "Signature not yet current: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			skew = tt.skew
			mu.Unlock()
			defer func() { mu.Lock(); skew = 0; mu.Unlock() }()
			_, err := newClient(srv, tt.akid, tt.secret).ListFlows(ctx, &appflow.ListFlowsInput{})
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tt.code || !strings.Contains(api.ErrorMessage(), tt.msg) {
				t.Fatalf("got %v, want %s containing %q", err, tt.code, tt.msg)
			}
			var re *awshttp.ResponseError
			if errors.As(err, &re) && re.HTTPStatusCode() != 403 {
				t.Errorf("status %d, want 403", re.HTTPStatusCode())
			}
		})
	}

	t.Run("missing authorization", func(t *testing.T) {
		resp := do(t, srv, "POST", "/list-flows", "{}")
		expectError(t, resp, 403, "MissingAuthenticationTokenException")
	})
	// An unsigned payload would let a proxy change the body under a valid
	// signature: refused whether or not the body was changed.
	for _, swap := range []bool{false, true} {
		t.Run(fmt.Sprintf("UNSIGNED-PAYLOAD, body swapped %v", swap), func(t *testing.T) {
			var hc aws.HTTPClient = srv.Client()
			if swap {
				hc = &swapBodyClient{srv.Client()}
			}
			client := appflow.New(appflow.Options{Region: "us-west-2", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("AKIDALICE", "alice-secret", ""), Retryer: aws.NopRetryer{},
				HTTPClient: hc, APIOptions: []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware, v4.AddContentSHA256HeaderMiddleware}})
			_, err := client.ListFlows(ctx, &appflow.ListFlowsInput{MaxResults: aws.Int32(5)})
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "InvalidSignatureException" || !strings.Contains(api.ErrorMessage(), "UNSIGNED-PAYLOAD is not accepted") {
				t.Fatalf("got %v, want InvalidSignatureException naming UNSIGNED-PAYLOAD", err)
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
				t.Errorf("got %v, want status 403", err)
			}
		})
	}
	t.Run("body swapped after signing", func(t *testing.T) {
		client := appflow.New(appflow.Options{Region: "us-west-2", BaseEndpoint: aws.String(srv.URL),
			Credentials: credentials.NewStaticCredentialsProvider("AKIDALICE", "alice-secret", ""), Retryer: aws.NopRetryer{},
			HTTPClient: &swapBodyClient{srv.Client()}})
		_, err := client.ListFlows(ctx, &appflow.ListFlowsInput{MaxResults: aws.Int32(5)})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "InvalidSignatureException" {
			t.Fatalf("got %v, want InvalidSignatureException", err)
		}
	})
}

// swapBodyClient replaces a signed body, as a tampering proxy would.
type swapBodyClient struct{ c *http.Client }

func (s *swapBodyClient) Do(r *http.Request) (*http.Response, error) {
	body := []byte(`{"maxResults":6}`)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", "16")
	return s.c.Do(r)
}

func TestLoadCredentialsErrors(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n", "AKID secret\n", "AKID secret 123\n", "AKID s 111111111111\nAKID t 222222222222\n"} {
		if _, err := ParseCredentials(strings.NewReader(text)); err == nil {
			t.Errorf("ParseCredentials(%q): want an error", text)
		}
	}
	if _, err := LoadCredentials("/nonexistent/creds"); err == nil {
		t.Error("LoadCredentials of a missing file: want an error")
	}
}

func do(t *testing.T, srv *httptest.Server, method, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func expectError(t *testing.T, resp *http.Response, status int, code string) string {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("X-Amzn-ErrorType") != code {
		t.Errorf("got %d %q, want %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), status, code)
	}
	if resp.Header.Get("X-Amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId")
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("error body is not a JSON object: %v", err)
	}
	msg, _ := body["message"].(string)
	if msg == "" || len(body) != 1 {
		t.Errorf("error body = %v, want exactly {\"message\": ...}", body)
	}
	return msg
}

func TestRawProtocol(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, Options{MaxBodyBytes: 1024})

	t.Run("empty body is {}", func(t *testing.T) {
		resp := do(t, srv, "POST", "/list-flows", "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Amzn-RequestId") == "" {
			t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("unknown members are ignored", func(t *testing.T) {
		resp := do(t, srv, "POST", "/describe-flow", `{"flowName":"ab","connectorTypes":["S3"],"x":{"y":[1]}}`)
		if resp.StatusCode != 200 {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
	t.Run("member-less output is {}", func(t *testing.T) {
		resp := do(t, srv, "POST", "/delete-flow", `{"flowName":"ab"}`)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "{}" {
			t.Fatalf("got %d %s", resp.StatusCode, b)
		}
	})
	t.Run("unencoded ARN from curl", func(t *testing.T) {
		resp := do(t, srv, "GET", "/tags/arn:aws:appflow:us-east-1:123456789012:flow/f", "")
		if resp.StatusCode != 200 {
			t.Fatalf("got %d", resp.StatusCode)
		}
		if got := fake.input("ListTagsForResource").(*wire.ListTagsForResourceRequest).ResourceArn; got != "arn:aws:appflow:us-east-1:123456789012:flow/f" {
			t.Errorf("ARN = %q", got)
		}
	})
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"malformed JSON", "POST", "/describe-flow", `{"flowName":`, 400, "ValidationException", "Unable to parse request body"},
		{"syntax error", "POST", "/describe-flow", `{"flowName" "x"}`, 400, "ValidationException", "invalid JSON"},
		{"wrong type", "POST", "/list-flows", `{"maxResults":"10"}`, 400, "ValidationException", "member 'maxResults' must be a 32-bit integer, got string"},
		{"nested wrong type", "POST", "/create-flow", `{"sourceFlowConfig":{"connectorType":3}}`, 400, "ValidationException", "member 'sourceFlowConfig.connectorType' must be a string"},
		{"int32 overflow", "POST", "/list-flows", `{"maxResults":3000000000}`, 400, "ValidationException", "maxResults"},
		{"not an object", "POST", "/list-flows", `[1,2]`, 400, "ValidationException", "expected a JSON object"},
		{"trailing data", "POST", "/list-flows", `{} {}`, 400, "ValidationException", "unexpected data"},
		{"bad timestamp", "POST", "/describe-flow", `{"flowName":"ab"}`, 200, "", ""},
		{"validation", "POST", "/describe-flow", `{}`, 400, "ValidationException", "Value null at 'flowName'"},
		{"unknown route", "POST", "/no-such-thing", `{}`, 404, "UnknownOperationException", "No operation matches POST /no-such-thing"},
		{"root", "GET", "/", ``, 404, "UnknownOperationException", ""},
		{"tags without ARN", "GET", "/tags/", ``, 404, "UnknownOperationException", ""},
		{"wrong method", "GET", "/create-flow", ``, 405, "UnknownOperationException", "use POST"},
		{"wrong method on tags", "PUT", "/tags/arn%3Aaws%3Aappflow%3Aus-east-1%3A1%3Aflow%2Ff", ``, 405, "UnknownOperationException", "GET or POST or DELETE"},
		{"body too large", "POST", "/list-flows", `{"nextToken":"` + strings.Repeat("x", 2000) + `"}`, 413, "ValidationException", "larger than the limit of 1024 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, tt.method, tt.path, tt.body)
			if tt.status == 200 {
				if resp.StatusCode != 200 {
					t.Fatalf("got %d", resp.StatusCode)
				}
				return
			}
			msg := expectError(t, resp, tt.status, tt.code)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not contain %q", msg, tt.msg)
			}
		})
	}
	t.Run("405 says what is allowed", func(t *testing.T) {
		resp := do(t, srv, "GET", "/create-flow", "")
		if resp.Header.Get("Allow") != "POST" {
			t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
		}
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		req, _ := http.NewRequest("POST", srv.URL+"/list-flows", io.MultiReader(strings.NewReader(`{"nextToken":"`), strings.NewReader(strings.Repeat("x", 5000)), strings.NewReader(`"}`)))
		req.ContentLength = -1 // unknown length: sent chunked, caught while reading
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		expectError(t, resp, 413, "ValidationException")
	})
	t.Run("timestamps in bodies", func(t *testing.T) {
		body := `{"flowName":"ab","triggerConfig":{"triggerType":"Scheduled","triggerProperties":{"Scheduled":{"scheduleExpression":"rate(1days)","scheduleStartTime":1700000000,"scheduleEndTime":1700000000.25}}},` +
			`"sourceFlowConfig":{"connectorType":"S3","sourceConnectorProperties":{"S3":{"bucketName":"src"}}},"destinationFlowConfigList":[{"connectorType":"S3","destinationConnectorProperties":{"S3":{"bucketName":"dst"}}}],"tasks":[]}`
		resp := do(t, srv, "POST", "/update-flow", body)
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("got %d %s", resp.StatusCode, b)
		}
		s := fake.input("UpdateFlow").(*wire.UpdateFlowRequest).TriggerConfig.TriggerProperties.Scheduled
		if s.ScheduleStartTime.Unix() != 1700000000 || s.ScheduleEndTime.UnixMilli() != 1700000000250 {
			t.Errorf("times = %v %v", s.ScheduleStartTime, s.ScheduleEndTime)
		}
		resp = do(t, srv, "POST", "/update-flow", strings.Replace(body, "1700000000.25", `"soon"`, 1))
		expectError(t, resp, 400, "ValidationException")
	})
}

func TestPanicBecomes500(t *testing.T) {
	fake := newFake()
	fake.panicWith = "boom"
	var logs bytes.Buffer
	srv := newServer(t, fake, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	resp := do(t, srv, "POST", "/list-flows", "{}")
	msg := expectError(t, resp, 500, "InternalServerException")
	id := resp.Header.Get("X-Amzn-RequestId")
	if !strings.Contains(msg, id) {
		t.Errorf("message %q lacks the request id %s", msg, id)
	}
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), id) {
		t.Errorf("the panic was not logged with the request id: %s", logs.String())
	}
}

func TestRequestIDsAreUUIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := newRequestID()
		if len(id) != 36 || id[14] != '4' || strings.Count(id, "-") != 4 || seen[id] {
			t.Fatalf("bad or repeated request id %q", id)
		}
		seen[id] = true
	}
}
