package catalog

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
)

func TestProfileRules(t *testing.T) {
	caps := map[string]connector.Capabilities{}
	for _, c := range Builtin() {
		caps[c.Type] = c
	}
	raw := func(s string) json.RawMessage {
		if s == "" {
			return nil
		}
		return json.RawMessage(s)
	}
	for _, tc := range []struct {
		typ, props, creds string
		creating          bool
		want              string // "" = no problem
	}{
		{"Salesforce", `{"instanceUrl":"https://x"}`, `{"oAuth2GrantType":"JWT_BEARER"}`, true, "jwtToken is required"},
		{"Salesforce", `{}`, `{"oAuth2GrantType":"JWT_BEARER","jwtToken":"j"}`, true, ""},
		{"Salesforce", `{}`, `{"oAuth2GrantType":"CLIENT_CREDENTIALS"}`, false, "clientCredentialsArn is required"},
		{"Salesforce", `{}`, "", true, ""}, // no credentials: the process's connected app
		{"Googleanalytics", `{}`, `{"clientId":"c","clientSecret":"s"}`, true, "GoogleAnalytics credentials need accessToken"},
		{"Googleanalytics", `{}`, `{"clientId":"c","clientSecret":"s","refreshToken":"r"}`, true, ""},
		{"Honeycode", `{}`, `{"oAuthRequest":null}`, false, "Honeycode credentials need"},
		{"Honeycode", `{}`, `{"oAuthRequest":{"authCode":"a"}}`, false, ""},
		{"Redshift", `{"databaseUrl":"jdbc:redshift://h:5439/dev"}`, "", true, "username and password are required"},
		{"Redshift", `{"databaseUrl":"jdbc:redshift://h:5439/dev"}`, "", false, ""}, // update keeps the stored ones
		{"Redshift", `{"workgroupName":"wg","isRedshiftServerless":true,"databaseName":"dev"}`, "", true, "dataApiRoleArn cannot be null"},
		{"Redshift", `{"isRedshiftServerless":true,"databaseName":"dev","dataApiRoleArn":"r"}`, "", true, "workgroupName is required"},
		{"Servicenow", `{}`, `{"oAuth2Credentials":{"clientId":"c"}}`, true, ""},
		{"Servicenow", `{}`, `{"password":"p"}`, true, "username and password, or oAuth2Credentials"},
		{"SAPOData", `{}`, `{"oAuthCredentials":{"clientId":"c"}}`, true, "oAuthProperties are required"},
		{"SAPOData", `{"oAuthProperties":{"tokenUrl":"https://t"}}`, `{"oAuthCredentials":{"clientId":"c"}}`, true, ""},
	} {
		rules := caps[tc.typ].ProfileRules
		if rules == nil {
			t.Fatalf("%s has no profile rules", tc.typ)
		}
		got := strings.Join(rules(connector.ProfileInput{Properties: raw(tc.props), Credentials: raw(tc.creds), Creating: tc.creating}), "; ")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s props %s creds %s creating %v: got %q, want %q", tc.typ, tc.props, tc.creds, tc.creating, got, tc.want)
		}
	}
	for _, typ := range []string{"Salesforce", "Pardot", "Redshift"} {
		if !caps[typ].CredentialsOptional {
			t.Errorf("%s: credentials are optional (spec 6.2)", typ)
		}
	}
	if caps["Zendesk"].CredentialsOptional {
		t.Error("Zendesk: credentials are required")
	}
}
