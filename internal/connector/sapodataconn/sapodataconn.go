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
//   - Reading: one split per object path, read with server-driven paging
//     (following d.__next, which carries SAP's $skiptoken). The projection
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
// Not built yet: DELETE, $batch, ODP delta reads, $count + $top/$skip
// parallel slices, OData v4.
//
// Its tests run against the documented-API fake in package odatatest.
package sapodataconn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
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

func init() { connector.Register(Spec(Options{})) }

// Spec registers the driver; the catalog entry supplies the rest of the
// capabilities.
func Spec(opts Options) connector.Spec {
	return connector.Spec{
		Capabilities: connector.Capabilities{Type: Type, CanUseAsSource: true, CanUseAsDestination: true, NeedsProfile: true},
		Open: func(ctx context.Context, deps connector.Deps, p connector.Profile) (connector.Driver, error) {
			return open(deps, p, opts)
		},
	}
}

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

type oauthCreds struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	OAuthRequest *struct {
		AuthCode    string `json:"authCode"`
		RedirectURI string `json:"redirectUri"`
	} `json:"oAuthRequest"`
}

type profileCreds struct {
	Basic *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"basicAuthCredentials"`
	OAuth *oauthCreds `json:"oAuthCredentials"`
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

var (
	_ connector.SourceDriver      = (*Driver)(nil)
	_ connector.DestinationDriver = (*Driver)(nil)
	_ connector.CatalogDriver     = (*Driver)(nil)
	_ connector.ProfileChecker    = (*Driver)(nil)
)

func open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	var props profileProps
	var creds profileCreds
	if len(p.Properties) > 0 {
		if err := json.Unmarshal(p.Properties, &props); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "decode SAP OData profile properties")
		}
	}
	if len(p.Credentials) > 0 {
		if err := json.Unmarshal(p.Credentials, &creds); err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "decode SAP OData profile credentials")
		}
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
	hc := deps.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &client{http: hc, now: now, log: log, retry: opts.Retry,
		base:      u.Scheme + "://" + u.Hostname() + ":" + strconv.Itoa(props.PortNumber),
		sapClient: props.ClientNumber, language: props.LogonLanguage}
	switch {
	case creds.Basic != nil && creds.Basic.Username != "":
		c.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(creds.Basic.Username+":"+creds.Basic.Password))
	case creds.OAuth != nil:
		o := creds.OAuth
		if props.OAuthProperties != nil {
			c.tokenURL = props.OAuthProperties.TokenURL
		}
		c.clientID, c.clientSecret, c.token, c.refreshToken = o.ClientID, o.ClientSecret, o.AccessToken, o.RefreshToken
		if r := o.OAuthRequest; r != nil && r.AuthCode != "" && c.token == "" {
			c.authCode, c.redirectURI = r.AuthCode, r.RedirectURI
		}
		if c.token == "" && c.authCode == "" && c.refreshToken == "" {
			return nil, fault.New(fault.AuthFailed, "the SAP OData profile %s has neither an accessToken nor an oAuthRequest with an authCode", p.Name)
		}
		if (c.authCode != "" || c.refreshToken != "") && c.tokenURL == "" {
			return nil, fault.New(fault.Invalid, "the SAP OData profile %s uses OAuth without oAuthProperties.tokenUrl", p.Name)
		}
		if p.SaveCredentials != nil {
			c.save = p.SaveCredentials
			_ = json.Unmarshal(p.Credentials, &c.saved)
		}
	default:
		return nil, fault.New(fault.AuthFailed, "the SAP OData profile %s has neither basicAuthCredentials nor oAuthCredentials", p.Name)
	}
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
	http  *http.Client
	now   func() time.Time
	log   *slog.Logger
	retry retry.Policy
	base  string // scheme://host:port

	sapClient, language string
	basic               string // the Basic Authorization header, or ""

	tokenURL               string
	clientID, clientSecret string
	authCode, redirectURI  string

	mu           sync.Mutex
	token        string
	refreshToken string
	tokenGen     int

	save  func(context.Context, json.RawMessage) error
	saved map[string]json.RawMessage
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// APIError is an SAP Gateway error answer,
// {"error":{"code","message":{"lang","value"},"innererror":{...}}}, or a
// plain body (an HTML logon page, text) trimmed.
type APIError struct {
	Status        int
	Code          string
	Message       string
	TransactionID string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("SAP responded %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.TransactionID != "" {
		s += " (transaction " + e.TransactionID + ")"
	}
	return s
}

func parseAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var v struct {
		Error *struct {
			Code    string          `json:"code"`
			Message json.RawMessage `json:"message"`
			Inner   struct {
				TransactionID string `json:"transactionid"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error != nil {
		e.Code, e.TransactionID = v.Error.Code, v.Error.Inner.TransactionID
		var m struct {
			Value string `json:"value"`
		}
		var s string
		if json.Unmarshal(v.Error.Message, &m) == nil && m.Value != "" {
			e.Message = m.Value
		} else if json.Unmarshal(v.Error.Message, &s) == nil {
			e.Message = s // OData v4
		}
		return e
	}
	var o struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &o) == nil && o.Error != "" {
		e.Code, e.Message = o.Error, o.Description
		return e
	}
	e.Message = strings.TrimSpace(string(body[:min(len(body), 300)]))
	return e
}

func classify(e *APIError) error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return fault.Wrap(fault.AuthFailed, e, "SAP OData authentication failed")
	case e.Status == http.StatusForbidden:
		return fault.Wrap(fault.AccessDenied, e, "SAP OData")
	case e.Status == http.StatusTooManyRequests:
		return fault.Wrap(fault.Throttled, e, "SAP OData")
	case e.Status == http.StatusNotFound:
		return fault.Wrap(fault.NotFound, e, "SAP OData")
	case e.Status == http.StatusBadRequest:
		return fault.Wrap(fault.Invalid, e, "SAP OData")
	}
	return fault.Wrap(fault.ConnectorServer, e, "SAP OData")
}

// url builds the request URL of path (under the host, or a full URL such
// as a __next link), adding q and then sap-client and sap-language where
// the URL lacks them.
func (c *client) url(path string, q query) string {
	u := path
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = c.base + u
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

// do GETs path, logging in first when there is only an OAuth code,
// refreshing once on 401 when a refresh token is known and backing off on
// 429 and 5xx. Non-2xx answers become classified errors.
func (c *client) do(ctx context.Context, path string, q query) (*resp, error) {
	var out *resp
	refreshed := false
	err := c.retry.Do(ctx, func(ctx context.Context, _ int) error {
		for {
			auth := c.basic
			var gen int
			if auth == "" {
				c.mu.Lock()
				token := c.token
				gen = c.tokenGen
				c.mu.Unlock()
				if token == "" {
					if err := c.login(ctx, gen); err != nil {
						return err
					}
					refreshed = true
					continue
				}
				auth = "Bearer " + token
			}
			res, err := c.send(ctx, c.url(path, q), auth)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return retry.Retryable(fault.Wrap(fault.ConnectorServer, err, "SAP OData GET"), 0)
			}
			if res.status >= 200 && res.status < 300 {
				out = res
				return nil
			}
			e := parseAPIError(res.status, res.body)
			if res.status == http.StatusUnauthorized && c.basic == "" && !refreshed && c.refreshToken != "" {
				c.log.Info("sapodata: access token refused, refreshing", "message", e.Message)
				if err := c.login(ctx, gen); err != nil {
					return err
				}
				refreshed = true
				continue
			}
			if retry.Status(res.status) || res.status == http.StatusInternalServerError {
				return retry.Retryable(classify(e), retry.RetryAfter(res.header, c.now()))
			}
			return classify(e)
		}
	})
	return out, err
}

func (c *client) send(ctx context.Context, u, auth string) (*resp, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", auth)
	hr.Header.Set("Accept", "application/json")
	hres, err := c.http.Do(hr)
	if err != nil {
		return nil, err
	}
	defer hres.Body.Close()
	b, err := io.ReadAll(hres.Body)
	if err != nil {
		return nil, fmt.Errorf("read GET %s: %w", hr.URL.Path, err)
	}
	return &resp{status: hres.StatusCode, header: hres.Header, body: b}, nil
}

// login exchanges the authorization code, or refreshes the token, at the
// profile's tokenUrl (client credentials as HTTP Basic), unless another
// goroutine already did since gen.
func (c *client) login(ctx context.Context, gen int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokenGen != gen && c.token != "" {
		return nil
	}
	form := url.Values{}
	switch {
	case c.authCode != "":
		form.Set("grant_type", "authorization_code")
		form.Set("code", c.authCode)
		if c.redirectURI != "" {
			form.Set("redirect_uri", c.redirectURI)
		}
	case c.refreshToken != "":
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", c.refreshToken)
	default:
		return fault.New(fault.AuthFailed, "SAP refused the access token and the profile has no refresh token")
	}
	tu := c.tokenURL
	if !strings.Contains(tu, "sap-client=") {
		sep := "?"
		if strings.Contains(tu, "?") {
			sep = "&"
		}
		tu += sep + "sap-client=" + c.sapClient
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, tu, strings.NewReader(form.Encode()))
	if err != nil {
		return fault.Wrap(fault.Invalid, err, "SAP OData tokenUrl")
	}
	hr.SetBasicAuth(c.clientID, c.clientSecret)
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Accept", "application/json")
	hres, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return retry.Retryable(fault.Wrap(fault.ConnectorServer, err, "SAP OData token request"), 0)
	}
	defer hres.Body.Close()
	rb, err := io.ReadAll(hres.Body)
	if err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "SAP OData token request")
	}
	if hres.StatusCode != http.StatusOK {
		e := parseAPIError(hres.StatusCode, rb)
		if retry.Status(hres.StatusCode) || hres.StatusCode == http.StatusInternalServerError {
			return retry.Retryable(classify(e), retry.RetryAfter(hres.Header, c.now()))
		}
		return fault.Wrap(fault.AuthFailed, e, "SAP OData token request (%s)", form.Get("grant_type"))
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(rb, &tok); err != nil || tok.AccessToken == "" {
		return fault.New(fault.AuthFailed, "SAP OData token response has no access_token")
	}
	c.token = tok.AccessToken
	c.tokenGen++
	c.authCode = ""
	if tok.RefreshToken != "" {
		c.refreshToken = tok.RefreshToken
	}
	return c.persist(ctx)
}

// persist hands the new tokens to the profile's owner, inside the
// oAuthCredentials member.
func (c *client) persist(ctx context.Context) error {
	if c.save == nil {
		return nil
	}
	creds := map[string]json.RawMessage{}
	for k, v := range c.saved {
		creds[k] = v
	}
	oc := map[string]json.RawMessage{}
	_ = json.Unmarshal(creds["oAuthCredentials"], &oc)
	if oc == nil {
		oc = map[string]json.RawMessage{}
	}
	delete(oc, "oAuthRequest") // exchanged: a code is good once
	oc["accessToken"], _ = json.Marshal(c.token)
	if c.refreshToken != "" {
		oc["refreshToken"], _ = json.Marshal(c.refreshToken)
	}
	creds["oAuthCredentials"], _ = json.Marshal(oc)
	raw, err := json.Marshal(creds)
	if err != nil {
		return err
	}
	if err := c.save(ctx, raw); err != nil {
		return fault.Wrap(fault.Internal, err, "store the new SAP OData tokens")
	}
	return nil
}
