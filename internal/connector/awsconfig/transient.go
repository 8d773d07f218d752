package awsconfig

import (
	"errors"
	"net"
	"slices"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Transient says whether a failed AWS call is worth another try: an HTTP
// 429 or 5xx, one of the service's error codes for throttling and
// passing faults, or no answer at all. Another error code is final.
func Transient(err error, codes ...string) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		if c := re.HTTPStatusCode(); c == 429 || c >= 500 {
			return true
		}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return slices.Contains(codes, ae.ErrorCode())
	}
	var ne net.Error
	return errors.As(err, &ne)
}
