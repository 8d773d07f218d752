package stage

import "strings"

// AppendCSV appends one row of a staged CSV file, in the format both
// warehouses load (PostgreSQL's CSV): NULL as an unquoted
// empty field, every other value quoted, so "" stays an empty string.
func AppendCSV(buf []byte, cells []string, nulls []bool) []byte {
	for i, s := range cells {
		if i > 0 {
			buf = append(buf, ',')
		}
		if nulls[i] {
			continue
		}
		buf = append(buf, '"')
		for {
			j := strings.IndexByte(s, '"')
			if j < 0 {
				buf = append(buf, s...)
				break
			}
			buf = append(buf, s[:j+1]...)
			buf = append(buf, '"')
			s = s[j+1:]
		}
		buf = append(buf, '"')
	}
	return append(buf, '\n')
}
