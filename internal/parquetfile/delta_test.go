package parquetfile

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// The delta encoders write the same bytes as these plain references (the
// first versions, checked against parquet-go by the round trips).
func TestDeltaMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for trial := range 2000 {
		n := rng.IntN(600)
		if trial < 10 {
			n = trial
		}
		lens := make([]int32, n)
		ints := make([]byte, 8*n)
		shape := rng.IntN(5)
		for i := range n {
			var x int64
			switch shape {
			case 0:
				x = int64(rng.Uint64())
			case 1:
				x = int64(i) * 7
			case 2:
				x = [...]int64{math.MaxInt64, math.MinInt64, 0, -1}[rng.IntN(4)]
			case 3:
				x = 20
			default:
				x = rng.Int64N(1 << rng.IntN(63))
			}
			lens[i] = int32(uint64(x) >> 33) // non-negative
			if shape == 3 {
				lens[i] = 20
			}
			binary.LittleEndian.PutUint64(ints[8*i:], uint64(x))
		}
		if got, want := appendDeltaLengths([]byte{9}, lens), refDeltaLengths([]byte{9}, lens); !bytes.Equal(got, want) {
			t.Fatalf("lengths %v:\n got %x\nwant %x", lens, got, want)
		}
		if got, want := appendDeltaInt64s([]byte{9}, ints), refDeltaInt64s([]byte{9}, ints); !bytes.Equal(got, want) {
			t.Fatalf("int64s shape %d n %d:\n got %x\nwant %x", shape, n, got, want)
		}
	}
}

func TestPackMini(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for width := range 65 {
		var v [deltaMini]uint64
		for i := range v {
			if width > 0 {
				v[i] = rng.Uint64() >> (64 - width)
			}
		}
		got := packMini([]byte{1, 2, 3}, &v, width)[3:]
		if len(got) != 4*width {
			t.Fatalf("width %d: %d bytes", width, len(got))
		}
		for i, x := range v { // bit by bit, LSB first
			var y uint64
			for b := range width {
				bit := i*width + b
				y |= uint64(got[bit/8]>>(bit%8)&1) << b
			}
			if y != x {
				t.Fatalf("width %d value %d: %x, want %x", width, i, y, x)
			}
		}
	}
}

// refDeltaInt64s and refPackUint64s are the first versions of the delta
// encoders, kept as references; refDeltaLengths goes through them.
func refDeltaLengths(dst []byte, v []int32) []byte {
	// Lengths are delta-encoded as the int64s they widen to.
	vals := make([]byte, 0, 8*len(v))
	for _, x := range v {
		vals = binary.LittleEndian.AppendUint64(vals, uint64(int64(x)))
	}
	return refDeltaInt64s(dst, vals)
}

func refDeltaInt64s(dst, vals []byte) []byte {
	const block, mini = 128, 32
	n := len(vals) / 8
	at := func(i int) uint64 { return binary.LittleEndian.Uint64(vals[8*i:]) }
	dst = binary.AppendUvarint(dst, block)
	dst = binary.AppendUvarint(dst, block/mini)
	dst = binary.AppendUvarint(dst, uint64(n))
	if n == 0 {
		return binary.AppendVarint(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(at(0)))
	var d [block]uint64
	prev := at(0)
	for i := 1; i < n; i += block {
		m := min(block, n-i)
		least := int64(math.MaxInt64)
		for k := range m {
			v := at(i + k)
			x := int64(v - prev)
			prev = v
			d[k] = uint64(x)
			least = min(least, x)
		}
		dst = binary.AppendVarint(dst, least)
		widths := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		for mb := 0; mb*mini < m; mb++ {
			part := d[mb*mini : (mb+1)*mini]
			var or uint64
			for k := range part {
				if mb*mini+k < m {
					part[k] -= uint64(least)
				} else {
					part[k] = 0
				}
				or |= part[k]
			}
			width := bits.Len64(or)
			dst[widths+mb] = byte(width)
			dst = refPackUint64s(dst, part, width)
		}
	}
	return dst
}

func refPackUint64s(dst []byte, v []uint64, width int) []byte {
	if width == 0 {
		return dst
	}
	var acc uint64
	nb := 0
	for _, x := range v {
		acc |= x << nb
		if nb+width >= 64 {
			dst = binary.LittleEndian.AppendUint64(dst, acc)
			acc = x >> (64 - nb) // zero when nb is 0: the word held all of x
			nb += width - 64
		} else {
			nb += width
		}
	}
	for ; nb > 0; nb -= 8 {
		dst = append(dst, byte(acc))
		acc >>= 8
	}
	return dst
}

// BenchmarkDeltaLengths encodes a page's string lengths like the bench
// e-mails' (widths of a few bits).
func BenchmarkDeltaLengths(b *testing.B) {
	rng := rand.New(rand.NewPCG(17, 18))
	lens := make([]int32, 8000)
	for i := range lens {
		lens[i] = 25 + rng.Int32N(12)
	}
	var dst []byte
	b.SetBytes(int64(4 * len(lens)))
	for b.Loop() {
		dst = appendDeltaLengths(dst[:0], lens)
	}
}

// packUint32 matches a bit-at-a-time packing for every width and length,
// the bytes before it kept.
func TestPackUint32(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for width := 1; width <= 32; width++ {
		for n := range 70 {
			v := make([]uint32, n)
			for i := range v {
				v[i] = uint32(rng.Uint64() & (1<<width - 1))
			}
			want := []byte{0xaa}
			var bit int
			for i := range (n + 7) / 8 * 8 {
				for b := range width {
					if bit%8 == 0 {
						want = append(want, 0)
					}
					if i < n && v[i]>>b&1 == 1 {
						want[len(want)-1] |= 1 << (bit % 8)
					}
					bit++
				}
			}
			if got := packUint32([]byte{0xaa}, v, width); !bytes.Equal(got, want) {
				t.Fatalf("width %d, %d values: %x, want %x", width, n, got, want)
			}
		}
	}
}
