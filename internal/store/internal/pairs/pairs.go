// Package pairs is how both store drivers read a row's small maps (a
// flow's tags, its profiles' labels) in the row itself: the database
// concatenates each key and value with its length in bytes in front,
// "<bytes> <key><bytes> <value>", and Parse reads that back. Nothing is
// escaped, so keys and values may hold anything, and reading costs no
// JSON or array decoding. The format is stored: the drivers' flow rows
// keep their tags and labels in it, written by the triggers of migrations
// 00005 and 00006 as length(key) || ' ' || key || length(value) || ' ' ||
// value, the length in bytes (PostgreSQL's octet_length, SQLite's
// length(CAST(s AS BLOB))).
package pairs

import (
	"errors"
	"strconv"
	"strings"
)

var errMalformed = errors.New("malformed key-value pairs")

// Parse reads concatenated pairs; empty or NULL is an empty map. The keys
// and values share one copy of b.
func Parse(b []byte) (map[string]string, error) {
	m := map[string]string{}
	s := string(b)
	next := func() (string, error) {
		sp := strings.IndexByte(s, ' ')
		if sp < 0 {
			return "", errMalformed
		}
		n, err := strconv.Atoi(s[:sp])
		if err != nil || n < 0 || n > len(s)-sp-1 {
			return "", errMalformed
		}
		v := s[sp+1 : sp+1+n]
		s = s[sp+1+n:]
		return v, nil
	}
	for len(s) > 0 {
		k, err := next()
		if err != nil {
			return nil, err
		}
		if m[k], err = next(); err != nil {
			return nil, err
		}
	}
	return m, nil
}
