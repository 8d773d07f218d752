package salesforceconn_test

import (
	"context"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
)

// TestSalesforceLoginEndpoint: a profile without instanceUrl logs in at
// the salesforce_login endpoint (--endpoint salesforce_login=URL) instead
// of login.salesforce.com, and then uses the instance the token names.
func TestSalesforceLoginEndpoint(t *testing.T) {
	org := sftest.NewOrg(t)
	spec := salesforceconn.Spec(salesforceconn.Options{ClientID: sftest.ClientID, ClientSecret: sftest.ClientSecret})
	deps := connector.Deps{HTTPClient: org.Client(),
		Endpoints: connector.Endpoints{connector.EndpointSalesforceLogin: org.URL()}}
	d, err := spec.Open(context.Background(), deps, connector.Profile{Name: "p",
		Properties: []byte(`{"isSandboxEnvironment":false}`), Credentials: []byte(`{"refreshToken":"` + sftest.RefreshToken + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.(connector.ProfileChecker).CheckProfile(context.Background()); err != nil {
		t.Fatalf("CheckProfile: %v", err)
	}
	if n := org.Logged("POST /services/oauth2/token"); n != 1 {
		t.Errorf("token requests at the salesforce_login endpoint: %d, want 1", n)
	}
}
