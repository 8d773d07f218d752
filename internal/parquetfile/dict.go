package parquetfile

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// strTable finds a row group's dictionary values by their bytes: open
// addressing with linear probing over a power-of-two table whose slots
// hold a value's index plus one (low 32 bits; zero: empty) and the top 32
// bits of its hash (high 32 bits), which place it and spare most compares
// of other values. Values of up to 16 bytes are compared by their keys
// (strKey), without a call. It is several times faster than a Go map on
// the short strings of a column, and the indexes, given in order of
// insertion, do not depend on the hash.
type strTable struct {
	slots []uint64
	keys  []strKey // by index
}

// strKey is a value's length and two words read from its bytes: for up
// to 16 bytes they hold every byte, so that equal keys are equal values;
// longer values fold their middle bytes into a.
type strKey struct {
	a, b uint64
	n    int
}

func keyOf(s string) strKey {
	const k1, k2 = 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3
	n := len(s)
	p := unsafe.Pointer(unsafe.StringData(s))
	var a, b uint64
	switch {
	case n >= 8:
		a = load64(p, 0)
		b = load64(p, n-8)
		for i := 8; i+8 < n; i += 8 {
			hi, lo := bits.Mul64(a^k2, load64(p, i)^k1)
			a = hi ^ lo
		}
	case n >= 4:
		a = uint64(load32(p, 0))
		b = uint64(load32(p, n-4))
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	return strKey{a, b, n}
}

// hash mixes all of a key's bits: values that share their first and last
// bytes (e-mail addresses, say) must not pile up in one run of slots.
func (k *strKey) hash() uint64 {
	const k0, k1 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db
	hi, lo := bits.Mul64(k.a^k0, k.b^k1^uint64(k.n))
	return hi ^ lo
}

// find returns the index of s (key k, hash h) among vals, or ok false.
func (t *strTable) find(vals []string, s string, k *strKey, h uint64) (i uint32, ok bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	tag := h >> 32
	mask := uint64(len(t.slots) - 1)
	for pos := tag & mask; ; pos = (pos + 1) & mask {
		e := t.slots[pos]
		if e == 0 {
			return 0, false
		}
		if e>>32 == tag {
			i := uint32(e) - 1
			if k.n <= 16 {
				if t.keys[i] == *k {
					return i, true
				}
			} else if vals[i] == s {
				return i, true
			}
		}
	}
}

// add records the next index for a value of key k and hash h not in the
// table.
func (t *strTable) add(k *strKey, h uint64) {
	if 2*(len(t.keys)+1) > len(t.slots) {
		t.grow()
	}
	t.put(h>>32<<32 | uint64(len(t.keys)+1))
	t.keys = append(t.keys, *k)
}

func (t *strTable) put(e uint64) {
	mask := uint64(len(t.slots) - 1)
	pos := e >> 32 & mask
	for t.slots[pos] != 0 {
		pos = (pos + 1) & mask
	}
	t.slots[pos] = e
}

func (t *strTable) grow() {
	old := t.slots
	t.slots = make([]uint64, max(2*len(old), 256))
	for _, e := range old {
		if e != 0 {
			t.put(e)
		}
	}
}

func (t *strTable) reset() {
	if len(t.keys) > 0 {
		clear(t.slots)
		t.keys = t.keys[:0]
	}
}

func load64(p unsafe.Pointer, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice((*byte)(unsafe.Add(p, i)), 8))
}

func load32(p unsafe.Pointer, i int) uint32 {
	return binary.LittleEndian.Uint32(unsafe.Slice((*byte)(unsafe.Add(p, i)), 4))
}
