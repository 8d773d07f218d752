// Package record holds the values and batches that flow from a source
// connector, through the tasks, to a destination connector.
//
// A Batch is row-major over a shared field list: one slice of cells, not a
// map per record, so that parsing, transforming and encoding stay cheap.
package record

import (
	"math"
	"strconv"
	"time"
)

// Kind is the type of one Value.
type Kind uint8

const (
	Missing Kind = iota // the record has no such field
	Null                // the field is present and null
	String
	Int     // N holds the int64
	Float   // N holds math.Float64bits
	Bool    // N is 0 or 1
	Decimal // S holds the exact decimal text, e.g. "12.50"
	Time    // N holds Unix milliseconds, UTC
	JSON    // S holds a JSON object or array text (nested values)
)

var kindNames = [...]string{"missing", "null", "string", "int", "float", "bool", "decimal", "time", "json"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one cell. The zero Value is Missing.
type Value struct {
	K Kind
	S string
	N uint64
}

// PlainText in a String's N says that S needs no escaping in a JSON
// string: it holds no '"', '\\' or control character and is valid UTF-8.
// A JSON reader marks the strings it read without escapes, and the JSON
// encoder copies them as they are. Anything that makes a new string uses
// Str, which leaves N zero.
const PlainText = 1

// A Decimal's N, when not 0, is S's value as a reader parsed it, so that
// the tasks need not parse S again: S is m × 10^-scale, where m is S's
// digits (its '.' taken out) with S's sign. DecimalNum makes one; a
// Decimal made any other way leaves N 0 and is parsed from S.
const (
	decNumSet   = 1 << 63
	decNumShift = 56 // scale in the bits above; m in the 56 below, two's complement
	// DecimalNumMax bounds |m| in DecimalNum: 16 digits.
	DecimalNumMax = 1e16 - 1
)

// DecimalNum is a Decimal of text s whose value is m × 10^-scale, as
// described above; |m| <= DecimalNumMax and 0 <= scale <= 18.
func DecimalNum(s string, m int64, scale int) Value {
	return Value{K: Decimal, S: s, N: decNumSet | uint64(scale)<<decNumShift | uint64(m)&(1<<decNumShift-1)}
}

// DecimalParts returns the value DecimalNum stored in v; ok is false for
// anything else.
func (v Value) DecimalParts() (m int64, scale int32, ok bool) {
	if v.K != Decimal || v.N&decNumSet == 0 {
		return 0, 0, false
	}
	return int64(v.N<<(64-decNumShift)) >> (64 - decNumShift), int32(v.N>>decNumShift) & 0x7f, true
}

func Str(s string) Value        { return Value{K: String, S: s} }
func PlainStr(s string) Value   { return Value{K: String, S: s, N: PlainText} }
func IntVal(i int64) Value      { return Value{K: Int, N: uint64(i)} }
func FloatVal(f float64) Value  { return Value{K: Float, N: math.Float64bits(f)} }
func DecimalVal(s string) Value { return Value{K: Decimal, S: s} }
func JSONVal(raw string) Value  { return Value{K: JSON, S: raw} }
func NullVal() Value            { return Value{K: Null} }
func TimeVal(t time.Time) Value { return Value{K: Time, N: uint64(t.UnixMilli())} }
func MillisVal(ms int64) Value  { return Value{K: Time, N: uint64(ms)} }
func BoolVal(b bool) Value {
	if b {
		return Value{K: Bool, N: 1}
	}
	return Value{K: Bool}
}

func (v Value) Int() int64      { return int64(v.N) }
func (v Value) Float() float64  { return math.Float64frombits(v.N) }
func (v Value) Bool() bool      { return v.N != 0 }
func (v Value) Millis() int64   { return int64(v.N) }
func (v Value) Time() time.Time { return time.UnixMilli(int64(v.N)).UTC() }
func (v Value) IsAbsent() bool  { return v.K == Missing || v.K == Null }

// Text renders the value as the text a CSV cell or a string field would
// hold. Times render as RFC 3339 with milliseconds in UTC; Missing and Null
// render as "".
func (v Value) Text() string {
	switch v.K {
	case String, Decimal, JSON:
		return v.S
	case Int:
		return strconv.FormatInt(int64(v.N), 10)
	case Float:
		return string(AppendFloat(nil, v.Float()))
	case Bool:
		return strconv.FormatBool(v.N != 0)
	case Time:
		return v.Time().Format("2006-01-02T15:04:05.000Z07:00")
	}
	return ""
}

// Batch is a page of records sharing one field list.
type Batch struct {
	// Fields names the columns; Cells holds len(Fields) values per row.
	Fields []string
	Cells  []Value

	// Split names the unit of source input the rows came from (an S3 object
	// key, a query page); errors and per-object outputs use it.
	Split string
	// FirstLine is the 1-based line (or record number) of the first row in
	// Split, so errors can point at the failing record.
	FirstLine int64
	// Final marks the last batch of Split. The engine passes every batch of a
	// split in order, even one emptied by filtering, so Final always arrives.
	Final bool
	// SourceBytes is how many input bytes this batch was parsed from.
	SourceBytes int64

	// Swap says the source takes Cells back from the batch once emit
	// returns and keeps no other hold on the array it put there, so the
	// receiver may keep that array and leave another in Cells (its old,
	// cleared one, or nil) instead of copying the cells. A source that
	// reuses one cell array for all its batches sets it.
	Swap bool

	// Release, when set, hands back to the source the memory the cells'
	// strings point into (a reader's input buffers), for it to fill again.
	// The receiver calls it at most once, and only when nothing it, the
	// tasks or the writer keep refers to those strings any more: not to
	// the cells, to cells copied or derived from them, nor to their text
	// kept elsewhere (failure records, say). A receiver that cannot tell
	// never calls it; the memory is then collected as garbage.
	Release func()
}

// Width is the number of fields per row.
func (b *Batch) Width() int { return len(b.Fields) }

// Len is the number of rows.
func (b *Batch) Len() int {
	if len(b.Fields) == 0 {
		return 0
	}
	return len(b.Cells) / len(b.Fields)
}

// Row returns row i's cells; writes through it change the batch.
func (b *Batch) Row(i int) []Value {
	w := len(b.Fields)
	return b.Cells[i*w : (i+1)*w : (i+1)*w]
}

// Line is row i's line in its split: from FirstLine, or from 1 when the
// batch has none.
func (b *Batch) Line(i int) int64 {
	if b.FirstLine == 0 {
		return int64(i) + 1
	}
	return b.FirstLine + int64(i)
}

// Index returns the column of field name, or -1.
func (b *Batch) Index(name string) int {
	for i, f := range b.Fields {
		if f == name {
			return i
		}
	}
	return -1
}

// AppendRow adds one row; len(row) must equal Width.
func (b *Batch) AppendRow(row []Value) { b.Cells = append(b.Cells, row...) }

// FieldType is a field's declared type, as AppFlow names them in
// DESTINATION_DATA_TYPE and DATA_TYPE task properties and in entity
// descriptions ("string", "integer", "double", "boolean", "datetime", ...).
type FieldType string
