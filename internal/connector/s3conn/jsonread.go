package s3conn

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// JSON input is JSON Lines: one object per line; blank lines are skipped.
// Values keep their JSON types: strings are String, true/false Bool, null
// Null, nested objects and arrays JSON (their text as written). Numbers stay
// exact: an integer that fits int64 is Int, any other number is Decimal
// holding the literal text (never Float, which would round). Keys may differ
// between lines: a batch's Fields is the union of the keys seen so far in
// the object, in first-seen order, and a row lacking a key has Missing there.

const maxJSONDepth = 512

func readJSONLines(ctx context.Context, src *objectReader, proj []string, emit func(*record.Batch) error) error {
	key := src.key
	c := &chunker{r: src, pool: &bufPool{}}
	jp := newJSONRow(key, proj)
	line := int64(1)
	emitted := int64(0)
	for {
		if err := ctx.Err(); err != nil {
			return fault.Wrap(fault.Canceled, err, "read %s", key)
		}
		jp.width = len(jp.fields)
		maxRows := batchRows(max(jp.width, 8))
		// One cell array serves the whole object, as for CSV: emit's
		// caller copies what it keeps, or swaps in another array (see
		// ReadSplit and record.Batch.Swap).
		if need := maxRows * max(jp.width, 1); cap(jp.cells) < need {
			jp.cells = make([]record.Value, 0, need)
		}
		jp.cells = jp.cells[:0]
		jp.rows, jp.maxRows = 0, maxRows
		first := line
		rows := 0
		startOff := c.offset()
		done := false
		for rows < maxRows && c.offset()-startOff < maxBatchBytes && len(jp.cells) < 4*65536 {
			if c.pos >= len(c.s) && c.eof {
				done = true
				break
			}
			if end, ok := jp.compact(c.s, c.pos); ok && (end < len(c.s) && c.s[end] == '\n' || end == len(c.s) && c.eof) {
				// The usual line, found with its end in the same pass.
				jp.cells = jp.cells[:len(jp.cells)+jp.width]
				rows++
				jp.rows++
				c.pos = min(end+1, len(c.s))
				line++
				continue
			}
			j := strings.IndexByte(c.s[c.pos:], '\n')
			var text string
			next := 0
			if j < 0 {
				if !c.eof {
					if _, err := c.refill(ctx); err != nil {
						return canceledOr(err, key)
					}
					continue
				}
				text, next = c.s[c.pos:], len(c.s)
			} else {
				text, next = c.s[c.pos:c.pos+j], c.pos+j+1
			}
			if isBlank(text) {
				c.pos = next
				line++
				if rows == 0 {
					first = line
				}
				continue
			}
			if err := jp.parseLine(text, line); err != nil {
				return err
			}
			rows++
			jp.rows++
			c.pos = next
			line++
		}
		if !done && c.pos >= len(c.s) && c.eof {
			done = true
		}
		end := c.offset()
		b := &record.Batch{
			Fields:      jp.fields[:jp.width:jp.width],
			Cells:       jp.cells,
			Swap:        true,
			Split:       key,
			FirstLine:   first,
			Final:       done,
			SourceBytes: end - emitted,
			Release:     c.hold(),
		}
		emitted = end
		if err := emit(b); err != nil {
			return err
		}
		jp.cells = b.Cells
		if done {
			return nil
		}
	}
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r':
		default:
			return false
		}
	}
	return true
}

// jsonRow parses lines into the rows of one batch.
type jsonRow struct {
	key     string
	fixed   bool // a projection fixes the fields; other keys are skipped
	fields  []string
	keys    []keyText // per field: its key as written in compact JSON (expectedKey)
	index   map[string]int
	width   int // the current batch's row width
	cells   []record.Value
	rows    int // complete rows in cells
	maxRows int

	s    string // the line being parsed
	i    int
	line int64
	// high says the line's strings hold a non-ASCII byte. Only strings
	// may: any other byte of a line that parses is ASCII, so the line is
	// checked to be UTF-8 (checkUTF8) only when this is set, or it fails.
	high bool
}

// fail is a parse error at p.i, unless the line is not UTF-8: that error
// comes first, wherever it is, as when the line was checked up front.
func (p *jsonRow) fail(format string, args ...any) error {
	if err := checkUTF8(p.key, p.line, p.s); err != nil {
		return err
	}
	return parseErr(p.key, p.line, "column %d: %s", p.i+1, fmt.Sprintf(format, args...))
}

// parseLine parses one line into a row of p.cells; it also checks that
// the line is UTF-8 (checkUTF8).
func (p *jsonRow) parseLine(s string, line int64) error {
	p.s, p.i, p.line, p.high = s, 0, line, false
	if end, ok := p.compact(s, 0); ok && end == len(s) {
		p.cells = p.cells[:len(p.cells)+p.width]
		return nil
	}
	p.i, p.high = 0, false
	if err := p.parseObject(); err != nil {
		return err
	}
	if p.high {
		return checkUTF8(p.key, p.line, s)
	}
	return nil
}

func (p *jsonRow) parseObject() error {
	s := p.s
	base := len(p.cells)
	w := p.width
	// The row's cells are not cleared up front: lines usually name every
	// field in field order, and then each cell is written once. set counts
	// the leading cells written so; at the first key out of that order the
	// rest of the row is cleared, and at the end whatever was not reached.
	if base+w <= cap(p.cells) {
		p.cells = p.cells[:base+w]
	} else {
		p.cells = append(p.cells, make([]record.Value, w)...)
	}
	set, inOrder := 0, true
	p.ws()
	if p.i >= len(s) || s[p.i] != '{' {
		return p.fail("want a JSON object")
	}
	p.i++
	guess := 0
	p.ws()
	if p.i < len(s) && s[p.i] == '}' {
		p.i++
	} else {
		for {
			p.ws()
			if p.i >= len(s) || s[p.i] != '"' {
				return p.fail("want a quoted key")
			}
			col := -1
			if p.expectedKey(guess) {
				col = guess
			} else {
				k, err := p.str()
				if err != nil {
					return err
				}
				if guess < len(p.fields) && p.fields[guess] == k {
					col = guess
				} else if j, ok := p.index[k]; ok {
					col = j
				} else if !p.fixed {
					col = len(p.fields)
					k = strings.Clone(k)
					p.fields = append(p.fields, k)
					p.keys = append(p.keys, newKeyText(k))
					p.index[k] = col
				}
				p.ws()
				if p.i >= len(s) || s[p.i] != ':' {
					return p.fail("want ':' after key %q", k)
				}
				p.i++
			}
			p.ws()
			guess = col + 1
			if col >= 0 && inOrder && col != set {
				inOrder = false
				clear(p.cells[base+set : base+p.width])
			}
			if col >= p.width {
				base = p.widen()
			}
			v, err := p.value(col >= 0)
			if err != nil {
				return err
			}
			if col >= 0 {
				p.cells[base+col] = v
				set++
			}
			p.ws()
			if p.i >= len(s) {
				return p.fail("object is not closed")
			}
			if s[p.i] == ',' {
				p.i++
				continue
			}
			if s[p.i] == '}' {
				p.i++
				break
			}
			return p.fail("want ',' or '}' after a value")
		}
	}
	if inOrder {
		clear(p.cells[base+set : base+p.width])
	}
	p.ws()
	if p.i < len(s) {
		return p.fail("unexpected text after the object")
	}
	return nil
}

// compact parses the usual line, at s[i:], in one pass over local state:
// a compact object, `{"k":v,...}` and trailing blanks, naming the batch's
// fields in field order, each once, its values ASCII strings without
// escapes, numbers, true, false or null. It writes the row's cells past
// len(p.cells) and returns where the blanks end, which the caller checks
// is the line's end before it takes the row (p.cells grown by p.width).
// It stops at any other byte, a line break included, so s may run on
// past the line. ok false, the cells hold junk; parseObject then parses
// the line from its start, and words any error. So compact only takes
// lines that parseObject reads to the same cells.
func (p *jsonRow) compact(s string, i int) (end int, ok bool) {
	w := p.width
	base := len(p.cells)
	if w == 0 || len(p.keys) < w || base+w > cap(p.cells) || i+1 >= len(s) || s[i] != '{' {
		return 0, false
	}
	p.s = s // for compactNumber
	row := p.cells[base : base+w]
	i++
	for col := range row {
		k := &p.keys[col]
		if k.mask != 0 && i+16 <= len(s) {
			// k.at inline, for a key of up to 16 bytes not near the
			// buffer's end (mask2 and word2 are 0 for up to 8).
			if record.Word(s, i)&k.mask != k.word || record.Word(s, i+8)&k.mask2 != k.word2 {
				return 0, false
			}
		} else if !k.at(s, i) {
			return 0, false
		}
		i += len(k.text)
		if i >= len(s) {
			return 0, false
		}
		switch c := s[i]; {
		case c == '"':
			start := i + 1
			j := start
			for ; j+8 <= len(s); j += 8 {
				if m := record.EscapeWord(s, j); m != 0 {
					j += record.FirstByte(m)
					goto end
				}
			}
			j = record.JSONEscape(s, j)
		end:
			if j >= len(s) || s[j] != '"' {
				return 0, false // an escape, a non-ASCII or control byte, or no end
			}
			row[col] = record.Value{K: record.String, S: s[start:j], N: record.PlainText}
			i = j + 1
		case c == '-' || c-'0' < 10:
			p.i = i
			v, ok := p.compactNumber()
			if !ok {
				return 0, false
			}
			row[col] = v
			i = p.i
		case c == 't' && strings.HasPrefix(s[i:], "true"):
			row[col] = record.Value{K: record.Bool, N: 1}
			i += 4
		case c == 'f' && strings.HasPrefix(s[i:], "false"):
			row[col] = record.Value{K: record.Bool}
			i += 5
		case c == 'n' && strings.HasPrefix(s[i:], "null"):
			row[col] = record.Value{K: record.Null}
			i += 4
		default:
			return 0, false
		}
		want := byte(',')
		if col == w-1 {
			want = '}'
		}
		if i >= len(s) || s[i] != want {
			return 0, false
		}
		i++
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r') {
		i++
	}
	return i, true
}

// compactNumber is number for compact: ok is false where number fails.
func (p *jsonRow) compactNumber() (record.Value, bool) {
	s := p.s
	i := p.i
	neg := s[i] == '-'
	if neg {
		i++
	}
	// An integer of up to 18 digits and no leading zero, the usual case.
	var n uint64
	j := i
	for ; i < len(s) && s[i]-'0' < 10; i++ {
		n = n*10 + uint64(s[i]-'0')
	}
	if nd := i - j; nd > 0 && (s[j] != '0' || nd == 1) {
		if nd <= 18 && (i >= len(s) || (s[i] != '.' && s[i]|0x20 != 'e')) {
			p.i = i
			if neg {
				return record.Value{K: record.Int, N: uint64(-int64(n))}, true
			}
			return record.Value{K: record.Int, N: n}, true
		}
		// A decimal without exponent: its text, as number keeps it, and
		// its value when it has at most 16 digits, read in the same pass
		// (record.DecimalNum), so the tasks need not parse it again.
		if i+1 < len(s) && s[i] == '.' && s[i+1]-'0' < 10 {
			f := i + 1
			for ; f < len(s) && s[f]-'0' < 10; f++ {
				n = n*10 + uint64(s[f]-'0')
			}
			if f >= len(s) || s[f]|0x20 != 'e' {
				start := p.i
				p.i = f
				if nd+f-i-1 > 16 {
					return record.Value{K: record.Decimal, S: s[start:f]}, true
				}
				m := int64(n)
				if neg {
					m = -m
				}
				return record.DecimalNum(s[start:f], m, f-i-1), true
			}
		}
	}
	v, err := p.number()
	return v, err == nil
}

// expectedKey moves past the key at p.i and its colon when they are, byte
// for byte, field guess's keyText (guess is the field that followed the last
// key, the usual next one): no unescaping or lookup needed. A field name
// with a quote, a backslash or a control character cannot appear as is, so
// it has no keyText and never matches here; nor does a key spaced from its
// colon, which the caller reads.
func (p *jsonRow) expectedKey(guess int) bool {
	if guess >= len(p.keys) {
		return false
	}
	k := &p.keys[guess]
	if !k.at(p.s, p.i) {
		return false
	}
	p.i += len(k.text)
	return true
}

// at reports whether s[i:] starts with k's text (never when it has none).
func (k *keyText) at(s string, i int) bool {
	if k.mask2 != 0 && i+16 <= len(s) {
		// A key of 9 to 16 bytes with its quotes and colon: two words.
		return record.Word(s, i)&k.mask == k.word && record.Word(s, i+8)&k.mask2 == k.word2
	}
	if k.mask != 0 && k.mask2 == 0 && i+8 <= len(s) {
		// Up to 8 bytes: one word.
		return record.Word(s, i)&k.mask == k.word
	}
	return k.text != "" && strings.HasPrefix(s[i:], k.text)
}

// keyText is a field name as a key and its colon in compact JSON, `"k":`,
// when the name needs no escaping and is UTF-8 (so a key matching it is
// too: a projection's names come from the request, not from the line);
// else text is "". When text fits in 16 bytes, word and word2 hold its
// first and second 8 as record.Word reads them, mask and mask2 mark their
// bytes (mask2 is 0 for up to 8); else the masks are 0.
type keyText struct {
	text         string
	word, mask   uint64
	word2, mask2 uint64
}

func newKeyText(k string) keyText {
	if record.JSONStop(k, 0) != len(k) || !utf8.ValidString(k) {
		return keyText{}
	}
	t := keyText{text: `"` + k + `":`}
	if len(t.text) <= 16 {
		for i := range len(t.text) {
			if i < 8 {
				t.word |= uint64(t.text[i]) << (8 * i)
				t.mask |= 0xff << (8 * i)
			} else {
				t.word2 |= uint64(t.text[i]) << (8 * (i - 8))
				t.mask2 |= 0xff << (8 * (i - 8))
			}
		}
	}
	return t
}

// widen grows every row of the batch, the one being parsed included, to
// the current field count; it returns the new start of the row being parsed.
func (p *jsonRow) widen() int {
	nw := len(p.fields)
	rows := p.rows + 1
	nc := make([]record.Value, rows*nw, max(rows, p.maxRows)*nw)
	if p.width > 0 {
		for r := range rows {
			copy(nc[r*nw:r*nw+p.width], p.cells[r*p.width:(r+1)*p.width])
		}
	}
	p.cells = nc
	p.width = nw
	return p.rows * nw
}

// ws skips whitespace; most often there is none, which it sees inline.
func (p *jsonRow) ws() {
	if p.i < len(p.s) && p.s[p.i] > ' ' {
		return
	}
	p.wsSlow()
}

func (p *jsonRow) wsSlow() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// value parses one value; keep=false only validates it.
func (p *jsonRow) value(keep bool) (record.Value, error) {
	s := p.s
	if p.i >= len(s) {
		return record.Value{}, p.fail("want a value")
	}
	switch c := s[p.i]; {
	case c == '"':
		start := p.i + 1
		str, err := p.str()
		if err == nil && p.i == start+len(str)+1 {
			// Read without escapes (an escape makes the text shorter
			// than its source) from a line checked to be UTF-8.
			return record.PlainStr(str), nil
		}
		return record.Str(str), err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == '{' || c == '[':
		start := p.i
		if err := p.skip(0); err != nil {
			return record.Value{}, err
		}
		if !keep {
			return record.Value{}, nil
		}
		return record.JSONVal(s[start:p.i]), nil
	case strings.HasPrefix(s[p.i:], "true"):
		p.i += 4
		return record.BoolVal(true), nil
	case strings.HasPrefix(s[p.i:], "false"):
		p.i += 5
		return record.BoolVal(false), nil
	case strings.HasPrefix(s[p.i:], "null"):
		p.i += 4
		return record.NullVal(), nil
	}
	return record.Value{}, p.fail("invalid character %q", s[p.i])
}

func (p *jsonRow) number() (record.Value, error) {
	s := p.s
	start := p.i
	i := p.i
	if s[i] == '-' {
		i++
	}
	digits := func() bool {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > j
	}
	// The integer part's value is taken while scanning it: most integers
	// have at most 18 digits, which cannot overflow an int64.
	var n uint64
	nd := 0
	if i < len(s) && s[i] == '0' {
		i++
		nd = 1
	} else {
		for ; i < len(s) && s[i]-'0' < 10; i++ {
			n = n*10 + uint64(s[i]-'0')
			nd++
		}
		if nd == 0 {
			p.i = i
			return record.Value{}, p.fail("invalid number")
		}
	}
	isInt, exp := true, false
	nf := 0 // fraction digits, their value taken on into n
	if i < len(s) && s[i] == '.' {
		isInt = false
		i++
		j := i
		for ; i < len(s) && s[i]-'0' < 10; i++ {
			n = n*10 + uint64(s[i]-'0')
		}
		if nf = i - j; nf == 0 {
			p.i = i
			return record.Value{}, p.fail("invalid number: want digits after '.'")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isInt, exp = false, true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			p.i = i
			return record.Value{}, p.fail("invalid number: want digits in the exponent")
		}
	}
	p.i = i
	text := s[start:i]
	if isInt && nd <= 18 {
		if s[start] == '-' {
			return record.IntVal(-int64(n)), nil
		}
		return record.IntVal(int64(n)), nil
	}
	if isInt {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return record.IntVal(n), nil
		}
	}
	if !exp && nd+nf <= 16 { // as compactNumber reads it
		m := int64(n)
		if s[start] == '-' {
			m = -m
		}
		return record.DecimalNum(text, m, nf), nil
	}
	return record.DecimalVal(text), nil
}

// str parses a string at s[i] == '"'; without escapes it is a substring.
func (p *jsonRow) str() (string, error) {
	s := p.s
	p.i++
	start := p.i
	var i int
	if start+8 <= len(s) {
		// Most strings are short: their end is in the first word.
		if m := record.EscapeWord(s, start); m != 0 {
			i = start + record.FirstByte(m)
		} else {
			i = record.JSONEscape(s, start+8)
		}
	} else {
		i = record.JSONEscape(s, start)
	}
	if i < len(s) && s[i] >= 0x80 {
		p.high = true
		i = record.JSONStop(s, i)
	}
	if i >= len(s) {
		p.i = len(s)
		return "", p.fail("string is not terminated")
	}
	switch s[i] {
	case '"':
		p.i = i + 1
		return s[start:i], nil
	case '\\':
		p.i = i
		return p.strSlow(start)
	}
	p.i = i
	return "", p.fail("control character in a string")
}

func (p *jsonRow) strSlow(start int) (string, error) {
	s := p.s
	buf := make([]byte, 0, p.i-start+16)
	buf = append(buf, s[start:p.i]...)
	i := p.i
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			p.i = i + 1
			return string(buf), nil
		case c < 0x20:
			p.i = i
			return "", p.fail("control character in a string")
		case c != '\\':
			p.high = p.high || c >= 0x80
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				p.i = i
				return "", p.fail("invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						buf = utf8.AppendRune(buf, d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			p.i = i
			return "", p.fail("invalid escape \\%c", e)
		}
		i += 2
	}
	p.i = len(s)
	return "", p.fail("string is not terminated")
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skip validates one nested value and moves past it.
func (p *jsonRow) skip(depth int) error {
	if depth > maxJSONDepth {
		return p.fail("nesting deeper than %d", maxJSONDepth)
	}
	s := p.s
	p.ws()
	if p.i >= len(s) {
		return p.fail("want a value")
	}
	switch s[p.i] {
	case '{':
		p.i++
		p.ws()
		if p.i < len(s) && s[p.i] == '}' {
			p.i++
			return nil
		}
		for {
			p.ws()
			if p.i >= len(s) || s[p.i] != '"' {
				return p.fail("want a quoted key")
			}
			if _, err := p.str(); err != nil {
				return err
			}
			p.ws()
			if p.i >= len(s) || s[p.i] != ':' {
				return p.fail("want ':' after a key")
			}
			p.i++
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.i < len(s) && s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(s) && s[p.i] == '}' {
				p.i++
				return nil
			}
			return p.fail("want ',' or '}' in an object")
		}
	case '[':
		p.i++
		p.ws()
		if p.i < len(s) && s[p.i] == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.i < len(s) && s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(s) && s[p.i] == ']' {
				p.i++
				return nil
			}
			return p.fail("want ',' or ']' in an array")
		}
	}
	_, err := p.value(false)
	return err
}
