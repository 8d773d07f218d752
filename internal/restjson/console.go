package restjson

import (
	"crypto/hmac"

	"github.com/appflowd/appflowd/internal/fault"
)

// What the console (internal/console) takes from the API's own checks, so a
// person in a browser is held to exactly what an SDK caller is.

// SignIn reports whether secret is the secret of access key id and returns
// the account that key acts for. The secrets are compared in constant time.
func (c *Credentials) SignIn(id, secret string) (account string, ok bool) {
	if c == nil {
		return "", false
	}
	k, found := c.keys[id]
	// Compare even for an unknown id, so timing does not tell ids apart.
	match := hmac.Equal([]byte(k.secret), []byte(secret))
	if !found || !match || secret == "" {
		return "", false
	}
	return k.account, true
}

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
