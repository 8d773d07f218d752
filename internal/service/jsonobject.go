package service

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/appflowd/appflowd/internal/wire"
)

// The API's hottest reads (DescribeFlow, ListFlows) answer from the stored
// documents without decoding and re-encoding them: a document is split
// into its top-level members, and the response is written from those
// members' bytes and a few computed ones. Stored documents are what
// encodePlain wrote (older ones what json.Marshal wrote, which differs only
// in escaping <, > and &), so member names are never escaped and values
// are valid JSON.

// member is one member of a JSON object: its name as written between the
// quotes and its value's JSON.
type member struct {
	name  string
	value []byte
}

var errNotObject = errors.New("stored document is not a JSON object")

// objectMembers appends the top-level members of the JSON object b to out,
// in document order. It checks the object's structure, not its values.
// The members' names and values share b's memory: b must not change while
// they are in use.
func objectMembers(b []byte, out []member) ([]member, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, checkEnd(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, errNotObject
		}
		end := skipString(b, i)
		if end < 0 {
			return nil, errNotObject
		}
		name := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, errNotObject
		}
		i = skipSpace(b, i+1)
		vend := skipValue(b, i)
		if vend < 0 {
			return nil, errNotObject
		}
		// The name shares b's memory instead of a copy per member: documents
		// are read from the store and never written to.
		out = append(out, member{name: unsafe.String(unsafe.SliceData(name), len(name)), value: b[i:vend]})
		i = skipSpace(b, vend)
		if i >= len(b) {
			return nil, errNotObject
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return out, checkEnd(b, i+1)
		default:
			return nil, errNotObject
		}
	}
}

func checkEnd(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errNotObject
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] (a
// quote), or -1 if it does not end.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1
		}
		j += q
		// The quote ends the string unless an odd number of backslashes
		// escape it.
		n := 0
		for k := j - 1; k > i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1 if
// it does not end.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := skipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	// A number, true, false or null: up to the next delimiter.
	j := i
	for j < len(b) && !isDelimiter(b[j]) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\n', '\t', '\r':
		return true
	}
	return false
}

// lookup is the value of the member called name, nil if there is none or
// it is null or "" (which the model's encoding leaves out).
func lookup(ms []member, name string) []byte {
	for _, m := range ms {
		if m.name == name {
			if string(m.value) == "null" || string(m.value) == `""` {
				return nil
			}
			return m.value
		}
	}
	return nil
}

// memberOf is the value of the member called name of the JSON object obj,
// nil if obj is nil or has no such member.
func memberOf(obj []byte, name string) ([]byte, error) {
	if obj == nil {
		return nil, nil
	}
	var buf [16]member
	ms, err := objectMembers(obj, buf[:0])
	if err != nil {
		return nil, err
	}
	return lookup(ms, name), nil
}

// firstElement is the first value of the JSON array arr, nil if arr is nil
// or empty.
func firstElement(arr []byte) ([]byte, error) {
	if arr == nil {
		return nil, nil
	}
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil, errNotObject
	}
	i = skipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return nil, nil
	}
	end := skipValue(arr, i)
	if end < 0 {
		return nil, errNotObject
	}
	return arr[i:end], nil
}

// appendObject writes members as a JSON object; a member with a nil value
// is left out.
func appendObject(b []byte, ms []member) []byte {
	b = append(b, '{')
	first := true
	for _, m := range ms {
		if m.value == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, m.name...)
		b = append(b, '"', ':')
		b = append(b, m.value...)
	}
	return append(b, '}')
}

// splice returns doc's members with each of set (ordered by name) in place
// of the member of that name, or, where doc has none, before the first
// member whose name sorts after it: the order encoding/json gives the
// model's fields.
func splice(doc, set []member) []member {
	out := make([]member, 0, len(doc)+len(set))
	replaced := func(name string) bool {
		for _, s := range set {
			if s.name == name {
				return true
			}
		}
		return false
	}
	k := 0
	for _, m := range doc {
		for k < len(set) && set[k].name < m.name {
			out = append(out, set[k])
			k++
		}
		if replaced(m.name) {
			continue
		}
		out = append(out, m)
	}
	return append(out, set[k:]...)
}

// encodePlain is json.Marshal as the API writes responses: a stored
// document is written out as sent.
var encodePlain = wire.MarshalPlain

// tagsJSON is tags as a JSON object, keys sorted as encoding/json sorts
// them; nil (left out) when there are none.
func tagsJSON(tags map[string]string) []byte {
	if len(tags) == 0 {
		return nil
	}
	b := make([]byte, 0, 64*len(tags))
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(tags)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, tags[k])
	}
	return append(b, '}')
}

// appendString writes s as a JSON string, escaped as encodePlain does.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			v, _ := encodePlain(s) // a string always encodes
			return append(b, v...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
