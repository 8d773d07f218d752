package wire

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

func validFlow() *CreateFlowRequest {
	return &CreateFlowRequest{
		FlowName:         "orders-copy",
		TriggerConfig:    &TriggerConfig{TriggerType: TriggerTypeOnDemand},
		SourceFlowConfig: &SourceFlowConfig{ConnectorType: ConnectorTypeS3, SourceConnectorProperties: &SourceConnectorProperties{S3: &S3SourceProperties{BucketName: "src-bucket"}}},
		DestinationFlowConfigList: []DestinationFlowConfig{{
			ConnectorType:                  ConnectorTypeS3,
			DestinationConnectorProperties: &DestinationConnectorProperties{S3: &S3DestinationProperties{BucketName: "dst-bucket"}},
		}},
		Tasks: []Task{{SourceFields: []string{"id"}, TaskType: TaskTypeMap, DestinationField: "id", ConnectorOperator: &ConnectorOperator{S3: S3ConnectorOperatorNoOp}}},
		Tags:  map[string]string{"env": "test"},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		in     Input
		want   []string // violations, in order; nil = valid
		notIn  []string // must not appear in the message
		prefix string
	}{
		{name: "valid flow", in: validFlow()},
		{
			name: "flow name with a space",
			in:   func() Input { f := validFlow(); f.FlowName = "my flow"; return f }(),
			want: []string{`Value 'my flow' at 'flowName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][\w!@#.-]+`},
		},
		{
			name: "pattern must match the whole value, not a substring",
			in:   &DescribeFlowRequest{FlowName: "ok-name!" + "\n"},
			want: []string{`Value 'ok-name!` + "\n" + `' at 'flowName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][\w!@#.-]+`},
		},
		{
			name: "one-character flow name is refused by the pattern",
			in:   &DescribeFlowRequest{FlowName: "a"},
			want: []string{`Value 'a' at 'flowName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][\w!@#.-]+`},
		},
		{
			name: "missing required members, all reported in model order",
			in:   &CreateFlowRequest{},
			want: []string{
				"Value null at 'destinationFlowConfigList' failed to satisfy constraint: Member must not be null",
				"Value null at 'flowName' failed to satisfy constraint: Member must not be null",
				"Value null at 'sourceFlowConfig' failed to satisfy constraint: Member must not be null",
				"Value null at 'tasks' failed to satisfy constraint: Member must not be null",
				"Value null at 'triggerConfig' failed to satisfy constraint: Member must not be null",
			},
		},
		{
			name: "length counts runes, not bytes",
			// 256 two-byte runes: 512 bytes but within max 256.
			in:   &DescribeFlowRequest{FlowName: "a" + strings.Repeat("é", 255)},
			want: []string{`Value 'a` + strings.Repeat("é", 255) + `' at 'flowName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][\w!@#.-]+`},
		},
		{
			name: "length over max",
			in:   &DescribeFlowRequest{FlowName: strings.Repeat("a", 257)},
			want: []string{`Value '` + strings.Repeat("a", 257) + `' at 'flowName' failed to satisfy constraint: Member must have length less than or equal to 256`},
		},
		{
			name: "rune length within max is accepted",
			in:   &StartFlowRequest{FlowName: "ab", ClientToken: strings.Repeat("x", 256)},
		},
		{
			name: "enum membership",
			in:   &DescribeConnectorRequest{ConnectorType: "s3"},
			want: []string{"Value 's3' at 'connectorType' failed to satisfy constraint: Member must satisfy enum value set: [Salesforce, Singular, Slack, Redshift, S3, Marketo, Googleanalytics, Zendesk, Servicenow, Datadog, Trendmicro, Snowflake, Dynatrace, Infornexus, Amplitude, Veeva, EventBridge, LookoutMetrics, Upsolver, Honeycode, CustomerProfiles, SAPOData, CustomConnector, Pardot]"},
		},
		{
			name: "number range",
			in:   &ListFlowsRequest{MaxResults: ptr[int32](0)},
			want: []string{"Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		},
		{
			name: "number range, upper",
			in:   &ListConnectorEntitiesRequest{MaxResults: ptr[int32](10001)},
			want: []string{"Value '10001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10000"},
		},
		{
			name: "list size",
			in:   &CancelFlowExecutionsRequest{FlowName: "ab", ExecutionIds: strings.Split(strings.Repeat("x,", 100)+"x", ",")},
			want: []string{"at 'executionIds' failed to satisfy constraint: Member must have length less than or equal to 100"},
		},
		{
			name: "list elements get AWS member paths",
			in:   &CancelFlowExecutionsRequest{FlowName: "ab", ExecutionIds: []string{"ok", "not ok"}},
			want: []string{`Value 'not ok' at 'executionIds.2.member' failed to satisfy constraint: Member must satisfy regular expression pattern: \S+`},
		},
		{
			name: "nested paths through lists and structures",
			in: func() Input {
				f := validFlow()
				f.DestinationFlowConfigList = append(f.DestinationFlowConfigList, DestinationFlowConfig{ConnectorType: "Nope"})
				f.SourceFlowConfig.SourceConnectorProperties.S3.BucketName = "ab"
				return f
			}(),
			want: []string{
				"Value 'Nope' at 'destinationFlowConfigList.2.member.connectorType' failed to satisfy constraint: Member must satisfy enum value set: [",
				"Value null at 'destinationFlowConfigList.2.member.destinationConnectorProperties' failed to satisfy constraint: Member must not be null",
				"Value 'ab' at 'sourceFlowConfig.sourceConnectorProperties.S3.bucketName' failed to satisfy constraint: Member must have length greater than or equal to 3",
			},
		},
		{
			name: "reserved tag key prefix and map sizes",
			in:   &TagResourceRequest{ResourceArn: "arn:aws:appflow:us-east-1:123456789012:flow/f", Tags: map[string]string{"aws:x": "v", "ok": "bad\x00"}},
			want: []string{
				`Value 'aws:x' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: ^(?!aws:)[a-zA-Z+-=._:/]+$]`,
				`Value 'bad` + "\x00" + `' at 'tags' failed to satisfy constraint: Map value must satisfy constraint: [Member must satisfy regular expression pattern: [\s\w+-=\.:/@]*]`,
			},
		},
		{
			name: "untag needs its query keys",
			in:   &UntagResourceRequest{ResourceArn: "arn:aws:appflow:us-east-1:123456789012:flow/f"},
			want: []string{"Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"},
		},
		{
			name: "resource ARN must be in the aws partition",
			in:   &ListTagsForResourceRequest{ResourceArn: "arn:aws-cn:appflow:cn-north-1:1:flow/f"},
			want: []string{"at 'resourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws:.*:.*:[0-9]+:.*"},
		},
		{
			name: "sensitive values are redacted",
			in: &CreateConnectorProfileRequest{
				ConnectorProfileName: "p", ConnectorType: ConnectorTypeDatadog, ConnectionMode: ConnectionModePublic,
				ConnectorProfileConfig: &ConnectorProfileConfig{
					ConnectorProfileProperties:  &ConnectorProfileProperties{Datadog: &DatadogConnectorProfileProperties{InstanceUrl: "https://x"}},
					ConnectorProfileCredentials: &ConnectorProfileCredentials{Datadog: &DatadogConnectorProfileCredentials{ApiKey: "secret key", ApplicationKey: "k"}},
				},
			},
			want:  []string{`Value '*** Sensitive Data Redacted ***' at 'connectorProfileConfig.connectorProfileCredentials.Datadog.apiKey' failed to satisfy constraint: Member must satisfy regular expression pattern: \S+`},
			notIn: []string{"secret key"},
		},
		{
			name: "required integer inside a nested structure",
			in: &CreateConnectorProfileRequest{
				ConnectorProfileName: "p", ConnectorType: ConnectorTypeSAPOData, ConnectionMode: ConnectionModePublic,
				ConnectorProfileConfig: &ConnectorProfileConfig{ConnectorProfileProperties: &ConnectorProfileProperties{SAPOData: &SAPODataConnectorProfileProperties{
					ApplicationHostUrl: "https://sap.example.com", ApplicationServicePath: "/x", ClientNumber: "12",
				}}},
			},
			want: []string{
				"Value '12' at 'connectorProfileConfig.connectorProfileProperties.SAPOData.clientNumber' failed to satisfy constraint: Member must have length greater than or equal to 3",
				`Value '12' at 'connectorProfileConfig.connectorProfileProperties.SAPOData.clientNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: ^\d{3}$`,
				"Value null at 'connectorProfileConfig.connectorProfileProperties.SAPOData.portNumber' failed to satisfy constraint: Member must not be null",
			},
		},
		{name: "nothing required: empty RegisterConnector is valid", in: &RegisterConnectorRequest{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Code != fault.Invalid {
				t.Fatalf("Validate() = %#v, want *fault.Error with Code Invalid", err)
			}
			head := "1 validation error detected: "
			if len(tt.want) > 1 {
				head = strconv.Itoa(len(tt.want)) + " validation errors detected: "
			}
			if !strings.HasPrefix(fe.Msg, head) {
				t.Fatalf("message %q does not start with %q", fe.Msg, head)
			}
			got := strings.Split(strings.TrimPrefix(fe.Msg, head), "; ")
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("violation %d:\n got %s\nwant %s", i, got[i], tt.want[i])
				}
			}
			for _, s := range tt.notIn {
				if strings.Contains(fe.Msg, s) {
					t.Errorf("message leaks %q: %s", s, fe.Msg)
				}
			}
		})
	}
}

func TestValidateExactMessage(t *testing.T) {
	err := (&DescribeFlowRequest{FlowName: "my flow"}).Validate()
	want := `1 validation error detected: Value 'my flow' at 'flowName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][\w!@#.-]+`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if err := (*DescribeFlowRequest)(nil).Validate(); err != nil {
		t.Fatalf("nil input: got %v, want nil (the router never passes nil)", err)
	}
}

func TestTagKeyOverride(t *testing.T) {
	for key, ok := range map[string]bool{
		"env": true, "a": true, "aws": true, "awsx": true, "aws-foo": true, "AWS:x": true, "a:b": true, "x/y.z_1=2": true,
		"aws:": false, "aws:foo": false, "with space": false, "é": false,
	} {
		err := (&UntagResourceRequest{ResourceArn: "arn:aws:appflow:us-east-1:1:flow/f", TagKeys: []string{key}}).Validate()
		if (err == nil) != ok {
			t.Errorf("tag key %q: Validate() = %v, want accepted=%t", key, err, ok)
		}
	}
}

func TestTimestampJSON(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.123", time.Unix(1700000000, 123e6)},
		{"1700000000.5", time.Unix(1700000000, 5e8)},
		{"1.7000000001e9", time.Unix(1700000000, 1e8)},
		{`"2023-11-14T22:13:20.123Z"`, time.Unix(1700000000, 123e6)},
		{"-1.5", time.Unix(-1, -5e8)},
	} {
		var ts Timestamp
		if err := json.Unmarshal([]byte(tt.in), &ts); err != nil {
			t.Errorf("unmarshal %s: %v", tt.in, err)
			continue
		}
		if !ts.Equal(tt.want) {
			t.Errorf("unmarshal %s = %v, want %v", tt.in, ts.Time, tt.want)
		}
	}
	for _, bad := range []string{`"yesterday"`, "1e300", "99999999999999999999", "1.x", "true", "NaN"} {
		var ts Timestamp
		if err := json.Unmarshal([]byte(bad), &ts); err == nil {
			t.Errorf("unmarshal %s: got %v, want an error", bad, ts.Time)
		}
	}
	out, err := json.Marshal(struct {
		T *Timestamp `json:"t,omitempty"`
		N *Timestamp `json:"n,omitempty"`
	}{T: NewTimestamp(time.Unix(1700000000, 123456789))})
	if err != nil || string(out) != `{"t":1700000000.123}` {
		t.Errorf("marshal = %s, %v; want {\"t\":1700000000.123}", out, err)
	}
}

func TestExceptionFor(t *testing.T) {
	for code, want := range map[fault.Code]struct {
		name   string
		status int
	}{
		fault.Invalid:         {"ValidationException", 400},
		fault.NotFound:        {"ResourceNotFoundException", 404},
		fault.Conflict:        {"ConflictException", 409},
		fault.Unsupported:     {"UnsupportedOperationException", 400},
		fault.AuthFailed:      {"ConnectorAuthenticationException", 401},
		fault.ConnectorServer: {"ConnectorServerException", 400},
		fault.QuotaExceeded:   {"ServiceQuotaExceededException", 402},
		fault.Throttled:       {"ThrottlingException", 429},
		fault.AccessDenied:    {"AccessDeniedException", 403},
		fault.Internal:        {"InternalServerException", 500},
		fault.Unknown:         {"InternalServerException", 500},
		fault.Canceled:        {"InternalServerException", 500},
	} {
		name, status := ExceptionFor(code)
		if name != want.name || status != want.status {
			t.Errorf("ExceptionFor(%v) = %s %d, want %s %d", code, name, status, want.name, want.status)
		}
	}
	if len(Exceptions) != 10 {
		t.Errorf("Exceptions has %d entries, want the model's 10", len(Exceptions))
	}
}

func TestOperationsTable(t *testing.T) {
	if len(Operations) != 25 {
		t.Fatalf("got %d operations, want 25", len(Operations))
	}
	seen := map[string]bool{}
	for _, op := range Operations {
		key := op.Method + " " + op.Path
		if seen[key] {
			t.Errorf("route %s used twice", key)
		}
		seen[key] = true
		if _, ok := op.NewOutput().(any); !ok || op.NewInput() == nil || op.Invoke == nil {
			t.Errorf("%s: incomplete entry", op.Name)
		}
		for _, e := range op.Errors {
			if _, ok := Exceptions[e]; !ok {
				t.Errorf("%s: error %s not in Exceptions", op.Name, e)
			}
		}
	}
	op, ok := OperationByName("UntagResource")
	if !ok || op.Method != "DELETE" || op.Path != "/tags/{resourceArn}" || op.Bind == nil || op.HasBody {
		t.Fatalf("UntagResource route = %+v", op)
	}
	in := op.NewInput()
	op.Bind(in, map[string]string{"resourceArn": "arn:x"}, map[string][]string{"tagKeys": {"a", "b"}})
	u := in.(*UntagResourceRequest)
	if u.ResourceArn != "arn:x" || len(u.TagKeys) != 2 {
		t.Errorf("Bind filled %+v", u)
	}
}

func ptr[T any](v T) *T { return &v }
