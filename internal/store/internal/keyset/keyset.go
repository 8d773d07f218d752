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

// NameAfter is where a page of rows ordered by one name column starts:
// after the cursor's name, or after "" (which sorts before every name) on
// the first page.
func NameAfter(cursor string) (string, error) {
	key, err := Decode(cursor, 1)
	if err != nil || key == nil {
		return "", err
	}
	return key[0], nil
}

// Cut trims rows read with a limit of limit+1 to limit and returns the
// cursor of the next page, made of the last row's name ("" at the end).
func Cut[T any](rows []T, limit int, name func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, Encode(name(rows[limit-1]))
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
