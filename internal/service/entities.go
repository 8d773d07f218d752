package service

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// metadataTTL is how long AppFlow keeps what a connector said about its
// entities before asking again (spec 8).
const metadataTTL = time.Hour

// metadataMaxEntries bounds the cache; past it, expired entries go first,
// then everything.
const metadataMaxEntries = 10000

// metaKey identifies one cached connector answer.
type metaKey struct {
	account    string
	profile    string // "" for connectors without profiles
	connType   string
	apiVersion string
	describe   bool   // a DescribeEntity answer (else ListEntities)
	name       string // the entity described, or the entities path listed
}

type metaEntry struct {
	at     time.Time
	groups map[string][]connector.Entity
	fields []connector.EntityField
}

// metadataCache holds connector entity metadata of one Service. It is per
// process: ResetConnectorMetadataCache clears the replica it reaches.
type metadataCache struct {
	mu      sync.Mutex
	entries map[metaKey]metaEntry
}

func (c *metadataCache) get(k metaKey, now time.Time) (metaEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok && now.Sub(e.at) >= metadataTTL {
		delete(c.entries, k)
		return metaEntry{}, false
	}
	return e, ok
}

func (c *metadataCache) put(k metaKey, e metaEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= metadataMaxEntries {
		for old, oe := range c.entries {
			if e.at.Sub(oe.at) >= metadataTTL {
				delete(c.entries, old)
			}
		}
		if len(c.entries) >= metadataMaxEntries {
			clear(c.entries)
		}
	}
	c.entries[k] = e
}

// reset drops the entries match selects and says how many went.
func (c *metadataCache) reset(match func(metaKey) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k := range c.entries {
		if match(k) {
			delete(c.entries, k)
			n++
		}
	}
	return n
}

func (s *Service) metadata() *metadataCache { return s.cache }

// catalogTarget is what an entity request addresses: a profile, or a
// connector type that needs none.
type catalogTarget struct {
	typ     string
	profile *store.Profile // nil for profile-less connectors
}

func (t *catalogTarget) profileName() string {
	if t.profile == nil {
		return ""
	}
	return t.profile.Name
}

// resolveCatalogTarget finds what an entity request talks to (spec 8, 10):
// a profile when named (its type must agree with connectorType), otherwise
// a connector type whose flows take no profile.
func (s *Service) resolveCatalogTarget(ctx context.Context, profileName string, typ wire.ConnectorType) (*catalogTarget, error) {
	if profileName != "" {
		p, err := s.profileGet(ctx, profileName)
		if err != nil {
			return nil, err
		}
		if typ != "" && string(typ) != p.ConnectorType {
			return nil, fault.New(fault.Invalid, "Connector profile %s is of connector type %s, not %s.", profileName, p.ConnectorType, typ)
		}
		return &catalogTarget{typ: p.ConnectorType, profile: p}, nil
	}
	if typ == "" {
		return nil, fault.New(fault.Invalid, "Either connectorProfileName or connectorType is required.")
	}
	if spec, ok := s.registry().Lookup(string(typ)); !ok || spec.NeedsProfile {
		return nil, fault.New(fault.Invalid, "connectorProfileName is required for connector type %s.", typ)
	}
	return &catalogTarget{typ: string(typ)}, nil
}

func (s *Service) metaKeyFor(ctx context.Context, t *catalogTarget, apiVersion string, describe bool, name string) metaKey {
	return metaKey{account: s.account(ctx), profile: t.profileName(), connType: t.typ, apiVersion: apiVersion, describe: describe, name: name}
}

// openCatalog opens the connector of a target, with the profile's
// properties and credentials.
func (s *Service) openCatalog(ctx context.Context, t *catalogTarget) (*connector.Conn, error) {
	var p connector.Profile
	if t.profile != nil {
		var err error
		if p, err = s.connectorProfile(t.profile); err != nil {
			return nil, err
		}
	}
	conn, err := s.registry().Open(ctx, t.typ, s.connectorDeps(ctx), p)
	return conn, connectorFailure(err)
}

// entityItem is one entity of a flattened ListEntities answer.
type entityItem struct {
	group  string
	entity connector.Entity
}

// ListConnectorEntities lists the entities a connector offers under
// entitiesPath, grouped. Without maxResults the whole list (up to the
// model's 10000) comes in one page, as before the API had pagination.
func (s *Service) ListConnectorEntities(ctx context.Context, in *wire.ListConnectorEntitiesRequest) (*wire.ListConnectorEntitiesResponse, error) {
	t, err := s.resolveCatalogTarget(ctx, in.ConnectorProfileName, in.ConnectorType)
	if err != nil {
		return nil, err
	}
	key := s.metaKeyFor(ctx, t, in.ApiVersion, false, in.EntitiesPath)
	cache := s.metadata()
	e, ok := cache.get(key, s.d.Now())
	if !ok {
		conn, err := s.openCatalog(ctx, t)
		if err != nil {
			return nil, err
		}
		groups, err := conn.ListEntities(ctx, in.EntitiesPath)
		_ = conn.Close()
		if err != nil {
			return nil, connectorFailure(err)
		}
		e = metaEntry{at: s.d.Now(), groups: groups}
		cache.put(key, e)
	}
	names := make([]string, 0, len(e.groups))
	for g := range e.groups {
		names = append(names, g)
	}
	sort.Strings(names)
	var items []entityItem
	for _, g := range names {
		for _, ent := range e.groups[g] {
			items = append(items, entityItem{g, ent})
		}
	}
	filter := []string{t.typ, t.profileName(), in.EntitiesPath, in.ApiVersion}
	start, end, next, err := offsetPage("ListConnectorEntities", filter, in.NextToken, in.MaxResults, 10000, len(items))
	if err != nil {
		return nil, err
	}
	out := &wire.ListConnectorEntitiesResponse{ConnectorEntityMap: map[string][]wire.ConnectorEntity{}, NextToken: next}
	for _, it := range items[start:end] {
		label := it.entity.Label
		if label == "" {
			label = it.entity.Name
		}
		out.ConnectorEntityMap[it.group] = append(out.ConnectorEntityMap[it.group], wire.ConnectorEntity{
			Name: it.entity.Name, Label: label, HasNestedEntities: new(it.entity.HasNestedEntities),
		})
	}
	return out, nil
}

// DescribeConnectorEntity describes the fields of one entity.
func (s *Service) DescribeConnectorEntity(ctx context.Context, in *wire.DescribeConnectorEntityRequest) (*wire.DescribeConnectorEntityResponse, error) {
	t, err := s.resolveCatalogTarget(ctx, in.ConnectorProfileName, in.ConnectorType)
	if err != nil {
		return nil, err
	}
	key := s.metaKeyFor(ctx, t, in.ApiVersion, true, in.ConnectorEntityName)
	cache := s.metadata()
	e, ok := cache.get(key, s.d.Now())
	if !ok {
		conn, err := s.openCatalog(ctx, t)
		if err != nil {
			return nil, err
		}
		fields, err := conn.DescribeEntity(ctx, in.ConnectorEntityName)
		_ = conn.Close()
		if err != nil {
			return nil, connectorFailure(err)
		}
		e = metaEntry{at: s.d.Now(), fields: fields}
		cache.put(key, e)
	}
	spec, _ := s.registry().Lookup(t.typ)
	out := &wire.DescribeConnectorEntityResponse{ConnectorEntityFields: []wire.ConnectorEntityField{}}
	for _, f := range e.fields {
		out.ConnectorEntityFields = append(out.ConnectorEntityFields, entityField(f, spec.Capabilities))
	}
	return out, nil
}

// entityField maps a driver's field to AppFlow's shape; source and
// destination properties appear where the connector can be one.
func entityField(f connector.EntityField, caps connector.Capabilities) wire.ConnectorEntityField {
	typ := string(f.Type)
	if typ == "" {
		typ = "string"
	}
	details := &wire.FieldTypeDetails{FieldType: typ}
	for _, op := range f.FilterOperators {
		details.FilterOperators = append(details.FilterOperators, wire.Operator(op))
	}
	if typ == "boolean" {
		details.SupportedValues = []string{"true", "false"}
	}
	label := f.Label
	if label == "" {
		label = f.Name
	}
	out := wire.ConnectorEntityField{
		Identifier:                f.Name,
		Label:                     label,
		IsPrimaryKey:              new(f.IsPrimaryKey),
		SupportedFieldTypeDetails: &wire.SupportedFieldTypeDetails{V1: details},
	}
	if caps.CanUseAsSource {
		out.SourceProperties = &wire.SourceFieldProperties{
			IsRetrievable:                         new(true),
			IsQueryable:                           new(f.Queryable),
			IsTimestampFieldForIncrementalQueries: new(f.IsTimestampForIncremental),
		}
	}
	if caps.CanUseAsDestination {
		dp := &wire.DestinationFieldProperties{
			IsCreatable:  new(f.Creatable),
			IsNullable:   new(f.Nullable),
			IsUpsertable: new(f.Upsertable),
			IsUpdatable:  new(f.Updatable),
		}
		for _, w := range f.WriteOperations {
			dp.SupportedWriteOperations = append(dp.SupportedWriteOperations, wire.WriteOperationType(w))
		}
		out.DestinationProperties = dp
	}
	return out
}

// ResetConnectorMetadataCache forgets cached entity metadata (spec 10): one
// entity's description when connectorEntityName is given, else the entity
// lists (only entitiesPath's when given); apiVersion narrows either.
func (s *Service) ResetConnectorMetadataCache(ctx context.Context, in *wire.ResetConnectorMetadataCacheRequest) (*wire.ResetConnectorMetadataCacheResponse, error) {
	t, err := s.resolveCatalogTarget(ctx, in.ConnectorProfileName, in.ConnectorType)
	if err != nil {
		return nil, err
	}
	account, profile := s.account(ctx), t.profileName()
	s.metadata().reset(func(k metaKey) bool {
		if k.account != account || k.profile != profile || k.connType != t.typ {
			return false
		}
		if in.ApiVersion != "" && k.apiVersion != in.ApiVersion {
			return false
		}
		if in.ConnectorEntityName != "" {
			return k.describe && k.name == in.ConnectorEntityName
		}
		return !k.describe && (in.EntitiesPath == "" || k.name == in.EntitiesPath)
	})
	return &wire.ResetConnectorMetadataCacheResponse{}, nil
}
