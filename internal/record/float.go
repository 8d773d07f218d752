package record

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
)

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6}

// AppendFloat appends f as strconv.AppendFloat(dst, f, 'f', -1, 64) does,
// byte for byte, and faster for the values data mostly holds: amounts with
// a few decimals. When f is the nearest float to m/10^k for an integer m of
// at most 15 digits (k <= 6), that decimal is the shortest one that reads
// back as f (two decimals of at most 15 significant digits never share a
// float64), so it is what strconv prints; it is written from m directly.
func AppendFloat(dst []byte, f float64) []byte {
	a := math.Abs(f)
	if a < 1e9 {
		// Below 1e9, m = a*10^6 is under 10^15 and a*10^6 lies within 0.25
		// of it when a is such a decimal, so one rounding finds it; the
		// division, exact to the last bit, checks it. Any m that passes is
		// right, so the cheap rounding needs no care beyond that.
		m := int64(a*1e6 + 0.5) // int64, not uint64: one instruction each way
		if float64(m)/1e6 == a {
			return appendMicros(dst, uint64(m), math.Signbit(f))
		}
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	if a < 1e15 {
		for k, p := range pow10 {
			m := math.Round(f * p)
			if math.Abs(m) >= 1e15 {
				break
			}
			if m/p == f {
				return appendScaled(dst, int64(m), k)
			}
		}
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// appendMicros appends m/10^6 (m <= 10^15), with a '-' when neg, in
// positional notation without trailing zeros: "-0" for a negative zero,
// as strconv writes it.
func appendMicros(dst []byte, m uint64, neg bool) []byte {
	if neg {
		dst = append(dst, '-')
	}
	q, r := m/1e6, uint32(m%1e6)
	dst = appendUint(dst, q)
	if r == 0 {
		return dst
	}
	// '.' and six digits into dst's spare room, then the length without
	// the trailing zeros (r is not 0: a digit stays)
	l := len(dst)
	if cap(dst)-l < 8 {
		dst = slices.Grow(dst, 8)
	}
	b := (*[8]byte)(dst[l : l+8])
	hi, mid, lo := r/10000, r/100%100, r%100
	b[0] = '.'
	b[1], b[2] = digits2[2*hi], digits2[2*hi+1]
	b[3], b[4] = digits2[2*mid], digits2[2*mid+1]
	b[5], b[6] = digits2[2*lo], digits2[2*lo+1]
	n := 7
	switch {
	case lo != 0:
	case mid != 0:
		n = 5
	default:
		n = 3
	}
	if b[n-1] == '0' {
		n--
	}
	return dst[:l+n]
}

// appendScaled appends m/10^k in positional notation; m is not a multiple
// of 10 unless k is 0.
func appendScaled(dst []byte, m int64, k int) []byte {
	if m < 0 {
		dst = append(dst, '-')
		m = -m
	}
	var buf [20]byte
	d := strconv.AppendInt(buf[:0], m, 10)
	if k == 0 {
		return append(dst, d...)
	}
	if len(d) > k {
		dst = append(dst, d[:len(d)-k]...)
		dst = append(dst, '.')
		return append(dst, d[len(d)-k:]...)
	}
	dst = append(dst, '0', '.')
	for range k - len(d) {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}

// digits2 holds "00" to "99", for writing two digits at a time.
const digits2 = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

var pow10u = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// decLen is the number of decimal digits of u.
func decLen(u uint64) int {
	// 1233/4096 is just under log10(2): t is log10(u) rounded down, or one less.
	t := (bits.Len64(u|1) - 1) * 1233 >> 12
	if u >= pow10u[t+1] {
		t++
	}
	return t + 1
}

// AppendInt appends i in decimal, as strconv.AppendInt(dst, i, 10) does.
func AppendInt(dst []byte, i int64) []byte {
	return appendDec(dst, uint64(i), i < 0) // inlined: one call, not two
}

// appendUint appends u in decimal.
func appendUint(dst []byte, u uint64) []byte { return appendDec(dst, u, false) }

// appendDec writes u's digits, or -u's after a '-' when neg, straight
// into dst's spare room, two at a time from the end, instead of into a
// buffer that is then copied.
func appendDec(dst []byte, u uint64, neg bool) []byte {
	if neg {
		dst = append(dst, '-')
		u = -u
	}
	if u < 10 {
		return append(dst, byte('0'+u))
	}
	n := decLen(u)
	l := len(dst)
	if cap(dst)-l < n {
		dst = slices.Grow(dst, n)
	}
	dst = dst[:l+n]
	b := dst[l : l+n]
	i := n
	for u >= 100 {
		q := u / 100
		r := u - q*100
		i -= 2
		b[i], b[i+1] = digits2[2*r], digits2[2*r+1]
		u = q
	}
	if u >= 10 {
		b[i-2], b[i-1] = digits2[2*u], digits2[2*u+1]
	} else {
		b[i-1] = byte('0' + u)
	}
	return dst
}
