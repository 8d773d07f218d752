package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// Capabilities is what DescribeConnectors says about a connector type, and
// the other facts of the type that the service and the runner act on: one
// place per fact, filled by the catalog and the type's driver.
type Capabilities struct {
	Type                  string // ConnectorType enum value: "S3", "Salesforce", ...
	Description           string
	CanUseAsSource        bool
	CanUseAsDestination   bool
	NeedsProfile          bool
	TriggerTypes          []string // Scheduled, Event, OnDemand
	Frequencies           []string // BYMINUTE, HOURLY, DAILY, WEEKLY, MONTHLY, ONCE
	SupportedDestinations []string
	Operators             []string // source filter operators the connector accepts
	WriteOperations       []string // destination write operations, when it takes any
	PrivateLinkEnabled    bool
	OAuthScopes           []string
	// MinScheduleInterval is the shortest schedule period, in minutes, the
	// connector allows (1 for BYMINUTE sources, 60 for HOURLY ones).
	MinScheduleMinutes int
	// UnionKey names this type in the model's per-connector unions
	// (SourceConnectorProperties, ConnectorOperator, ConnectorMetadata,
	// ConnectorProfileProperties, ...), which spell three types differently:
	// GoogleAnalytics, ServiceNow, InforNexus.
	UnionKey string
	// HasMetadata says connectorMetadata has a member for this type
	// (LookoutMetrics has none).
	HasMetadata bool
	// DataTransferAPIs and OAuth2GrantTypes fill SalesforceMetadata's
	// dataTransferApis and oauth2GrantTypesSupported.
	DataTransferAPIs []string
	OAuth2GrantTypes []string

	// CredentialsOptional says a profile may leave out its credentials
	// member (ProfileRules says when they are still needed).
	CredentialsOptional bool
	// ProfileRules lists what a profile lacks beyond the model's required
	// members (spec 6.2), in words for a ValidationException; nil: nothing.
	ProfileRules func(ProfileInput) []string

	// TypedDestination says the destination's columns have types, so a Map
	// task's DESTINATION_DATA_TYPE converts values rather than labels them.
	TypedDestination bool
	// RecyclesBatches says the destination's writer keeps no reference to
	// a batch's cells once Write returns (a DeferredWriter: once it calls
	// the batch's done), so the engine may reuse them then.
	RecyclesBatches bool
	// CopiesStrings says the destination's writer keeps none of a batch's
	// strings either once Write returns (or done is called, as above; what
	// it keeps, failure records say, it copies), so a source may fill the memory they point into
	// again (record.Batch.Release).
	CopiesStrings bool
	// ProjectionOptional says a flow from this source needs no projection
	// or Map_all task: it reads whole files whose fields it learns as it
	// reads (S3); record-based sources are asked for named fields.
	ProjectionOptional bool
	// ProjectionWritesRecords says a flow from this source with a
	// PROJECTION and no Map, Map_all or Passthrough task writes the records
	// as the source read them, less the projected fields (Google Analytics:
	// batchGet's rows as received).
	ProjectionWritesRecords bool
	// WindowByModifiedTime says an incremental window selects the source's
	// objects by modification time, whole, rather than filtering records
	// on incrementalPullConfig.datetimeTypeFieldName.
	WindowByModifiedTime bool
}

// ProfileInput is a connector profile as CreateConnectorProfile and
// UpdateConnectorProfile receive it, for Capabilities.ProfileRules.
type ProfileInput struct {
	// Properties and Credentials are the JSON of this type's members of
	// connectorProfileProperties and connectorProfileCredentials;
	// Credentials is nil when none were given.
	Properties  json.RawMessage
	Credentials json.RawMessage
	// Creating is true for CreateConnectorProfile: credential rules apply
	// then even when none were given.
	Creating bool
}

// fill returns c with every zero field taken from from; booleans are
// filled when false, so a driver cannot deny what the catalog grants.
func (c Capabilities) fill(from Capabilities) Capabilities {
	fillString(&c.Type, from.Type)
	fillString(&c.Description, from.Description)
	c.CanUseAsSource = c.CanUseAsSource || from.CanUseAsSource
	c.CanUseAsDestination = c.CanUseAsDestination || from.CanUseAsDestination
	c.NeedsProfile = c.NeedsProfile || from.NeedsProfile
	fillList(&c.TriggerTypes, from.TriggerTypes)
	fillList(&c.Frequencies, from.Frequencies)
	fillList(&c.SupportedDestinations, from.SupportedDestinations)
	fillList(&c.Operators, from.Operators)
	fillList(&c.WriteOperations, from.WriteOperations)
	c.PrivateLinkEnabled = c.PrivateLinkEnabled || from.PrivateLinkEnabled
	fillList(&c.OAuthScopes, from.OAuthScopes)
	if c.MinScheduleMinutes == 0 {
		c.MinScheduleMinutes = from.MinScheduleMinutes
	}
	fillString(&c.UnionKey, from.UnionKey)
	c.HasMetadata = c.HasMetadata || from.HasMetadata
	fillList(&c.DataTransferAPIs, from.DataTransferAPIs)
	fillList(&c.OAuth2GrantTypes, from.OAuth2GrantTypes)
	c.CredentialsOptional = c.CredentialsOptional || from.CredentialsOptional
	if c.ProfileRules == nil {
		c.ProfileRules = from.ProfileRules
	}
	c.TypedDestination = c.TypedDestination || from.TypedDestination
	c.RecyclesBatches = c.RecyclesBatches || from.RecyclesBatches
	c.CopiesStrings = c.CopiesStrings || from.CopiesStrings
	c.ProjectionOptional = c.ProjectionOptional || from.ProjectionOptional
	c.ProjectionWritesRecords = c.ProjectionWritesRecords || from.ProjectionWritesRecords
	c.WindowByModifiedTime = c.WindowByModifiedTime || from.WindowByModifiedTime
	return c
}

func fillString(dst *string, from string) {
	if *dst == "" {
		*dst = from
	}
}

func fillList(dst *[]string, from []string) {
	if len(*dst) == 0 && len(from) > 0 {
		*dst = append([]string(nil), from...)
	}
}

// Spec registers a connector type.
type Spec struct {
	Capabilities
	// Open builds a driver; nil means the type is known (DescribeConnectors
	// lists it) but appflowd cannot run it yet.
	Open Opener
	// Custom is set by the type whose connectors users register
	// (CustomConnector): what registering one needs.
	Custom CustomConnectors
}

// Registry maps connector types to their specs.
type Registry struct {
	mu    sync.RWMutex
	specs map[string]Spec
}

// NewRegistry returns an empty registry, for tests and sandboxes.
func NewRegistry() *Registry { return &Registry{specs: map[string]Spec{}} }

var defaultRegistry = NewRegistry()

// Default is the process registry drivers add themselves to in init.
func Default() *Registry { return defaultRegistry }

// Register adds a connector type to the default registry. It panics on a
// duplicate, as database/sql does: that is a programming error.
func Register(s Spec) { defaultRegistry.Register(s) }

// Register adds s. A type may be registered twice only as a catalog entry
// (Open nil, internal/connector/catalog) and a driver (Open set), in either
// order, since init order is not ours to choose: the result runs the
// driver's Open, with the driver's capabilities where it set them and the
// catalog's elsewhere. Any other duplicate panics.
func (r *Registry) Register(s Spec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.specs[s.Type]
	if !ok {
		r.specs[s.Type] = s
		return
	}
	if (old.Open == nil) == (s.Open == nil) {
		panic("connector: Register called twice for " + s.Type)
	}
	driver, catalog := s, old
	if s.Open == nil {
		driver, catalog = old, s
	}
	driver.Capabilities = driver.Capabilities.fill(catalog.Capabilities)
	if driver.Custom == nil {
		driver.Custom = catalog.Custom
	}
	r.specs[s.Type] = driver
}

// Lookup returns the spec of a connector type.
func (r *Registry) Lookup(typ string) (Spec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.specs[typ]
	return s, ok
}

// Types lists the registered types, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.specs))
	for t := range r.specs {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Open builds the portable connection for a type and profile.
func (r *Registry) Open(ctx context.Context, typ string, deps Deps, p Profile) (*Conn, error) {
	s, ok := r.Lookup(typ)
	if !ok {
		return nil, fault.New(fault.Invalid, "connector type %q is not known; known types: %s", typ, strings.Join(r.Types(), ", "))
	}
	if s.Open == nil {
		return nil, fault.New(fault.Unsupported, "connector type %s is not implemented by this appflowd yet", typ)
	}
	d, err := s.Open(ctx, deps, p)
	if err != nil {
		return nil, wrap(err, "open %s connector", typ)
	}
	return &Conn{typ: typ, d: d}, nil
}

// Conn is the portable view of one opened driver.
type Conn struct {
	typ string
	d   Driver
}

// NewConn wraps a driver directly; for tests of drivers and of the engine.
func NewConn(typ string, d Driver) *Conn { return &Conn{typ: typ, d: d} }

// Type is the connector type.
func (c *Conn) Type() string { return c.typ }

// Close releases the driver's resources.
func (c *Conn) Close() error {
	if cl, ok := c.d.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// NamedSplitter is a source whose event-triggered runs name what they read
// in terms only the source knows, so the splits cannot be found by listing
// the source (Salesforce: the Ids of the records its change events named).
// NamedSplits returns the splits that read exactly those names, with req's
// projection and filters. Sources without it are listed and the splits of
// those names kept.
type NamedSplitter interface {
	NamedSplits(ctx context.Context, req *ReadRequest, names []string) ([]Split, error)
}

// Source returns the driver as a source, or an Unsupported error.
func (c *Conn) Source() (SourceDriver, error) {
	if s, ok := c.d.(SourceDriver); ok {
		if ns, ok := c.d.(NamedSplitter); ok {
			return wrappedNamedSource{wrappedSource{c.typ, s}, ns}, nil
		}
		return wrappedSource{c.typ, s}, nil
	}
	return nil, fault.New(fault.Unsupported, "%s cannot be used as a source", c.typ)
}

// Destination returns the driver as a destination, or an Unsupported error;
// for a retired service, its *RetiredError before anything is read.
func (c *Conn) Destination() (DestinationDriver, error) {
	if r, ok := c.d.(Retired); ok {
		return nil, fault.Wrap(fault.Unsupported, &RetiredError{Message: r.Retired()}, "%s", r.Retired())
	}
	if d, ok := c.d.(DestinationDriver); ok {
		return wrappedDestination{c.typ, d}, nil
	}
	return nil, fault.New(fault.Unsupported, "%s cannot be used as a destination", c.typ)
}

// PublishRecoverer returns the driver's PublishRecoverer, if it has one.
func (c *Conn) PublishRecoverer() (PublishRecoverer, bool) {
	pr, ok := c.d.(PublishRecoverer)
	return pr, ok
}

// CheckDestination checks a flow's destination properties where the
// driver can (DestinationChecker); others pass.
func (c *Conn) CheckDestination(ctx context.Context, props json.RawMessage) error {
	dc, ok := c.d.(DestinationChecker)
	if !ok {
		return nil
	}
	return wrap(dc.CheckDestination(ctx, props), "%s: check destination", c.typ)
}

// ListEntities lists entities under path.
func (c *Conn) ListEntities(ctx context.Context, path string) (map[string][]Entity, error) {
	cd, ok := c.d.(CatalogDriver)
	if !ok {
		return map[string][]Entity{}, nil
	}
	m, err := cd.ListEntities(ctx, path)
	return m, wrap(err, "%s: list entities", c.typ)
}

// DescribeEntity describes one entity's fields.
func (c *Conn) DescribeEntity(ctx context.Context, name string) ([]EntityField, error) {
	cd, ok := c.d.(CatalogDriver)
	if !ok {
		return nil, fault.New(fault.Unsupported, "%s does not describe entities", c.typ)
	}
	f, err := cd.DescribeEntity(ctx, name)
	return f, wrap(err, "%s: describe entity %s", c.typ, name)
}

// CheckProfile proves the profile works, where the driver can.
func (c *Conn) CheckProfile(ctx context.Context) error {
	if pc, ok := c.d.(ProfileChecker); ok {
		return wrap(pc.CheckProfile(ctx), "%s: check profile", c.typ)
	}
	return nil
}

type wrappedSource struct {
	typ string
	d   SourceDriver
}

func (w wrappedSource) Splits(ctx context.Context, req *ReadRequest) ([]Split, error) {
	s, err := w.d.Splits(ctx, req)
	return s, wrap(err, "%s source", w.typ)
}

func (w wrappedSource) ReadSplit(ctx context.Context, req *ReadRequest, s Split, emit func(*record.Batch) error) error {
	return wrap(w.d.ReadSplit(ctx, req, s, emit), "%s source", w.typ)
}

type wrappedNamedSource struct {
	wrappedSource
	ns NamedSplitter
}

func (w wrappedNamedSource) NamedSplits(ctx context.Context, req *ReadRequest, names []string) ([]Split, error) {
	s, err := w.ns.NamedSplits(ctx, req, names)
	return s, wrap(err, "%s source", w.typ)
}

type wrappedDestination struct {
	typ string
	d   DestinationDriver
}

func (w wrappedDestination) OpenWriter(ctx context.Context, req *WriteRequest) (Writer, error) {
	wr, err := w.d.OpenWriter(ctx, req)
	return wr, wrap(err, "%s destination", w.typ)
}

// wrap adds context once; an error that already carries a Code keeps it, an
// unclassified one becomes ConnectorServer (the remote system failed).
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	code := fault.CodeOf(err)
	if code == fault.Unknown {
		code = fault.ConnectorServer
	}
	return fault.Wrap(code, err, "%s", fmt.Sprintf(format, args...))
}
