package wire

import (
	"net/http"

	"github.com/appflowd/appflowd/internal/fault"
)

// exceptionOf is the one table from fault codes to modeled exceptions.
var exceptionOf = map[fault.Code]string{
	fault.Invalid:         "ValidationException",
	fault.NotFound:        "ResourceNotFoundException",
	fault.Conflict:        "ConflictException",
	fault.Unsupported:     "UnsupportedOperationException",
	fault.AuthFailed:      "ConnectorAuthenticationException",
	fault.ConnectorServer: "ConnectorServerException",
	fault.QuotaExceeded:   "ServiceQuotaExceededException",
	fault.Throttled:       "ThrottlingException",
	fault.AccessDenied:    "AccessDeniedException",
}

// ExceptionFor returns the exception name and HTTP status for an error code.
// Unknown, Internal and Canceled all become InternalServerException (500).
func ExceptionFor(c fault.Code) (name string, status int) {
	name, ok := exceptionOf[c]
	if !ok {
		name = "InternalServerException"
	}
	status, ok = Exceptions[name]
	if !ok {
		status = http.StatusInternalServerError
	}
	return name, status
}
