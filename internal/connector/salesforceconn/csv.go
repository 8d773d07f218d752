package salesforceconn

import (
	"bytes"
	"encoding/csv"
	"errors"

	"github.com/appflowd/appflowd/internal/csvrec"
)

// parseCSV reads RFC 4180 CSV as Bulk API 2.0 writes it, keeping quoted
// fields byte for byte (csvrec: encoding/csv would turn a quoted \r\n into \n).
func parseCSV(b []byte) ([][]string, error) { return csvrec.ReadAll(b) }

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
