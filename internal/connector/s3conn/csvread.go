package s3conn

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// CSV input follows RFC 4180: a header row names the fields; fields are
// separated by commas, records by LF or CRLF; a field in double quotes may
// hold commas, line breaks and doubled quotes. A UTF-8 BOM is skipped, empty
// lines are skipped (as encoding/csv does), an empty cell is the empty
// string, and a row whose field count differs from the header's is an error.
// Quotes are strict: a quote inside an unquoted field, or text after a
// closing quote, is an error naming the line.

type csvStatus uint8

const (
	csvRecord     csvStatus = iota // one record parsed
	csvIncomplete                  // need more input
	csvEnd                         // no more input
	csvError
)

// csvParse parses the record at s[pos:]. It appends the record's fields to
// fields (substrings of s where no unescaping is needed) and returns the
// position after the record and how many line breaks it consumed. eof says
// whether s ends the input. On csvError, msg says what is wrong and lines
// says how far into the record the problem is.
func csvParse(s string, pos int, eof bool, fields []string) (out []string, next int, lines int64, st csvStatus, msg string) {
	if pos >= len(s) {
		if eof {
			return fields, pos, 0, csvEnd, ""
		}
		return fields, pos, 0, csvIncomplete, ""
	}
	// Fast path: no quotes on this line.
	start := pos
	for i := pos; ; i++ {
		if i = record.CSVStop(s, i); i >= len(s) {
			break
		}
		switch s[i] {
		case ',':
			fields = append(fields, s[start:i])
			start = i + 1
		case '\n':
			end := i
			if end > start && s[end-1] == '\r' {
				end--
			}
			return append(fields, s[start:end]), i + 1, 1, csvRecord, ""
		case '"':
			return csvParseQuoted(s, pos, eof, fields[:0])
		}
	}
	if !eof {
		return fields, pos, 0, csvIncomplete, ""
	}
	end := len(s)
	if end > start && s[end-1] == '\r' {
		end--
	}
	return append(fields, s[start:end]), len(s), 0, csvRecord, ""
}

// csvNext parses the record at s[pos:] as csvParse does; checked says its
// text is plain ASCII (csvPlainRow), so it needs no UTF-8 check and its
// cells are record.PlainText.
func csvNext(s string, pos int, eof bool, fields []string) (out []string, next int, lines int64, st csvStatus, msg string, checked bool) {
	if out, next, ok := csvPlainRow(s, pos, fields); ok {
		return out, next, 1, csvRecord, "", true
	}
	out, next, lines, st, msg = csvParse(s, pos, eof, fields)
	return out, next, lines, st, msg, false
}

// csvPlainRow parses the record at s[pos:] when its text is plain UTF-8
// (no quote, backslash or control character but its line break) and ends
// in a line break: then it needs no further UTF-8 check and no JSON
// escaping (csvPlain), and it splits at every comma. It reads ASCII 8 bytes
// at a time. ok is false otherwise (out and next are then of no use); the
// caller then takes csvParse.
func csvPlainRow(s string, pos int, fields []string) (out []string, next int, ok bool) {
	start := pos
	i := pos
	for {
		var end int
		if i+8 <= len(s) {
			esc, commas := record.CSVPlainWord(s, i)
			if esc != 0 {
				commas &= esc - 1 // the commas before the stop (esc's lowest bit)
			}
			for ; commas != 0; commas &= commas - 1 {
				k := i + record.FirstByte(commas)
				fields = append(fields, s[start:k])
				start = k + 1
			}
			if esc == 0 {
				i += 8
				continue
			}
			end = i + record.FirstByte(esc)
		} else {
			end = record.JSONEscape(s, i)
			for ; i < end; i++ {
				if s[i] == ',' {
					fields = append(fields, s[start:i])
					start = i + 1
				}
			}
		}
		if end < len(s) && s[end] >= 0x80 {
			// Non-ASCII text is plain when it is UTF-8.
			r, size := utf8.DecodeRuneInString(s[end:])
			if r == utf8.RuneError && size == 1 {
				return nil, 0, false
			}
			i = end + size
			continue
		}
		return csvPlainEnd(s, pos, start, end, fields)
	}
}

// csvPlainCells is csvPlainRow for a reader that keeps every column in
// header order: it writes the record's fields straight into row (one cell
// per header field) as PlainText Strings, with no field slice between.
// ok is false, and row holds junk, when the record is not plain, is a
// blank line, or has more or fewer fields than row: the caller then parses
// it the general way, which also words any error.
func csvPlainCells(s string, pos int, row []record.Value) (next int, ok bool) {
	start, i, n := pos, pos, 0
	for {
		var end int
		if i+8 <= len(s) {
			esc, commas := record.CSVPlainWord(s, i)
			if esc != 0 {
				commas &= esc - 1 // the commas before the stop (esc's lowest bit)
			}
			for ; commas != 0; commas &= commas - 1 {
				if n >= len(row) {
					return 0, false
				}
				k := i + record.FirstByte(commas)
				row[n] = record.Value{K: record.String, S: s[start:k], N: record.PlainText}
				n++
				start = k + 1
			}
			if esc == 0 {
				i += 8
				continue
			}
			end = i + record.FirstByte(esc)
		} else {
			end = record.JSONEscape(s, i)
			for ; i < end; i++ {
				if s[i] == ',' {
					if n >= len(row) {
						return 0, false
					}
					row[n] = record.Value{K: record.String, S: s[start:i], N: record.PlainText}
					n++
					start = i + 1
				}
			}
		}
		if end < len(s) && s[end] >= 0x80 {
			// Non-ASCII text is plain when it is UTF-8.
			r, size := utf8.DecodeRuneInString(s[end:])
			if r == utf8.RuneError && size == 1 {
				return 0, false
			}
			i = end + size
			continue
		}
		if n != len(row)-1 || end == pos {
			return 0, false
		}
		// The record must end here, at its line break.
		next = end + 1
		if next < len(s) && s[end] == '\r' {
			next++
		}
		if next > len(s) || s[next-1] != '\n' {
			return 0, false
		}
		row[n] = record.Value{K: record.String, S: s[start:end], N: record.PlainText}
		return next, true
	}
}

// csvPlainEnd ends csvPlainRow at s[end], the first byte that is not
// plain, which must be the record's line break.
func csvPlainEnd(s string, pos, start, end int, fields []string) ([]string, int, bool) {
	next := end + 1
	if end+1 < len(s) && s[end] == '\r' {
		next++
	}
	if next > len(s) || s[next-1] != '\n' {
		return nil, 0, false
	}
	return append(fields, s[start:end]), next, true
}

// csvParseQuoted is the slow path for a record with quotes in it.
func csvParseQuoted(s string, pos int, eof bool, fields []string) ([]string, int, int64, csvStatus, string) {
	i := pos
	var lines int64
	for {
		if i < len(s) && s[i] == '"' {
			i++
			seg := i
			var sb strings.Builder
			escaped := false
			var field string
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					if !eof {
						return fields, pos, 0, csvIncomplete, ""
					}
					return fields, pos, 0, csvError, "quoted field is not terminated"
				}
				lines += int64(strings.Count(s[i:i+j], "\n"))
				i += j
				if i+1 >= len(s) && !eof {
					return fields, pos, 0, csvIncomplete, ""
				}
				if i+1 < len(s) && s[i+1] == '"' {
					escaped = true
					sb.WriteString(s[seg : i+1])
					i += 2
					seg = i
					continue
				}
				if escaped {
					sb.WriteString(s[seg:i])
					field = sb.String()
				} else {
					field = s[seg:i]
				}
				i++
				break
			}
			if i >= len(s) {
				return append(fields, field), i, lines, csvRecord, ""
			}
			switch s[i] {
			case ',':
				fields = append(fields, field)
				i++
				continue
			case '\n':
				return append(fields, field), i + 1, lines + 1, csvRecord, ""
			case '\r':
				if i+1 < len(s) && s[i+1] == '\n' {
					return append(fields, field), i + 2, lines + 1, csvRecord, ""
				}
				if i+1 >= len(s) {
					if !eof {
						return fields, pos, 0, csvIncomplete, ""
					}
					return append(fields, field), i + 1, lines, csvRecord, ""
				}
			}
			return fields, pos, lines, csvError, "unexpected character after a closing quote (a quote inside a quoted field must be doubled)"
		}
		start := i
		for i < len(s) && s[i] != ',' && s[i] != '\n' && s[i] != '"' {
			i++
		}
		if i >= len(s) {
			if !eof {
				return fields, pos, 0, csvIncomplete, ""
			}
			end := i
			if end > start && s[end-1] == '\r' {
				end--
			}
			return append(fields, s[start:end]), i, lines, csvRecord, ""
		}
		switch s[i] {
		case ',':
			fields = append(fields, s[start:i])
			i++
		case '\n':
			end := i
			if end > start && s[end-1] == '\r' {
				end--
			}
			return append(fields, s[start:end]), i + 1, lines + 1, csvRecord, ""
		default:
			return fields, pos, lines, csvError, "bare quote in an unquoted field (quote the whole field and double the quote)"
		}
	}
}

// csvPlain is the N of a record's String cells: record.PlainText when its
// raw text (checked to be UTF-8 before) has no quote, backslash or control
// character but its line break, so no field needs escaping in JSON.
func csvPlain(raw string) uint64 {
	raw = strings.TrimSuffix(raw, "\n")
	raw = strings.TrimSuffix(raw, "\r")
	if record.JSONStop(raw, 0) == len(raw) {
		return record.PlainText
	}
	return 0
}

// isBlankLine reports whether a record's raw text is an empty line.
func isBlankLine(raw string) bool {
	return raw == "" || raw == "\n" || raw == "\r\n" || raw == "\r"
}

// batchRows is how many rows of width w a batch holds: a few thousand, fewer
// for wide rows so a batch stays near 64k cells.
func batchRows(w int) int {
	if w < 1 {
		w = 1
	}
	n := 65536 / w
	return min(max(n, 64), maxBatchRows)
}

func readCSV(ctx context.Context, src *objectReader, proj []string, emit func(*record.Batch) error) error {
	return readCSVWorkers(ctx, src, proj, 1, emit)
}

// readCSVWorkers reads with up to workers parsers while the object has no
// quotes (csvpar.go), then on with one.
func readCSVWorkers(ctx context.Context, src *objectReader, proj []string, workers int, emit func(*record.Batch) error) error {
	key := src.key
	c := &chunker{r: src}
	if workers <= 1 {
		// Parallel parts hold no buffers (csvRanges), so only a serial
		// read may reuse them.
		c.pool = &bufPool{}
	}
	if _, err := c.refill(ctx); err != nil {
		return canceledOr(err, key)
	}
	if strings.HasPrefix(c.s, "\xEF\xBB\xBF") {
		c.pos = 3
	}
	line := int64(1)
	var header []string
	scratch := make([]string, 0, 64)

	// Header: the first non-empty record.
	for header == nil {
		fields, next, nl, st, msg := csvParse(c.s, c.pos, c.eof, scratch[:0])
		switch st {
		case csvIncomplete:
			if _, err := c.refill(ctx); err != nil {
				return canceledOr(err, key)
			}
			continue
		case csvError:
			return parseErr(key, line+nl, "%s", msg)
		case csvEnd:
			// An empty object: no fields, no rows.
			return emit(&record.Batch{Split: key, Final: true, FirstLine: line, SourceBytes: c.offset()})
		}
		if isBlankLine(c.s[c.pos:next]) {
			c.pos, line = next, line+nl
			continue
		}
		if err := checkUTF8(key, line, c.s[c.pos:next]); err != nil {
			return err
		}
		header = make([]string, len(fields))
		seen := make(map[string]bool, len(fields))
		for i, f := range fields {
			if seen[f] {
				return parseErr(key, line, "header repeats the field name %q", f)
			}
			seen[f] = true
			header[i] = strings.Clone(f)
		}
		c.pos, line = next, line+nl
	}

	outFields, colMap := projection(header, proj)
	if identity(colMap, len(outFields)) {
		colMap = nil // every column, in header order
	}
	// A row need not be cleared first when the projection takes every
	// output field from some column (the usual case): each cell is written.
	fills := colMap == nil || fillsAll(colMap, len(outFields))
	width := len(header)
	outW := len(outFields)
	maxRows := batchRows(outW)
	emitted := int64(0)
	if workers > 1 {
		p := csvRanges{key: key, width: width, outFields: outFields, colMap: colMap, maxRows: maxRows}
		done, err := p.run(ctx, c, &line, &emitted, workers, emit)
		if err != nil || done {
			return err
		}
	}
	// One batch and one cell array serve the whole object: emit's caller
	// must copy what it keeps (the engine does), or swap in another array
	// (see ReadSplit and record.Batch.Swap).
	b := &record.Batch{}
	var cells []record.Value
	for {
		if err := ctx.Err(); err != nil {
			return fault.Wrap(fault.Canceled, err, "read %s", key)
		}
		*b = record.Batch{Fields: outFields, Split: key, FirstLine: line, Swap: true}
		if cap(cells) < maxRows*outW {
			cells = make([]record.Value, 0, maxRows*outW)
		}
		cells = cells[:0]
		rows := 0
		startOff := c.offset()
		done := false
		for rows < maxRows && c.offset()-startOff < maxBatchBytes {
			if colMap == nil {
				// The usual record: plain text, written straight into
				// its cells.
				base := len(cells)
				if next, ok := csvPlainCells(c.s, c.pos, cells[base:base+outW]); ok {
					cells = cells[:base+outW]
					rows++
					c.pos, line = next, line+1
					continue
				}
			}
			fields, next, nl, st, msg, checked := csvNext(c.s, c.pos, c.eof, scratch[:0])
			if st == csvIncomplete {
				if _, err := c.refill(ctx); err != nil {
					return canceledOr(err, key)
				}
				continue
			}
			if st == csvError {
				return parseErr(key, line+nl, "%s", msg)
			}
			if st == csvEnd {
				done = true
				break
			}
			if isBlankLine(c.s[c.pos:next]) {
				c.pos, line = next, line+nl
				if rows == 0 {
					b.FirstLine = line
				}
				continue
			}
			if len(fields) != width {
				return parseErr(key, line, "row has %d fields, the header has %d", len(fields), width)
			}
			plain := uint64(record.PlainText)
			if !checked {
				if err := checkUTF8(key, line, c.s[c.pos:next]); err != nil {
					return err
				}
				plain = csvPlain(c.s[c.pos:next])
			}
			base := len(cells)
			cells = cells[:base+outW]
			if colMap == nil {
				for i, f := range fields {
					cells[base+i] = record.Value{K: record.String, S: f, N: plain}
				}
			} else {
				if !fills {
					clear(cells[base:])
				}
				for i, f := range fields {
					if j := colMap[i]; j >= 0 {
						cells[base+j] = record.Value{K: record.String, S: f, N: plain}
					}
				}
			}
			rows++
			c.pos, line = next, line+nl
		}
		if !done && c.pos >= len(c.s) && c.eof {
			done = true
		}
		b.Cells = cells
		b.Final = done
		end := c.offset()
		b.SourceBytes = end - emitted
		b.Release = c.hold()
		emitted = end
		if err := emit(b); err != nil {
			return err
		}
		cells = b.Cells
		if done {
			return nil
		}
	}
}

// projection returns the fields a batch carries and, when proj is set, the
// output column of each input column (-1: dropped). proj fields the input
// lacks stay Missing.
func projection(header, proj []string) ([]string, []int) {
	if proj == nil {
		return header, nil
	}
	out := append([]string(nil), proj...)
	pos := make(map[string]int, len(out))
	for i, f := range out {
		if _, dup := pos[f]; !dup {
			pos[f] = i
		}
	}
	m := make([]int, len(header))
	for i, h := range header {
		if j, ok := pos[h]; ok {
			m[i] = j
		} else {
			m[i] = -1
		}
	}
	return out, m
}

// identity reports whether colMap sends each of the n input columns to
// the same output column.
func identity(colMap []int, n int) bool {
	if len(colMap) != n {
		return false
	}
	for i, j := range colMap {
		if i != j {
			return false
		}
	}
	return true
}

// fillsAll reports whether colMap sends some input column to each of the
// n output columns.
func fillsAll(colMap []int, n int) bool {
	seen := make([]bool, n)
	for _, j := range colMap {
		if j >= 0 {
			seen[j] = true
		}
	}
	return !slices.Contains(seen, false)
}

func canceledOr(err error, key string) error {
	if fault.CodeOf(err) == fault.Canceled {
		return fault.Wrap(fault.Canceled, err, "read %s", key)
	}
	return err
}
