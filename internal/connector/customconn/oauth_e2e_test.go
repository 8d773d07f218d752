package customconn_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
)

// TestE2EOAuth2AuthorizationCode: CreateConnectorProfile with an
// oAuthRequest exchanges the code once at the connector's token URL; the
// profile keeps the tokens, so later calls (ListConnectorEntities) work
// without exchanging the spent code again.
func TestE2EOAuth2AuthorizationCode(t *testing.T) {
	ctx := context.Background()
	var exchanges atomic.Int32
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("code") != "one-time-code" ||
			r.PostForm.Get("client_id") != "cid" || r.PostForm.Get("client_secret") != "csecret" || exchanges.Add(1) > 1 {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "code already used"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-1", "refresh_token": "ref-1", "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(tokens.Close)
	e := newE2E(t, nil)
	e.conn.OAuth2TokenURL = tokens.URL + "/token"
	e.conn.AcceptToken = func(tok string) bool { return tok == "tok-1" }
	e.register(t)

	_, err := e.c.CreateConnectorProfile(ctx, &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String("oauth"), ConnectorType: types.ConnectorTypeCustomconnector,
		ConnectorLabel: aws.String("example"), ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{CustomConnector: &types.CustomConnectorProfileProperties{
				OAuth2Properties: &types.OAuth2Properties{OAuth2GrantType: types.OAuth2GrantTypeAuthorizationCode, TokenUrl: aws.String(tokens.URL + "/token")}}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{CustomConnector: &types.CustomConnectorProfileCredentials{
				AuthenticationType: types.AuthenticationTypeOauth2,
				Oauth2: &types.OAuth2Credentials{ClientId: aws.String("cid"), ClientSecret: aws.String("csecret"),
					OAuthRequest: &types.ConnectorOAuthRequest{AuthCode: aws.String("one-time-code"), RedirectUri: aws.String("https://app.example.com/cb")}}}},
		},
	})
	if err != nil {
		t.Fatalf("CreateConnectorProfile with an oAuthRequest: %v", err)
	}
	if _, err := e.c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("oauth")}); err != nil {
		t.Fatalf("ListConnectorEntities with the stored tokens: %v", err)
	}
	if n := exchanges.Load(); n != 1 {
		t.Errorf("token requests: %d, want the code exchanged once", n)
	}
}
