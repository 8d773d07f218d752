package restjson

import (
	"github.com/appflowd/appflowd/internal/fault"
)

// What the console (internal/console) takes from the API's own checks, so a
// person in a browser is held to exactly what an SDK caller is.

// DecodeInput reads a JSON request body into in and validates it, failing
// with the ValidationException message the API would send for that body.
func DecodeInput(body []byte, in interface{ Validate() error }) error {
	if aerr := decodeBody(body, in); aerr != nil {
		return fault.New(fault.Invalid, "%s", aerr.msg)
	}
	if err := in.Validate(); err != nil {
		return fault.New(fault.Invalid, "%s", fault.Message(err))
	}
	return nil
}
