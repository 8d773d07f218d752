package s3conn

import (
	"math"
	"strconv"
	"sync"
	"unsafe"

	"github.com/appflowd/appflowd/internal/record"
)

// Output formats (data-plane 4.2):
//
//   - JSON: JSON Lines, one object per record, keys in field order. Values
//     keep their kinds whatever preserveSourceDataTyping says (the spec
//     scopes that flag to Parquet): numbers and booleans unquoted, nested
//     JSON as is, times as RFC 3339 strings, null as null; a Missing field
//     is left out of its object. A Decimal whose text is not a JSON number,
//     and NaN or infinite floats, are written as strings.
//   - CSV: RFC 4180 with a header row of the field names; a cell is quoted
//     when it holds a comma, a quote, CR or LF; null and missing are empty.

// plan maps a batch's columns to the output fields.
type plan struct {
	fields  []string
	cols    []int    // batch column of each output field; -1: Missing
	keys    [][]byte // JSON: `"name":` per field
	batchFs []string // the batch Fields the plan was built for

	membersOnce sync.Once
	memberList  []member // see members
}

// encodeJSON appends rows (all of b when rows is nil) as JSON Lines; ends,
// when not nil, gets each row's end offset in dst (relative to where dst
// started).
func encodeJSON(dst []byte, p *plan, b *record.Batch, lo, hi int, rows []int32, ends *[]int32) []byte {
	start := len(dst)
	w := len(b.Fields)
	members := p.members()
	for n := lo; n < hi; n++ {
		r := n
		if rows != nil {
			r = int(rows[n])
		}
		row := b.Cells[r*w : (r+1)*w]
		// Each member goes with its comma; the first one's becomes the '{'.
		open := len(dst)
		for _, m := range members {
			v := &row[m.col]
			switch {
			case v.K == record.String && (v.N == record.PlainText || record.JSONEscape(v.S, 0) == len(v.S)):
				dst = record.AppendText(dst, m.key)
				s, l := v.S, len(dst)
				if n := len(s); uint(n-8) <= 24 && cap(dst)-l >= 34 {
					// 8 to 32 bytes (most cells) go in two copies of a
					// fixed size, that may overlap, written inline: a call
					// to memmove costs more than the copy itself, and
					// makes this loop reload its values after it.
					src := unsafe.Slice(unsafe.StringData(s), n)
					d := dst[l : l+34]
					d[0] = '"'
					if n <= 16 {
						*(*[8]byte)(d[1:]) = *(*[8]byte)(src)
						*(*[8]byte)(d[n-7:]) = *(*[8]byte)(src[n-8:])
					} else {
						*(*[16]byte)(d[1:]) = *(*[16]byte)(src)
						*(*[16]byte)(d[n-15:]) = *(*[16]byte)(src[n-16:])
					}
					d[n+1] = '"'
					dst = dst[:l+n+2]
				} else {
					dst = append(dst, '"')
					dst = append(dst, s...)
					dst = append(dst, '"')
				}
			case v.K == record.Int:
				dst = record.AppendText(dst, m.key)
				dst = record.AppendInt(dst, v.Int())
			case v.K == record.Float && !math.IsNaN(v.Float()) && !math.IsInf(v.Float(), 0):
				dst = record.AppendText(dst, m.key)
				dst = record.AppendFloat(dst, v.Float())
			case v.K == record.Missing:
				continue
			default:
				dst = record.AppendText(dst, m.key)
				dst = record.AppendJSON(dst, *v)
			}
		}
		if len(dst) == open {
			dst = append(dst, '{')
		} else {
			dst[open] = '{'
		}
		dst = append(dst, '}', '\n')
		if ends != nil {
			*ends = append(*ends, int32(len(dst)-start))
		}
	}
	return dst
}

// member is an output field the batch has: its column, and `,"name":`
// so that a member's comma and key go in one copy.
type member struct {
	col int
	key string
}

// members are the plan's members, made once per plan from its keys.
func (p *plan) members() []member {
	p.membersOnce.Do(func() {
		for i, c := range p.cols {
			if c >= 0 {
				p.memberList = append(p.memberList, member{c, "," + string(p.keys[i])})
			}
		}
	})
	return p.memberList
}

func appendCSVCell(dst []byte, s string) []byte {
	quote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\n', '\r':
			quote = true
		}
		if quote {
			break
		}
	}
	if !quote {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, s[start:i+1]...)
			dst = append(dst, '"')
			start = i + 1
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func csvHeader(fields []string) []byte {
	var dst []byte
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendCSVCell(dst, f)
	}
	return append(dst, '\n')
}

func encodeCSV(dst []byte, p *plan, b *record.Batch, lo, hi int, rows []int32, ends *[]int32) []byte {
	start := len(dst)
	w := len(b.Fields)
	for n := lo; n < hi; n++ {
		r := n
		if rows != nil {
			r = int(rows[n])
		}
		row := b.Cells[r*w : (r+1)*w]
		for j, c := range p.cols {
			if j > 0 {
				dst = append(dst, ',')
			}
			if c < 0 {
				continue
			}
			switch v := row[c]; v.K {
			case record.String, record.Decimal, record.JSON:
				dst = appendCSVCell(dst, v.S)
			case record.Int:
				dst = strconv.AppendInt(dst, v.Int(), 10)
			case record.Missing, record.Null:
			default:
				dst = appendCSVCell(dst, v.Text())
			}
		}
		dst = append(dst, '\n')
		if ends != nil {
			*ends = append(*ends, int32(len(dst)-start))
		}
	}
	return dst
}
