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

func TestAppendFloatEdges(t *testing.T) {
	for _, f := range []float64{1e9, 1e9 - 1e-6, 999999999.999999, 999999999.9999995, 1e9 + 0.5, 5e-7, 1e-6, 1.5e-6, 0.000001, 0.0000015,
		123456.789012, 1e-300, 1e300, 4503599627370495.5, 9007199254740993, -1e21, 1e21, 0.1 + 0.7, 3 * 1.1} {
		checkFloat(t, f)
		checkFloat(t, -f)
		checkFloat(t, math.Nextafter(f, 0))
		checkFloat(t, math.Nextafter(f, math.Inf(1)))
	}
	// every decimal with up to six places around the powers of ten
	for k := range 16 {
		p := math.Pow10(k)
		for _, d := range []float64{-1, -1e-6, 0, 1e-6, 1, 0.5, 0.25, 0.999999} {
			checkFloat(t, p+d)
		}
	}
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, 1.5, 632.5, 1265, 792.92, 1e-7, 1e9, 1e15, 1e21, math.MaxFloat64} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, b uint64) {
		checkFloat(t, math.Float64frombits(b))
		// and the short decimal nearest to it, the common case
		v := math.Float64frombits(b)
		if a := math.Abs(v); a < 1e12 {
			checkFloat(t, math.Round(v*100)/100)
			checkFloat(t, math.Round(v*1e6)/1e6)
		}
	})
}

func checkInt(t *testing.T, i int64) {
	t.Helper()
	if got, want := string(AppendInt([]byte("x"), i)), "x"+strconv.FormatInt(i, 10); got != want {
		t.Fatalf("AppendInt(%d): got %s, want %s", i, got, want)
	}
}

func TestAppendIntMatchesStrconv(t *testing.T) {
	checkInt(t, math.MinInt64)
	checkInt(t, math.MaxInt64)
	for _, p := range pow10u {
		for d := range uint64(3) {
			checkInt(t, int64(p+d-1))
			checkInt(t, -int64(p+d-1))
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for range 100000 {
		checkInt(t, int64(r.Uint64())>>r.IntN(64))
	}
	// growing from every spare capacity
	for n := range 25 {
		for c := range 25 {
			dst := make([]byte, n, n+c)
			if got, want := string(AppendInt(dst, 12345678901234567)), string(make([]byte, n))+"12345678901234567"; got != want {
				t.Fatalf("len %d cap %d: got %q", n, n+c, got)
			}
		}
	}
}

func TestDecLen(t *testing.T) {
	for _, p := range pow10u {
		for _, u := range []uint64{p - 1, p, p + 1} {
			if got, want := decLen(u), len(strconv.FormatUint(u, 10)); got != want {
				t.Fatalf("decLen(%d) = %d, want %d", u, got, want)
			}
		}
	}
	if decLen(math.MaxUint64) != 20 || decLen(0) != 1 {
		t.Fatal("decLen at the ends")
	}
}

func FuzzAppendInt(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(-1))
	f.Add(int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, i int64) { checkInt(t, i) })
}

func BenchmarkAppendFloat(b *testing.B) {
	vs := make([]float64, 1024)
	for i := range vs {
		vs[i] = float64(i*7919%100000) / 50
	}
	var buf []byte
	for i := range b.N {
		buf = AppendFloat(buf[:0], vs[i&1023])
	}
}

func BenchmarkAppendInt(b *testing.B) {
	var buf []byte
	for i := range b.N {
		buf = AppendInt(buf[:0], int64(i&(1<<22-1)))
	}
}
