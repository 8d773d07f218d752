package service

import (
	"context"
	"strings"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/store"
	"github.com/appflowd/appflowd/internal/wire"
)

// maxTagsPerResource is the model's TagMap limit.
const maxTagsPerResource = 50

// taggedResource checks that resourceArn names an existing flow, connector
// profile or custom connector of the caller's account and region.
func (s *Service) taggedResource(ctx context.Context, resourceArn string) error {
	parts := strings.SplitN(resourceArn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "appflow" {
		return fault.New(fault.Invalid, "Invalid resourceArn %s: not an Amazon AppFlow ARN.", resourceArn)
	}
	kind, name, ok := strings.Cut(parts[5], "/")
	if !ok || name == "" || (kind != arnFlow && kind != arnProfile && kind != arnConnector) {
		return fault.New(fault.Invalid, "Invalid resourceArn %s: expected a flow, connectorprofile or connector ARN.", resourceArn)
	}
	account := s.account(ctx)
	notFound := fault.New(fault.NotFound, "Resource %s does not exist.", resourceArn)
	if parts[3] != s.d.Region || parts[4] != account {
		return notFound
	}
	var err error
	switch kind {
	case arnFlow:
		_, err = s.d.Store.FlowGet(ctx, account, name)
	case arnProfile:
		_, err = s.d.Store.ProfileGet(ctx, account, name)
	case arnConnector:
		_, err = s.d.Store.RegistrationGet(ctx, account, name)
	}
	if store.IsNotFound(err) {
		return notFound
	}
	if err != nil {
		return fault.Wrap(fault.Internal, err, "look up %s", resourceArn)
	}
	return nil
}

// TagResource adds tags to a resource, replacing the values of keys it has.
func (s *Service) TagResource(ctx context.Context, in *wire.TagResourceRequest) (*wire.TagResourceResponse, error) {
	if err := s.taggedResource(ctx, in.ResourceArn); err != nil {
		return nil, err
	}
	current, err := s.d.Store.TagsGet(ctx, in.ResourceArn)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "read tags of %s", in.ResourceArn)
	}
	n := len(current)
	for k := range in.Tags {
		if _, ok := current[k]; !ok {
			n++
		}
	}
	if n > maxTagsPerResource {
		return nil, fault.New(fault.Invalid, "A resource can have at most %d tags; %s would have %d.", maxTagsPerResource, in.ResourceArn, n)
	}
	if err := s.d.Store.TagsSet(ctx, in.ResourceArn, in.Tags); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "tag %s", in.ResourceArn)
	}
	return &wire.TagResourceResponse{}, nil
}

// UntagResource removes tag keys; keys the resource lacks are ignored.
func (s *Service) UntagResource(ctx context.Context, in *wire.UntagResourceRequest) (*wire.UntagResourceResponse, error) {
	if err := s.taggedResource(ctx, in.ResourceArn); err != nil {
		return nil, err
	}
	if err := s.d.Store.TagsRemove(ctx, in.ResourceArn, in.TagKeys); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "untag %s", in.ResourceArn)
	}
	return &wire.UntagResourceResponse{}, nil
}

// ListTagsForResource returns a resource's tags.
func (s *Service) ListTagsForResource(ctx context.Context, in *wire.ListTagsForResourceRequest) (*wire.ListTagsForResourceResponse, error) {
	if err := s.taggedResource(ctx, in.ResourceArn); err != nil {
		return nil, err
	}
	tags, err := s.d.Store.TagsGet(ctx, in.ResourceArn)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "read tags of %s", in.ResourceArn)
	}
	if tags == nil {
		tags = map[string]string{} // "tags": {}, not absent
	}
	return &wire.ListTagsForResourceResponse{Tags: tags}, nil
}
