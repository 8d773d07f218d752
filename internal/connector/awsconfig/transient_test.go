package awsconfig

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestTransient(t *testing.T) {
	status := func(code int) error {
		return fmt.Errorf("put: %w", &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("refused")}})
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{status(503), true},
		{status(429), true},
		{status(400), false},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{&smithy.GenericAPIError{Code: "ValidationException"}, false},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{errors.New("something else"), false},
	} {
		if got := Transient(c.err, "ThrottlingException"); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
