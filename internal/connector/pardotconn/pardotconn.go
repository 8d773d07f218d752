// Package pardotconn is the Salesforce Pardot (Account Engagement) source
// (connectors-saas-2 §7): the v5 object collections, read with
// GET {host}/api/v5/objects/<collection>?fields=...&limit=N and then each
// answer's nextPageUrl, as it is, until an answer has none. Every call
// carries "Authorization: Bearer <token>" and the profile's
// Pardot-Business-Unit-Id. The host is the profile's instanceUrl, else
// https://pi.pardot.com (https://pi.demo.pardot.com with
// isSandboxEnvironment).
//
// Tokens come from Salesforce's token endpoint
// (https://login.salesforce.com, https://test.salesforce.com for
// sandboxes, or --endpoint salesforce_login=URL): an oAuthRequest code is
// exchanged, a refused token (401) is refreshed once with the refresh
// token, and new tokens are saved to the profile. The connected app is the
// profile's clientCredentialsArn secret, else appflowd's own
// (APPFLOWD_PARDOT_CLIENT_ID/_SECRET, falling back to
// APPFLOWD_SALESFORCE_CLIENT_ID/_SECRET).
//
// Choices where AppFlow is silent:
//   - Entities are the v5 collections below, flat under "Objects", with
//     the fields of each object's v5 reference page (v5 has no describe
//     call); prospects also list the account's custom fields (their
//     fieldId, from the custom-fields collection).
//   - The incremental window is pushed down as the object's documented
//     <field>AfterOrEqualTo/<field>BeforeOrEqualTo pair where it has one
//     (updatedAt, createdAt or sentAt); EQUAL_TO is left to the engine,
//     which re-applies every filter and the window anyway.
//   - At most five requests are in flight per business unit in this
//     process (Account Engagement's cap), whatever the flows and profiles.
//   - Errors are v5's {"code","message"} bodies: code 66 (more than five
//     concurrent requests) is retried after a pause; code 122 (the daily
//     allowance is spent) fails the run as throttled, as retrying before
//     the account's day rolls over cannot succeed; 401 refreshes the
//     token once; 429 and 5xx are retried after Retry-After.
package pardotconn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// Type is the connector type this package registers.
const Type = "Pardot"

// Hosts of Account Engagement's API (PD-DOC).
const (
	ProductionHost = "https://pi.pardot.com"
	SandboxHost    = "https://pi.demo.pardot.com"
)

// Options configure the driver beyond the profile.
type Options struct {
	Retry retry.Policy
	// ClientID and ClientSecret are appflowd's connected app; empty: the
	// environment (see the package doc) through connector.Deps.Env.
	ClientID, ClientSecret string
	// ClientCredentials reads a clientCredentialsArn secret; nil: AWS
	// Secrets Manager, as for Salesforce.
	ClientCredentials func(ctx context.Context, arn string) (id, secret string, err error)
	// PageSize is limit on a first page; 0 means 1000 (v5's maximum).
	PageSize int
	// Busy is the pause before retrying code 66; 0 means 1 s.
	Busy time.Duration
}

func init() { httpconn.Register(Type, httpconn.Source, Open) }

type props struct {
	BusinessUnitID       string `json:"businessUnitId"`
	InstanceURL          string `json:"instanceUrl"`
	IsSandboxEnvironment bool   `json:"isSandboxEnvironment"`
}

type creds struct {
	AccessToken          string `json:"accessToken"`
	RefreshToken         string `json:"refreshToken"`
	ClientCredentialsArn string `json:"clientCredentialsArn"`
	OAuthRequest         *struct {
		AuthCode    string `json:"authCode"`
		RedirectURI string `json:"redirectUri"`
	} `json:"oAuthRequest"`
}

// Driver is one opened Pardot profile.
type Driver struct {
	c        *httpconn.Client
	pageSize int
	lim      *limiter // shared by the business unit's profiles

	mu     sync.Mutex
	custom []connector.EntityField // prospects' custom fields, once read
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	pr, cr, err := connector.DecodeProfile[props, creds](p, "Pardot")
	if err != nil {
		return nil, err
	}
	if pr.BusinessUnitID == "" {
		return nil, fault.New(fault.Invalid, "the Pardot profile %s has no businessUnitId (the 18-character Business Unit ID, 0Uv...)", p.Name)
	}
	if opts.ClientID == "" && deps.Env != nil {
		opts.ClientID, opts.ClientSecret = deps.Env("APPFLOWD_PARDOT_CLIENT_ID"), deps.Env("APPFLOWD_PARDOT_CLIENT_SECRET")
		if opts.ClientID == "" {
			opts.ClientID, opts.ClientSecret = deps.Env("APPFLOWD_SALESFORCE_CLIENT_ID"), deps.Env("APPFLOWD_SALESFORCE_CLIENT_SECRET")
		}
	}
	if opts.ClientCredentials == nil {
		opts.ClientCredentials = salesforceconn.ClientSecretReader(deps)
	}
	host, login := ProductionHost, "https://login.salesforce.com"
	if pr.IsSandboxEnvironment {
		host, login = SandboxHost, "https://test.salesforce.com"
	}
	if pr.InstanceURL != "" {
		host = strings.TrimRight(pr.InstanceURL, "/")
	}
	login = deps.Endpoints.Or(connector.EndpointSalesforceLogin, login)
	o := httpconn.OAuth2{TokenURL: login + "/services/oauth2/token", AccessToken: cr.AccessToken, RefreshToken: cr.RefreshToken,
		Client: connectedApp(opts, cr.ClientCredentialsArn), Saved: httpconn.SaveTokens(p.SaveCredentials, p.Credentials, "")}
	if r := cr.OAuthRequest; r != nil && r.AuthCode != "" && cr.AccessToken == "" {
		o.Code, o.RedirectURI = r.AuthCode, r.RedirectURI
	}
	if o.AccessToken == "" && o.RefreshToken == "" && o.Code == "" {
		return nil, fault.New(fault.AuthFailed, "the Pardot profile %s has no accessToken, refreshToken or oAuthRequest", p.Name)
	}
	busy := opts.Busy
	if busy <= 0 {
		busy = time.Second
	}
	size := opts.PageSize
	if size <= 0 || size > 1000 {
		size = 1000
	}
	c := httpconn.New(deps, httpconn.Config{Name: "Pardot", Base: host, Auth: httpconn.NewOAuth2(o), Retry: opts.Retry,
		Header: http.Header{"Pardot-Business-Unit-Id": {pr.BusinessUnitID}, "Accept": {"application/json"}},
		Check:  func(r *httpconn.Response) error { return check(r, busy) }})
	lim, err := deps.Shared.Get("pardot/business-unit/"+pr.BusinessUnitID, func() (any, error) { return newLimiter(MaxConcurrent), nil })
	if err != nil {
		return nil, err
	}
	return &Driver{c: c, pageSize: size, lim: lim.(*limiter)}, nil
}

// connectedApp reads the connected app when a token is requested.
func connectedApp(opts Options, arn string) func(ctx context.Context) (string, string, error) {
	return func(ctx context.Context) (string, string, error) {
		if arn != "" {
			id, secret, err := opts.ClientCredentials(ctx, arn)
			if err != nil {
				return "", "", fault.Wrap(fault.AuthFailed, err, "read clientCredentialsArn %s", arn)
			}
			return id, secret, nil
		}
		if opts.ClientID == "" {
			return "", "", fault.New(fault.AuthFailed, "no connected app for Pardot: set clientCredentialsArn on the profile or APPFLOWD_PARDOT_CLIENT_ID and APPFLOWD_PARDOT_CLIENT_SECRET")
		}
		return opts.ClientID, opts.ClientSecret, nil
	}
}

// MaxConcurrent is Account Engagement's cap on requests in flight per
// business unit; one more is refused with code 66.
const MaxConcurrent = 5

// limiter holds the business unit's request slots across its profiles,
// flows and runs in this process.
type limiter struct {
	slots   chan struct{}
	waiting atomic.Int32 // requests waiting for a slot, for tests
}

func newLimiter(n int) *limiter { return &limiter{slots: make(chan struct{}, n)} }

func (l *limiter) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *limiter) release() { <-l.slots }

// do sends a request in one of the business unit's slots.
func (d *Driver) do(ctx context.Context, r *httpconn.Request) (*httpconn.Response, error) {
	if err := d.lim.acquire(ctx); err != nil {
		return nil, err
	}
	defer d.lim.release()
	return d.c.Do(ctx, r)
}

// check reads v5's answers: the body's code says more than the status.
func check(r *httpconn.Response, busy time.Duration) error {
	if r.OK() {
		return nil
	}
	var b struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)]))
	if json.Unmarshal(r.Body, &b) == nil && (b.Code != 0 || b.Message != "") {
		msg = fmt.Sprintf("code %d: %s", b.Code, b.Message)
	}
	switch {
	case r.Status == http.StatusUnauthorized:
		return httpconn.Reauth(fault.New(fault.AuthFailed, "Pardot refused the access token: %s", msg))
	case b.Code == 66:
		return httpconn.Retry(fault.New(fault.Throttled, "Pardot: %s", msg), max(busy, r.RetryAfter()))
	case b.Code == 122:
		return fault.New(fault.Throttled, "Pardot's daily API allowance for the business unit is spent (%s); it resets at the start of the account's day", msg)
	case r.Status == http.StatusTooManyRequests || retry.Status(r.Status) || r.Status == http.StatusInternalServerError:
		return httpconn.Retry(fault.New(fault.ConnectorServer, "Pardot: HTTP %d: %s", r.Status, msg), r.RetryAfter())
	case r.Status == http.StatusForbidden || r.Status == http.StatusMethodNotAllowed:
		return fault.New(fault.AccessDenied, "Pardot: HTTP %d: %s", r.Status, msg)
	case r.Status == http.StatusNotFound:
		return fault.New(fault.NotFound, "Pardot: %s", msg)
	}
	return fault.New(fault.ConnectorServer, "Pardot: HTTP %d: %s", r.Status, msg)
}

// CheckProfile gets a token as the profile says and reads one prospect
// id, the object every Account Engagement user can read.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, err := d.do(ctx, &httpconn.Request{Method: http.MethodGet, Path: "/api/v5/objects/prospects",
		Query: url.Values{"fields": {"id"}, "limit": {"1"}}, Idempotent: true})
	return err
}

// ---- catalog ----

// object is a v5 collection: its fields (name:type, type s by default)
// and the timestamp its query filters by, "" for none.
type object struct {
	label  string
	fields []connector.EntityField
	filter string
}

func obj(label, filter, spec string) object {
	o := object{label: label, filter: filter}
	for _, f := range strings.Fields(spec) {
		name, k, _ := strings.Cut(f, ":")
		t := map[string]record.FieldType{"": httpconn.TypeString, "i": httpconn.TypeLong, "b": httpconn.TypeBoolean,
			"t": httpconn.TypeDateTime, "d": httpconn.TypeDouble, "o": httpconn.TypeStruct}[k]
		o.fields = append(o.fields, connector.EntityField{Name: name, Label: name, Type: t, IsPrimaryKey: name == "id",
			Nullable: name != "id", Queryable: true, FilterOperators: []string{"EQUAL_TO"},
			IsTimestampForIncremental: t == httpconn.TypeDateTime})
	}
	return o
}

const audit = " createdAt:t updatedAt:t createdById:i updatedById:i"

// objects are the v5 collections and their fields (the v5 object pages).
var objects = map[string]object{
	"prospects": obj("Prospects", "updatedAt", `id:i email firstName lastName salutation company jobTitle department phone fax
		website addressOne addressTwo city state zip country territory industry annualRevenue employees yearsInBusiness
		comments notes source score:i grade isDoNotEmail:b isDoNotCall:b optedOut:b isReviewed:b isStarred:b
		isEmailHardBounced:b emailBouncedAt:t emailBouncedReason campaignId:i prospectAccountId:i assignedToId:i
		salesforceId salesforceLeadId salesforceContactId salesforceAccountId salesforceOwnerId lastActivityAt:t isDeleted:b`+audit),
	"campaigns":           obj("Campaigns", "updatedAt", `id:i name cost:i folderId:i parentCampaignId:i salesforceId isDeleted:b`+audit),
	"lists":               obj("Lists", "updatedAt", `id:i name title description folderId:i campaignId:i isDynamic:b isPublic:b isDeleted:b`+audit),
	"list-memberships":    obj("List memberships", "updatedAt", `id:i listId:i prospectId:i optedOut:b isDeleted:b`+audit),
	"opportunities":       obj("Opportunities", "updatedAt", `id:i name value:d probability:i type stage status closedAt:t campaignId:i salesforceId`+audit),
	"users":               obj("Users", "updatedAt", `id:i email username firstName lastName jobTitle role roleName salesforceId isDeleted:b`+audit),
	"tags":                obj("Tags", "updatedAt", `id:i name objectCount:i`+audit),
	"visits":              obj("Visits", "updatedAt", `id:i visitorId:i prospectId:i visitorPageViewCount:i firstVisitorPageViewAt:t lastVisitorPageViewAt:t durationInSeconds:i campaignParameter mediumParameter sourceParameter contentParameter termParameter createdAt:t updatedAt:t`),
	"visitor-activities":  obj("Visitor activities", "updatedAt", `id:i type:i typeName details prospectId:i visitorId:i visitId:i campaignId:i emailId:i emailTemplateId:i formId:i formHandlerId:i landingPageId:i fileId:i customRedirectId:i listEmailId:i opportunityId:i createdAt:t updatedAt:t`),
	"visitors":            obj("Visitors", "", `id:i prospectId:i pageViewCount:i ipAddress hostname campaignParameter mediumParameter sourceParameter contentParameter termParameter isIdentified:b doNotSell:b createdAt:t updatedAt:t`),
	"emails":              obj("Emails", "sentAt", `id:i name subject campaignId:i prospectId:i listId:i listEmailId:i emailTemplateId:i folderId:i trackerDomainId:i isOperational:b type clientType sentAt:t createdById:i`),
	"forms":               obj("Forms", "", `id:i name campaignId:i folderId:i layoutTemplateId:i trackerDomainId:i salesforceId embedCode isDeleted:b`+audit),
	"prospect-accounts":   obj("Prospect accounts", "", `id:i name salesforceId assignedToId:i isDeleted:b`+audit),
	"custom-fields":       obj("Custom fields", "", `id:i name fieldId type salesforceId isRequired:b isRecordMultipleResponses:b isUseValues:b isAnalyticsSynced:b`+audit),
	"lifecycle-histories": obj("Lifecycle histories", "createdAt", `id:i prospectId:i previousStageId:i nextStageId:i secondsElapsed:i createdAt:t`),
	"external-activities": obj("External activities", "createdAt", `id:i prospectId:i extension type value activityDate:t createdAt:t`),
}

// ListEntities lists the collections.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	var out []connector.Entity
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range objects {
			if !yield(n) {
				return
			}
		}
	}) {
		out = append(out, connector.Entity{Name: n, Label: objects[n].label})
	}
	return httpconn.Flat("Pardot", path, out)
}

// DescribeEntity is the object's fields; prospects add the account's
// custom fields.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	o, ok := objects[name]
	if !ok {
		return nil, fault.New(fault.NotFound, "Pardot has no object %q", name)
	}
	out := slices.Clone(o.fields)
	if name == "prospects" {
		custom, err := d.customFields(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, custom...)
	}
	return out, nil
}

func (d *Driver) customFields(ctx context.Context) ([]connector.EntityField, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.custom != nil {
		return d.custom, nil
	}
	custom := []connector.EntityField{}
	err := d.pages(ctx, "custom-fields", []string{"fieldId", "name"}, nil, func(rows []map[string]json.RawMessage, _ int, _ bool) error {
		for _, r := range rows {
			var id, label string
			_ = json.Unmarshal(r["fieldId"], &id)
			_ = json.Unmarshal(r["name"], &label)
			if id != "" {
				custom = append(custom, connector.EntityField{Name: id, Label: label, Type: httpconn.TypeString, Nullable: true,
					Queryable: true, FilterOperators: []string{"EQUAL_TO"}})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.custom = custom
	return custom, nil
}

// ---- source ----

// pages reads a collection: the first page with the query, the next ones
// by nextPageUrl; each page goes to fn with its size in bytes and whether
// it is the last.
func (d *Driver) pages(ctx context.Context, collection string, fields []string, q url.Values, fn func(rows []map[string]json.RawMessage, n int, last bool) error) error {
	if q == nil {
		q = url.Values{}
	}
	q.Set("fields", strings.Join(fields, ","))
	q.Set("limit", fmt.Sprint(d.pageSize))
	return httpconn.Cursor(ctx, func(ctx context.Context, next string) (string, error) {
		r := &httpconn.Request{Method: http.MethodGet, Path: "/api/v5/objects/" + collection, Query: q, Idempotent: true}
		if next != "" {
			r = &httpconn.Request{Method: http.MethodGet, Path: next, Idempotent: true}
		}
		res, err := d.do(ctx, r)
		if err != nil {
			return "", err
		}
		var page struct {
			Values      *[]map[string]json.RawMessage `json:"values"`
			NextPageURL string                        `json:"nextPageUrl"`
		}
		if err := res.JSON(&page); err != nil {
			return "", err
		}
		if page.Values == nil { // a broken answer, not an empty page
			return "", fault.New(fault.ConnectorServer, "Pardot %s answered no values: %s", collection, httpconn.Excerpt(res.Body))
		}
		if err := fn(*page.Values, len(res.Body), page.NextPageURL == ""); err != nil {
			return "", err
		}
		return page.NextPageURL, nil
	})
}

// Splits reads a collection in one split: its pages follow one another.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	if _, ok := objects[req.Object]; !ok {
		return nil, fault.New(fault.Invalid, "Pardot has no object %q", req.Object)
	}
	return []connector.Split{{Name: req.Object}}, nil
}

// ReadSplit reads every page, one batch each.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o, ok := objects[s.Name]
	if !ok {
		return fault.New(fault.Internal, "Pardot split %s was not made by this driver", s.Name)
	}
	fields := req.Fields
	if fields == nil {
		for _, f := range o.fields {
			fields = append(fields, f.Name)
		}
	}
	q := url.Values{}
	if w := req.Window; w != nil && o.filter != "" && w.Field == o.filter {
		// Inclusive both ends; the engine drops the end itself.
		q.Set(o.filter+"AfterOrEqualTo", w.Start.UTC().Format(time.RFC3339))
		q.Set(o.filter+"BeforeOrEqualTo", w.End.UTC().Format(time.RFC3339))
	}
	line := int64(1)
	err := d.pages(ctx, s.Name, fields, q, func(rows []map[string]json.RawMessage, n int, last bool) error {
		b := &record.Batch{Fields: fields, Split: s.Name, FirstLine: line, Final: last, SourceBytes: int64(n),
			Cells: make([]record.Value, 0, len(fields)*len(rows))}
		for _, row := range rows {
			for _, f := range fields {
				b.Cells = append(b.Cells, httpconn.Value(row[f]))
			}
		}
		line += int64(len(rows))
		return emit(b)
	})
	if err != nil {
		return fmt.Errorf("read Pardot %s: %w", s.Name, err)
	}
	return nil
}
