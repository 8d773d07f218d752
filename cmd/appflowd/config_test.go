package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/appflowd/appflowd/internal/connector"
)

// parseServe parses serve flags with env as the whole environment.
func parseServe(args []string, env map[string]string) (*config, error) {
	c := &config{
		getenv: func(k string) string { return env[k] },
		environ: func() []string {
			var kv []string
			for k, v := range env {
				kv = append(kv, k+"="+v)
			}
			return kv
		},
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return c, c.check()
}

func TestEndpointPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want connector.Endpoints
	}{
		{name: "none", want: connector.Endpoints{}},
		{name: "flag", args: []string{"--endpoint", "s3=http://a:1", "--endpoint", "GLUE=http://g:2/"},
			want: connector.Endpoints{"s3": "http://a:1", "glue": "http://g:2/"}},
		{name: "later flag of a name wins", args: []string{"--endpoint", "kms=http://a:1", "--endpoint", "kms=http://b:2"},
			want: connector.Endpoints{"kms": "http://b:2"}},
		{name: "--endpoint beats its alias flag", args: []string{"--s3-endpoint", "http://alias:1", "--endpoint", "s3=http://new:2"},
			want: connector.Endpoints{"s3": "http://new:2"}},
		{name: "alias flags", args: []string{"--s3-endpoint", "http://s:1", "--lambda-endpoint", "http://l:1/2015-03-31/functions/function/invocations",
			"--secrets-endpoint", "http://sm:1", "--eventbridge-endpoint", "http://eb:1"},
			want: connector.Endpoints{"s3": "http://s:1", "lambda": "http://l:1/2015-03-31/functions/function/invocations",
				"secrets_manager": "http://sm:1", "eventbridge": "http://eb:1"}},
		{name: "flag beats every variable", args: []string{"--endpoint", "s3=http://flag:1"},
			env: map[string]string{"APPFLOWD_ENDPOINT_S3": "http://env:1", "APPFLOWD_S3_ENDPOINT": "http://legacy:1",
				"AWS_ENDPOINT_URL_S3": "http://awss3:1", "AWS_ENDPOINT_URL": "http://aws:1"},
			want: connector.Endpoints{"s3": "http://flag:1", "glue": "http://aws:1", "kms": "http://aws:1", "lambda": "http://aws:1",
				"secrets_manager": "http://aws:1", "eventbridge": "http://aws:1", "customer_profiles": "http://aws:1", "sts": "http://aws:1",
				"redshift_data": "http://aws:1"}},
		{name: "alias flag beats APPFLOWD_ENDPOINT_", args: []string{"--eventbridge-endpoint", "http://flag:1"},
			env:  map[string]string{"APPFLOWD_ENDPOINT_EVENTBRIDGE": "http://env:1"},
			want: connector.Endpoints{"eventbridge": "http://flag:1"}},
		{name: "APPFLOWD_ENDPOINT_ beats the older variable and AWS's",
			env: map[string]string{"APPFLOWD_ENDPOINT_SECRETS_MANAGER": "http://env:1", "APPFLOWD_SECRETS_ENDPOINT": "http://legacy:1",
				"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://aws:1"},
			want: connector.Endpoints{"secrets_manager": "http://env:1"}},
		{name: "older variable beats AWS's", env: map[string]string{"APPFLOWD_S3_ENDPOINT": "http://legacy:1", "AWS_ENDPOINT_URL_S3": "http://aws:1"},
			want: connector.Endpoints{"s3": "http://legacy:1"}},
		{name: "AWS service variable beats AWS_ENDPOINT_URL",
			env: map[string]string{"AWS_ENDPOINT_URL_CUSTOMER_PROFILES": "http://cp:1", "AWS_ENDPOINT_URL": "http://aws:1"},
			want: connector.Endpoints{"customer_profiles": "http://cp:1", "s3": "http://aws:1", "glue": "http://aws:1", "kms": "http://aws:1",
				"lambda": "http://aws:1", "secrets_manager": "http://aws:1", "eventbridge": "http://aws:1", "sts": "http://aws:1",
				"redshift_data": "http://aws:1"}},
		{name: "vendors take APPFLOWD_ENDPOINT_ only", env: map[string]string{"APPFLOWD_ENDPOINT_SALESFORCE_LOGIN": "https://login.test:8443",
			"AWS_ENDPOINT_URL_AMPLITUDE": "http://no:1"},
			want: connector.Endpoints{"salesforce_login": "https://login.test:8443"}},
		{name: "vendor flag", args: []string{"--endpoint", "googleoauth=http://127.0.0.1:9/"},
			want: connector.Endpoints{"googleoauth": "http://127.0.0.1:9/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServe(tc.args, tc.env)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, c.Endpoints); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEndpointRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error
	}{
		{name: "unknown name", args: []string{"--endpoint", "dynamodb=http://x:1"}, want: `unknown endpoint name "dynamodb"`},
		{name: "no equals", args: []string{"--endpoint", "http://x:1"}, want: "want NAME=URL"},
		{name: "not a URL", args: []string{"--endpoint", "s3=localhost:5000"}, want: `"localhost:5000" is not an http:// or https:// URL`},
		{name: "no host", args: []string{"--endpoint", "kms=http://"}, want: "not an http:// or https:// URL"},
		{name: "bad alias flag", args: []string{"--s3-endpoint", "ftp://x"}, want: "--s3-endpoint: endpoint s3"},
		{name: "bad APPFLOWD_ENDPOINT_", env: map[string]string{"APPFLOWD_ENDPOINT_GLUE": "glue.local"}, want: "APPFLOWD_ENDPOINT_GLUE"},
		{name: "unknown APPFLOWD_ENDPOINT_", env: map[string]string{"APPFLOWD_ENDPOINT_DYNAMO": "http://x:1"}, want: `APPFLOWD_ENDPOINT_DYNAMO: unknown endpoint name "dynamo"`},
		{name: "bad AWS_ENDPOINT_URL", env: map[string]string{"AWS_ENDPOINT_URL": "not a url"}, want: "AWS_ENDPOINT_URL"},
		{name: "bad older variable", env: map[string]string{"APPFLOWD_EVENTBRIDGE_ENDPOINT": "x"}, want: "APPFLOWD_EVENTBRIDGE_ENDPOINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServe(tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := parseServe([]string{"--trusted-proxies", " 10.0.0.0/8, 192.0.2.7,::ffff:198.51.100.1, 2001:db8::/32 ,10.1.2.3/16"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.TrustedProxies {
		got = append(got, p.String())
	}
	if d := cmp.Diff([]string{"10.0.0.0/8", "192.0.2.7/32", "198.51.100.1/32", "2001:db8::/32", "10.1.0.0/16"}, got); d != "" {
		t.Errorf("--trusted-proxies (-want +got):\n%s", d)
	}
	if _, err := parseServe([]string{"--trusted-proxies", "10.0.0.0/8,lb.example"}, nil); err == nil || !strings.Contains(err.Error(), `"lb.example" is not an IP address or CIDR range`) {
		t.Errorf("a host name: got %v, want a refusal naming it", err)
	}
}
