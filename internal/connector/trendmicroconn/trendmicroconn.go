// Package trendmicroconn is the Trend Micro source (connectors-saas-2 §4):
// the resources of the Deep Security / Workload Security API ({base}/api,
// headers api-secret-key and api-version: v1), read through their search
// operations (POST /api/<resource>/search) paged by ID: sorted by object
// ID, maxItems per page, each next page asking for IDs greater than the
// last one, until a page comes back short. The base is
// https://app.deepsecurity.trendmicro.com (Deep Security as a Service), or
// --endpoint trendmicro=URL (a Workload Security region, an on-premise
// manager https://<host>:4119).
//
// Choices where AppFlow is silent:
//   - Entities are the resources AppFlow's notes list: computers,
//     policies, computerGroups, firewallRules, intrusionPreventionRules,
//     integrityMonitoringRules, logInspectionRules, ipLists,
//     scheduledTasks, administrators, flat under "Objects", each with a
//     schema from the API reference (the API has no describe operation).
//     Keys an object carries beyond it are kept when the flow maps every
//     field. Nested objects are JSON; values are as the API writes them
//     (0 for "no value" in numbers and IDs; epoch milliseconds for times).
//   - EQUAL_TO becomes a search criterion by the field's kind (string,
//     numeric, boolean, choice; ID for "ID"); several values are one
//     search (one split) each, as criteria only AND together.
//   - There is no date operator and no incremental field: a scheduled run
//     reads the whole resource.
//   - Computers are searched with expand=none (the minimal object).
//   - 401/403 are a refused key (fault.AuthFailed with the API's message);
//     429 ("Too many API requests") and 5xx are retried by httpconn after
//     Retry-After; other answers fail with the API's message.
package trendmicroconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// Type is the connector type this package registers.
const Type = "Trendmicro"

// DefaultBase is Deep Security as a Service.
const DefaultBase = "https://app.deepsecurity.trendmicro.com"

// Options configure the driver beyond the profile; its PageSize is maxItems
// per search; 0 means 5000 (the API's default).
type Options = httpconn.Options

func init() { httpconn.Register(Type, httpconn.Source, Open) }

// Driver is one opened Trend Micro profile.
type Driver struct {
	c        *httpconn.Client
	pageSize int
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	creds, err := connector.Credentials[struct {
		APISecretKey string `json:"apiSecretKey"`
	}](p, "Trend Micro")
	if err != nil {
		return nil, err
	}
	if err := httpconn.Need(p, "Trend Micro", "an apiSecretKey", creds.APISecretKey); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(deps.Endpoints.Or(connector.EndpointTrendMicro, DefaultBase), "/api") // a URL given with /api
	c := httpconn.New(deps, httpconn.Config{Name: "Trend Micro", Base: base + "/api",
		Auth:   httpconn.Header("api-secret-key", creds.APISecretKey),
		Header: http.Header{"Api-Version": {"v1"}, "Accept": {"application/json"}},
		Retry:  opts.Retry, Check: httpconn.StatusCheck(apiError)})
	return &Driver{c: c, pageSize: httpconn.Size(opts.PageSize, 5000, 0)}, nil
}

// apiError reads the API's {"message": ...}.
func apiError(r *httpconn.Response) error {
	var e struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)]))
	if json.Unmarshal(r.Body, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	return httpconn.KeyRefusal("Trend Micro", r, msg)
}

// CheckProfile searches one policy.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, err := d.search(ctx, "policies", map[string]any{"maxItems": 1})
	return err
}

func (d *Driver) search(ctx context.Context, resource string, body map[string]any) ([]byte, error) {
	b, _ := json.Marshal(body)
	var q url.Values
	if resource == "computers" {
		q = url.Values{"expand": {"none"}}
	}
	// A search changes nothing: retrying one is safe.
	res, err := d.c.Do(ctx, &httpconn.Request{Method: http.MethodPost, Path: "/" + resource + "/search", Query: q, Body: b, Idempotent: true})
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

// ---- catalog ----

// kind is how a field is searched.
type kind uint8

const (
	kString kind = iota
	kNumber
	kBool
	kChoice
	kTime // epoch ms; no criterion
	kObject
	kID
)

type field struct {
	name string
	kind kind
}

func fs(spec string) []field {
	var out []field
	for _, f := range strings.Fields(spec) {
		name, k, _ := strings.Cut(f, ":")
		kd := map[string]kind{"": kString, "n": kNumber, "b": kBool, "c": kChoice, "t": kTime, "o": kObject, "id": kID}[k]
		out = append(out, field{name, kd})
	}
	return out
}

// schemas are the resources' properties (Deep Security API reference).
var schemas = map[string][]field{
	"computers": fs(`ID:id hostName displayName description lastIPUsed platform groupID:n policyID:n assetImportanceID:n relayListID:n
		agentFingerPrint applianceFingerPrint lastAgentCommunication:t lastApplianceCommunication:t lastSendPolicyRequest:t
		lastSendPolicySuccess:t agentVersion computerStatus:o tasks:o antiMalware:o webReputation:o firewall:o intrusionPrevention:o
		integrityMonitoring:o logInspection:o applicationControl:o ESXSummary:o biosUUID`),
	"policies": fs(`ID:id name description parentID:n policySettings:o recommendationScanMode:c autoRequiresUpdate:c interfaceTypes:o
		antiMalware:o webReputation:o firewall:o intrusionPrevention:o integrityMonitoring:o logInspection:o applicationControl:o`),
	"computerGroups": fs(`ID:id name description parentGroupID:n type:c cloudType:c amazonAccountID amazonVPCID amazonRegion`),
	"firewallRules": fs(`ID:id name description action:c priority:c direction:c frameType:c frameNumber:n frameNot:b protocol:c
		protocolNumber:n protocolNot:b sourceIPType:c destinationIPType:c sourcePortType:c destinationPortType:c
		logDisabled:b includePacketData:b alertEnabled:b`),
	"intrusionPreventionRules": fs(`ID:id name description severity:c type:c identifier template:c detectOnly:b eventLoggingDisabled:b
		generateEventOnPacketDrop:b alwaysIncludePacketData:b applicationTypeID:n CVE:o CVSSScore lastUpdated:t`),
	"integrityMonitoringRules": fs(`ID:id name description severity:c identifier template:c realTimeMonitoringEnabled:b alertEnabled:b
		minimumAgentVersion lastUpdated:t`),
	"logInspectionRules": fs(`ID:id name description identifier template:c alertEnabled:b alertMinimumSeverity:n
		sortOrderOverride:n logFiles:o lastUpdated:t`),
	"ipLists":        fs(`ID:id name description items:o`),
	"scheduledTasks": fs(`ID:id name type:c scheduleDetails:o enabled:b lastRunTime:t nextRunTime:t runNow:b`),
	"administrators": fs(`ID:id username fullName description roleID:n active:b emailAddress phoneNumber timeZone locale:c
		lastSignIn:t created:t lastPasswordChange:t unlockTime:t unsuccessfulSignInAttempts:n type:c`),
}

var labels = map[string]string{"computers": "Computers", "policies": "Policies", "computerGroups": "Computer groups",
	"firewallRules": "Firewall rules", "intrusionPreventionRules": "Intrusion prevention rules",
	"integrityMonitoringRules": "Integrity monitoring rules", "logInspectionRules": "Log inspection rules",
	"ipLists": "IP lists", "scheduledTasks": "Scheduled tasks", "administrators": "Administrators"}

func names() []string {
	var out []string
	for n := range schemas {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ListEntities lists the resources.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	var out []connector.Entity
	for _, n := range names() {
		out = append(out, connector.Entity{Name: n, Label: labels[n]})
	}
	return httpconn.Flat("Trend Micro", path, out)
}

// DescribeEntity returns a resource's schema.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	s, ok := schemas[name]
	if !ok {
		return nil, fault.New(fault.NotFound, "Trend Micro has no entity %q; use one of %s", name, strings.Join(names(), ", "))
	}
	types := map[kind]record.FieldType{kString: "string", kNumber: "long", kBool: "boolean", kChoice: "string", kTime: "datetime", kObject: "struct", kID: "long"}
	out := make([]connector.EntityField, 0, len(s))
	for _, f := range s {
		ef := connector.EntityField{Name: f.name, Label: f.name, Type: types[f.kind], IsPrimaryKey: f.kind == kID, Nullable: f.kind != kID, Queryable: true}
		if f.kind != kTime && f.kind != kObject {
			ef.FilterOperators = []string{"EQUAL_TO"}
		}
		out = append(out, ef)
	}
	return out, nil
}

// ---- source ----

type plan struct {
	resource  string
	criterion map[string]any // nil: the whole resource
	extra     []map[string]any
}

// Splits makes one search per EQUAL_TO value of the first multi-valued
// filter; the other filters are criteria of every search.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	s, ok := schemas[req.Object]
	if !ok {
		return nil, fault.New(fault.Invalid, "Trend Micro has no entity %q; use one of %s", req.Object, strings.Join(names(), ", "))
	}
	kinds := map[string]kind{}
	for _, f := range s {
		kinds[f.name] = f.kind
	}
	var fixed []map[string]any
	var fan []map[string]any
	fanName := ""
	for _, f := range req.Filters {
		if f.Operator != "EQUAL_TO" {
			continue
		}
		k, known := kinds[f.Field]
		if !known || k == kTime || k == kObject {
			continue // left to the engine
		}
		if len(f.Values) == 0 {
			return nil, fault.New(fault.Invalid, "Trend Micro: EQUAL_TO on %s needs a value", f.Field)
		}
		var cs []map[string]any
		for _, v := range f.Values {
			c, err := criterion(f.Field, k, v)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
		if len(cs) == 1 || fan != nil {
			if len(cs) > 1 {
				continue // a second multi-valued filter is the engine's
			}
			fixed = append(fixed, cs[0])
			continue
		}
		fan, fanName = cs, f.Field
	}
	if fan == nil {
		return []connector.Split{{Name: req.Object, Opaque: &plan{resource: req.Object, extra: fixed}}}, nil
	}
	var out []connector.Split
	for _, c := range fan {
		out = append(out, connector.Split{Name: fmt.Sprintf("%s %s=%s", req.Object, fanName, valueOf(c)),
			Opaque: &plan{resource: req.Object, criterion: c, extra: fixed}})
	}
	return out, nil
}

func valueOf(c map[string]any) string {
	for _, k := range []string{"stringValue", "numericValue", "booleanValue", "choiceValue", "idValue"} {
		if v, ok := c[k]; ok {
			return fmt.Sprint(v)
		}
	}
	return ""
}

func criterion(name string, k kind, v string) (map[string]any, error) {
	switch k {
	case kID, kNumber:
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fault.New(fault.Invalid, "Trend Micro: EQUAL_TO on %s needs a number, got %q", name, v)
		}
		if k == kID {
			return map[string]any{"idTest": "equal", "idValue": n}, nil
		}
		return map[string]any{"fieldName": name, "numericTest": "equal", "numericValue": n}, nil
	case kBool:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, fault.New(fault.Invalid, "Trend Micro: EQUAL_TO on %s needs true or false, got %q", name, v)
		}
		return map[string]any{"fieldName": name, "booleanTest": b}, nil
	case kChoice:
		return map[string]any{"fieldName": name, "choiceTest": "equal", "choiceValue": v}, nil
	}
	return map[string]any{"fieldName": name, "stringTest": "equal", "stringValue": v, "stringWildcards": false}, nil
}

// ReadSplit pages through the search by ID.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	p, err := httpconn.Plan[*plan](ctx, s, "Trend Micro")
	if err != nil {
		return err
	}
	line := int64(1)
	var pending *record.Batch
	err = httpconn.Keyset(ctx, func(ctx context.Context, after int64) (int64, bool, error) {
		criteria := append([]map[string]any{{"idTest": "greater-than", "idValue": after}}, p.extra...)
		if p.criterion != nil {
			criteria = append(criteria, p.criterion)
		}
		body, err := d.search(ctx, p.resource, map[string]any{"maxItems": d.pageSize, "searchCriteria": criteria, "sortByObjectID": true})
		if err != nil {
			return 0, false, err
		}
		var page map[string][]map[string]json.RawMessage
		if err := json.Unmarshal(body, &page); err != nil {
			return 0, false, fault.Wrap(fault.ConnectorServer, err, "decode the %s search after ID %d: %s", p.resource, after, httpconn.Excerpt(body))
		}
		objs := page[p.resource]
		if objs == nil { // a broken answer, not an empty page
			return 0, false, fault.New(fault.ConnectorServer, "the %s search after ID %d answered no %s: %s", p.resource, after, p.resource, httpconn.Excerpt(body))
		}
		last := after
		for _, o := range objs {
			id, err := strconv.ParseInt(string(bytes.TrimSpace(o["ID"])), 10, 64)
			if err != nil || id <= last {
				return 0, false, fault.New(fault.ConnectorServer, "the %s search answered ID %s after ID %d: not sorted by ID", p.resource, o["ID"], last)
			}
			last = id
		}
		b := httpconn.Rows(req.Fields, schemaNames(p.resource), objs)
		b.Split, b.FirstLine, b.SourceBytes = s.Name, line, int64(len(body))
		line += int64(len(objs))
		if pending != nil {
			if err := emit(pending); err != nil {
				return 0, false, err
			}
		}
		pending = b
		// A short page is the last one.
		return last, len(objs) == d.pageSize, nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", s.Name, err)
	}
	if pending == nil {
		pending = &record.Batch{Fields: req.Fields, Split: s.Name, FirstLine: line}
	}
	pending.Final = true
	return emit(pending)
}

// schemaNames are a resource's properties, in order.
func schemaNames(resource string) []string {
	var out []string
	for _, f := range schemas[resource] {
		out = append(out, f.name)
	}
	return out
}
