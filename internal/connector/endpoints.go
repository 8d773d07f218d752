package connector

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Endpoint names (`--endpoint NAME=URL`): AWS services by their SDK service
// id in lower snake case, and SaaS vendors whose API host is fixed.
const (
	EndpointS3               = "s3"
	EndpointLambda           = "lambda"
	EndpointSecretsManager   = "secrets_manager"
	EndpointEventBridge      = "eventbridge"
	EndpointGlue             = "glue"
	EndpointKMS              = "kms"
	EndpointCustomerProfiles = "customer_profiles"
	EndpointSTS              = "sts"
	EndpointRedshiftData     = "redshift_data"

	EndpointAmplitude       = "amplitude"
	EndpointSingular        = "singular"
	EndpointTrendMicro      = "trendmicro"
	EndpointGoogleAnalytics = "googleanalytics"
	EndpointGoogleOAuth     = "googleoauth"
	EndpointSalesforceLogin = "salesforce_login"
)

// awsEndpoints are the names the standard AWS_ENDPOINT_URL variables apply to.
var awsEndpoints = map[string]bool{
	EndpointS3: true, EndpointLambda: true, EndpointSecretsManager: true, EndpointEventBridge: true,
	EndpointGlue: true, EndpointKMS: true, EndpointCustomerProfiles: true, EndpointSTS: true,
	EndpointRedshiftData: true,
}

var vendorEndpoints = map[string]bool{
	EndpointAmplitude: true, EndpointSingular: true, EndpointTrendMicro: true,
	EndpointGoogleAnalytics: true, EndpointGoogleOAuth: true, EndpointSalesforceLogin: true,
}

// EndpointNames lists every name --endpoint accepts, sorted.
func EndpointNames() []string {
	var names []string
	for n := range awsEndpoints {
		names = append(names, n)
	}
	for n := range vendorEndpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Endpoints points outside services at other addresses: a name from
// EndpointNames to a base URL. A name absent means the service's own
// address (the region's AWS endpoint, the vendor's fixed host); for s3 it
// means local buckets in the data dir.
type Endpoints map[string]string

// URL returns the base URL set for name, without a trailing slash; "" when none.
func (e Endpoints) URL(name string) string {
	return strings.TrimRight(e[name], "/")
}

// Or returns the URL set for name, else def: how a fixed-host vendor's
// driver finds its host.
func (e Endpoints) Or(name, def string) string {
	if u := e.URL(name); u != "" {
		return u
	}
	return def
}

// CheckEndpoint refuses a name --endpoint does not know and a value that
// is not an absolute http(s) URL, saying which.
func CheckEndpoint(name, value string) error {
	if !awsEndpoints[name] && !vendorEndpoints[name] {
		return fmt.Errorf("unknown endpoint name %q: want one of %s", name, strings.Join(EndpointNames(), ", "))
	}
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %s: %q is not an http:// or https:// URL", name, value)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("endpoint %s: %q has a query or fragment; give a base URL", name, value)
	}
	return nil
}

// ParseEndpoint splits and checks one NAME=URL.
func ParseEndpoint(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("endpoint %q: want NAME=URL, e.g. s3=http://127.0.0.1:5000", s)
	}
	name = strings.ToLower(strings.TrimSpace(name))
	value = strings.TrimSpace(value)
	if err := CheckEndpoint(name, value); err != nil {
		return "", "", err
	}
	return name, value, nil
}

// EndpointSources are the places an endpoint can be set, in the order they
// win: explicit settings (--endpoint, then the older per-service flags),
// then APPFLOWD_ENDPOINT_<NAME>, then legacy APPFLOWD_<X>_ENDPOINT
// variables, then the standard AWS_ENDPOINT_URL_<SERVICE> and
// AWS_ENDPOINT_URL for AWS services.
type EndpointSources struct {
	Flags   Endpoints // --endpoint NAME=URL, already parsed
	Aliases Endpoints // --s3-endpoint etc., by endpoint name; "" = not given
	// LegacyEnv maps an endpoint name to its older variable, such as
	// APPFLOWD_S3_ENDPOINT.
	LegacyEnv map[string]string
	Getenv    func(string) string
	// Environ lists the process's variables (os.Environ), so that an
	// APPFLOWD_ENDPOINT_<NAME> of an unknown name is refused; nil: not checked.
	Environ func() []string
}

// ResolveEndpoints merges the sources into one checked set.
func ResolveEndpoints(src EndpointSources) (Endpoints, error) {
	getenv := src.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	out := Endpoints{}
	for _, name := range EndpointNames() {
		type cand struct{ from, value string }
		cands := []cand{
			{"--endpoint " + name, src.Flags[name]},
			{"alias flag for " + name, src.Aliases[name]},
			{"APPFLOWD_ENDPOINT_" + strings.ToUpper(name), getenv("APPFLOWD_ENDPOINT_" + strings.ToUpper(name))},
		}
		if v := src.LegacyEnv[name]; v != "" {
			cands = append(cands, cand{v, getenv(v)})
		}
		if awsEndpoints[name] {
			svc := "AWS_ENDPOINT_URL_" + strings.ToUpper(name)
			cands = append(cands, cand{svc, getenv(svc)}, cand{"AWS_ENDPOINT_URL", getenv("AWS_ENDPOINT_URL")})
		}
		for _, c := range cands {
			v := strings.TrimSpace(c.value)
			if v == "" {
				continue
			}
			if err := CheckEndpoint(name, v); err != nil {
				return nil, fmt.Errorf("%s: %w", c.from, err)
			}
			out[name] = v
			break
		}
	}
	// A variable naming an unknown service is a typo worth stopping for.
	if src.Environ != nil {
		for _, kv := range src.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			name, ok := strings.CutPrefix(k, "APPFLOWD_ENDPOINT_")
			if !ok || v == "" {
				continue
			}
			if n := strings.ToLower(name); !awsEndpoints[n] && !vendorEndpoints[n] {
				return nil, fmt.Errorf("%s: unknown endpoint name %q: want one of %s", k, n, strings.Join(EndpointNames(), ", "))
			}
		}
	}
	return out, nil
}
