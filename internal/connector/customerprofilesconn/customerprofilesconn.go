// Package customerprofilesconn is the Amazon Connect Customer Profiles
// destination (destinationConnectorProperties.CustomerProfiles{domainName,
// objectTypeName}; connectors-aws 5).
//
//   - Each record becomes one profile object: PutProfileObject (PUT
//     /domains/{DomainName}/profiles/objects, signing name "profile") with
//     the record, after the flow's tasks, as the Object's JSON text. The
//     object type's mapping, applied by Customer Profiles, decides which
//     profile it joins; putting an object with the same unique key again
//     updates it.
//   - There is no batch put: Commit sends the records with bounded
//     concurrency (Concurrency, 8 by default). Throttling (429) and server
//     errors (5xx) are retried by internal/retry (the SDK's own retryer is
//     off). A record refused with 400 (BadRequestException: over 256,000
//     characters, a missing key field) is a put failure, counted in the
//     execution record, while the others are stored; AppFlow gives this
//     destination no error bucket. Any other refusal (access denied, the
//     domain gone) fails the run.
//   - objectTypeName is required here (AppFlow lets an integration's
//     ObjectTypeNames choose; appflowd does not read integrations). At
//     CreateFlow and UpdateFlow the domain and the object type must exist
//     (GetDomain, GetProfileObjectType): a missing one is a
//     ValidationException naming it.
//   - ListConnectorEntities lists the domains, and under a domain its object
//     types; DescribeConnectorEntity of "domain/objectType" lists the fields
//     the object type maps from (its Fields' "_source.<path>" sources).
//
// Nothing is sent before Commit; profile objects sent by a Commit that then
// fails stay in the domain (Customer Profiles cannot take them back).
package customerprofilesconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/customerprofiles"
	cptypes "github.com/aws/aws-sdk-go-v2/service/customerprofiles/types"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/connector/spool"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// Type is the ConnectorType enum value this package registers.
const Type = "CustomerProfiles"

// DefaultConcurrency is how many PutProfileObject calls are in flight at once.
const DefaultConcurrency = 8

func init() { connector.Register(Spec()) }

// Spec registers the driver, a destination; the catalog entry
// (internal/connector/catalog) supplies the rest of the capabilities.
func Spec() connector.Spec {
	return connector.Spec{
		Capabilities: connector.Capabilities{Type: Type, CanUseAsDestination: true},
		Open: func(ctx context.Context, deps connector.Deps, _ connector.Profile) (connector.Driver, error) {
			return New(ctx, deps)
		},
	}
}

// Driver is one Customer Profiles client.
type Driver struct {
	client      *customerprofiles.Client
	Concurrency int
	Retry       retry.Policy
}

var (
	_ connector.DestinationDriver  = (*Driver)(nil)
	_ connector.DestinationChecker = (*Driver)(nil)
	_ connector.CatalogDriver      = (*Driver)(nil)
)

// New builds a driver on the customer_profiles endpoint (none = the
// region's AWS endpoint), with the default AWS credential chain.
func New(ctx context.Context, deps connector.Deps) (*Driver, error) {
	cfg, err := awsconfig.Load(ctx, deps, "")
	if err != nil {
		return nil, fmt.Errorf("customer profiles: %w", err)
	}
	endpoint := awsconfig.Endpoint(deps, connector.EndpointCustomerProfiles)
	return &Driver{
		client: customerprofiles.NewFromConfig(cfg, func(o *customerprofiles.Options) {
			o.BaseEndpoint = endpoint
			o.RetryMaxAttempts = 1 // internal/retry is the one retry layer
		}),
		Concurrency: DefaultConcurrency,
	}, nil
}

type props struct {
	DomainName     string `json:"domainName"`
	ObjectTypeName string `json:"objectTypeName"`
}

func parseProps(raw json.RawMessage) (props, error) {
	var p props
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &p); err != nil {
			return p, fault.Wrap(fault.Invalid, err, "customer profiles: destination properties")
		}
	}
	if strings.TrimSpace(p.DomainName) == "" {
		return p, fault.New(fault.Invalid, "The Customer Profiles destination needs a domainName.")
	}
	if strings.TrimSpace(p.ObjectTypeName) == "" {
		return p, fault.New(fault.Invalid, "The Customer Profiles destination needs an objectTypeName: appflowd puts every record as an object of that type.")
	}
	return p, nil
}

// CheckDestination checks that the domain and the object type exist.
func (d *Driver) CheckDestination(ctx context.Context, raw json.RawMessage) error {
	p, err := parseProps(raw)
	if err != nil {
		return err
	}
	if _, err := d.client.GetDomain(ctx, &customerprofiles.GetDomainInput{DomainName: aws.String(p.DomainName)}); err != nil {
		if notFound(err) {
			return fault.New(fault.Invalid, "The Customer Profiles domain %s does not exist.", p.DomainName)
		}
		return apiError(err, "GetDomain %s", p.DomainName)
	}
	if _, err := d.client.GetProfileObjectType(ctx, &customerprofiles.GetProfileObjectTypeInput{
		DomainName: aws.String(p.DomainName), ObjectTypeName: aws.String(p.ObjectTypeName)}); err != nil {
		if notFound(err) {
			return fault.New(fault.Invalid, "The Customer Profiles object type %s does not exist in domain %s.", p.ObjectTypeName, p.DomainName)
		}
		return apiError(err, "GetProfileObjectType %s", p.ObjectTypeName)
	}
	return nil
}

// ListEntities lists the domains at the top, a domain's object types
// under it (as "domain/objectType").
func (d *Driver) ListEntities(ctx context.Context, path string) (map[string][]connector.Entity, error) {
	var out []connector.Entity
	if path == "" {
		var token *string
		for {
			page, err := d.client.ListDomains(ctx, &customerprofiles.ListDomainsInput{NextToken: token})
			if err != nil {
				return nil, apiError(err, "ListDomains")
			}
			for _, it := range page.Items {
				name := aws.ToString(it.DomainName)
				out = append(out, connector.Entity{Name: name, Label: name, HasNestedEntities: true})
			}
			if token = page.NextToken; token == nil {
				break
			}
		}
		return map[string][]connector.Entity{"Domains": out}, nil
	}
	domain := strings.Trim(path, "/")
	var token *string
	for {
		page, err := d.client.ListProfileObjectTypes(ctx, &customerprofiles.ListProfileObjectTypesInput{DomainName: aws.String(domain), NextToken: token})
		if err != nil {
			if notFound(err) {
				return nil, fault.New(fault.NotFound, "The Customer Profiles domain %s does not exist.", domain)
			}
			return nil, apiError(err, "ListProfileObjectTypes %s", domain)
		}
		for _, it := range page.Items {
			name := aws.ToString(it.ObjectTypeName)
			out = append(out, connector.Entity{Name: domain + "/" + name, Label: name})
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	return map[string][]connector.Entity{"Object types": out}, nil
}

// DescribeEntity lists the source fields the object type "domain/type" maps.
func (d *Driver) DescribeEntity(ctx context.Context, name string) ([]connector.EntityField, error) {
	domain, typ, ok := strings.Cut(name, "/")
	if !ok || domain == "" || typ == "" {
		return nil, fault.New(fault.Invalid, "A Customer Profiles entity is named domain/objectType, got %q.", name)
	}
	out, err := d.client.GetProfileObjectType(ctx, &customerprofiles.GetProfileObjectTypeInput{
		DomainName: aws.String(domain), ObjectTypeName: aws.String(typ)})
	if err != nil {
		if notFound(err) {
			return nil, fault.New(fault.NotFound, "The Customer Profiles object type %s does not exist in domain %s.", typ, domain)
		}
		return nil, apiError(err, "GetProfileObjectType %s", typ)
	}
	keyFields := map[string]bool{}
	for _, keys := range out.Keys {
		for _, k := range keys {
			for _, f := range k.FieldNames {
				keyFields[f] = true
			}
		}
	}
	seen := map[string]bool{}
	var fields []connector.EntityField
	names := make([]string, 0, len(out.Fields))
	for n := range out.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := out.Fields[n]
		src, ok := strings.CutPrefix(aws.ToString(f.Source), "_source.")
		if !ok || src == "" || seen[src] {
			continue
		}
		seen[src] = true
		ft := record.FieldType("string")
		if f.ContentType == cptypes.FieldContentTypeNumber {
			ft = record.FieldType("double")
		}
		fields = append(fields, connector.EntityField{Name: src, Label: src, Type: ft, IsPrimaryKey: keyFields[n],
			Nullable: !keyFields[n], Creatable: true, Updatable: true, WriteOperations: []string{"INSERT"}})
	}
	return fields, nil
}

// OpenWriter checks the properties and opens the buffer file.
func (d *Driver) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	p, err := parseProps(req.Properties)
	if err != nil {
		return nil, err
	}
	sp, err := spool.New("customerprofiles")
	if err != nil {
		return nil, err
	}
	return &writer{d: d, p: p, spool: sp}, nil
}

// line is one buffered record.
type line struct {
	Split  string `json:"s"`
	Line   int64  `json:"l"`
	Object string `json:"o"`
}

type writer struct {
	d        *Driver
	p        props
	spool    *spool.File
	n        int64
	failures []connector.RecordFailure
	done     bool
}

func (w *writer) Write(ctx context.Context, b *record.Batch) error {
	if w.done {
		return fault.New(fault.Invalid, "customer profiles: Write after Commit or Abort")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	enc := json.NewEncoder(w.spool.W)
	keys := record.JSONKeys(b.Fields)
	var obj []byte
	for r := range b.Len() {
		obj = record.AppendJSONObject(obj[:0], keys, b.Row(r))
		if err := enc.Encode(line{Split: b.Split, Line: b.Line(r), Object: string(obj)}); err != nil {
			return fmt.Errorf("customer profiles: buffer file: %w", err)
		}
		w.n++
	}
	return nil
}

// RecordFailures keeps records rejected before they reached the writer,
// reported with the writer's own.
func (w *writer) RecordFailures(_ context.Context, f []connector.RecordFailure) error {
	w.failures = append(w.failures, f...)
	return nil
}

// Commit puts every buffered record.
func (w *writer) Commit(ctx context.Context) (*connector.WriteResult, error) {
	if w.done {
		return nil, fault.New(fault.Invalid, "customer profiles: Commit after Commit or Abort")
	}
	w.done = true
	defer w.spool.Remove()
	spooled, err := w.spool.Reader()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan line)
	var (
		mu       sync.Mutex
		res      = &connector.WriteResult{}
		failures []connector.RecordFailure
		wg       sync.WaitGroup
	)
	n := w.d.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range work {
				refused, err := w.put(ctx, l.Object)
				mu.Lock()
				switch {
				case err != nil:
					cancel(err)
				case refused != "":
					failures = append(failures, connector.RecordFailure{Split: l.Split, Line: l.Line,
						Reason: "Customer Profiles refused the object: " + refused})
				default:
					res.RecordsWritten++
					res.BytesWritten += int64(len(l.Object))
				}
				mu.Unlock()
			}
		}()
	}
	dec := json.NewDecoder(spooled)
	var readErr error
feed:
	for {
		var l line
		if err := dec.Decode(&l); err != nil {
			if err != io.EOF {
				readErr = fmt.Errorf("customer profiles: buffer file: %w", err)
			}
			break
		}
		select {
		case work <- l:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if readErr != nil {
		return nil, readErr
	}
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("%w (%d of %d profile objects were stored and stay in domain %s)", err, res.RecordsWritten, w.n, w.p.DomainName)
	}
	sort.Slice(failures, func(i, j int) bool {
		if failures[i].Split != failures[j].Split {
			return failures[i].Split < failures[j].Split
		}
		return failures[i].Line < failures[j].Line
	})
	res.Failures = append(w.failures, failures...)
	if res.RecordsWritten > 0 {
		res.Objects = []string{w.p.DomainName + "/" + w.p.ObjectTypeName}
	}
	return res, nil
}

// put stores one object. refused is Customer Profiles' reason for a 400;
// err fails the run.
func (w *writer) put(ctx context.Context, obj string) (refused string, err error) {
	err = w.d.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		_, err := w.d.client.PutProfileObject(ctx, &customerprofiles.PutProfileObjectInput{
			DomainName: aws.String(w.p.DomainName), ObjectTypeName: aws.String(w.p.ObjectTypeName), Object: aws.String(obj)})
		if err != nil && awsconfig.Transient(err, "ThrottlingException", "InternalServerException") {
			return retry.Retryable(err, 0)
		}
		return err
	})
	var bad *cptypes.BadRequestException
	if errors.As(err, &bad) {
		return bad.ErrorMessage(), nil
	}
	if err != nil {
		return "", apiError(err, "PutProfileObject in domain %s", w.p.DomainName)
	}
	return "", nil
}

func (w *writer) Abort(context.Context) error {
	if w.done {
		return nil
	}
	w.done = true
	w.spool.Remove()
	return nil
}

func notFound(err error) bool {
	var nf *cptypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// apiError classifies a failure that ends the call: refusals of access
// are AuthFailed, a missing resource NotFound, the rest ConnectorServer.
func apiError(err error, format string, args ...any) error {
	what := "Customer Profiles " + fmt.Sprintf(format, args...)
	var ad *cptypes.AccessDeniedException
	switch {
	case errors.As(err, &ad):
		return fault.Wrap(fault.AuthFailed, err, "%s", what)
	case notFound(err):
		return fault.Wrap(fault.NotFound, err, "%s", what)
	}
	return fault.Wrap(fault.ConnectorServer, err, "%s", what)
}
