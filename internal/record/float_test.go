package record

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func checkFloat(t *testing.T, f float64) {
	t.Helper()
	if got, want := string(AppendFloat(nil, f)), strconv.FormatFloat(f, 'f', -1, 64); got != want {
		t.Fatalf("AppendFloat(%b): got %s, want %s", f, got, want)
	}
}

func TestAppendFloatMatchesStrconv(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.05, -0.05, 1.5, 100, 1e14, 999999999999999, 1e15, 123456789012345.6,
		1e-7, 5e-324, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN(), 0.1 + 0.2, 1626.54, 93.46 * 2, 2.675} {
		checkFloat(t, f)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 300000 {
		// decimals as data has them: m/10^k, and sums and products of them
		m := r.Int64N(int64(math.Pow10(1 + r.IntN(17))))
		if r.IntN(2) == 0 {
			m = -m
		}
		f := float64(m) / math.Pow10(r.IntN(9))
		checkFloat(t, f)
		checkFloat(t, f+f)
		checkFloat(t, f*1.1)
		checkFloat(t, math.Float64frombits(r.Uint64()))
	}
}
