package snowflakeconn_test

// End-to-end: a Snowflake profile as the AWS SDK creates it, with
// username and password only, proves itself against the documented-API
// fake with the password as a programmatic access token.

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector/snowflakeconn"
	"github.com/appflowd/appflowd/internal/connector/snowflakeconn/sfktest"
)

func TestE2EPasswordProfile(t *testing.T) {
	ctx := context.Background()
	fake := sfktest.New("unused-oauth-token")
	fake.PAT = "pat-from-snowsight"
	sf := httptest.NewServer(fake)
	t.Cleanup(sf.Close)
	t.Setenv(snowflakeconn.EndpointEnv, sf.URL)
	srv := apptest.Start(t, app.Config{})

	create := func(name, password string) error {
		_, err := srv.Client.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
			ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeSnowflake, ConnectionMode: types.ConnectionModePublic,
			ConnectorProfileConfig: &types.ConnectorProfileConfig{
				ConnectorProfileProperties: &types.ConnectorProfileProperties{Snowflake: &types.SnowflakeConnectorProfileProperties{
					Warehouse: aws.String("LOAD_WH"), Stage: aws.String("DB.PUBLIC.APPFLOW_STAGE"), BucketName: aws.String("stagebucket"),
					AccountName: aws.String("xy12345"), Region: aws.String("us-east-2"),
				}},
				ConnectorProfileCredentials: &types.ConnectorProfileCredentials{Snowflake: &types.SnowflakeConnectorProfileCredentials{
					Username: aws.String("APPFLOW"), Password: aws.String(password)}},
			},
		})
		return err
	}
	if err := create("sf", "pat-from-snowsight"); err != nil {
		t.Fatalf("CreateConnectorProfile with a programmatic access token as the password: %v", err)
	}
	st := fake.Statements()
	if len(st) != 1 || st[0].SQL != "SELECT 1" || st[0].TokenType != "PROGRAMMATIC_ACCESS_TOKEN" {
		t.Errorf("statements %+v, want SELECT 1 sent with a PROGRAMMATIC_ACCESS_TOKEN", st)
	}
	var ae *types.ConnectorAuthenticationException
	if err := create("sf-bad", "expired"); !errors.As(err, &ae) || !strings.Contains(err.Error(), "Programmatic access token is invalid") {
		t.Errorf("a refused token: %v, want ConnectorAuthenticationException with Snowflake's message", err)
	}
}
