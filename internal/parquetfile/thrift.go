package parquetfile

// Thrift compact protocol, the encoding of Parquet's page headers and
// footer: only what writing those needs (structs, i32, i64, binary,
// bool, lists).

const (
	tTrue   = 1
	tFalse  = 2
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tBinary = 8
	tList   = 9
	tStruct = 12
)

// tenc appends compact-protocol bytes to b. Field ids are written as
// deltas from the previous field of the same struct, so nested structs
// keep their outer struct's last id on a stack.
type tenc struct {
	b     []byte
	last  int16
	stack []int16
}

func (e *tenc) uvarint(v uint64) {
	for v >= 0x80 {
		e.b = append(e.b, byte(v)|0x80)
		v >>= 7
	}
	e.b = append(e.b, byte(v))
}

func (e *tenc) varint(v int64) { e.uvarint(uint64(v<<1) ^ uint64(v>>63)) }

func (e *tenc) field(id int16, typ byte) {
	if d := id - e.last; d > 0 && d <= 15 {
		e.b = append(e.b, byte(d)<<4|typ)
	} else {
		e.b = append(e.b, typ)
		e.varint(int64(id))
	}
	e.last = id
}

func (e *tenc) i16(id int16, v int16) { e.field(id, tI16); e.varint(int64(v)) }
func (e *tenc) i32(id int16, v int32) { e.field(id, tI32); e.varint(int64(v)) }
func (e *tenc) i64(id int16, v int64) { e.field(id, tI64); e.varint(v) }

func (e *tenc) bin(id int16, v []byte) {
	e.field(id, tBinary)
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *tenc) str(id int16, v string) {
	e.field(id, tBinary)
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *tenc) bool(id int16, v bool) {
	if v {
		e.field(id, tTrue)
	} else {
		e.field(id, tFalse)
	}
}

// begin opens a struct: a field of the current struct (id > 0) or a list
// element (id 0).
func (e *tenc) begin(id int16) {
	if id > 0 {
		e.field(id, tStruct)
	}
	e.stack = append(e.stack, e.last)
	e.last = 0
}

// stop ends the top-level struct.
func (e *tenc) stop() { e.b = append(e.b, 0) }

// end closes the struct begin opened.
func (e *tenc) end() {
	e.b = append(e.b, 0)
	e.last = e.stack[len(e.stack)-1]
	e.stack = e.stack[:len(e.stack)-1]
}

// list starts a list field of n elements of type typ; the elements follow.
func (e *tenc) list(id int16, typ byte, n int) {
	e.field(id, tList)
	if n < 15 {
		e.b = append(e.b, byte(n)<<4|typ)
	} else {
		e.b = append(e.b, 0xf0|typ)
		e.uvarint(uint64(n))
	}
}

// Element writers, for list elements.
func (e *tenc) elemI32(v int32) { e.varint(int64(v)) }
func (e *tenc) elemI64(v int64) { e.varint(v) }
func (e *tenc) elemBin(v []byte) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *tenc) elemStr(v string) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *tenc) elemBool(v bool) {
	if v {
		e.b = append(e.b, tTrue)
	} else {
		e.b = append(e.b, tFalse)
	}
}
