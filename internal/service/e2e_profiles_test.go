package service_test

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
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
	"github.com/aws/smithy-go"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/catalog"
	"github.com/appflowd/appflowd/internal/connector/customconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/restjson"
	"github.com/appflowd/appflowd/internal/secrets"
	"github.com/appflowd/appflowd/internal/service"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/store/sqlitestore"
)

const e2eProfAccount = "123456789012"

// e2eProfServer is appflowd's HTTP API on a SQLite store, driven by the real
// AWS SDK client. It records every response body so tests can prove what
// never leaves the server.
type e2eProfServer struct {
	client *appflow.Client
	store  store.Store

	mu     sync.Mutex
	bodies []string
}

func (s *e2eProfServer) responses() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.bodies, "\n")
}

type e2eProfRecorder struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (r *e2eProfRecorder) Write(b []byte) (int, error) {
	r.buf.Write(b)
	return r.ResponseWriter.Write(b)
}

func newE2EProfServer(t *testing.T) *e2eProfServer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "appflowd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secrets.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := connector.NewRegistry()
	catalog.RegisterAll(reg)
	reg.Register(customconn.Spec())
	reg.Register(connector.Spec{
		Capabilities: connector.Capabilities{Type: "Zendesk"},
		Open: func(ctx context.Context, deps connector.Deps, p connector.Profile) (connector.Driver, error) {
			return e2eProfZendesk{p}, nil
		},
	})
	svc := service.New(service.Deps{Store: st, Registry: reg, Keyring: kr, Region: "us-east-1", DefaultAccountID: e2eProfAccount,
		// No connector Lambda listens here: registration fails without leaving loopback.
		Connector: connector.Deps{Endpoints: connector.Endpoints{connector.EndpointLambda: "http://127.0.0.1:1"}}})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := restjson.NewHandler(svc, restjson.Options{Logger: quiet, DefaultAccountID: e2eProfAccount, DefaultRegion: "us-east-1"})
	s := &e2eProfServer{store: st}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &e2eProfRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		s.mu.Lock()
		s.bodies = append(s.bodies, rec.buf.String())
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s.client = appflow.New(appflow.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
	return s
}

// e2eProfZendesk is a Zendesk driver whose answers the client secret steers.
type e2eProfZendesk struct{ p connector.Profile }

func (d e2eProfZendesk) CheckProfile(ctx context.Context) error {
	var c struct {
		ClientSecret string `json:"clientSecret"`
	}
	_ = json.Unmarshal(d.p.Credentials, &c)
	switch c.ClientSecret {
	case "wrong":
		return fault.New(fault.AuthFailed, "Zendesk: invalid_client")
	case "unreachable":
		return errors.New("dial tcp: connection refused")
	}
	return nil
}

func (d e2eProfZendesk) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	var ents []connector.Entity
	for i := range 7 {
		ents = append(ents, connector.Entity{Name: fmt.Sprintf("object_%d", i), Label: fmt.Sprintf("Object %d", i)})
	}
	return map[string][]connector.Entity{"Objects": ents}, nil
}

func (d e2eProfZendesk) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	return []connector.EntityField{{Name: "id", Type: "integer", IsPrimaryKey: true, FilterOperators: []string{"EQUAL_TO"}}}, nil
}

func e2eZendeskInput(name, secret string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name),
		ConnectorType:        types.ConnectorTypeZendesk,
		ConnectionMode:       types.ConnectionModePublic,
		KmsArn:               aws.String("arn:aws:kms:us-east-1:123456789012:key/e2e-kms-key"),
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{
				Zendesk: &types.ZendeskConnectorProfileProperties{InstanceUrl: aws.String("https://acme.zendesk.com")},
			},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{
				Zendesk: &types.ZendeskConnectorProfileCredentials{
					ClientId: aws.String("e2e-client-id"), ClientSecret: aws.String(secret),
					AccessToken:  aws.String("e2e-access-token-SECRET"),
					OAuthRequest: &types.ConnectorOAuthRequest{AuthCode: aws.String("e2e-auth-code-SECRET"), RedirectUri: aws.String("https://example.com/cb")},
				},
			},
		},
	}
}

func e2eSalesforceInput(name string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name),
		ConnectorType:        types.ConnectorTypeSalesforce,
		ConnectionMode:       types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{
				Salesforce: &types.SalesforceConnectorProfileProperties{InstanceUrl: aws.String("https://acme.my.salesforce.com")},
			},
		},
	}
}

// e2eWantAPIError checks err is the AWS error code, typed as T: the
// exception type where the operation models it, *smithy.GenericAPIError
// where it does not.
func e2eWantAPIError[T error](t *testing.T, err error, code, msgPart string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("got %v, want %s", err, code)
	}
	if apiErr.ErrorCode() != code {
		t.Fatalf("got %s (%s), want %s", apiErr.ErrorCode(), apiErr.ErrorMessage(), code)
	}
	var typed T
	if !errors.As(err, &typed) {
		t.Errorf("got %T, want the typed %T", apiErr, typed)
	}
	if !strings.Contains(apiErr.ErrorMessage(), msgPart) {
		t.Errorf("message %q does not contain %q", apiErr.ErrorMessage(), msgPart)
	}
}

func TestE2EConnectorProfiles(t *testing.T) {
	s := newE2EProfServer(t)
	ctx := context.Background()
	c := s.client

	in := e2eZendeskInput("zd", "e2e-client-secret-SECRET")
	in.ClientToken = aws.String("e2e-token-1")
	out, err := c.CreateConnectorProfile(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ConnectorProfileArn)
	if arn != "arn:aws:appflow:us-east-1:123456789012:connectorprofile/zd" {
		t.Errorf("got ARN %s", arn)
	}
	// clientToken: the same call replays, a changed one conflicts.
	again, err := c.CreateConnectorProfile(ctx, in)
	if err != nil || aws.ToString(again.ConnectorProfileArn) != arn {
		t.Errorf("replay: got %v, %v; want %s", again, err, arn)
	}
	changed := e2eZendeskInput("zd", "another-secret")
	changed.ClientToken = aws.String("e2e-token-1")
	_, err = c.CreateConnectorProfile(ctx, changed)
	e2eWantAPIError[*types.ConflictException](t, err, "ConflictException", "e2e-token-1")
	// Without a token (the SDK makes a fresh one) the name is taken.
	_, err = c.CreateConnectorProfile(ctx, e2eZendeskInput("zd", "x"))
	e2eWantAPIError[*types.ConflictException](t, err, "ConflictException", "zd already exists")

	_, err = c.CreateConnectorProfile(ctx, e2eZendeskInput("bad", "wrong"))
	e2eWantAPIError[*types.ConnectorAuthenticationException](t, err, "ConnectorAuthenticationException", "invalid_client")
	// Unmodeled for CreateConnectorProfile, as in AppFlow: a generic error with the right code.
	_, err = c.CreateConnectorProfile(ctx, e2eZendeskInput("down", "unreachable"))
	e2eWantAPIError[*smithy.GenericAPIError](t, err, "ConnectorServerException", "Error while communicating to connector")
	noCreds := e2eZendeskInput("nocreds", "x")
	noCreds.ConnectorProfileConfig.ConnectorProfileCredentials = nil
	_, err = c.CreateConnectorProfile(ctx, noCreds)
	e2eWantAPIError[*types.ValidationException](t, err, "ValidationException", "connectorProfileCredentials.Zendesk is required")
	_, err = c.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("cc"), ConnectorType: types.ConnectorTypeCustomconnector, ConnectorLabel: aws.String("ghost"),
		ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{ConnectorProfileProperties: &types.ConnectorProfileProperties{
			CustomConnector: &types.CustomConnectorProfileProperties{}}},
	})
	// Unmodeled for this operation too (as in AppFlow): the code and message still arrive.
	e2eWantAPIError[*smithy.GenericAPIError](t, err, "ResourceNotFoundException",
		"Connector:ghost is not registered. Please register it first before creating ConnectorProfile.")

	if _, err := c.UpdateConnectorProfile(ctx, &appflow.UpdateConnectorProfileInput{
		ConnectorProfileName: aws.String("zd"), ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{ConnectorProfileProperties: &types.ConnectorProfileProperties{
			Zendesk: &types.ZendeskConnectorProfileProperties{InstanceUrl: aws.String("https://new.zendesk.com")}}},
	}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateConnectorProfile(ctx, &appflow.UpdateConnectorProfileInput{
		ConnectorProfileName: aws.String("nope"), ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: e2eSalesforceInput("x").ConnectorProfileConfig,
	})
	e2eWantAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException", "Connector Profile with name nope does not exist.")

	// Pagination to the end with the SDK's own paginator: no trailing token.
	for i := range 22 {
		if _, err := c.CreateConnectorProfile(ctx, e2eSalesforceInput(fmt.Sprintf("sf-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var got []types.ConnectorProfile
	pages := 0
	p := appflow.NewDescribeConnectorProfilesPaginator(c, &appflow.DescribeConnectorProfilesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if pages > 2 {
			t.Fatalf("more than 2 pages for 23 profiles: the last page carried a nextToken")
		}
		got = append(got, page.ConnectorProfileDetails...)
	}
	if len(got) != 23 || pages != 2 {
		t.Errorf("got %d profiles in %d pages, want 23 in 2", len(got), pages)
	}
	var zd *types.ConnectorProfile
	for i := range got {
		if aws.ToString(got[i].ConnectorProfileName) == "zd" {
			zd = &got[i]
		}
	}
	if zd == nil {
		t.Fatal("zd not listed")
	}
	if zd.ConnectorProfileProperties.Zendesk == nil || aws.ToString(zd.ConnectorProfileProperties.Zendesk.InstanceUrl) != "https://new.zendesk.com" ||
		!strings.HasPrefix(aws.ToString(zd.CredentialsArn), "arn:aws:secretsmanager:us-east-1:123456789012:secret:appflow!123456789012-zd-") ||
		zd.CreatedAt == nil || zd.LastUpdatedAt == nil || zd.ConnectorType != types.ConnectorTypeZendesk {
		t.Errorf("zd: got %+v", zd)
	}
	_, err = c.DescribeConnectorProfiles(ctx, &appflow.DescribeConnectorProfilesInput{MaxResults: aws.Int32(101)})
	e2eWantAPIError[*types.ValidationException](t, err, "ValidationException", "maxResults")

	// Delete: refused while a flow uses the profile, then forced.
	if err := s.store.FlowCreate(ctx, &store.Flow{AccountID: e2eProfAccount, Name: "tickets-to-s3",
		Arn: "arn:aws:appflow:us-east-1:123456789012:flow/tickets-to-s3", Status: "Active", Doc: []byte(`{}`), ProfileNames: []string{"zd"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteConnectorProfile(ctx, &appflow.DeleteConnectorProfileInput{ConnectorProfileName: aws.String("zd")})
	e2eWantAPIError[*types.ConflictException](t, err, "ConflictException", "Some of the associated flows are: [tickets-to-s3]")
	if _, err := c.DeleteConnectorProfile(ctx, &appflow.DeleteConnectorProfileInput{ConnectorProfileName: aws.String("zd"), ForceDelete: true}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteConnectorProfile(ctx, &appflow.DeleteConnectorProfileInput{ConnectorProfileName: aws.String("zd")})
	e2eWantAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException", "zd")

	// Nothing secret ever left the server, in any response, success or error.
	all := s.responses()
	if !strings.Contains(all, `"credentialsArn"`) || !strings.Contains(all, "new.zendesk.com") {
		t.Fatalf("the recorder saw no profile output; the check below would prove nothing")
	}
	for _, secret := range []string{"SECRET", "e2e-client-id", "e2e-kms-key", "another-secret", "authCode", "clientSecret"} {
		if strings.Contains(all, secret) {
			t.Errorf("a response contains %q", secret)
		}
	}
}

func TestE2EProfileQuota(t *testing.T) {
	s := newE2EProfServer(t)
	ctx := context.Background()
	for i := range 100 {
		if _, err := s.client.CreateConnectorProfile(ctx, e2eSalesforceInput(fmt.Sprintf("p-%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.client.CreateConnectorProfile(ctx, e2eSalesforceInput("p-100"))
	e2eWantAPIError[*types.ServiceQuotaExceededException](t, err, "ServiceQuotaExceededException", "100 connector profiles")
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() != 402 {
		t.Errorf("got HTTP %d, want 402", re.HTTPStatusCode())
	}
}

func TestE2EConnectors(t *testing.T) {
	s := newE2EProfServer(t)
	ctx := context.Background()
	c := s.client

	configs := map[string]types.ConnectorConfiguration{}
	p := appflow.NewDescribeConnectorsPaginator(c, &appflow.DescribeConnectorsInput{}, func(o *appflow.DescribeConnectorsPaginatorOptions) { o.Limit = 7 })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range page.ConnectorConfigurations {
			configs[k] = v
		}
	}
	if len(configs) != len(catalog.Builtin()) {
		t.Errorf("got %d connector types, want %d", len(configs), len(catalog.Builtin()))
	}
	sf, ok := configs["Salesforce"]
	if !ok || !sf.CanUseAsSource || !sf.IsPrivateLinkEnabled || sf.ConnectorMetadata == nil || sf.ConnectorMetadata.Salesforce == nil ||
		sf.ConnectorArn != nil || sf.SupportedOperators != nil {
		t.Errorf("Salesforce: got %+v", sf)
	}
	one, err := c.DescribeConnector(ctx, &appflow.DescribeConnectorInput{ConnectorType: types.ConnectorTypeServicenow})
	if err != nil || one.ConnectorConfiguration.ConnectorMetadata == nil || one.ConnectorConfiguration.ConnectorMetadata.ServiceNow == nil {
		t.Errorf("Servicenow: got %+v, %v", one, err)
	}
	_, err = c.DescribeConnector(ctx, &appflow.DescribeConnectorInput{ConnectorType: types.ConnectorTypeCustomconnector})
	e2eWantAPIError[*types.ValidationException](t, err, "ValidationException", "connectorLabel")
	_, err = c.DescribeConnector(ctx, &appflow.DescribeConnectorInput{ConnectorType: types.ConnectorTypeCustomconnector, ConnectorLabel: aws.String("ghost")})
	e2eWantAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException", "ghost")

	lc, err := c.ListConnectors(ctx, &appflow.ListConnectorsInput{})
	if err != nil || len(lc.Connectors) != 0 || lc.NextToken != nil {
		t.Errorf("ListConnectors: got %+v, %v; want nothing", lc, err)
	}
	_, err = c.RegisterConnector(ctx, &appflow.RegisterConnectorInput{ConnectorLabel: aws.String("acme"),
		ConnectorProvisioningType:   types.ConnectorProvisioningTypeLambda,
		ConnectorProvisioningConfig: &types.ConnectorProvisioningConfig{Lambda: &types.LambdaConnectorProvisioningConfig{LambdaArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:acme")}}})
	e2eWantAPIError[*types.ConnectorServerException](t, err, "ConnectorServerException", "DescribeConnectorConfiguration")
	_, err = c.UpdateConnectorRegistration(ctx, &appflow.UpdateConnectorRegistrationInput{ConnectorLabel: aws.String("acme")})
	e2eWantAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException", "acme")
	_, err = c.UnregisterConnector(ctx, &appflow.UnregisterConnectorInput{ConnectorLabel: aws.String("acme")})
	e2eWantAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException", "acme")
}

func TestE2EConnectorEntities(t *testing.T) {
	s := newE2EProfServer(t)
	ctx := context.Background()
	c := s.client
	if _, err := c.CreateConnectorProfile(ctx, e2eZendeskInput("zd", "s")); err != nil {
		t.Fatal(err)
	}
	var names []string
	var token *string
	for {
		out, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("zd"), MaxResults: aws.Int32(3), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out.ConnectorEntityMap["Objects"] {
			names = append(names, aws.ToString(e.Name))
		}
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	if len(names) != 7 || names[0] != "object_0" || names[6] != "object_6" {
		t.Errorf("got %v, want object_0..object_6", names)
	}
	d, err := c.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorProfileName: aws.String("zd"), ConnectorEntityName: aws.String("object_1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ConnectorEntityFields) != 1 || aws.ToString(d.ConnectorEntityFields[0].Identifier) != "id" ||
		aws.ToString(d.ConnectorEntityFields[0].SupportedFieldTypeDetails.V1.FieldType) != "integer" || !d.ConnectorEntityFields[0].IsPrimaryKey {
		t.Errorf("got %+v", d.ConnectorEntityFields)
	}
	_, err = c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("nope")})
	e2eWantAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException", "nope")
	_, err = c.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorEntityName: aws.String("x")})
	e2eWantAPIError[*types.ValidationException](t, err, "ValidationException", "connectorProfileName or connectorType")
	if _, err := c.ResetConnectorMetadataCache(ctx, &appflow.ResetConnectorMetadataCacheInput{ConnectorProfileName: aws.String("zd"), ConnectorEntityName: aws.String("object_1")}); err != nil {
		t.Errorf("ResetConnectorMetadataCache: %v", err)
	}
	_, err = c.ResetConnectorMetadataCache(ctx, &appflow.ResetConnectorMetadataCacheInput{ConnectorType: types.ConnectorTypeZendesk})
	e2eWantAPIError[*types.ValidationException](t, err, "ValidationException", "connectorProfileName is required")
}

func TestE2ETags(t *testing.T) {
	s := newE2EProfServer(t)
	ctx := context.Background()
	c := s.client
	out, err := c.CreateConnectorProfile(ctx, e2eSalesforceInput("team/sales"))
	if err != nil {
		t.Fatal(err)
	}
	arn := out.ConnectorProfileArn // its name has a "/": the path label must carry it encoded
	if _, err := c.TagResource(ctx, &appflow.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"env": "test", "owner": "a b@c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &appflow.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &appflow.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(lt.Tags) != 2 || lt.Tags["env"] != "prod" || lt.Tags["owner"] != "a b@c" {
		t.Errorf("after merge: got %v, %v", lt, err)
	}
	if _, err := c.UntagResource(ctx, &appflow.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"env", "missing"}}); err != nil {
		t.Fatal(err)
	}
	lt, err = c.ListTagsForResource(ctx, &appflow.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(lt.Tags) != 1 || lt.Tags["owner"] != "a b@c" {
		t.Errorf("after untag: got %v, %v", lt, err)
	}
	_, err = c.TagResource(ctx, &appflow.TagResourceInput{ResourceArn: aws.String("arn:aws:appflow:us-east-1:123456789012:flow/ghost"), Tags: map[string]string{"k": "v"}})
	e2eWantAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException", "flow/ghost")
	_, err = c.ListTagsForResource(ctx, &appflow.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:s3:us-east-1:123456789012:bucket/b")})
	e2eWantAPIError[*types.ValidationException](t, err, "ValidationException", "not an Amazon AppFlow ARN")
	_, err = c.TagResource(ctx, &appflow.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"aws:reserved": "v"}})
	e2eWantAPIError[*types.ValidationException](t, err, "ValidationException", "aws:reserved")
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	_, err = c.TagResource(ctx, &appflow.TagResourceInput{ResourceArn: arn, Tags: many})
	e2eWantAPIError[*types.ValidationException](t, err, "ValidationException", "at most 50 tags")
}
