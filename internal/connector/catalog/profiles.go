package catalog

import (
	"encoding/json"

	"github.com/appflowd/appflowd/internal/connector"
)

// The per-type profile rules AppFlow applies beyond the model's required
// members (control-plane spec 6.2). Each decodes only the members it
// reads, under the model's JSON names.

// rules builds a ProfileRules func from a check that appends problems.
func rules(check func(in connector.ProfileInput, need func(ok bool, msg string))) func(connector.ProfileInput) []string {
	return func(in connector.ProfileInput) []string {
		var problems []string
		check(in, func(ok bool, msg string) {
			if !ok {
				problems = append(problems, msg)
			}
		})
		return problems
	}
}

// decode reads raw into v; a member that does not decode is left zero (the
// model's validation has refused malformed shapes already).
func decode(raw json.RawMessage, v any) {
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, v)
	}
}

var redshiftRules = rules(func(in connector.ProfileInput, need func(bool, string)) {
	var p struct {
		ClusterIdentifier    string `json:"clusterIdentifier"`
		WorkgroupName        string `json:"workgroupName"`
		IsRedshiftServerless *bool  `json:"isRedshiftServerless"`
		DatabaseName         string `json:"databaseName"`
		DataAPIRoleArn       string `json:"dataApiRoleArn"`
		DatabaseURL          string `json:"databaseUrl"`
	}
	decode(in.Properties, &p)
	serverless := p.IsRedshiftServerless != nil && *p.IsRedshiftServerless
	if p.ClusterIdentifier != "" || p.WorkgroupName != "" || serverless {
		// The Redshift Data API.
		if serverless {
			need(p.WorkgroupName != "", "workgroupName is required for Redshift Serverless")
		} else {
			need(p.ClusterIdentifier != "", "clusterIdentifier is required to use the Redshift Data API (or workgroupName with isRedshiftServerless)")
		}
		need(p.DatabaseName != "", "databaseName is required with clusterIdentifier or workgroupName")
		need(p.DataAPIRoleArn != "", "dataApiRoleArn cannot be null or empty")
		return
	}
	need(p.DatabaseURL != "", "databaseUrl is required unless clusterIdentifier or workgroupName is given")
	if in.Credentials != nil || in.Creating {
		var c struct{ Username, Password string }
		decode(in.Credentials, &c)
		need(c.Username != "" && c.Password != "", "username and password are required to connect through databaseUrl")
	}
})

var serviceNowRules = rules(func(in connector.ProfileInput, need func(bool, string)) {
	if in.Credentials == nil {
		return
	}
	var c struct {
		Username, Password string
		OAuth2Credentials  json.RawMessage `json:"oAuth2Credentials"`
	}
	decode(in.Credentials, &c)
	need((c.Username != "" && c.Password != "") || present(c.OAuth2Credentials),
		"ServiceNow credentials need username and password, or oAuth2Credentials")
})

var sapODataRules = rules(func(in connector.ProfileInput, need func(bool, string)) {
	if in.Credentials == nil {
		return
	}
	var c struct {
		Basic json.RawMessage `json:"basicAuthCredentials"`
		OAuth json.RawMessage `json:"oAuthCredentials"`
	}
	decode(in.Credentials, &c)
	need(present(c.Basic) || present(c.OAuth), "SAPOData credentials need basicAuthCredentials or oAuthCredentials")
	if present(c.OAuth) {
		var p struct {
			OAuth json.RawMessage `json:"oAuthProperties"`
		}
		decode(in.Properties, &p)
		need(present(p.OAuth), "oAuthProperties are required with oAuthCredentials")
	}
})

// tokenRules is the rule of the OAuth types whose credentials carry a
// token or the request that gets one (Google Analytics, Honeycode).
func tokenRules(typ string) func(connector.ProfileInput) []string {
	return rules(func(in connector.ProfileInput, need func(bool, string)) {
		if in.Credentials == nil {
			return
		}
		var c struct {
			AccessToken  string          `json:"accessToken"`
			RefreshToken string          `json:"refreshToken"`
			OAuthRequest json.RawMessage `json:"oAuthRequest"`
		}
		decode(in.Credentials, &c)
		need(c.AccessToken != "" || c.RefreshToken != "" || present(c.OAuthRequest),
			typ+" credentials need accessToken, refreshToken or oAuthRequest")
	})
}

var salesforceRules = rules(func(in connector.ProfileInput, need func(bool, string)) {
	if in.Credentials == nil {
		return
	}
	var c struct {
		GrantType            string `json:"oAuth2GrantType"`
		JWTToken             string `json:"jwtToken"`
		ClientCredentialsArn string `json:"clientCredentialsArn"`
	}
	decode(in.Credentials, &c)
	switch c.GrantType {
	case "JWT_BEARER":
		need(c.JWTToken != "", "jwtToken is required with oAuth2GrantType JWT_BEARER")
	case "CLIENT_CREDENTIALS":
		need(c.ClientCredentialsArn != "", "clientCredentialsArn is required with oAuth2GrantType CLIENT_CREDENTIALS")
	}
})

// present says a member was given, and not as null.
func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }
