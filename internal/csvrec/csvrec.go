// Package csvrec reads RFC 4180 CSV from memory keeping quoted fields byte
// for byte: encoding/csv turns a CRLF inside a quoted field into LF, which
// changes the values SaaS bulk exports (Salesforce, Marketo) hand back.
package csvrec

import (
	"bytes"
	"fmt"
	"io"
)

// Reader reads records from a CSV document in memory. A UTF-8 BOM is
// skipped; records end at LF, CRLF or CR; errors name the line.
type Reader struct {
	b    []byte
	pos  int
	line int
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader {
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	return &Reader{b: b, line: 1}
}

// Read returns the next record, or io.EOF.
func (r *Reader) Read() ([]string, error) {
	if r.pos >= len(r.b) {
		return nil, io.EOF
	}
	var rec []string
	start := r.line
	for {
		var field []byte
		if r.pos < len(r.b) && r.b[r.pos] == '"' {
			r.pos++
			for {
				i := bytes.IndexByte(r.b[r.pos:], '"')
				if i < 0 {
					return nil, fmt.Errorf("line %d: unterminated quoted field", start)
				}
				chunk := r.b[r.pos : r.pos+i]
				r.line += bytes.Count(chunk, []byte("\n"))
				field = append(field, chunk...)
				r.pos += i + 1
				if r.pos < len(r.b) && r.b[r.pos] == '"' {
					field = append(field, '"')
					r.pos++
					continue
				}
				break
			}
			if r.pos < len(r.b) && r.b[r.pos] != ',' && r.b[r.pos] != '\n' && r.b[r.pos] != '\r' {
				return nil, fmt.Errorf("line %d: extraneous text after a quoted field", r.line)
			}
		} else {
			i := r.pos
			for i < len(r.b) && r.b[i] != ',' && r.b[i] != '\n' && r.b[i] != '\r' {
				if r.b[i] == '"' {
					return nil, fmt.Errorf("line %d: bare quote in an unquoted field", r.line)
				}
				i++
			}
			field = r.b[r.pos:i]
			r.pos = i
		}
		rec = append(rec, string(field))
		if r.pos >= len(r.b) {
			return rec, nil
		}
		switch r.b[r.pos] {
		case ',':
			r.pos++
			continue
		case '\r':
			r.pos++
			if r.pos < len(r.b) && r.b[r.pos] == '\n' {
				r.pos++
			}
		case '\n':
			r.pos++
		}
		r.line++
		return rec, nil
	}
}

// ReadAll reads every record.
func ReadAll(b []byte) ([][]string, error) {
	r := NewReader(b)
	var out [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
}
