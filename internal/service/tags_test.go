package service

import (
	"fmt"
	"maps"
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

func TestTagResourceTargets(t *testing.T) {
	e := newProfEnv(t)
	e.mustCreate(salesforceProfile("sf/with-slash"))
	e.seedFlow("orders")
	e.seedRegistration("acme", false)
	tests := []struct {
		arn  string
		code fault.Code // Unknown: accepted
	}{
		{"arn:aws:appflow:us-east-1:123456789012:flow/orders", fault.Unknown},
		{"arn:aws:appflow:us-east-1:123456789012:connectorprofile/sf/with-slash", fault.Unknown},
		{"arn:aws:appflow:us-east-1:123456789012:connector/acme", fault.Unknown},
		{"arn:aws:appflow:us-east-1:123456789012:flow/missing", fault.NotFound},
		{"arn:aws:appflow:us-east-1:123456789012:connectorprofile/missing", fault.NotFound},
		{"arn:aws:appflow:eu-west-1:123456789012:flow/orders", fault.NotFound},
		{"arn:aws:appflow:us-east-1:999999999999:flow/orders", fault.NotFound},
		{"arn:aws:s3:us-east-1:123456789012:bucket/orders", fault.Invalid},
		{"arn:aws:appflow:us-east-1:123456789012:pipeline/orders", fault.Invalid},
		{"arn:aws:appflow:us-east-1:123456789012:flow", fault.Invalid},
		{"arn:aws:appflow:us-east-1:123456789012:flow/", fault.Invalid},
		{"not-an-arn", fault.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			_, errTag := e.svc.TagResource(e.ctx, &wire.TagResourceRequest{ResourceArn: tt.arn, Tags: map[string]string{"k": "v"}})
			_, errList := e.svc.ListTagsForResource(e.ctx, &wire.ListTagsForResourceRequest{ResourceArn: tt.arn})
			_, errUntag := e.svc.UntagResource(e.ctx, &wire.UntagResourceRequest{ResourceArn: tt.arn, TagKeys: []string{"k"}})
			for op, err := range map[string]error{"TagResource": errTag, "ListTagsForResource": errList, "UntagResource": errUntag} {
				if tt.code == fault.Unknown {
					if err != nil {
						t.Errorf("%s: %v", op, err)
					}
					continue
				}
				if got := fault.CodeOf(err); got != tt.code {
					t.Errorf("%s: got %v (%v), want %v", op, got, err, tt.code)
				}
			}
		})
	}
}

func TestTagsMergeRemoveAndLimit(t *testing.T) {
	e := newProfEnv(t)
	arn := e.mustCreate(salesforceProfile("sf"))
	tag := func(tags map[string]string) error {
		_, err := e.svc.TagResource(e.ctx, &wire.TagResourceRequest{ResourceArn: arn, Tags: tags})
		return err
	}
	list := func() map[string]string {
		t.Helper()
		out, err := e.svc.ListTagsForResource(e.ctx, &wire.ListTagsForResourceRequest{ResourceArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		return out.Tags
	}
	if got := list(); len(got) != 0 {
		t.Errorf("new resource: got tags %v, want none", got)
	}
	if err := tag(map[string]string{"env": "test", "team": "data"}); err != nil {
		t.Fatal(err)
	}
	if err := tag(map[string]string{"env": "prod", "cost": ""}); err != nil {
		t.Fatal(err)
	}
	if got, want := list(), map[string]string{"env": "prod", "team": "data", "cost": ""}; !maps.Equal(got, want) {
		t.Errorf("after merge: got %v, want %v", got, want)
	}
	if _, err := e.svc.UntagResource(e.ctx, &wire.UntagResourceRequest{ResourceArn: arn, TagKeys: []string{"team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := list(), map[string]string{"env": "prod", "cost": ""}; !maps.Equal(got, want) {
		t.Errorf("after untag: got %v, want %v", got, want)
	}

	// 50 at most, counting what the resource has.
	more := map[string]string{}
	for i := range 48 {
		more[fmt.Sprintf("k%02d", i)] = "v"
	}
	if err := tag(more); err != nil {
		t.Fatalf("up to 50 tags: %v", err)
	}
	if err := tag(map[string]string{"env": "overwrite-is-fine"}); err != nil {
		t.Errorf("overwriting at 50 tags: %v", err)
	}
	err := tag(map[string]string{"one-more": "v"})
	profWantCode(t, err, fault.Invalid, "at most 50 tags", "51")
	if got := list(); len(got) != 50 || got["env"] != "overwrite-is-fine" {
		t.Errorf("after the refused call: got %d tags (env=%q), want 50", len(got), got["env"])
	}

	// The model refuses reserved and malformed keys before the service runs.
	for _, bad := range []map[string]string{{"aws:owner": "x"}, {"a b": "x"}, {"k": "a>b"}} {
		in := &wire.TagResourceRequest{ResourceArn: arn, Tags: bad}
		if err := in.Validate(); !fault.Is(err, fault.Invalid) {
			t.Errorf("tags %v: Validate gave %v, want ValidationException", bad, err)
		}
	}
}
