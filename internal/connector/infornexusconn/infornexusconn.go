// Package infornexusconn is the Infor Nexus source (connectors-saas-2 §6):
// the REST 3.1 object types read with
// GET {instance}/rest/3.1/<Type>/query?oql=<expr>&limit=N&offset=K, paged
// by offset while resultInfo.hasMore, every request signed as Infor
// Nexus's HMAC scheme says:
//
//	x-dapi-date: <now, UTC, 2006-01-02T15:04:05Z>
//	signature  = Base64(HMAC-SHA256(secretAccessKey, lower(date + method + path?query)))
//	Authorization: HMAC_1 <accessKeyId>:<signature>:<userId>
//
// with the profile's data key in the dataKey header and query parameter
// (so it is signed too). The instance is the profile's instanceUrl: a URL
// as given, a bare name as https://<name>.infornexus.com.
//
// Choices where AppFlow is silent:
//   - Entities are the object types below, with static schemas (Infor
//     Nexus has no public describe call): top-level fields, nested ones
//     as JSON, and the record's __metadata flattened into __metadata_uid,
//     __metadata_type, __metadata_fingerprint and
//     __metadata_modifyTimestamp. A flow mapping every field gets the
//     other top-level keys records carry as well.
//   - EQUAL_TO and BETWEEN on a top-level field, and the incremental
//     window, become the OQL expression (field = 'v', field >= 'a' AND
//     field <= 'b', OR-groups for several values; __metadata_modifyTimestamp
//     as modifyTimestamp, times as 'YYYY-MM-DD hh:mm:ss' UTC); with none,
//     1=1. The engine re-applies every filter.
//   - 401 and 403 are refused credentials (a wrong signature, a clock too
//     far off); 429 and 5xx are retried after Retry-After.
package infornexusconn

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// Type is the connector type this package registers.
const Type = "Infornexus"

// DateFormat is x-dapi-date's.
const DateFormat = "2006-01-02T15:04:05Z"

// Options configure the driver beyond the profile; its PageSize is limit
// per query; 0 means 100.
type Options = httpconn.Options

func init() { httpconn.Register(Type, httpconn.Source, Open) }

// Driver is one opened Infor Nexus profile.
type Driver struct {
	c        *httpconn.Client
	dataKey  string
	pageSize int
}

type creds struct {
	AccessKeyID     string `json:"accessKeyId"`
	UserID          string `json:"userId"`
	SecretAccessKey string `json:"secretAccessKey"`
	Datakey         string `json:"datakey"`
}

// Open builds a driver for a profile.
func Open(deps connector.Deps, p connector.Profile, opts Options) (*Driver, error) {
	props, cr, err := connector.DecodeProfile[httpconn.Instance, creds](p, "Infor Nexus")
	if err != nil {
		return nil, err
	}
	if h := strings.TrimSpace(props.InstanceURL); h != "" && !strings.ContainsAny(h, ":./") {
		props.InstanceURL = h + ".infornexus.com" // a bare network name
	}
	host, err := httpconn.InstanceURL(p, props.InstanceURL, "Infor Nexus", "https://network.infornexus.com")
	if err != nil {
		return nil, err
	}
	if err := httpconn.Need(p, "Infor Nexus", "accessKeyId, userId, secretAccessKey and datakey", cr.AccessKeyID, cr.UserID, cr.SecretAccessKey, cr.Datakey); err != nil {
		return nil, err
	}
	c := httpconn.New(deps, httpconn.Config{Name: "Infor Nexus", Base: host + "/rest/3.1",
		Auth:   &Signer{AccessKeyID: cr.AccessKeyID, UserID: cr.UserID, Secret: cr.SecretAccessKey, DataKey: cr.Datakey, Now: deps.Clock()},
		Header: http.Header{"Accept": {"application/json"}}, Retry: opts.Retry, Check: httpconn.StatusCheck(apiError)})
	return &Driver{c: c, dataKey: cr.Datakey, pageSize: httpconn.Size(opts.PageSize, 100, 0)}, nil
}

// Signer signs requests with HMAC_1.
type Signer struct {
	AccessKeyID, UserID, Secret, DataKey string
	Now                                  func() time.Time
}

// Sign is the Authorization header for a request at date.
func (s *Signer) Sign(date, method, pathAndQuery string) string {
	m := hmac.New(sha256.New, []byte(s.Secret))
	m.Write([]byte(strings.ToLower(date + method + pathAndQuery)))
	return "HMAC_1 " + s.AccessKeyID + ":" + base64.StdEncoding.EncodeToString(m.Sum(nil)) + ":" + s.UserID
}

// Apply signs req's method and URL as they will be sent.
func (s *Signer) Apply(_ context.Context, req *http.Request) (int, error) {
	if req.URL == nil {
		return 0, fault.New(fault.Internal, "Infor Nexus: a request to sign has no URL")
	}
	date := s.Now().UTC().Format(DateFormat)
	req.Header.Set("x-dapi-date", date)
	req.Header.Set("dataKey", s.DataKey)
	req.Header.Set("Authorization", s.Sign(date, req.Method, req.URL.RequestURI()))
	return 0, nil
}

// Renew: keys are fixed.
func (s *Signer) Renew(context.Context, int) error { return httpconn.ErrCannotRenew }

func apiError(r *httpconn.Response) error {
	var e struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	msg := strings.TrimSpace(string(r.Body[:min(len(r.Body), 300)]))
	if json.Unmarshal(r.Body, &e) == nil && (e.Message != "" || e.Error != "") {
		msg = strings.TrimSpace(e.Error + " " + e.Message)
	}
	return httpconn.KeyRefusal("Infor Nexus", r, msg)
}

// query asks for one page; the data key is a query parameter as well, so
// the signature covers it.
func (d *Driver) query(ctx context.Context, typ, oql string, limit, offset int) (*httpconn.Response, error) {
	q := url.Values{"oql": {oql}, "limit": {strconv.Itoa(limit)}, "offset": {strconv.Itoa(offset)}, "dataKey": {d.dataKey}}
	return d.c.Do(ctx, &httpconn.Request{Method: http.MethodGet, Path: "/" + typ + "/query", Query: q, Idempotent: true})
}

// CheckProfile signs one query of one order.
func (d *Driver) CheckProfile(ctx context.Context) error {
	_, err := d.query(ctx, "OrderDetail", "1=1", 1, 0)
	return err
}

// ---- catalog ----

// Flattened metadata fields every object has.
const (
	MetaUID       = "__metadata_uid"
	MetaType      = "__metadata_type"
	MetaPrint     = "__metadata_fingerprint"
	MetaModified  = "__metadata_modifyTimestamp"
	oqlModifyTime = "modifyTimestamp"
)

type field struct {
	name string
	typ  record.FieldType
}

func fs(spec string) []field {
	out := []field{{MetaUID, httpconn.TypeString}, {MetaType, httpconn.TypeString}, {MetaPrint, httpconn.TypeString}, {MetaModified, httpconn.TypeDateTime}}
	for _, f := range strings.Fields(spec) {
		name, k, _ := strings.Cut(f, ":")
		out = append(out, field{name, map[string]record.FieldType{"": httpconn.TypeString, "d": httpconn.TypeDouble,
			"t": httpconn.TypeDateTime, "a": httpconn.TypeArray, "o": httpconn.TypeStruct}[k]})
	}
	return out
}

// schemaNames are an object type's fields, in order.
func schemaNames(object string) []string {
	var out []string
	for _, f := range schemas[object] {
		out = append(out, f.name)
	}
	return out
}

// schemas are the object types a Data API user queries and their
// top-level fields.
var schemas = map[string][]field{
	"OrderDetail": fs(`poNumber orderType orderVersion:d issueDate:t earliestDate:t latestDate:t currencyCode totalAmount:d
		status buyer:o seller:o shipTo:o paymentTerms:o orderItem:a`),
	"PackingList": fs(`packingListNumber shipmentNumber status shipDate:t totalCartons:d totalGrossWeight:d buyer:o seller:o
		packingListItem:a`),
	"Invoice": fs(`invoiceNumber invoiceType invoiceDate:t currencyCode totalAmount:d status poNumber buyer:o seller:o
		invoiceItem:a`),
	"ShipmentDetail": fs(`shipmentNumber status mode carrierCode estimatedDepartureDate:t estimatedArrivalDate:t
		portOfLoading:o portOfDischarge:o container:a`),
	"ASNType":            fs(`asnNumber shipmentNumber status shipDate:t buyer:o seller:o asnItem:a`),
	"User":               fs(`userId firstName lastName email status organization:o`),
	"OrganizationDetail": fs(`organizationId name status address:o`),
}

// ListEntities lists the object types.
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	names := make([]string, 0, len(schemas))
	for n := range schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]connector.Entity, len(names))
	for i, n := range names {
		out[i] = connector.Entity{Name: n, Label: n}
	}
	return httpconn.Flat("Infor Nexus", path, out)
}

// DescribeEntity is the type's static schema.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	s, ok := schemas[name]
	if !ok {
		return nil, fault.New(fault.NotFound, "Infor Nexus has no object type %q", name)
	}
	out := make([]connector.EntityField, len(s))
	for i, f := range s {
		var ops []string
		if f.typ != httpconn.TypeArray && f.typ != httpconn.TypeStruct {
			ops = []string{"EQUAL_TO", "BETWEEN"}
		}
		out[i] = connector.EntityField{Name: f.name, Label: f.name, Type: f.typ, IsPrimaryKey: f.name == MetaUID,
			Nullable: f.name != MetaUID, Queryable: true, FilterOperators: ops, IsTimestampForIncremental: f.typ == httpconn.TypeDateTime}
	}
	return out, nil
}

// ---- source ----

type plan struct{ oql string }

// oqlName is where a flow's field is in OQL, "" when it is not there.
func oqlName(f string, typ string) string {
	fields, ok := schemas[typ]
	switch {
	case f == MetaModified:
		return oqlModifyTime
	case strings.HasPrefix(f, "__metadata"):
		return ""
	case !ok:
		return ""
	}
	for _, x := range fields {
		if x.name == f {
			if x.typ == httpconn.TypeArray || x.typ == httpconn.TypeStruct {
				return ""
			}
			return f
		}
	}
	return ""
}

func lit(v, dataType string, field string) string {
	if dataType == "datetime" || field == oqlModifyTime {
		if ms, ok := httpconn.ParseMillis(v); ok {
			v = time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05")
		}
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// Splits builds the OQL expression of the run.
func (d *Driver) Splits(ctx context.Context, req *connector.ReadRequest) ([]connector.Split, error) {
	if _, ok := schemas[req.Object]; !ok {
		return nil, fault.New(fault.Invalid, "Infor Nexus has no object type %q", req.Object)
	}
	var conds []string
	for _, f := range req.Filters {
		name := oqlName(f.Field, req.Object)
		if name == "" || len(f.Values) == 0 {
			continue
		}
		switch f.Operator {
		case "EQUAL_TO":
			var or []string
			for _, v := range f.Values {
				or = append(or, name+" = "+lit(v, f.DataType, name))
			}
			c := strings.Join(or, " OR ")
			if len(or) > 1 {
				c = "(" + c + ")"
			}
			conds = append(conds, c)
		case "BETWEEN":
			if len(f.Values) == 2 {
				conds = append(conds, name+" >= "+lit(f.Values[0], f.DataType, name), name+" <= "+lit(f.Values[1], f.DataType, name))
			}
		}
	}
	if w := req.Window; w != nil {
		if name := oqlName(w.Field, req.Object); name != "" {
			conds = append(conds, name+" >= "+lit(fmt.Sprint(w.Start.UnixMilli()), "datetime", name),
				name+" < "+lit(fmt.Sprint(w.End.UnixMilli()), "datetime", name))
		}
	}
	oql := "1=1"
	if len(conds) > 0 {
		oql = strings.Join(conds, " AND ")
	}
	return []connector.Split{{Name: req.Object, Opaque: &plan{oql: oql}}}, nil
}

// flatten lifts __metadata's members to the top.
func flatten(rec map[string]json.RawMessage) {
	var meta map[string]json.RawMessage
	if json.Unmarshal(rec["__metadata"], &meta) == nil {
		for k, v := range meta {
			rec["__metadata_"+k] = v
		}
	}
	delete(rec, "__metadata")
}

// ReadSplit pages by offset while hasMore, one batch per page.
func (d *Driver) ReadSplit(ctx context.Context, req *connector.ReadRequest, s connector.Split, emit func(*record.Batch) error) error {
	p, err := httpconn.Plan[*plan](ctx, s, "Infor Nexus")
	if err != nil {
		return err
	}
	line := int64(1)
	var prev []byte
	err = httpconn.Offset(ctx, func(ctx context.Context, offset int) (int, bool, error) {
		res, err := d.query(ctx, s.Name, p.oql, d.pageSize, offset)
		if err != nil {
			return 0, false, err
		}
		// The same rows at the next offset: the service ignores offsets.
		if offset > 0 && bytes.Equal(res.Body, prev) {
			return 0, false, fault.New(fault.ConnectorServer, "Infor Nexus answered the same page at offset %d as before it", offset)
		}
		prev = res.Body
		var page struct {
			Result     *[]map[string]json.RawMessage `json:"result"`
			ResultInfo struct {
				Count   *int `json:"count"`
				HasMore bool `json:"hasMore"`
			} `json:"resultInfo"`
		}
		if err := res.JSON(&page); err != nil {
			return 0, false, err
		}
		if page.Result == nil { // a broken answer, not an empty page
			return 0, false, fault.New(fault.ConnectorServer, "Infor Nexus answered no result: %s", httpconn.Excerpt(res.Body))
		}
		result := *page.Result
		n := len(result)
		if page.ResultInfo.Count != nil {
			n = *page.ResultInfo.Count
		}
		more := page.ResultInfo.HasMore && n > 0
		for _, rec := range result {
			flatten(rec)
		}
		b := httpconn.Rows(req.Fields, schemaNames(s.Name), result)
		b.Split, b.FirstLine, b.Final, b.SourceBytes = s.Name, line, !more, int64(len(res.Body))
		line += int64(len(result))
		if err := emit(b); err != nil {
			return 0, false, err
		}
		return n, more, nil
	})
	if err != nil {
		return fmt.Errorf("read Infor Nexus %s: %w", s.Name, err)
	}
	return nil
}
