package connector

import (
	"encoding/json"

	"github.com/appflowd/appflowd/internal/fault"
)

// DecodeProfile reads a profile's properties and credentials members;
// bad JSON is the caller's mistake.
func DecodeProfile[Props, Creds any](p Profile, vendor string) (props Props, creds Creds, err error) {
	for _, m := range []struct {
		raw  json.RawMessage
		into any
		what string
	}{{p.Properties, &props, "properties"}, {p.Credentials, &creds, "credentials"}} {
		if len(m.raw) == 0 {
			continue
		}
		if err := json.Unmarshal(m.raw, m.into); err != nil {
			return props, creds, fault.Wrap(fault.Invalid, err, "decode %s profile %s", vendor, m.what)
		}
	}
	return props, creds, nil
}

// Credentials reads a profile's credentials member alone.
func Credentials[Creds any](p Profile, vendor string) (Creds, error) {
	_, c, err := DecodeProfile[struct{}, Creds](p, vendor)
	return c, err
}

// DecodeProperties reads a flow's source or destination properties for
// vendor (what names which: "source", "destination"); bad JSON is the
// caller's mistake.
func DecodeProperties[T any](raw json.RawMessage, vendor, what string) (T, error) {
	var v T
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			return v, fault.Wrap(fault.Invalid, err, "decode %s %s properties", vendor, what)
		}
	}
	return v, nil
}
