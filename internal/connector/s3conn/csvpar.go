package s3conn

import (
	"context"
	"strings"
	"sync"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// A large CSV object is parsed on several cores while it has no quotes:
// then every LF ends a record, so each buffer of input splits at LFs into
// parts that workers parse at once with the serial reader's own csvParse,
// and their batches are emitted in order. A quoted field may hold a line
// break, and whether an LF is inside one cannot be told from a range alone,
// so at the first buffer holding a '"' the serial loop takes over from the
// same position for the rest of the object.

// csvRanges parses quote-free parts of an object after its header.
type csvRanges struct {
	key       string
	width     int // header width
	outFields []string
	colMap    []int
	maxRows   int
}

type csvPart struct {
	text    string
	line    int64
	batches []*record.Batch
	err     error
}

// run parses from c.pos while the input is quote-free. It advances c.pos,
// *line and *emitted past what it emitted, and reports done when it emitted
// the object's Final batch.
func (p *csvRanges) run(ctx context.Context, c *chunker, line, emitted *int64, workers int, emit func(*record.Batch) error) (bool, error) {
	for {
		if err := ctx.Err(); err != nil {
			return false, fault.Wrap(fault.Canceled, err, "read %s", p.key)
		}
		rest := c.s[c.pos:]
		cut := len(rest)
		if !c.eof {
			i := strings.LastIndexByte(rest, '\n')
			if i < 0 {
				if _, err := c.refill(ctx); err != nil {
					return false, canceledOr(err, p.key)
				}
				continue
			}
			cut = i + 1
		}
		region := rest[:cut]
		if cut == 0 || strings.IndexByte(region, '"') >= 0 {
			return false, nil // the serial loop ends the object, or takes the quotes
		}
		parts := p.split(region, *line, workers)
		var wg sync.WaitGroup
		for _, part := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				part.batches, part.err = p.parse(part.text, part.line)
			}()
		}
		wg.Wait()
		final := c.eof && cut == len(rest)
		lead := c.offset() - *emitted // bytes before this region not yet counted (the header)
		for i, part := range parts {
			for j, b := range part.batches {
				b.SourceBytes += lead
				lead = 0
				b.Final = final && part.err == nil && i == len(parts)-1 && j == len(part.batches)-1
				if err := emit(b); err != nil {
					return false, err
				}
			}
			if part.err != nil {
				return false, part.err
			}
		}
		c.pos += cut
		*line += int64(strings.Count(region, "\n"))
		*emitted = c.offset()
		if final {
			return true, nil
		}
		if _, err := c.refill(ctx); err != nil {
			return false, canceledOr(err, p.key)
		}
	}
}

// split cuts region into up to n parts of whole lines.
func (p *csvRanges) split(region string, line int64, n int) []*csvPart {
	var parts []*csvPart
	size := len(region)/n + 1
	for len(region) > 0 {
		end := len(region)
		if size < end {
			if i := strings.IndexByte(region[size:], '\n'); i >= 0 {
				end = size + i + 1
			}
		}
		parts = append(parts, &csvPart{text: region[:end], line: line})
		line += int64(strings.Count(region[:end], "\n"))
		region = region[end:]
	}
	return parts
}

// parse turns one part into batches as the serial loop would, every row
// checked against the header width.
func (p *csvRanges) parse(s string, line int64) ([]*record.Batch, error) {
	var out []*record.Batch
	outW := len(p.outFields)
	scratch := make([]string, 0, p.width)
	pos := 0
	for pos < len(s) {
		b := &record.Batch{Fields: p.outFields, Split: p.key, FirstLine: line}
		cells := make([]record.Value, 0, p.maxRows*outW)
		rows, start := 0, pos
		for rows < p.maxRows && pos-start < maxBatchBytes && pos < len(s) {
			fields, next, nl, st, msg, checked := csvNext(s, pos, true, scratch[:0])
			if st == csvError {
				return out, parseErr(p.key, line+nl, "%s", msg)
			}
			if isBlankLine(s[pos:next]) {
				pos, line = next, line+nl
				if rows == 0 {
					b.FirstLine = line
				}
				continue
			}
			if len(fields) != p.width {
				return out, parseErr(p.key, line, "row has %d fields, the header has %d", len(fields), p.width)
			}
			plain := uint64(record.PlainText)
			if !checked {
				if err := checkUTF8(p.key, line, s[pos:next]); err != nil {
					return out, err
				}
				plain = csvPlain(s[pos:next])
			}
			base := len(cells)
			cells = cells[:base+outW]
			for i, f := range fields {
				j := i
				if p.colMap != nil {
					j = p.colMap[i]
				}
				if j >= 0 {
					cells[base+j] = record.Value{K: record.String, S: f, N: plain}
				}
			}
			rows++
			pos, line = next, line+nl
		}
		b.Cells = cells
		b.SourceBytes = int64(pos - start)
		out = append(out, b)
	}
	return out, nil
}
