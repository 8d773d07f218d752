package record

import (
	"math"
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
	if a := math.Abs(f); a != 0 && a < 1e15 {
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
