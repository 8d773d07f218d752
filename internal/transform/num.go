package transform

import (
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/appflowd/appflowd/internal/record"
)

// dec is the fast path of exact decimal arithmetic: the value m × 10^-s with
// at most 18 significant digits. Anything that does not fit (more digits, an
// exponent, an overflow) falls back to apd, so results are exact either way.
type dec struct {
	m int64
	s int32
}

var pow10 = [19]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// maxScaled[k] is the largest m that mulPow10 can scale by 10^k.
var maxScaled = func() (t [19]int64) {
	for k, p := range pow10 {
		t[k] = math.MaxInt64 / p
	}
	return t
}()

// parseDec parses [+-]digits[.digits] with at most 18 significant digits.
func parseDec(s string) (dec, bool) {
	i, neg := 0, false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		i = 1
	}
	if len(s)-i > 18 {
		return parseDecLong(s, i, neg)
	}
	// At most 18 characters: the digits fit, whatever their number.
	var m uint64
	j := i
	for ; j < len(s); j++ {
		c := s[j] - '0'
		if c > 9 {
			break
		}
		m = m*10 + uint64(c)
	}
	scale := 0
	if j < len(s) {
		if s[j] != '.' {
			return dec{}, false
		}
		for k := j + 1; k < len(s); k++ {
			c := s[k] - '0'
			if c > 9 {
				return dec{}, false
			}
			m = m*10 + uint64(c)
		}
		scale = len(s) - j - 1
		if scale == 0 && j == i { // "." alone
			return dec{}, false
		}
	} else if j == i {
		return dec{}, false
	}
	v := int64(m)
	if neg {
		v = -v
	}
	return dec{m: v, s: int32(scale)}, true
}

// parseDecLong is parseDec for text of more than 18 characters after the
// sign at i, counting significant digits.
func parseDecLong(s string, i int, neg bool) (dec, bool) {
	var m uint64
	digits, scale := 0, int32(0)
	dot, any := false, false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if dot {
				return dec{}, false
			}
			dot = true
			continue
		}
		if c < '0' || c > '9' {
			return dec{}, false
		}
		any = true
		if dot {
			scale++
		}
		if m == 0 && c == '0' {
			continue // leading zeros are not significant
		}
		digits++
		if digits > 18 {
			return dec{}, false
		}
		m = m*10 + uint64(c-'0')
	}
	if !any || scale > 18 {
		return dec{}, false
	}
	v := int64(m)
	if neg {
		v = -v
	}
	return dec{m: v, s: scale}, true
}

func mulPow10(m int64, k int32) (int64, bool) {
	if k < 0 || k > 18 {
		return 0, false
	}
	if lim := maxScaled[k]; m > lim || m < -lim {
		return 0, false
	}
	return m * pow10[k], true
}

// decConst is a numeric Filter's one VALUE, scaled ahead to every scale a
// row's value may have, so a row's comparison is one integer comparison.
type decConst struct {
	c      dec
	scaled [19]int64 // c at scale k, where ok has bit k
	ok     uint32
	pass   uint8 // bit c+1: the filter keeps a value whose comparison with c gives c
	// lt, eq, gt are pass's bits: whether the filter keeps a value less
	// than, equal to, greater than c.
	lt, eq, gt bool
}

func newDecConst(c dec, op filterOp) *decConst {
	k := &decConst{c: c}
	for s := c.s; s <= 18; s++ {
		if m, ok := mulPow10(c.m, s-c.s); ok {
			k.scaled[s], k.ok = m, k.ok|1<<s
		}
	}
	for r := -1; r <= 1; r++ {
		if hit(op, r) {
			k.pass |= 1 << (r + 1)
		}
	}
	k.lt, k.eq, k.gt = hit(op, -1), hit(op, 0), hit(op, 1)
	return k
}

// match says whether x passes the filter: the comparison is hit(op, cmpDec(x, c)).
func (k *decConst) match(x dec) bool {
	if uint32(x.s) <= 18 && k.ok&(1<<x.s) != 0 {
		y := k.scaled[x.s]
		if x.m < y {
			return k.lt
		}
		if x.m > y {
			return k.gt
		}
		return k.eq
	}
	return k.matchOther(x)
}

// matchOther is match for a value at a scale c does not fit.
func (k *decConst) matchOther(x dec) bool {
	var r int
	if c, ok := cmpDec(x, k.c); ok {
		r = c
	} else {
		n, m := number{d: x}, number{d: k.c}
		r = cmpNumber(&n, &m)
	}
	return k.pass&(1<<(r+1)) != 0
}

// align brings a and b to the same scale; false on overflow.
func align(a, b dec) (int64, int64, int32, bool) {
	switch {
	case a.s == b.s:
		return a.m, b.m, a.s, true
	case a.s < b.s:
		am, ok := mulPow10(a.m, b.s-a.s)
		return am, b.m, b.s, ok
	default:
		bm, ok := mulPow10(b.m, a.s-b.s)
		return a.m, bm, a.s, ok
	}
}

func cmpDec(a, b dec) (int, bool) {
	am, bm, _, ok := align(a, b)
	if !ok {
		return 0, false
	}
	switch {
	case am < bm:
		return -1, true
	case am > bm:
		return 1, true
	}
	return 0, true
}

func addDec(a, b dec) (dec, bool) {
	am, bm, s, ok := align(a, b)
	if !ok {
		return dec{}, false
	}
	r := am + bm
	if (am > 0 && bm > 0 && r < 0) || (am < 0 && bm < 0 && r >= 0) {
		return dec{}, false
	}
	return dec{m: r, s: s}, true
}

func mulDec(a, b dec) (dec, bool) {
	s := a.s + b.s
	if s > 18 {
		return dec{}, false
	}
	ua, ub := absU(a.m), absU(b.m)
	hi, lo := bits.Mul64(ua, ub)
	if hi != 0 || lo > math.MaxInt64 {
		return dec{}, false
	}
	r := int64(lo)
	if (a.m < 0) != (b.m < 0) {
		r = -r
	}
	return dec{m: r, s: s}, true
}

func absU(m int64) uint64 {
	u := uint64(m)
	if m < 0 {
		u = -u
	}
	return u
}

// appendDec writes d as plain decimal text, keeping its scale ("246.90").
func appendDec(b []byte, d dec) []byte {
	if d.m < 0 {
		b = append(b, '-')
	}
	var tmp [24]byte
	digits := strconv.AppendUint(tmp[:0], absU(d.m), 10)
	if d.s == 0 {
		return append(b, digits...)
	}
	s := int(d.s)
	if len(digits) <= s {
		b = append(b, '0', '.')
		for i := len(digits); i < s; i++ {
			b = append(b, '0')
		}
		return append(b, digits...)
	}
	cut := len(digits) - s
	b = append(b, digits[:cut]...)
	b = append(b, '.')
	return append(b, digits[cut:]...)
}

// number is a parsed numeric value: the fast dec, or an exact apd decimal.
type number struct {
	d   dec
	big *apd.Decimal // non-nil when d does not hold the value
}

func (n *number) sign() int {
	if n.big != nil {
		return n.big.Sign()
	}
	switch {
	case n.d.m < 0:
		return -1
	case n.d.m > 0:
		return 1
	}
	return 0
}

func (n *number) toBig(dst *apd.Decimal) *apd.Decimal {
	if n.big != nil {
		return n.big
	}
	return dst.SetFinite(n.d.m, -n.d.s)
}

// parseNumberText parses decimal text (with exponents and any number of
// digits through apd); NaN and infinities are not numbers.
func parseNumberText(s string, big *apd.Decimal) (number, bool) {
	if d, ok := parseDec(s); ok { // the common case; parseDec takes no spaces
		return number{d: d}, true
	}
	if len(s) > 0 && (s[0] == ' ' || s[len(s)-1] == ' ' || s[0] == '\t') {
		s = strings.TrimSpace(s)
	}
	if d, ok := parseDec(s); ok {
		return number{d: d}, true
	}
	if s == "" || big == nil {
		return number{}, false
	}
	if _, _, err := big.SetString(s); err != nil || big.Form != apd.Finite {
		return number{}, false
	}
	return number{big: big}, true
}

// numberOf reads v as a number. Strings and decimals parse; ints are exact;
// floats go through their shortest decimal text, so 0.1 is 0.1 and not
// 0.1000000000000000055…. big is scratch for values beyond the fast path.
func numberOf(v record.Value, scratch []byte, big *apd.Decimal) (number, bool) {
	switch v.K {
	case record.Int:
		i := v.Int()
		if i < -999999999999999999 || i > 999999999999999999 {
			return number{big: big.SetInt64(i)}, true
		}
		return number{d: dec{m: i}}, true
	case record.String, record.Decimal:
		return parseNumberText(v.S, big)
	case record.Float:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return number{}, false
		}
		b := record.AppendFloat(scratch[:0], f)
		if d, ok := parseDec(string(b)); ok {
			return number{d: d}, true
		}
		if _, _, err := big.SetString(string(b)); err != nil {
			return number{}, false
		}
		return number{big: big}, true
	}
	return number{}, false
}

var (
	exactCtx = apd.BaseContext.WithPrecision(0) // add/sub/mul: no rounding
	quoCtx   = apd.BaseContext.WithPrecision(34)
)

func cmpNumber(a, b *number) int {
	if a.big == nil && b.big == nil {
		if c, ok := cmpDec(a.d, b.d); ok {
			return c
		}
	}
	var x, y apd.Decimal
	return a.toBig(&x).Cmp(b.toBig(&y))
}
