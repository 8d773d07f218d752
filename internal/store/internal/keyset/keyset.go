// Package keyset holds what both store drivers share for keyset pagination
// and time columns: opaque cursors, the default page size, and the one time
// representation (UTC, microseconds) that SQLite and PostgreSQL both keep.
package keyset

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

// DefaultLimit is the page size when a caller asks for none.
const DefaultLimit = 100

// Limit returns the page size to use for a requested limit.
func Limit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return n
}

// ErrBadCursor is what a tampered or foreign cursor gets: the API answers
// ValidationException for a bad nextToken.
var ErrBadCursor = &fault.Error{Code: fault.Invalid, Msg: "invalid pagination token"}

// Encode makes an opaque cursor of the last row's sort key.
func Encode(key ...string) string {
	b, _ := json.Marshal(key) // a []string always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads a cursor made by Encode with n key parts. An empty cursor
// decodes to nil: start from the beginning.
func Decode(cursor string, n int) ([]string, error) {
	if cursor == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, ErrBadCursor
	}
	var key []string
	if err := json.Unmarshal(b, &key); err != nil || len(key) != n {
		return nil, ErrBadCursor
	}
	return key, nil
}

// Time is how the store keeps a time: UTC, truncated to microseconds (the
// precision of PostgreSQL's timestamptz). A zero time becomes now.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Bound is a time used only for comparison, such as TokenClaim's
// notBefore: UTC at microseconds, and a zero time stays zero (no bound).
func Bound(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Micros is t as the integer SQLite stores.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros reads an integer SQLite time.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
