package record

// The scanners below find the next byte of interest in text eight bytes at
// a time (SWAR: one 64-bit word tests eight bytes), for the parsers and
// encoders on the data path, where a byte-by-byte loop over every string
// is a large share of a row's cost.

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
	lows  = 0x7f7f7f7f7f7f7f7f
)

// zeroByte has the high bit set in the lowest zero byte of x (bits above
// it may be set spuriously; only the lowest one is used).
func zeroByte(x uint64) uint64 { return (x - ones) & ^x & highs }

// below has the high bit set in the lowest byte of x that is < n (n <= 128).
func below(x uint64, n byte) uint64 { return (x - ones*uint64(n)) & ^x & highs }

func word(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
}

func first(m uint64) int { return bits.TrailingZeros64(m) >> 3 }

// JSONStop returns the index of the first byte at or after i that ends the
// plain run of a JSON string's text: '"', '\\' or a control character
// (< 0x20); len(s) if there is none.
func JSONStop(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		x := word(s, i)
		if m := below(x, 0x20) | zeroByte(x^(ones*'"')) | zeroByte(x^(ones*'\\')); m != 0 {
			return i + first(m)
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return i
		}
	}
	return len(s)
}

// JSONEscape returns the index of the first byte at or after i that an
// encoder cannot copy into a JSON string as is: '"', '\\', a control
// character, or a non-ASCII byte (whose UTF-8 it must check); len(s) if
// there is none.
func JSONEscape(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := escWord(word(s, i)); m != 0 {
			return i + first(m)
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return i
		}
	}
	return len(s)
}

// CSVStop returns the index of the first ',', '\n' or '"' at or after i;
// len(s) if there is none.
func CSVStop(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		x := word(s, i)
		if m := zeroByte(x^(ones*',')) | zeroByte(x^(ones*'\n')) | zeroByte(x^(ones*'"')); m != 0 {
			return i + first(m)
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '\n' || c == '"' {
			return i
		}
	}
	return len(s)
}

// eqMask has the high bit set in exactly the bytes of x equal to c (unlike
// zeroByte, no byte is marked spuriously).
func eqMask(x uint64, c byte) uint64 {
	y := x ^ (ones * uint64(c))
	return ^((y&^highs + lows) | y) & highs
}

// ByteMask marks each byte of the 8 at s[i:] (i+8 <= len(s)) equal to c
// with its high bit.
func ByteMask(s string, i int, c byte) uint64 { return eqMask(word(s, i), c) }

// escWord marks the lowest byte of x that JSONEscape stops at (bytes above
// it may be marked spuriously). It is below(x, 0x20) | x&highs |
// zeroByte(x^'"') | zeroByte(x^'\\'), its terms merged to stay inlinable.
func escWord(x uint64) uint64 {
	q, b := x^(ones*'"'), x^(ones*'\\')
	return ((x - ones*0x20) | x | (q-ones)&^q | (b-ones)&^b) & highs
}

// EscapeWord marks the lowest byte of the 8 at s[i:] (i+8 <= len(s)) that
// JSONEscape stops at, for a caller that tries one word inline before
// calling JSONEscape; bytes above it may be marked spuriously.
func EscapeWord(s string, i int) uint64 { return escWord(word(s, i)) }

// Word is the 8 bytes at s[i:] (i+8 <= len(s)), s[i] the lowest.
func Word(s string, i int) uint64 { return word(s, i) }

// CSVPlainWord reads the 8 bytes at s[i:] (i+8 <= len(s)) for a CSV
// reader: esc marks the lowest byte JSONEscape stops at (bytes above it may
// be marked spuriously), commas exactly each ','.
func CSVPlainWord(s string, i int) (esc, commas uint64) {
	x := word(s, i)
	return escWord(x), eqMask(x, ',')
}

// FirstByte is the index of the lowest byte marked in a mask of the
// scanners above.
func FirstByte(m uint64) int { return first(m) }
