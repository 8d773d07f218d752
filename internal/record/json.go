package record

import (
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// AppendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		i = JSONEscape(s, i)
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				const hexd = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// isJSONNumber reports whether s is a number in JSON's grammar.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() bool {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if !digits() {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// AppendJSON appends v as a JSON value: numbers and booleans unquoted,
// nested JSON as is, times as RFC 3339 strings, Null and Missing as null. A
// Decimal whose text is not a JSON number, and NaN or infinite floats, are
// strings. The S3 JSON Lines writer and the EventBridge event details share it.
func AppendJSON(dst []byte, v Value) []byte {
	switch v.K {
	case String:
		if v.N == PlainText {
			dst = append(dst, '"')
			dst = append(dst, v.S...)
			return append(dst, '"')
		}
		return AppendJSONString(dst, v.S)
	case Int:
		return AppendInt(dst, v.Int())
	case Float:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return AppendJSONString(dst, v.Text())
		}
		return AppendFloat(dst, f)
	case Decimal:
		if isJSONNumber(v.S) {
			return append(dst, v.S...)
		}
		return AppendJSONString(dst, v.S)
	case Bool:
		return strconv.AppendBool(dst, v.Bool())
	case Time:
		return AppendJSONString(dst, v.Text())
	case JSON:
		if v.S == "" {
			return append(dst, "null"...)
		}
		return append(dst, v.S...)
	}
	return append(dst, "null"...)
}

// JSONKeys are fields as object keys for AppendJSONObject: each quoted,
// with its colon.
func JSONKeys(fields []string) [][]byte {
	keys := make([][]byte, len(fields))
	for i, f := range fields {
		keys[i] = append(AppendJSONString(nil, f), ':')
	}
	return keys
}

// AppendJSONObject appends row as a JSON object, one member per field
// (keys from JSONKeys) that the record has: Missing cells are left out.
func AppendJSONObject(dst []byte, keys [][]byte, row []Value) []byte {
	dst = append(dst, '{')
	first := true
	for c, v := range row {
		if v.K == Missing {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, keys[c]...)
		dst = AppendJSON(dst, v)
	}
	return append(dst, '}')
}

// AppendText is append(dst, s...), quicker for the short strings a row is
// made of: 8 to 16 bytes are copied inline, in two words that may overlap,
// instead of by a call to memmove (which costs more than the copy, and
// makes the caller's loop reload its values after it). It stays small
// enough to be inlined.
func AppendText(dst []byte, s string) []byte {
	n, l := len(s), len(dst)
	if uint(n-8) > 8 || cap(dst)-l < 16 {
		return append(dst, s...)
	}
	src := unsafe.Slice(unsafe.StringData(s), n)
	d := dst[l : l+16]
	*(*[8]byte)(d) = *(*[8]byte)(src)
	*(*[8]byte)(d[n-8:]) = *(*[8]byte)(src[n-8:])
	return dst[:l+n]
}
