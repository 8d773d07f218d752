package salesforceconn

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
)

// parseCSV reads RFC 4180 CSV as Bulk API 2.0 writes it (comma, LF line
// endings, quotes doubled inside quoted fields). encoding/csv is not used
// because it turns \r\n inside a quoted field into \n, changing the data.
func parseCSV(b []byte) ([][]string, error) {
	var rows [][]string
	var row []string
	var field bytes.Buffer
	line := 1
	i := 0
	for i < len(b) {
		// one field
		field.Reset()
		if b[i] == '"' {
			i++
			start := line
			for {
				if i >= len(b) {
					return nil, fmt.Errorf("line %d: quoted field never ends", start)
				}
				c := b[i]
				if c == '"' {
					if i+1 < len(b) && b[i+1] == '"' {
						field.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				if c == '\n' {
					line++
				}
				field.WriteByte(c)
				i++
			}
			if i < len(b) && b[i] != ',' && b[i] != '\n' && b[i] != '\r' {
				return nil, fmt.Errorf("line %d: unexpected %q after a quoted field", line, b[i])
			}
		} else {
			for i < len(b) && b[i] != ',' && b[i] != '\n' && !(b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n') {
				if b[i] == '"' {
					return nil, fmt.Errorf("line %d: bare quote in an unquoted field", line)
				}
				field.WriteByte(b[i])
				i++
			}
		}
		row = append(row, field.String())
		switch {
		case i >= len(b):
			rows = append(rows, row)
			row = nil
		case b[i] == ',':
			i++
			if i == len(b) {
				row = append(row, "")
				rows = append(rows, row)
				row = nil
			}
		default: // \n or \r\n
			if b[i] == '\r' {
				i++
			}
			i++
			line++
			rows = append(rows, row)
			row = nil
		}
	}
	return rows, nil
}

// writeCSV writes rows with LF line endings; encoding/csv keeps \r inside
// quoted fields as written when UseCRLF is false.
func writeCSV(rows [][]string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(rows); err != nil {
		return nil, errors.Join(errors.New("encode CSV"), err)
	}
	return buf.Bytes(), nil
}
