package service

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// unionKeys is wire.UnionKeys: the connector-keyed unions' member names.
var unionKeys = wire.UnionKeys

// unionKey returns the union member key of a connector type.
func unionKey(connectorType string) (string, error) {
	k, ok := unionKeys[wire.ConnectorType(connectorType)]
	if !ok {
		return "", fault.New(fault.Invalid, "Unknown connector type %q.", connectorType)
	}
	return k, nil
}

// unionMember returns the raw JSON of the member of a connector-keyed union
// (a *wire.ConnectorProfileProperties, *wire.SourceConnectorProperties, ...)
// that belongs to connectorType, or nil when v has no such member.
func unionMember(v any, connectorType string) (json.RawMessage, error) {
	key, err := unionKey(connectorType)
	if err != nil {
		return nil, err
	}
	members, err := unionMembers(v)
	if err != nil {
		return nil, err
	}
	return members[key], nil
}

// unionMembers returns every member set in a connector-keyed union, by key.
func unionMembers(v any) (map[string]json.RawMessage, error) {
	m, err := wire.UnionMembers(v)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "union members")
	}
	return m, nil
}

// setUnionMember fills the union *out (a pointer to a union struct) with
// one member, raw, under connectorType's key.
func setUnionMember(out any, connectorType string, raw json.RawMessage) error {
	key, err := unionKey(connectorType)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(map[string]json.RawMessage{key: raw})
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encode %s member", key)
	}
	if err := json.Unmarshal(doc, out); err != nil {
		return fault.Wrap(fault.Internal, err, "decode %s member", key)
	}
	return nil
}

// registry is the connector registry, empty when none is configured.
func (s *Service) registry() *connector.Registry {
	if s.d.Registry == nil {
		return connector.NewRegistry()
	}
	return s.d.Registry
}

// connectorDeps are the process's connector deps for the calling account.
func (s *Service) connectorDeps(ctx context.Context) connector.Deps {
	d := s.d.Connector
	d.AccountID = s.account(ctx)
	if d.Region == "" {
		d.Region = s.d.Region
	}
	if d.Now == nil {
		d.Now = s.d.Now
	}
	if d.Logger == nil {
		d.Logger = s.d.Logger
	}
	return d
}

// builtinTypes lists the registry's AppFlow-vended connector types, sorted.
// CustomConnector is not one: registered custom connectors are listed apart.
func (s *Service) builtinTypes() []string {
	return slices.DeleteFunc(s.registry().Types(), func(t string) bool {
		return t == string(wire.ConnectorTypeCustomConnector)
	})
}

// builtinConfiguration describes a built-in connector as AppFlow does (spec
// 7.2): the fields that describe custom connectors (connectorArn, label,
// name, owner, version, modes, provisioning, runtime settings, API
// versions, registeredAt/By) and supportedOperators/WriteOperations stay
// absent, as in AppFlow's own Salesforce sample.
func builtinConfiguration(c connector.Capabilities) (wire.ConnectorConfiguration, error) {
	cfg := wire.ConnectorConfiguration{
		ConnectorType:                    wire.ConnectorType(c.Type),
		ConnectorDescription:             c.Description,
		CanUseAsSource:                   new(c.CanUseAsSource),
		CanUseAsDestination:              new(c.CanUseAsDestination),
		IsPrivateLinkEnabled:             new(c.PrivateLinkEnabled),
		IsPrivateLinkEndpointUrlRequired: new(false),
	}
	if cfg.ConnectorDescription == "" {
		cfg.ConnectorDescription = c.Type
	}
	for _, d := range c.SupportedDestinations {
		cfg.SupportedDestinationConnectors = append(cfg.SupportedDestinationConnectors, wire.ConnectorType(d))
	}
	for _, f := range c.Frequencies {
		cfg.SupportedSchedulingFrequencies = append(cfg.SupportedSchedulingFrequencies, wire.ScheduleFrequencyType(f))
	}
	for _, t := range c.TriggerTypes {
		cfg.SupportedTriggerTypes = append(cfg.SupportedTriggerTypes, wire.TriggerType(t))
	}
	md, err := connectorMetadata(c)
	if err != nil {
		return wire.ConnectorConfiguration{}, err
	}
	cfg.ConnectorMetadata = md
	return cfg, nil
}

// connectorMetadata is connectorMetadata.<Key> for a built-in connector:
// its OAuth scopes, data transfer APIs and grant types where the member has
// those fields (the union's shapes drop the others), else an empty member;
// nil for types without a member (LookoutMetrics).
func connectorMetadata(c connector.Capabilities) (*wire.ConnectorMetadata, error) {
	key, ok := unionKeys[wire.ConnectorType(c.Type)]
	if !ok {
		return nil, nil
	}
	member := map[string]any{}
	if len(c.OAuthScopes) > 0 {
		member["oAuthScopes"] = c.OAuthScopes
	}
	if len(c.DataTransferAPIs) > 0 {
		member["dataTransferApis"] = c.DataTransferAPIs
	}
	if len(c.OAuth2GrantTypes) > 0 {
		member["oauth2GrantTypesSupported"] = c.OAuth2GrantTypes
	}
	doc, err := json.Marshal(map[string]any{key: member})
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode connector metadata")
	}
	var md wire.ConnectorMetadata
	if err := json.Unmarshal(doc, &md); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decode connector metadata")
	}
	if members, err := unionMembers(&md); err != nil || len(members) == 0 {
		return nil, err // the union has no member for this type
	}
	return &md, nil
}

// registrationDoc is store.Registration.Doc: what DescribeConnector and
// ListConnectors answer for a registered custom connector.
type registrationDoc struct {
	Configuration wire.ConnectorConfiguration `json:"configuration"`
	Detail        wire.ConnectorDetail        `json:"detail"`
}

func decodeRegistration(r *store.Registration) (*registrationDoc, error) {
	var d registrationDoc
	if err := json.Unmarshal(r.Doc, &d); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decode registration %s", r.Label)
	}
	return &d, nil
}

// allRegistrations reads every registered custom connector of the account.
func (s *Service) allRegistrations(ctx context.Context) ([]*registrationDoc, error) {
	var out []*registrationDoc
	after := ""
	for {
		regs, next, err := s.d.Store.RegistrationList(ctx, &store.RegistrationListParams{
			AccountID: s.account(ctx), Page: store.Page{After: after, Limit: 100},
		})
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "list connector registrations")
		}
		for _, r := range regs {
			d, err := decodeRegistration(r)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		if next == "" {
			return out, nil
		}
		after = next
	}
}

// DescribeConnectors describes the built-in connectors (all of them when
// connectorTypes is empty) in connectorConfigurations, keyed by type, and
// the registered custom connectors in connectors. Pages run over the
// built-ins (sorted by type) and then the custom connectors.
func (s *Service) DescribeConnectors(ctx context.Context, in *wire.DescribeConnectorsRequest) (*wire.DescribeConnectorsResponse, error) {
	var types []string
	wantCustom := len(in.ConnectorTypes) == 0
	if len(in.ConnectorTypes) == 0 {
		types = s.builtinTypes()
	} else {
		for _, t := range in.ConnectorTypes {
			if t == wire.ConnectorTypeCustomConnector {
				wantCustom = true
				continue
			}
			if _, ok := s.registry().Lookup(string(t)); ok && !slices.Contains(types, string(t)) {
				types = append(types, string(t))
			}
		}
		slices.Sort(types)
	}
	var customs []*registrationDoc
	if wantCustom {
		var err error
		if customs, err = s.allRegistrations(ctx); err != nil {
			return nil, err
		}
	}
	filter := struct {
		Types  []wire.ConnectorType
		Custom bool
	}{in.ConnectorTypes, wantCustom}
	start, end, next, err := offsetPage("DescribeConnectors", filter, in.NextToken, in.MaxResults, 20, len(types)+len(customs))
	if err != nil {
		return nil, err
	}
	out := &wire.DescribeConnectorsResponse{ConnectorConfigurations: map[string]wire.ConnectorConfiguration{}, Connectors: []wire.ConnectorDetail{}, NextToken: next}
	for i := start; i < end; i++ {
		if i < len(types) {
			spec, _ := s.registry().Lookup(types[i])
			cfg, err := builtinConfiguration(spec.Capabilities)
			if err != nil {
				return nil, err
			}
			out.ConnectorConfigurations[types[i]] = cfg
			continue
		}
		out.Connectors = append(out.Connectors, customs[i-len(types)].Detail)
	}
	return out, nil
}

// DescribeConnector describes one built-in connector, or a registered
// custom connector (connectorType CustomConnector with its label).
func (s *Service) DescribeConnector(ctx context.Context, in *wire.DescribeConnectorRequest) (*wire.DescribeConnectorResponse, error) {
	if in.ConnectorType == wire.ConnectorTypeCustomConnector {
		if in.ConnectorLabel == "" {
			return nil, fault.New(fault.Invalid, "connectorLabel is required when connectorType is CustomConnector.")
		}
		r, err := s.registration(ctx, in.ConnectorLabel)
		if err != nil {
			return nil, err
		}
		d, err := decodeRegistration(r)
		if err != nil {
			return nil, err
		}
		return &wire.DescribeConnectorResponse{ConnectorConfiguration: &d.Configuration}, nil
	}
	spec, ok := s.registry().Lookup(string(in.ConnectorType))
	if !ok {
		return nil, fault.New(fault.NotFound, "Connector type %s is not supported by this appflowd.", in.ConnectorType)
	}
	cfg, err := builtinConfiguration(spec.Capabilities)
	if err != nil {
		return nil, err
	}
	return &wire.DescribeConnectorResponse{ConnectorConfiguration: &cfg}, nil
}

// ListConnectors lists the custom connectors registered in the account,
// never the built-in ones.
func (s *Service) ListConnectors(ctx context.Context, in *wire.ListConnectorsRequest) (*wire.ListConnectorsResponse, error) {
	regs, next, err := s.d.Store.RegistrationList(ctx, &store.RegistrationListParams{
		AccountID: s.account(ctx),
		Page:      store.Page{After: in.NextToken, Limit: pageLimit(in.MaxResults, 20)},
	})
	if err != nil {
		if fault.Is(err, fault.Invalid) {
			return nil, fault.New(fault.Invalid, "Invalid nextToken.")
		}
		return nil, fault.Wrap(fault.Internal, err, "list connector registrations")
	}
	out := &wire.ListConnectorsResponse{Connectors: []wire.ConnectorDetail{}, NextToken: next}
	for _, r := range regs {
		d, err := decodeRegistration(r)
		if err != nil {
			return nil, err
		}
		out.Connectors = append(out.Connectors, d.Detail)
	}
	return out, nil
}

// pageLimit is maxResults, or def when absent. restjson has already
// checked the model's bounds.
func pageLimit(maxResults *int32, def int) int {
	if maxResults == nil || *maxResults <= 0 {
		return def
	}
	return int(*maxResults)
}

// offsetToken is the nextToken of lists the service pages itself (not the
// store): the offset of the next item, bound to the operation and its
// filters so a token cannot be replayed against a different list.
type offsetToken struct {
	Op     string `json:"op"`
	Filter string `json:"f"`
	Offset int    `json:"o"`
}

// offsetPage returns the [start, end) window of a list of total items and
// the nextToken for what follows ("" at the end).
func offsetPage(op string, filter any, token string, maxResults *int32, def, total int) (start, end int, next string, err error) {
	fb, err := json.Marshal(filter)
	if err != nil {
		return 0, 0, "", fault.Wrap(fault.Internal, err, "encode list filter")
	}
	sum := sha256.Sum256(fb)
	fh := hex.EncodeToString(sum[:8])
	if token != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(token)
		var t offsetToken
		if derr != nil || json.Unmarshal(raw, &t) != nil || t.Op != op || t.Filter != fh || t.Offset < 0 {
			return 0, 0, "", fault.New(fault.Invalid, "Invalid nextToken: it does not belong to this request.")
		}
		start = min(t.Offset, total)
	}
	end = min(start+pageLimit(maxResults, def), total)
	if end < total {
		b, _ := json.Marshal(offsetToken{Op: op, Filter: fh, Offset: end}) // plain struct: cannot fail
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return start, end, next, nil
}

// registration reads a registered custom connector, NotFound if missing.
func (s *Service) registration(ctx context.Context, label string) (*store.Registration, error) {
	r, err := s.d.Store.RegistrationGet(ctx, s.account(ctx), label)
	if store.IsNotFound(err) {
		return nil, fault.New(fault.NotFound, "Connector:%s is not registered.", label)
	}
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "read connector registration %s", label)
	}
	return r, nil
}

// describeList renders names as AppFlow's messages list them: [a, b].
func describeList(names []string) string {
	return "[" + strings.Join(names, ", ") + "]"
}
