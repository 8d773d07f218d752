// Package sapodataconn is the SAP OData source and destination: a catalog,
// a reader and a writer over an SAP Gateway OData v2 service, authenticated with HTTP Basic or an
// OAuth 2.0 bearer token from the AS ABAP OAuth server
// (connectors-saas-2 §8).
//
// Choices where AppFlow is silent (connectors-saas-2 §8, tagged [I]/[U]):
//
//   - Every request goes to {applicationHostUrl}:{portNumber}{path} with
//     sap-client={clientNumber} and, when set, sap-language={logonLanguage};
//     JSON is asked for with $format=json and Accept: application/json.
//
//   - Catalog: level 1 lists the services of the catalog service
//     (applicationServicePath, ServiceCollection); level 2 (path = a
//     service URL path) lists its entity sets from the service document.
//     An entity is named by its object path, {servicePath}/{EntitySet}.
//     Fields come from the service's $metadata (parsed once per service
//     and cached): keys, Edm types mapped to AppFlow types, sap:filterable,
//     sap:creatable and sap:updatable.
//
//   - Reading: pages of paginationConfig.maxPageSize rows (default and
//     most 3,000) asked with $top/$skip, so a service without server paging
//     never answers a whole entity set at once; where the service pages on
//     its own (d.__next with $skiptoken) the link is followed until the
//     page is whole. With parallelismConfig.maxParallelism > 1 the rows are
//     counted ($count with the read's $filter) and the pages dealt to that
//     many splits, read at once. The projection
//     becomes $select; filters become $filter only where OData and the
//     engine agree (equality on any filterable property, ordering and
//     BETWEEN on numbers and date-times, CONTAINS on strings as
//     substringof, both case-sensitive); NOT_EQUAL_TO is never pushed (an
//     OData null is "not equal"), nor ordering on strings (SAP collates).
//     The engine re-applies every filter. The incremental window on a
//     date-time property is pushed as (f ge start and f lt end) and also
//     enforced here.
//
//   - A profile is checked by reading the catalog service's service
//     document; 401 is fault.AuthFailed with SAP's message.
//
//   - OAuth: an oAuthRequest code is exchanged at oAuthProperties.tokenUrl
//     (client id and secret as HTTP Basic, form body); a 401 refreshes once
//     with the refresh token. New tokens go to Profile.SaveCredentials.
//
//   - Writing (writer.go): records are buffered and sent at Commit, one
//     request per record, in order. Before the first one the writer GETs
//     the service root with X-CSRF-Token: Fetch and sends the token and
//     SAP's session cookies on every write; a 403 with
//     X-CSRF-Token: Required fetches a new token and resends once.
//     Changes carry If-Match: * (the entity was not read, so its ETag is
//     unknown), which ETag-protected services require (else 428).
//     INSERT POSTs to the entity set; UPDATE MERGEs (partial update) the
//     body minus the id fields into {Set}('v') or {Set}(K1='a',K2=5),
//     literals typed per $metadata (idFieldNames, else the entity's keys);
//     UPSERT MERGEs and POSTs when SAP answers 404 (one request fewer than
//     GET-then-write, same outcome). Values are sent as SAP v2 JSON for
//     the property's Edm type (Int64/Decimal as strings, DateTime as
//     /Date(ms)/); JSON values go as they are, so a nested child array
//     under a navigation property is a deep insert. A 4xx answer (but
//     401/403/408/429) is the record's failure with SAP's code and text,
//     kept in WriteResult.Failures and written by rejects.Write; 429 and
//     503 are retried, other 5xx only for MERGE; a POST whose outcome is
//     unknown (a transport error) is not resent and fails the run.
//     successResponseHandlingConfig: SAP's d object of each created
//     record, one a line, at {bucketPrefix}/{flow}/{execution}/
//     sapodata-success-responses.jsonl [U layout].
//
// Not built yet: DELETE, $batch, ODP delta reads, OData v4.
//
// Its tests run against the documented-API fake in package odatatest.
package sapodataconn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/retry"
)

// Type is the connector type this package registers.
const Type = "SAPOData"

// Options configure the driver beyond what a profile says.
type Options struct {
	// Retry is the backoff for 429 and 5xx answers.
	Retry retry.Policy
}

func init() { httpconn.Register(Type, httpconn.Source|httpconn.Destination, open) }

type profileProps struct {
	ApplicationHostURL     string `json:"applicationHostUrl"`
	ApplicationServicePath string `json:"applicationServicePath"`
	PortNumber             int    `json:"portNumber"`
	ClientNumber           string `json:"clientNumber"`
	LogonLanguage          string `json:"logonLanguage"`
	PrivateLinkServiceName string `json:"privateLinkServiceName"`
	OAuthProperties        *struct {
		TokenURL    string   `json:"tokenUrl"`
		AuthCodeURL string   `json:"authCodeUrl"`
		OAuthScopes []string `json:"oAuthScopes"`
	} `json:"oAuthProperties"`
}

type profileCreds struct {
	Basic *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"basicAuthCredentials"`
	OAuth *httpconn.OAuthCredentials `json:"oAuthCredentials"`
}

var clientRE = regexp.MustCompile(`^[0-9]{3}$`)

// Driver is one opened SAP OData profile.
type Driver struct {
	c           *client
	deps        connector.Deps
	catalogPath string

	mu    sync.Mutex
	metas map[string]*metaResult // by service path
}

type metaResult struct {
	once sync.Once
	m    *metadata
	err  error
}

func open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	props, creds, err := connector.DecodeProfile[profileProps, profileCreds](p, "SAP OData")
	if err != nil {
		return nil, err
	}
	host := strings.TrimRight(props.ApplicationHostURL, "/")
	u, err := url.Parse(host)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || (u.Path != "" && u.Path != "/") {
		return nil, fault.New(fault.Invalid, "the SAP OData applicationHostUrl %q is not an http(s) host URL such as https://sap.example.com", props.ApplicationHostURL)
	}
	if props.PortNumber < 1 || props.PortNumber > 65535 {
		return nil, fault.New(fault.Invalid, "the SAP OData portNumber %d is not between 1 and 65535", props.PortNumber)
	}
	if !clientRE.MatchString(props.ClientNumber) || props.ClientNumber == "000" {
		return nil, fault.New(fault.Invalid, "the SAP OData clientNumber %q is not three digits between 001 and 999", props.ClientNumber)
	}
	if len(props.LogonLanguage) > 2 {
		return nil, fault.New(fault.Invalid, "the SAP OData logonLanguage %q is longer than two characters", props.LogonLanguage)
	}
	svc := "/" + strings.Trim(props.ApplicationServicePath, "/")
	if svc == "/" {
		return nil, fault.New(fault.Invalid, "the SAP OData profile %s has no applicationServicePath", p.Name)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &client{log: log, sapClient: props.ClientNumber, language: props.LogonLanguage}
	var auth httpconn.Auth
	switch {
	case creds.Basic != nil && creds.Basic.Username != "":
		auth = httpconn.Basic(creds.Basic.Username, creds.Basic.Password)
	case creds.OAuth != nil:
		// The AS ABAP OAuth server: the client as HTTP Basic, a form body,
		// the profile's client in sap-client.
		oa := creds.OAuth.OAuth2("")
		oa.ClientBasic = true
		oa.Saved = httpconn.SaveTokens(p.SaveCredentials, p.Credentials, "oAuthCredentials")
		if props.OAuthProperties != nil && props.OAuthProperties.TokenURL != "" {
			oa.TokenURL = c.withClient(props.OAuthProperties.TokenURL)
		}
		if oa.AccessToken == "" && oa.Code == "" && oa.RefreshToken == "" {
			return nil, fault.New(fault.AuthFailed, "the SAP OData profile %s has neither an accessToken nor an oAuthRequest with an authCode", p.Name)
		}
		if (oa.Code != "" || oa.RefreshToken != "") && oa.TokenURL == "" {
			return nil, fault.New(fault.Invalid, "the SAP OData profile %s uses OAuth without oAuthProperties.tokenUrl", p.Name)
		}
		auth = httpconn.NewOAuth2(oa)
	default:
		return nil, fault.New(fault.AuthFailed, "the SAP OData profile %s has neither basicAuthCredentials nor oAuthCredentials", p.Name)
	}
	c.Client = httpconn.New(deps, httpconn.Config{Name: "SAP OData", Auth: auth, Retry: opts.Retry, Check: check,
		Base:   u.Scheme + "://" + u.Hostname() + ":" + strconv.Itoa(props.PortNumber),
		Header: http.Header{"Accept": {"application/json"}}})
	return &Driver{c: c, deps: deps, catalogPath: svc, metas: map[string]*metaResult{}}, nil
}

// CheckProfile reads the catalog service's service document.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, err := d.c.do(ctx, d.catalogPath+"/", query{{"$format", "json"}})
	return err
}

// query is an ordered list of query parameters; names such as $filter are
// sent as they are, values are percent-encoded (a space as %20).
type query [][2]string

func (q query) encode() string {
	var sb strings.Builder
	for i, kv := range q {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(kv[0])
		sb.WriteByte('=')
		sb.WriteString(escape(kv[1]))
	}
	return sb.String()
}

// escape percent-encodes a query value, keeping the characters OData
// expressions use that need no escaping in a query.
func escape(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9',
			strings.IndexByte("-._~'(),:/$*!@", b) >= 0:
			sb.WriteByte(b)
		default:
			fmt.Fprintf(&sb, "%%%02X", b)
		}
	}
	return sb.String()
}

// client speaks HTTP to one SAP system.
type client struct {
	*httpconn.Client
	log                 *slog.Logger
	sapClient, language string
}

// APIError is an SAP Gateway error answer,
// {"error":{"code","message":{"lang","value"},"innererror":{...}}}, or a
// plain body (an HTML logon page, text) trimmed.
type APIError = httpconn.Error

func parseAPIError(status int, body []byte) *APIError {
	return httpconn.ParseError("SAP", status, body, func(body []byte, e *APIError) bool {
		var v struct {
			Error *struct {
				Code    string          `json:"code"`
				Message json.RawMessage `json:"message"`
				Inner   struct {
					TransactionID string `json:"transactionid"`
				} `json:"innererror"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &v) != nil || v.Error == nil {
			return false
		}
		e.Code = v.Error.Code
		if id := v.Error.Inner.TransactionID; id != "" {
			e.Detail = "transaction " + id
		}
		var m struct {
			Value string `json:"value"`
		}
		if json.Unmarshal(v.Error.Message, &m) == nil && m.Value != "" {
			e.Message = m.Value
		} else {
			_ = json.Unmarshal(v.Error.Message, &e.Message) // OData v4
		}
		return true
	})
}

func classify(e *APIError) error {
	return fault.Wrap(httpconn.StatusCode(e.Status), e, "SAP OData")
}

// check retries 500 as well as the usual transient refusals (SAP
// Gateway answers 500 for a backend that is restarting).
var check = httpconn.StatusCheck(func(r *httpconn.Response) error { return classify(parseAPIError(r.Status, r.Body)) }, http.StatusInternalServerError)

// url builds the request URL of path (under the host, or a full URL such
// as a __next link), adding q and then sap-client and sap-language where
// the URL lacks them.
func (c *client) url(path string, q query) string {
	u := path
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = c.Base() + u
	}
	q = append(query(nil), q...)
	if !strings.Contains(u, "sap-client=") {
		q = append(q, [2]string{"sap-client", c.sapClient})
	}
	if c.language != "" && !strings.Contains(u, "sap-language=") {
		q = append(q, [2]string{"sap-language", c.language})
	}
	if len(q) > 0 {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + q.encode()
	}
	return u
}

// withClient adds sap-client to a URL that lacks it (the token URL).
func (c *client) withClient(u string) string {
	if strings.Contains(u, "sap-client=") {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "sap-client=" + c.sapClient
}

// do GETs path.
func (c *client) do(ctx context.Context, path string, q query) (*httpconn.Response, error) {
	return c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: c.url(path, q), Idempotent: true})
}
