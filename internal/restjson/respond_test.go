package restjson

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// responder answers DescribeFlow with a body of its own (JSONResponder)
// and leaves every other operation to the fake's methods.
type responder struct {
	*fakeService
	body []byte
	err  error
}

func (r *responder) RespondJSON(ctx context.Context, in wire.Input) ([]byte, bool, error) {
	d, ok := in.(*wire.DescribeFlowRequest)
	if !ok {
		return nil, false, nil
	}
	if err := r.call(ctx, "RespondJSON", d); err != nil {
		return nil, true, err
	}
	return r.body, true, r.err
}

func TestJSONResponder(t *testing.T) {
	svc := &responder{fakeService: newFake(), body: []byte(`{"flowName":"ff","flowStatus":"Active","tags":{"a":"<b>"}}`)}
	srv := newServer(t, svc, Options{DefaultAccountID: "123456789012"})
	c := newClient(srv, "AKID", "secret")
	ctx := context.Background()

	out, err := c.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String("ff")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.FlowName) != "ff" || out.FlowStatus != "Active" || out.Tags["a"] != "<b>" {
		t.Errorf("DescribeFlow through a responder: %+v", out)
	}
	if in, _ := svc.input("RespondJSON").(*wire.DescribeFlowRequest); in == nil || in.FlowName != "ff" || svc.callers["RespondJSON"].AccountID != "123456789012" {
		t.Errorf("responder got input %+v, caller %+v", in, svc.callers["RespondJSON"])
	}
	if svc.input("DescribeFlow") != nil {
		t.Error("DescribeFlow method called although the responder answered")
	}
	resp := do(t, srv, http.MethodPost, "/describe-flow", `{"flowName":"ff"}`)
	body, _ := io.ReadAll(resp.Body)
	if string(body) != string(svc.body) || resp.Header.Get("Content-Type") != "application/json" || resp.ContentLength != int64(len(svc.body)) {
		t.Errorf("raw response: %q, %v, length %d", body, resp.Header, resp.ContentLength)
	}

	// Other operations go to their methods.
	if _, err := c.ListFlows(ctx, &appflow.ListFlowsInput{}); err != nil || svc.input("ListFlows") == nil {
		t.Errorf("ListFlows beside a responder: %v, input %v", err, svc.input("ListFlows"))
	}
	// Validation runs before the responder.
	expectError(t, do(t, srv, http.MethodPost, "/describe-flow", `{}`), http.StatusBadRequest, "ValidationException")

	// The responder's errors are the API's errors.
	svc.err = fault.New(fault.NotFound, "Flow with name ff does not exist.")
	if msg := expectError(t, do(t, srv, http.MethodPost, "/describe-flow", `{"flowName":"ff"}`), http.StatusNotFound, "ResourceNotFoundException"); msg != "Flow with name ff does not exist." {
		t.Errorf("not found message %q", msg)
	}
	svc.err = fault.Wrap(fault.Internal, io.ErrUnexpectedEOF, "decode flow ff")
	if msg := expectError(t, do(t, srv, http.MethodPost, "/describe-flow", `{"flowName":"ff"}`), http.StatusInternalServerError, "InternalServerException"); msg == "" || msg == svc.err.Error() {
		t.Errorf("internal error message %q leaks or is empty", msg)
	}
}
