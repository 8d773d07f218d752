package wire

import (
	"bytes"
	"encoding/json"
)

// MarshalPlain is json.Marshal as the API writes responses: without
// escaping <, > and &.
func MarshalPlain(v any) ([]byte, error) { return marshalPlain(v) }

// marshalPlain encodes v as the generated MarshalJSON methods need: like
// the API's encoder, without HTML escaping.
func marshalPlain(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
