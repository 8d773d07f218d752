package restjson

import (
	"errors"
	"io"
	"net/http"

	"github.com/appflowd/appflowd/internal/sigv4"
	"github.com/appflowd/appflowd/internal/wire"
)

// Credentials are the access keys the API accepts (internal/sigv4).
type Credentials = sigv4.Credentials

// LoadCredentials reads a credentials file (sigv4.Load).
func LoadCredentials(path string) (*Credentials, error) { return sigv4.Load(path) }

// ParseCredentials reads credentials in the LoadCredentials format.
func ParseCredentials(r io.Reader) (*Credentials, error) { return sigv4.Parse(r) }

// signingName is the AppFlow API's SigV4 service name.
const signingName = "appflow"

// authenticate verifies the SigV4 signature when credentials are configured
// and returns the caller.
func (h *handler) authenticate(r *http.Request, body []byte) (wire.Caller, *apiError) {
	creds := h.opts.Credentials
	if creds == nil {
		region := sigv4.Region(r)
		if region == "" {
			region = h.opts.DefaultRegion
		}
		return wire.Caller{AccountID: h.opts.DefaultAccountID, Region: region}, nil
	}
	id, err := sigv4.Verify(r, body, creds, signingName, h.opts.Now())
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			return wire.Caller{}, &apiError{se.Status, se.Code, se.Message}
		}
		return wire.Caller{}, &apiError{http.StatusForbidden, "InvalidSignatureException", err.Error()}
	}
	return wire.Caller{AccessKeyID: id.AccessKeyID, AccountID: id.AccountID, Region: id.Region}, nil
}
