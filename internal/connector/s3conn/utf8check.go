package s3conn

import (
	"strings"
	"unicode/utf8"
)

// checkUTF8 refuses a record's raw text that is not UTF-8, naming the
// object, the line and the byte: AppFlow reads S3 objects as UTF-8, and
// replacing the bytes with U+FFFD would change the data without a word.
// line is the record's first line; raw may span lines (a quoted CSV field).
func checkUTF8(key string, line int64, raw string) error {
	if utf8.ValidString(raw) {
		return nil
	}
	bad := 0
	for bad < len(raw) {
		r, size := utf8.DecodeRuneInString(raw[bad:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		bad += size
	}
	before := raw[:bad]
	col := bad - strings.LastIndexByte(before, '\n')
	return parseErr(key, line+int64(strings.Count(before, "\n")),
		"byte 0x%02X at column %d is not UTF-8 (objects must be UTF-8 encoded)", raw[bad], col)
}
