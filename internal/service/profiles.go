package service

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// maxProfilesPerAccount is AppFlow's default (soft) quota of connector
// profiles per account (spec 11).
const maxProfilesPerAccount = 100

func (s *Service) profileQuotaExceeded() error {
	return fault.New(fault.QuotaExceeded,
		"You have reached the limit of %d connector profiles for this account. Delete unused connector profiles and try again.", s.d.MaxProfiles)
}

func profileNotFound(name string) error {
	return fault.New(fault.NotFound, "Connector Profile with name %s does not exist.", name)
}

// profileGet reads a profile of the calling account, NotFound if missing.
func (s *Service) profileGet(ctx context.Context, name string) (*store.Profile, error) {
	p, err := s.d.Store.ProfileGet(ctx, s.account(ctx), name)
	if store.IsNotFound(err) {
		return nil, profileNotFound(name)
	}
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "read connector profile %s", name)
	}
	return p, nil
}

// profileDoc decodes the stored, secret-free view of a profile, with the
// store's timestamps.
func profileDoc(p *store.Profile) (*wire.ConnectorProfile, error) {
	var d wire.ConnectorProfile
	if err := json.Unmarshal(p.Doc, &d); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decode connector profile %s", p.Name)
	}
	d.CreatedAt = wire.NewTimestamp(p.CreatedAt)
	d.LastUpdatedAt = wire.NewTimestamp(p.UpdatedAt)
	return &d, nil
}

// connectorProfile is what a connector driver gets for a stored profile:
// the raw properties member and the opened credentials member.
func (s *Service) connectorProfile(p *store.Profile) (connector.Profile, error) {
	d, err := profileDoc(p)
	if err != nil {
		return connector.Profile{}, err
	}
	props, err := unionMember(d.ConnectorProfileProperties, p.ConnectorType)
	if err != nil {
		return connector.Profile{}, err
	}
	creds, err := s.openCredentials(p)
	if err != nil {
		return connector.Profile{}, err
	}
	return connector.Profile{Name: p.Name, Properties: props, Credentials: creds, Label: p.Label}, nil
}

func (s *Service) openCredentials(p *store.Profile) (json.RawMessage, error) {
	if len(p.Credentials) == 0 {
		return nil, nil
	}
	if s.d.Keyring == nil {
		return nil, fault.New(fault.Internal, "no secret key is configured to open the credentials of connector profile %s", p.Name)
	}
	pt, err := s.d.Keyring.Open(p.Credentials)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "open credentials of connector profile %s", p.Name)
	}
	return pt, nil
}

func (s *Service) sealCredentials(name string, creds json.RawMessage) ([]byte, error) {
	if len(creds) == 0 {
		return nil, nil
	}
	if s.d.Keyring == nil {
		return nil, fault.New(fault.Internal, "no secret key is configured to seal the credentials of connector profile %s", name)
	}
	sealed, err := s.d.Keyring.Seal(creds)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "seal credentials of connector profile %s", name)
	}
	return sealed, nil
}

// profileConfig is a checked connectorProfileConfig: the raw JSON of the
// profile type's properties and credentials members (creds nil if absent).
type profileConfig struct {
	props json.RawMessage
	creds json.RawMessage
}

// checkProfileConfig applies AppFlow's per-type rules (spec 6.2) the model
// cannot express, as the type's capabilities state them: the member for
// the profile's type is the one given, and what it needs is there.
// Credentials are required when creating, optional (keep the stored ones)
// when updating.
func (s *Service) checkProfileConfig(typ wire.ConnectorType, cfg *wire.ConnectorProfileConfig, creating bool) (*profileConfig, error) {
	spec, known := s.registry().Lookup(string(typ))
	if known && !spec.NeedsProfile {
		return nil, fault.New(fault.Invalid, "Connector type %s does not use connector profiles.", typ)
	}
	key, err := unionKey(string(typ))
	if err != nil {
		return nil, err
	}
	props, err := onlyMember(cfg.ConnectorProfileProperties, "connectorProfileProperties", key, typ)
	if err != nil {
		return nil, err
	}
	if props == nil {
		return nil, fault.New(fault.Invalid, "connectorProfileConfig.connectorProfileProperties.%s is required for connector type %s.", key, typ)
	}
	var creds json.RawMessage
	if cfg.ConnectorProfileCredentials != nil {
		if creds, err = onlyMember(cfg.ConnectorProfileCredentials, "connectorProfileCredentials", key, typ); err != nil {
			return nil, err
		}
	}
	if creds == nil && creating && !spec.CredentialsOptional {
		return nil, fault.New(fault.Invalid, "connectorProfileConfig.connectorProfileCredentials.%s is required for connector type %s.", key, typ)
	}
	if spec.ProfileRules != nil {
		if problems := spec.ProfileRules(connector.ProfileInput{Properties: props, Credentials: creds, Creating: creating}); len(problems) > 0 {
			return nil, fault.New(fault.Invalid, "Invalid connector profile configuration for %s: %s.", typ, strings.Join(problems, "; "))
		}
	}
	return &profileConfig{props: props, creds: creds}, nil
}

// onlyMember returns the member key of union (nil if absent) and refuses
// members of other connector types.
func onlyMember(union any, what, key string, typ wire.ConnectorType) (json.RawMessage, error) {
	members, err := unionMembers(union)
	if err != nil {
		return nil, err
	}
	var others []string
	for k := range members {
		if k != key {
			others = append(others, k)
		}
	}
	if len(others) > 0 {
		sort.Strings(others)
		return nil, fault.New(fault.Invalid, "connectorProfileConfig.%s may hold only the %s member for connector type %s, not %s.",
			what, key, typ, strings.Join(others, ", "))
	}
	return members[key], nil
}

// checkConnectionMode refuses Private (PrivateLink) connections to
// connectors that do not offer them.
func (s *Service) checkConnectionMode(mode wire.ConnectionMode, typ wire.ConnectorType, reg *registrationDoc) error {
	if mode != wire.ConnectionModePrivate {
		return nil
	}
	enabled := false
	if reg != nil {
		enabled = reg.Configuration.IsPrivateLinkEnabled != nil && *reg.Configuration.IsPrivateLinkEnabled
	} else if spec, ok := s.registry().Lookup(string(typ)); ok {
		enabled = spec.PrivateLinkEnabled
	}
	if !enabled {
		return fault.New(fault.Invalid, "Connector type %s does not support connectionMode Private (AWS PrivateLink).", typ)
	}
	return nil
}

// checkConnectivity proves a profile works where appflowd has a driver for
// its type (spec 4.10): remote failures are ConnectorServerException, bad
// credentials ConnectorAuthenticationException.
func (s *Service) checkConnectivity(ctx context.Context, typ string, p connector.Profile) error {
	spec, ok := s.registry().Lookup(typ)
	if !ok || spec.Open == nil {
		return nil // known to the catalog only: nothing to check against
	}
	conn, err := s.registry().Open(ctx, typ, s.connectorDeps(ctx), p)
	if err == nil {
		err = conn.CheckProfile(ctx)
		_ = conn.Close()
	}
	return connectorFailure(err)
}

// connectorFailure words a remote connector failure as AppFlow does.
func connectorFailure(err error) error {
	if fault.Is(err, fault.ConnectorServer) {
		return fault.Wrap(fault.ConnectorServer, err, "Error while communicating to connector")
	}
	return err
}

// credentialsArn names the (emulated) Secrets Manager secret of a
// profile's credentials, AppFlow's appflow!<account>-<name> plus the random
// suffix every real secret ARN has.
func (s *Service) credentialsArn(account, name string) string {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var suffix [6]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails
	for i, c := range suffix {
		suffix[i] = alnum[int(c)%len(alnum)]
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:appflow!%s-%s-%s", s.d.Region, account, account, name, suffix[:])
}

// provisioningState is what Private profiles report: appflowd needs no
// endpoint to provision, so they are CREATED at once.
func provisioningState(mode wire.ConnectionMode) *wire.PrivateConnectionProvisioningState {
	if mode != wire.ConnectionModePrivate {
		return nil
	}
	return &wire.PrivateConnectionProvisioningState{Status: wire.PrivateConnectionProvisioningStatusCreated}
}

// CreateConnectorProfile creates a connector profile; credentials are
// sealed and never returned: under the profile's kmsArn by envelope
// encryption, else with appflowd's own key.
func (s *Service) CreateConnectorProfile(ctx context.Context, in *wire.CreateConnectorProfileRequest) (*wire.CreateConnectorProfileResponse, error) {
	return idempotent(ctx, s, "CreateConnectorProfile", in.ClientToken, in, func() (*wire.CreateConnectorProfileResponse, error) {
		return s.createConnectorProfile(ctx, in)
	})
}

func (s *Service) createConnectorProfile(ctx context.Context, in *wire.CreateConnectorProfileRequest) (*wire.CreateConnectorProfileResponse, error) {
	account, name, typ := s.account(ctx), in.ConnectorProfileName, in.ConnectorType
	var label string
	var reg *registrationDoc
	if typ == wire.ConnectorTypeCustomConnector {
		label = in.ConnectorLabel
		if label == "" {
			return nil, fault.New(fault.Invalid, "connectorLabel is required for connector type CustomConnector.")
		}
		r, err := s.d.Store.RegistrationGet(ctx, account, label)
		if store.IsNotFound(err) {
			return nil, fault.New(fault.NotFound, "Connector:%s is not registered. Please register it first before creating ConnectorProfile.", label)
		}
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "read connector registration %s", label)
		}
		if reg, err = decodeRegistration(r); err != nil {
			return nil, err
		}
	}
	cfg, err := s.checkProfileConfig(typ, in.ConnectorProfileConfig, true)
	if err != nil {
		return nil, err
	}
	if err := s.checkKMSKey(ctx, in.KmsArn); err != nil { // awschecks.go
		return nil, err
	}
	if err := s.checkConnectionMode(in.ConnectionMode, typ, reg); err != nil {
		return nil, err
	}
	// Refuse a taken name and a full account before touching the remote system.
	if _, err := s.d.Store.ProfileGet(ctx, account, name); err == nil {
		return nil, profileExists(name)
	} else if !store.IsNotFound(err) {
		return nil, fault.Wrap(fault.Internal, err, "read connector profile %s", name)
	}
	// A first count spares the remote system; ProfileCreate enforces the quota atomically.
	existing, _, err := s.d.Store.ProfileList(ctx, &store.ProfileListParams{AccountID: account, Page: store.Page{Limit: s.d.MaxProfiles}})
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "count connector profiles")
	}
	if len(existing) >= s.d.MaxProfiles {
		return nil, s.profileQuotaExceeded()
	}
	// A driver that exchanges an OAuth code or refreshes a token hands the
	// new credentials back: those are what the profile keeps.
	keep := func(_ context.Context, c json.RawMessage) error { cfg.creds = c; return nil }
	if err := s.checkConnectivity(ctx, string(typ), connector.Profile{Name: name, Properties: cfg.props, Credentials: cfg.creds, Label: label, SaveCredentials: keep}); err != nil {
		return nil, err
	}
	arn := s.arn(ctx, arnProfile, name)
	sealed, err := s.sealProfileCredentials(ctx, name, arn, in.KmsArn, cfg.creds) // awschecks.go
	if err != nil {
		return nil, err
	}
	doc := wire.ConnectorProfile{
		ConnectorProfileArn:                arn,
		ConnectorProfileName:               name,
		ConnectorType:                      typ,
		ConnectorLabel:                     label,
		ConnectionMode:                     in.ConnectionMode,
		CredentialsArn:                     s.credentialsArn(account, name),
		ConnectorProfileProperties:         &wire.ConnectorProfileProperties{},
		PrivateConnectionProvisioningState: provisioningState(in.ConnectionMode),
	}
	if err := setUnionMember(doc.ConnectorProfileProperties, string(typ), cfg.props); err != nil {
		return nil, err
	}
	docJSON, err := json.Marshal(&doc)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode connector profile %s", name)
	}
	now := s.d.Now()
	err = s.d.Store.ProfileCreate(ctx, &store.Profile{
		AccountID: account, Name: name, Arn: arn, ConnectorType: string(typ), Label: label,
		Doc: docJSON, Credentials: sealed, CreatedAt: now, UpdatedAt: now, MaxPerAccount: s.d.MaxProfiles,
	})
	if store.IsConflict(err) {
		return nil, profileExists(name)
	}
	if store.IsQuotaExceeded(err) {
		return nil, s.profileQuotaExceeded()
	}
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "create connector profile %s", name)
	}
	// A profile name can be reused after a delete: forget what its
	// predecessor's connection listed.
	s.metadata().reset(func(k metaKey) bool { return k.account == account && k.profile == name })
	return &wire.CreateConnectorProfileResponse{ConnectorProfileArn: arn}, nil
}

func profileExists(name string) error {
	return fault.New(fault.Conflict, "Conflict executing request: Connector profile with name %s already exists.", name)
}

// UpdateConnectorProfile replaces a profile's connection mode and
// properties, and its credentials when given (else they are kept). Type,
// label and ARN never change.
func (s *Service) UpdateConnectorProfile(ctx context.Context, in *wire.UpdateConnectorProfileRequest) (*wire.UpdateConnectorProfileResponse, error) {
	return idempotent(ctx, s, "UpdateConnectorProfile", in.ClientToken, in, func() (*wire.UpdateConnectorProfileResponse, error) {
		return s.updateConnectorProfile(ctx, in)
	})
}

func (s *Service) updateConnectorProfile(ctx context.Context, in *wire.UpdateConnectorProfileRequest) (*wire.UpdateConnectorProfileResponse, error) {
	account, name := s.account(ctx), in.ConnectorProfileName
	p, err := s.profileGet(ctx, name)
	if err != nil {
		return nil, err
	}
	typ := wire.ConnectorType(p.ConnectorType)
	cfg, err := s.checkProfileConfig(typ, in.ConnectorProfileConfig, false)
	if err != nil {
		return nil, err
	}
	var reg *registrationDoc
	if typ == wire.ConnectorTypeCustomConnector && in.ConnectionMode == wire.ConnectionModePrivate {
		r, err := s.registration(ctx, p.Label)
		if err != nil {
			return nil, err
		}
		if reg, err = decodeRegistration(r); err != nil {
			return nil, err
		}
	}
	if err := s.checkConnectionMode(in.ConnectionMode, typ, reg); err != nil {
		return nil, err
	}
	creds, sealed := cfg.creds, p.Credentials
	if creds == nil {
		if creds, err = s.openCredentials(p); err != nil {
			return nil, err
		}
	}
	changed := cfg.creds != nil
	keep := func(_ context.Context, c json.RawMessage) error { creds, changed = c, true; return nil }
	if err := s.checkConnectivity(ctx, p.ConnectorType, connector.Profile{Name: name, Properties: cfg.props, Credentials: creds, Label: p.Label, SaveCredentials: keep}); err != nil {
		return nil, err
	}
	if changed {
		if sealed, err = s.resealCredentials(ctx, name, p.Credentials, creds); err != nil { // awschecks.go
			return nil, err
		}
	}
	doc, err := profileDoc(p)
	if err != nil {
		return nil, err
	}
	doc.ConnectionMode = in.ConnectionMode
	doc.PrivateConnectionProvisioningState = provisioningState(in.ConnectionMode)
	doc.ConnectorProfileProperties = &wire.ConnectorProfileProperties{}
	if err := setUnionMember(doc.ConnectorProfileProperties, p.ConnectorType, cfg.props); err != nil {
		return nil, err
	}
	doc.CreatedAt, doc.LastUpdatedAt = nil, nil // the store's columns hold them
	if p.Doc, err = json.Marshal(doc); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode connector profile %s", name)
	}
	p.Credentials, p.UpdatedAt = sealed, s.d.Now()
	if err := s.d.Store.ProfileUpdate(ctx, p); store.IsNotFound(err) {
		return nil, profileNotFound(name)
	} else if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "update connector profile %s", name)
	}
	s.metadata().reset(func(k metaKey) bool { return k.account == account && k.profile == name })
	return &wire.UpdateConnectorProfileResponse{ConnectorProfileArn: p.Arn}, nil
}

// DescribeConnectorProfiles lists profiles, filtered by names (unknown names
// are dropped), connector type and label; never with credentials.
func (s *Service) DescribeConnectorProfiles(ctx context.Context, in *wire.DescribeConnectorProfilesRequest) (*wire.DescribeConnectorProfilesResponse, error) {
	params := &store.ProfileListParams{
		AccountID:     s.account(ctx),
		ConnectorType: string(in.ConnectorType),
		Label:         in.ConnectorLabel,
		Page:          store.Page{After: in.NextToken, Limit: pageLimit(in.MaxResults, 20)},
	}
	if len(in.ConnectorProfileNames) > 0 {
		params.Names = in.ConnectorProfileNames
	}
	profiles, next, err := s.d.Store.ProfileList(ctx, params)
	if fault.Is(err, fault.Invalid) {
		return nil, fault.New(fault.Invalid, "Invalid nextToken.")
	}
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "list connector profiles")
	}
	out := &wire.DescribeConnectorProfilesResponse{ConnectorProfileDetails: []wire.ConnectorProfile{}, NextToken: next}
	for _, p := range profiles {
		d, err := profileDoc(p)
		if err != nil {
			return nil, err
		}
		out.ConnectorProfileDetails = append(out.ConnectorProfileDetails, *d)
	}
	return out, nil
}

// maxDependentsShown bounds the "some of the associated flows" list.
const maxDependentsShown = 10

// DeleteConnectorProfile deletes a profile; while flows use it, only with
// forceDelete (the flows keep the dangling name and fail when they run).
func (s *Service) DeleteConnectorProfile(ctx context.Context, in *wire.DeleteConnectorProfileRequest) (*wire.DeleteConnectorProfileResponse, error) {
	account, name := s.account(ctx), in.ConnectorProfileName
	p, err := s.profileGet(ctx, name)
	if err != nil {
		return nil, err
	}
	if in.ForceDelete == nil || !*in.ForceDelete {
		flows, err := s.d.Store.FlowsUsingProfile(ctx, account, name)
		if err != nil {
			return nil, fault.Wrap(fault.Internal, err, "find flows using connector profile %s", name)
		}
		if len(flows) > 0 {
			slices.Sort(flows)
			return nil, fault.New(fault.Conflict,
				"Conflict executing request: Connector profile: %s is associated with one or more flows. If you still want to delete it, then make delete request with forceDelete flag as true. Some of the associated flows are: %s",
				name, describeList(flows[:min(len(flows), maxDependentsShown)]))
		}
	}
	if err := s.d.Store.ProfileDelete(ctx, account, name); store.IsNotFound(err) {
		return nil, profileNotFound(name)
	} else if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "delete connector profile %s", name)
	}
	if err := s.d.Store.TagsDeleteAll(ctx, p.Arn); err != nil {
		s.d.Logger.Warn("tags of a deleted connector profile were not removed", "profile", name, "err", err)
	}
	s.customProfileDeleted(ctx, p) // its secret in --secrets-endpoint, if any
	s.metadata().reset(func(k metaKey) bool { return k.account == account && k.profile == name })
	return &wire.DeleteConnectorProfileResponse{}, nil
}
