package restjson

// Code below is one method per operation; regenerate the list by hand if the
// model gains an operation (the compiler will say so).

import (
	"context"

	"github.com/appflowd/appflowd/internal/wire"
)

func (f *fakeService) CancelFlowExecutions(ctx context.Context, in *wire.CancelFlowExecutionsRequest) (*wire.CancelFlowExecutionsResponse, error) {
	if err := f.call(ctx, "CancelFlowExecutions", in); err != nil {
		return nil, err
	}
	return output[wire.CancelFlowExecutionsResponse](f, "CancelFlowExecutions"), nil
}

func (f *fakeService) CreateConnectorProfile(ctx context.Context, in *wire.CreateConnectorProfileRequest) (*wire.CreateConnectorProfileResponse, error) {
	if err := f.call(ctx, "CreateConnectorProfile", in); err != nil {
		return nil, err
	}
	return output[wire.CreateConnectorProfileResponse](f, "CreateConnectorProfile"), nil
}

func (f *fakeService) CreateFlow(ctx context.Context, in *wire.CreateFlowRequest) (*wire.CreateFlowResponse, error) {
	if err := f.call(ctx, "CreateFlow", in); err != nil {
		return nil, err
	}
	return output[wire.CreateFlowResponse](f, "CreateFlow"), nil
}

func (f *fakeService) DeleteConnectorProfile(ctx context.Context, in *wire.DeleteConnectorProfileRequest) (*wire.DeleteConnectorProfileResponse, error) {
	if err := f.call(ctx, "DeleteConnectorProfile", in); err != nil {
		return nil, err
	}
	return output[wire.DeleteConnectorProfileResponse](f, "DeleteConnectorProfile"), nil
}

func (f *fakeService) DeleteFlow(ctx context.Context, in *wire.DeleteFlowRequest) (*wire.DeleteFlowResponse, error) {
	if err := f.call(ctx, "DeleteFlow", in); err != nil {
		return nil, err
	}
	return output[wire.DeleteFlowResponse](f, "DeleteFlow"), nil
}

func (f *fakeService) DescribeConnector(ctx context.Context, in *wire.DescribeConnectorRequest) (*wire.DescribeConnectorResponse, error) {
	if err := f.call(ctx, "DescribeConnector", in); err != nil {
		return nil, err
	}
	return output[wire.DescribeConnectorResponse](f, "DescribeConnector"), nil
}

func (f *fakeService) DescribeConnectorEntity(ctx context.Context, in *wire.DescribeConnectorEntityRequest) (*wire.DescribeConnectorEntityResponse, error) {
	if err := f.call(ctx, "DescribeConnectorEntity", in); err != nil {
		return nil, err
	}
	return output[wire.DescribeConnectorEntityResponse](f, "DescribeConnectorEntity"), nil
}

func (f *fakeService) DescribeConnectorProfiles(ctx context.Context, in *wire.DescribeConnectorProfilesRequest) (*wire.DescribeConnectorProfilesResponse, error) {
	if err := f.call(ctx, "DescribeConnectorProfiles", in); err != nil {
		return nil, err
	}
	return output[wire.DescribeConnectorProfilesResponse](f, "DescribeConnectorProfiles"), nil
}

func (f *fakeService) DescribeConnectors(ctx context.Context, in *wire.DescribeConnectorsRequest) (*wire.DescribeConnectorsResponse, error) {
	if err := f.call(ctx, "DescribeConnectors", in); err != nil {
		return nil, err
	}
	return output[wire.DescribeConnectorsResponse](f, "DescribeConnectors"), nil
}

func (f *fakeService) DescribeFlow(ctx context.Context, in *wire.DescribeFlowRequest) (*wire.DescribeFlowResponse, error) {
	if err := f.call(ctx, "DescribeFlow", in); err != nil {
		return nil, err
	}
	return output[wire.DescribeFlowResponse](f, "DescribeFlow"), nil
}

func (f *fakeService) DescribeFlowExecutionRecords(ctx context.Context, in *wire.DescribeFlowExecutionRecordsRequest) (*wire.DescribeFlowExecutionRecordsResponse, error) {
	if err := f.call(ctx, "DescribeFlowExecutionRecords", in); err != nil {
		return nil, err
	}
	return output[wire.DescribeFlowExecutionRecordsResponse](f, "DescribeFlowExecutionRecords"), nil
}

func (f *fakeService) ListConnectorEntities(ctx context.Context, in *wire.ListConnectorEntitiesRequest) (*wire.ListConnectorEntitiesResponse, error) {
	if err := f.call(ctx, "ListConnectorEntities", in); err != nil {
		return nil, err
	}
	return output[wire.ListConnectorEntitiesResponse](f, "ListConnectorEntities"), nil
}

func (f *fakeService) ListConnectors(ctx context.Context, in *wire.ListConnectorsRequest) (*wire.ListConnectorsResponse, error) {
	if err := f.call(ctx, "ListConnectors", in); err != nil {
		return nil, err
	}
	return output[wire.ListConnectorsResponse](f, "ListConnectors"), nil
}

func (f *fakeService) ListFlows(ctx context.Context, in *wire.ListFlowsRequest) (*wire.ListFlowsResponse, error) {
	if err := f.call(ctx, "ListFlows", in); err != nil {
		return nil, err
	}
	return output[wire.ListFlowsResponse](f, "ListFlows"), nil
}

func (f *fakeService) ListTagsForResource(ctx context.Context, in *wire.ListTagsForResourceRequest) (*wire.ListTagsForResourceResponse, error) {
	if err := f.call(ctx, "ListTagsForResource", in); err != nil {
		return nil, err
	}
	return output[wire.ListTagsForResourceResponse](f, "ListTagsForResource"), nil
}

func (f *fakeService) RegisterConnector(ctx context.Context, in *wire.RegisterConnectorRequest) (*wire.RegisterConnectorResponse, error) {
	if err := f.call(ctx, "RegisterConnector", in); err != nil {
		return nil, err
	}
	return output[wire.RegisterConnectorResponse](f, "RegisterConnector"), nil
}

func (f *fakeService) ResetConnectorMetadataCache(ctx context.Context, in *wire.ResetConnectorMetadataCacheRequest) (*wire.ResetConnectorMetadataCacheResponse, error) {
	if err := f.call(ctx, "ResetConnectorMetadataCache", in); err != nil {
		return nil, err
	}
	return output[wire.ResetConnectorMetadataCacheResponse](f, "ResetConnectorMetadataCache"), nil
}

func (f *fakeService) StartFlow(ctx context.Context, in *wire.StartFlowRequest) (*wire.StartFlowResponse, error) {
	if err := f.call(ctx, "StartFlow", in); err != nil {
		return nil, err
	}
	return output[wire.StartFlowResponse](f, "StartFlow"), nil
}

func (f *fakeService) StopFlow(ctx context.Context, in *wire.StopFlowRequest) (*wire.StopFlowResponse, error) {
	if err := f.call(ctx, "StopFlow", in); err != nil {
		return nil, err
	}
	return output[wire.StopFlowResponse](f, "StopFlow"), nil
}

func (f *fakeService) TagResource(ctx context.Context, in *wire.TagResourceRequest) (*wire.TagResourceResponse, error) {
	if err := f.call(ctx, "TagResource", in); err != nil {
		return nil, err
	}
	return output[wire.TagResourceResponse](f, "TagResource"), nil
}

func (f *fakeService) UnregisterConnector(ctx context.Context, in *wire.UnregisterConnectorRequest) (*wire.UnregisterConnectorResponse, error) {
	if err := f.call(ctx, "UnregisterConnector", in); err != nil {
		return nil, err
	}
	return output[wire.UnregisterConnectorResponse](f, "UnregisterConnector"), nil
}

func (f *fakeService) UntagResource(ctx context.Context, in *wire.UntagResourceRequest) (*wire.UntagResourceResponse, error) {
	if err := f.call(ctx, "UntagResource", in); err != nil {
		return nil, err
	}
	return output[wire.UntagResourceResponse](f, "UntagResource"), nil
}

func (f *fakeService) UpdateConnectorProfile(ctx context.Context, in *wire.UpdateConnectorProfileRequest) (*wire.UpdateConnectorProfileResponse, error) {
	if err := f.call(ctx, "UpdateConnectorProfile", in); err != nil {
		return nil, err
	}
	return output[wire.UpdateConnectorProfileResponse](f, "UpdateConnectorProfile"), nil
}

func (f *fakeService) UpdateConnectorRegistration(ctx context.Context, in *wire.UpdateConnectorRegistrationRequest) (*wire.UpdateConnectorRegistrationResponse, error) {
	if err := f.call(ctx, "UpdateConnectorRegistration", in); err != nil {
		return nil, err
	}
	return output[wire.UpdateConnectorRegistrationResponse](f, "UpdateConnectorRegistration"), nil
}

func (f *fakeService) UpdateFlow(ctx context.Context, in *wire.UpdateFlowRequest) (*wire.UpdateFlowResponse, error) {
	if err := f.call(ctx, "UpdateFlow", in); err != nil {
		return nil, err
	}
	return output[wire.UpdateFlowResponse](f, "UpdateFlow"), nil
}
