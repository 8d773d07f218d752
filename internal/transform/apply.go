package transform

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/cockroachdb/apd/v3"

	"github.com/appflowd/appflowd/internal/record"
)

// arena hands out write-once byte ranges for the strings Apply makes (masked
// values, merged text, arithmetic results), so a row costs no allocation.
// A range is filled once and never written again while a string may point
// into it, so strings over it stay immutable. A chunk is reused only once
// the arena has moved on from it and every output batch with strings in it
// was released (record.Batch.Release, which Apply sets): until a receiver
// calls that, a full chunk is dropped, and lives as long as any string
// points into it.
type arena struct {
	c      *chunk
	used   []*chunk // chunks the current Apply's output has strings in
	marked bool     // c is in used
}

// chunk is an arena's buffer; refs counts the arena while c is its
// current chunk, and each output batch with strings in it not released yet.
type chunk struct {
	buf  []byte
	refs atomic.Int32
}

const arenaChunk = 64 << 10

// chunks holds the chunks no string points into any more.
var chunks sync.Pool

func (a *arena) take(n int) []byte {
	if c := a.c; a.marked && n <= arenaChunk/4 && n <= cap(c.buf)-len(c.buf) {
		// takeMore's common case, kept short
		start := len(c.buf)
		c.buf = c.buf[:start+n]
		return c.buf[start : start+n : start+n]
	}
	return a.takeMore(n)
}

func (a *arena) takeMore(n int) []byte {
	if n > arenaChunk/4 {
		return make([]byte, n)
	}
	if a.c == nil || cap(a.c.buf)-len(a.c.buf) < n {
		a.next()
	}
	if !a.marked {
		a.c.refs.Add(1)
		a.used = append(a.used, a.c)
		a.marked = true
	}
	b := a.c.buf
	start := len(b)
	a.c.buf = b[:start+n]
	return b[start : start+n : start+n]
}

// next gives the arena a fresh chunk: one handed back if there is one.
func (a *arena) next() {
	if a.c != nil {
		unref(a.c)
	}
	c, _ := chunks.Get().(*chunk)
	if c == nil {
		c = &chunk{buf: make([]byte, 0, arenaChunk)}
	}
	c.buf = c.buf[:0]
	c.refs.Store(1)
	a.c, a.marked = c, false
}

func unref(c *chunk) {
	if c.refs.Add(-1) == 0 {
		chunks.Put(c)
	}
}

// release returns the Release for an output batch made since the last
// call: it hands back the chunks its strings are in. nil when it has none.
func (a *arena) release() func() {
	if len(a.used) == 0 {
		return nil
	}
	used := slices.Clone(a.used)
	a.used, a.marked = a.used[:0], false
	return func() {
		for _, c := range used {
			unref(c)
		}
	}
}

// str copies b into the arena and returns it as a string.
func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	dst := a.take(len(b))
	copy(dst, b)
	return unsafe.String(unsafe.SliceData(dst), len(dst))
}

func frozen(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// binding is a Program laid over one input field list. A slot below the
// batch width is an input column, read in place; a slot at or above it is
// in the row's overlay: virtual fields, then edited (masked or truncated)
// copies of source fields, then one always-missing slot.
type binding struct {
	fields   []string // the input Fields it was built for
	orig     []int    // ref -> the source value as read (filters, validation)
	slots    []int    // ref -> the value after editing (derived fields, output)
	editFrom []int    // per edit step: the slot it reads
	editTo   []int    // per edit step: the overlay slot it writes
	outNames []string
	outs     []outSlot // per output column
	numOnly  []bool    // per derived step: its result is read only as a number (see onlyNumeric)
	width    int       // input columns
	extra    int       // overlay width
}

// outSlot is where an output column's value comes from and how it is
// converted, decided once per binding so that a row's fill only looks at
// the value's kind.
type outSlot struct {
	slot int
	conv *outCol // nil: no conversion
	// keep is the kind that conversion leaves as it is (convert returns
	// such a value unchanged, as it does Missing and Null); Missing when
	// conv is nil.
	keep record.Kind
}

// keeps maps a conversion class to the kind convert passes through.
var keeps = [...]record.Kind{classString: record.String, classInt: record.Int, classFloat: record.Float,
	classDecimal: record.Decimal, classBool: record.Bool, classTime: record.Time}

// applier is one goroutine's scratch for Apply; a Program pools them.
type applier struct {
	p       *Program
	b       binding
	extra   []record.Value
	arena   arena
	scratch []byte
	bx, by  apd.Decimal
	t1, t2  apd.Decimal
	br      apd.Decimal

	// Per-slot cache of parsed numbers: nums[s].d holds slot s's value as a
	// dec when nums[s].seq is the current row's seq, so a field that a Filter,
	// an Arithmetic task and a Map conversion all read is parsed once.
	nums []cachedNum
	seq  uint64
	res  dec // arithText's text-less result
}

func sameFields(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (a *applier) bind(in *record.Batch) *binding {
	b := &a.b
	if b.slots != nil && sameFields(b.fields, in.Fields) {
		return b
	}
	p := a.p
	w := len(in.Fields)
	b.fields = append(b.fields[:0], in.Fields...)
	b.width = w
	b.orig, b.slots = b.orig[:0], b.slots[:0]
	for k := 0; k < p.nVirtual; k++ {
		b.orig = append(b.orig, w+k)
	}
	// Overlay slots for edited fields come after the virtual ones; the
	// missing slot is last, once their number is known.
	const missing = -1
	for _, name := range p.srcNames {
		col := in.Index(name)
		if col < 0 {
			col = missing
		}
		b.orig = append(b.orig, col)
	}
	b.slots = append(b.slots, b.orig...)
	next := w + p.nVirtual
	b.editFrom, b.editTo = b.editFrom[:0], b.editTo[:0]
	for k := range p.edits {
		ref := p.edits[k].ref
		from := b.slots[ref]
		if from < w || from == missing { // first edit of this field: give it an overlay slot
			b.slots[ref] = next
			next++
		}
		b.editFrom = append(b.editFrom, from)
		b.editTo = append(b.editTo, b.slots[ref])
	}
	missingSlot := next
	b.extra = next + 1 - w
	for _, xs := range [][]int{b.orig, b.slots, b.editFrom} {
		for i, s := range xs {
			if s == missing {
				xs[i] = missingSlot
			}
		}
	}

	b.outs = b.outs[:0]
	if p.all == nil {
		b.outNames = p.staticOut
	} else {
		b.outNames = nil // a fresh slice: earlier batches still hold the old one
		for col, name := range in.Fields {
			if p.all.exclude[name] || p.all.taken[name] {
				continue
			}
			b.outNames = append(b.outNames, name)
			b.outs = append(b.outs, outSlot{slot: col})
		}
	}
	for k := range p.outs {
		o := &p.outs[k]
		if p.all != nil {
			b.outNames = append(b.outNames, o.name)
		}
		if o.class == classOther {
			b.outs = append(b.outs, outSlot{slot: b.slots[o.ref]})
		} else {
			b.outs = append(b.outs, outSlot{slot: b.slots[o.ref], conv: o, keep: keeps[o.class]})
		}
	}
	b.numOnly = b.numOnly[:0]
	for k := range p.derived {
		d := &p.derived[k]
		b.numOnly = append(b.numOnly, d.typ != "Merge" && b.onlyNumeric(p, b.slots[d.out]))
	}
	if cap(a.extra) < b.extra {
		a.extra = make([]record.Value, b.extra)
	}
	if n := w + b.extra; cap(a.nums) < n {
		a.nums = make([]cachedNum, n)
	}
	return b
}

// onlyNumeric says whether slot s is read only by output columns that
// convert it to an integer or a double. An Arithmetic result in such a slot
// need not be rendered as text: the conversion takes the cached number.
func (b *binding) onlyNumeric(p *Program, s int) bool {
	for k := range p.filters {
		if b.orig[p.filters[k].ref] == s {
			return false
		}
	}
	if p.window != nil && b.orig[p.window.ref] == s {
		return false
	}
	for k := range p.validates {
		if b.orig[p.validates[k].ref] == s {
			return false
		}
	}
	for _, from := range b.editFrom {
		if from == s {
			return false
		}
	}
	for k := range p.derived {
		d := &p.derived[k]
		for _, ref := range d.refs {
			if b.slots[ref] == s {
				return false
			}
		}
		for _, pt := range d.parts {
			if pt.ref >= 0 && b.slots[pt.ref] == s {
				return false
			}
		}
	}
	for _, o := range b.outs {
		if o.slot != s {
			continue
		}
		if c := o.conv; c == nil || (c.class != classFloat && c.class != classInt) {
			return false
		}
	}
	return true
}

// cachedNum is a slot's value as a number, valid in row seq.
type cachedNum struct {
	seq uint64
	d   dec
}

// row is one input row with its overlay.
type row struct {
	in    []record.Value
	extra []record.Value
	w     int
	nums  []cachedNum // see applier.nums
	seq   uint64
}

func (r *row) at(s int) record.Value {
	if s < r.w {
		return r.in[s]
	}
	return r.extra[s-r.w]
}

func (r *row) set(s int, v record.Value) {
	r.extra[s-r.w] = v
	r.nums[s].seq = 0
}

// cached returns slot s's number if it was parsed in this row.
func (r *row) cached(s int) (dec, bool) {
	if c := &r.nums[s]; c.seq == r.seq {
		return c.d, true
	}
	return dec{}, false
}

// decAt is numAt's fast path: slot s (holding v) as a dec, from the cache
// or parsed from text and cached; false when that needs the long way.
func (r *row) decAt(s int, v record.Value) (dec, bool) {
	return decIn(&r.nums[s], r.seq, v)
}

// decIn is decAt over one cache entry c, valid in row seq: v (the slot's
// value) as a dec, from c or parsed from text and kept in c.
func decIn(c *cachedNum, seq uint64, v record.Value) (dec, bool) {
	if c.seq == seq {
		return c.d, true
	}
	if v.K == record.String || v.K == record.Decimal {
		if m, scale, ok := v.DecimalParts(); ok { // read with its text (a JSON reader's number)
			d := dec{m: m, s: scale}
			*c = cachedNum{seq, d}
			return d, true
		}
		if d, ok := parseDec(v.S); ok {
			*c = cachedNum{seq, d}
			return d, true
		}
	}
	return dec{}, false
}

// numAt reads slot s as a number, parsing it at most once per row.
func (a *applier) numAt(r *row, s int, big *apd.Decimal) (number, bool) {
	v := r.at(s)
	if d, ok := r.decAt(s, v); ok {
		return number{d: d}, true
	}
	n, ok := numberOf(v, a.scratch[:0], big)
	if ok && n.big == nil {
		r.nums[s] = cachedNum{r.seq, n.d}
	}
	return n, ok
}

// decAs converts a cached number as convert would convert its text to
// class c, in the common cases; false when that needs the text (the caller
// then converts it).
func decAs(d dec, c typeClass) (record.Value, bool) {
	if c == classFloat && d.m > -1<<53 && d.m < 1<<53 {
		return record.FloatVal(float64(d.m) / float64(pow10[d.s])), true
	}
	if c == classInt && d.s == 0 {
		return record.IntVal(d.m), true
	}
	return record.Value{}, false
}

// Apply runs the program over in and writes the surviving rows to out,
// reusing out.Cells' memory; out.Fields is shared and must not be changed.
// Split, FirstLine, Final and SourceBytes carry over, so an emptied batch
// still marks the end of its split. in is not modified. out.Release, when
// set, hands the memory of the strings Apply made back for later batches
// (see record.Batch.Release for when a receiver may call it).
//
// Rows that a task cannot process are dropped and returned as RecordErrors;
// a fatal one (Validate with DropDataset/TerminateFlow, a division by zero)
// stops Apply and comes back as the error, a *RecordError.
func (p *Program) Apply(in, out *record.Batch) (Stats, []RecordError, error) {
	a := p.pool.Get().(*applier)
	defer p.pool.Put(a)
	return a.apply(in, out)
}

func (a *applier) apply(in, out *record.Batch) (st Stats, errs []RecordError, fatal error) {
	p := a.p
	b := a.bind(in)
	out.Fields = b.outNames
	out.Split, out.FirstLine, out.Final, out.SourceBytes = in.Split, in.FirstLine, in.Final, in.SourceBytes
	out.Release = nil
	a.arena.used, a.arena.marked = a.arena.used[:0], false // an earlier Apply that failed keeps its chunks
	n, w := in.Len(), in.Width()
	st.In = n
	outW := len(b.outs)
	if need := n * outW; cap(out.Cells) < need {
		out.Cells = make([]record.Value, 0, need)
	}
	cells := out.Cells[:0]
	r := row{extra: a.extra[:b.extra], w: w, nums: a.nums[:w+b.extra]}
	r.extra[b.extra-1] = record.Value{}
	orig, slots := b.orig, b.slots

rows:
	for i := 0; i < n; i++ {
		r.in = in.Cells[i*w : (i+1)*w]
		a.seq++
		r.seq = a.seq

		for k := range p.filters {
			f := &p.filters[k]
			s := orig[f.ref]
			if f.one != nil {
				// match's usual case inline: a number read with its text
				// (a JSON reader's) or text that parseDec takes, as decAt
				// gives it, against one value.
				v := r.at(s)
				var x dec
				ok := false
				if m, scale, isNum := v.DecimalParts(); isNum {
					x, ok = dec{m: m, s: scale}, true
				} else if v.K == record.String {
					x, ok = parseDec(v.S)
				}
				if ok {
					r.nums[s] = cachedNum{r.seq, x}
					if !f.one.match(x) {
						st.Filtered++
						continue rows
					}
					continue
				}
			}
			if !a.match(f, &r, s) {
				st.Filtered++
				continue rows
			}
		}
		if win := p.window; win != nil {
			ms, ok := millisOf(r.at(orig[win.ref]))
			if !ok || ms < win.start || ms >= win.end {
				st.Filtered++
				continue rows
			}
		}
		for k := range p.validates {
			v := &p.validates[k]
			if v.action == actNone {
				continue
			}
			if reason := a.check(v, r.at(orig[v.ref])); reason != "" {
				if v.action == actDrop {
					st.Invalid++
					continue rows
				}
				return st, errs, a.recordErr(in, i, v.field, v.task, "Validate", v.name+" failed: "+reason)
			}
		}
		for k := range p.edits {
			r.set(b.editTo[k], a.edit(&p.edits[k], r.at(b.editFrom[k])))
		}
		for k := range p.derived {
			d := &p.derived[k]
			var reason string
			var isFatal bool
			if d.typ == "Merge" {
				r.set(slots[d.out], a.merge(d, &r, slots))
			} else if numOnly := b.numOnly[k]; numOnly {
				// arith's fast path inline
				if res, ok := d.cached(&r.nums[slots[d.refs[0]]], &r.nums[slots[d.refs[1]]], r.seq); ok {
					out := slots[d.out]
					r.extra[out-r.w] = record.Value{K: record.Decimal}
					r.nums[out] = cachedNum{r.seq, res}
					continue
				}
				reason, isFatal = a.arith(d, &r, slots, true)
			} else {
				reason, isFatal = a.arith(d, &r, slots, b.numOnly[k])
			}
			if reason != "" {
				field := strings.Join(d.fields, ",")
				if isFatal {
					return st, errs, a.recordErr(in, i, field, d.task, d.typ, reason)
				}
				errs = append(errs, *a.recordErr(in, i, field, d.task, d.typ, reason))
				st.Errored++
				continue rows
			}
		}
		start := len(cells)
		cells = cells[:start+outW]
		dst := cells[start:]
		if o, reason := a.fill(&r, b, dst); o != nil {
			cells = cells[:start]
			errs = append(errs, *a.recordErr(in, i, o.field, o.task, "Map",
				reason+" (DESTINATION_DATA_TYPE of "+o.name+")"))
			st.Errored++
		}
	}
	out.Cells = cells
	out.Release = a.arena.release()
	if outW > 0 {
		st.Out = len(cells) / outW
	} else {
		st.Out = n - st.Filtered - st.Invalid - st.Errored
	}
	return st, errs, nil
}

// fill writes a row's output columns to dst. A value that does not fit
// its DESTINATION_DATA_TYPE stops it: it returns that column and why.
func (a *applier) fill(r *row, b *binding, dst []record.Value) (*outCol, string) {
	for k := range b.outs[:len(dst)] {
		c := &b.outs[k]
		v := r.at(c.slot)
		if c.passes(v.K) {
			dst[k] = v
			continue
		}
		if v.K == record.String {
			if cv, ok := c.fromText(v); ok {
				dst[k] = cv
				continue
			}
		}
		if o := c.conv; (o.class == classFloat || o.class == classInt) && (v.K == record.String || v.K == record.Decimal) {
			// numbers from text, parsed once a row
			if d, ok := r.decAt(c.slot, v); ok {
				if cv, ok := decAs(d, o.class); ok {
					dst[k] = cv
					continue
				}
			}
		}
		var reason string
		if v, reason = a.convertAt(r, c.slot, v, c.conv); reason != "" {
			return c.conv, reason
		}
		dst[k] = v
	}
	return nil, ""
}

// passes says whether a value of kind k goes to the output column as it is.
func (c *outSlot) passes(k record.Kind) bool {
	return c.conv == nil || k == c.keep || k <= record.Null
}

// fromText is fill's usual case without the cache: a string that
// parseDec takes, for an integer or double column (a cached number of such
// text is what parseDec gives).
func (c *outSlot) fromText(v record.Value) (record.Value, bool) {
	if v.K != record.String || (c.conv.class != classInt && c.conv.class != classFloat) {
		return record.Value{}, false
	}
	x, ok := parseDec(v.S)
	if !ok {
		return record.Value{}, false
	}
	return decAs(x, c.conv.class)
}

// convertAt converts v, slot s's value, for output column o, taking the
// number the row parsed already when it can.
func (a *applier) convertAt(r *row, s int, v record.Value, o *outCol) (record.Value, string) {
	if d, ok := r.cached(s); ok && (v.K == record.String || v.K == record.Decimal) {
		if cv, ok := decAs(d, o.class); ok {
			return cv, ""
		}
		if v.K == record.Decimal && v.S == "" { // an Arithmetic result kept as a number only
			a.scratch = appendDec(a.scratch[:0], d)
			v = record.DecimalVal(a.arena.str(a.scratch))
		}
	}
	return convert(v, o.class, a.scratch[:0], &a.br)
}

func (a *applier) recordErr(in *record.Batch, row int, field string, task int, typ, reason string) *RecordError {
	return &RecordError{Split: in.Split, Line: in.FirstLine + int64(row), Row: row,
		Field: field, Task: task, TaskType: typ, Reason: reason}
}

func (a *applier) match(f *filterStep, r *row, slot int) bool {
	v := r.at(slot)
	if v.K == record.Missing || v.K == record.Null {
		return false
	}
	switch f.class {
	case classInt, classFloat, classDecimal:
		if f.one != nil {
			if x, ok := r.decAt(slot, v); ok {
				return f.one.match(x)
			}
		}
		n, ok := a.numAt(r, slot, &a.bx)
		if !ok {
			return false
		}
		if f.op == opBetween {
			return cmpNumber(&n, &f.nums[0]) >= 0 && cmpNumber(&n, &f.nums[1]) <= 0
		}
		for k := range f.nums {
			if hit(f.op, cmpNumber(&n, &f.nums[k])) != (f.op == opNE) {
				return f.op != opNE
			}
		}
		return f.op == opNE
	case classTime:
		ms, ok := millisOf(v)
		if !ok {
			return false
		}
		if f.op == opBetween {
			return ms >= f.ms[0] && ms <= f.ms[1]
		}
		for _, c := range f.ms {
			if hit(f.op, cmp64(ms, c)) != (f.op == opNE) {
				return f.op != opNE
			}
		}
		return f.op == opNE
	case classBool:
		var x bool
		switch v.K {
		case record.Bool:
			x = v.Bool()
		case record.String:
			var ok bool
			if x, ok = parseBool(strings.TrimSpace(v.S)); !ok {
				return false
			}
		default:
			return false
		}
		if f.op == opBetween {
			return cmpBool(x, f.bools[0]) >= 0 && cmpBool(x, f.bools[1]) <= 0
		}
		for _, c := range f.bools {
			if hit(f.op, cmpBool(x, c)) != (f.op == opNE) {
				return f.op != opNE
			}
		}
		return f.op == opNE
	}
	s := v.S
	if v.K != record.String {
		s = v.Text()
	}
	if f.op == opBetween {
		return s >= f.strs[0] && s <= f.strs[1]
	}
	for _, c := range f.strs {
		var r bool
		if f.op == opContains {
			r = strings.Contains(s, c)
		} else {
			r = hit(f.op, strings.Compare(s, c))
		}
		if r != (f.op == opNE) {
			return f.op != opNE
		}
	}
	return f.op == opNE
}

// hit says whether comparison result c satisfies op. For NOT_EQUAL_TO it
// answers "equal", so the caller can require that no value is equal.
func hit(op filterOp, c int) bool {
	switch op {
	case opLT:
		return c < 0
	case opGT:
		return c > 0
	case opLTE:
		return c <= 0
	case opGTE:
		return c >= 0
	case opNE:
		return c != 0
	}
	return c == 0
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// check returns why v fails validation, or "".
//
// VALIDATE_NON_NULL rejects null, missing and the empty string.
// VALIDATE_NUMERIC rejects anything that is not a number, null included.
// VALIDATE_NON_ZERO and VALIDATE_NON_NEGATIVE judge numbers only: a null
// or non-numeric value passes them (pair them with NON_NULL or NUMERIC to
// reject those too).
func (a *applier) check(v *validateStep, x record.Value) string {
	switch v.op {
	case valNonNull:
		switch {
		case x.K == record.Missing:
			return "the field is missing"
		case x.K == record.Null:
			return "the value is null"
		case x.K == record.String && x.S == "":
			return "the value is empty"
		}
		return ""
	}
	n, ok := numberOf(x, a.scratch[:0], &a.bx)
	switch v.op {
	case valNumeric:
		if !ok {
			return "value " + quoteShort(x.Text()) + " is not a number"
		}
	case valNonZero:
		if ok && n.sign() == 0 {
			return "the value is zero"
		}
	case valNonNegative:
		if ok && n.sign() < 0 {
			return "value " + quoteShort(x.Text()) + " is negative"
		}
	}
	return ""
}

// runeOffset returns the byte offset after the first n runes of s (len(s)
// if s is shorter) and how many runes that is.
func runeOffset(s string, n int) (int, int) {
	i, c := 0, 0
	for i < len(s) && c < n {
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
		c++
	}
	return i, c
}

// asciiPrefix says whether s's first n bytes (n <= len(s)) are ASCII,
// reading 8 bytes at once where it can.
func asciiPrefix(s string, n int) bool {
	if n <= 8 && len(s) >= 8 {
		x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), 8))
		return x&(^uint64(0)>>(64-8*n))&0x8080808080808080 == 0
	}
	return isASCII(s[:n])
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func runeCount(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.RuneCountInString(s)
		}
	}
	return len(s)
}

// edit masks or truncates one value, counting runes. MASK_FIRST_N and
// MASK_LAST_N mask the whole value when it is shorter than N. Null and
// missing values stay as they are; other non-strings are edited as text.
// A string that needs no JSON escaping (record.PlainText) keeps the mark:
// its pieces cut at rune boundaries and a plain MASK_VALUE need none either.
func (a *applier) edit(e *editStep, v record.Value) record.Value {
	if v.K == record.Missing || v.K == record.Null {
		return v
	}
	s, plain := v.S, uint64(0)
	if v.K != record.String {
		s = v.Text()
	} else if v.N == record.PlainText {
		plain = record.PlainText
	}
	var keepHead, keepTail string
	masked := 0
	switch e.kind {
	case editTruncate:
		off, _ := runeOffset(s, e.n)
		return record.Value{K: record.String, S: s[:off], N: plain}
	case editMaskAll:
		masked = runeCount(s)
	case editMaskFirst:
		off := e.n
		if w := e.wordW; w > 0 && off <= len(s) && len(s)-off+w >= 8 && asciiPrefix(s, off) {
			// The usual short mask: one 8-byte store of the mask's
			// bytes, then the kept tail over the rest.
			buf := a.arena.take(len(s) - off + w)
			binary.LittleEndian.PutUint64(buf, e.maskWord)
			copy(buf[w:], s[off:])
			if !e.plainMask {
				plain = 0
			}
			return record.Value{K: record.String, S: frozen(buf), N: plain}
		}
		if off > len(s) || !asciiPrefix(s, off) {
			off, masked = runeOffset(s, e.n)
		} else {
			masked = off
		}
		keepTail = s[off:]
	case editMaskLast:
		total := runeCount(s)
		keep := total - e.n
		if keep < 0 {
			keep = 0
		}
		off, _ := runeOffset(s, keep)
		keepHead, masked = s[:off], total-keep
	}
	if masked == 0 {
		return record.Value{K: record.String, S: s, N: plain}
	}
	if !e.plainMask {
		plain = 0
	}
	buf := a.arena.take(len(keepHead) + masked*len(e.mask) + len(keepTail))
	k := 0
	if keepHead != "" {
		k = copy(buf, keepHead)
	}
	if n := masked * len(e.mask); n <= len(e.maskRun) {
		k += copy(buf[k:], e.maskRun[:n])
	} else if len(e.mask) == 1 {
		c := e.mask[0]
		for j := 0; j < masked; j++ {
			buf[k+j] = c
		}
		k += masked
	} else {
		for j := 0; j < masked; j++ {
			k += copy(buf[k:], e.mask)
		}
	}
	copy(buf[k:], keepTail)
	return record.Value{K: record.String, S: frozen(buf), N: plain}
}

// appendText appends v as Value.Text would render it, without allocating.
func appendText(b []byte, v record.Value) []byte {
	switch v.K {
	case record.String, record.Decimal, record.JSON:
		return append(b, v.S...)
	case record.Int:
		return strconv.AppendInt(b, v.Int(), 10)
	case record.Float:
		return record.AppendFloat(b, v.Float())
	case record.Bool:
		return strconv.AppendBool(b, v.Bool())
	case record.Time:
		return v.Time().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	return b
}

// merge fills a CONCAT_FORMAT template; null and missing fields read as "".
func (a *applier) merge(d *derivedStep, r *row, slots []int) record.Value {
	buf := a.scratch[:0]
	for k := range d.parts {
		pt := &d.parts[k]
		if pt.ref < 0 {
			buf = append(buf, pt.lit...)
		} else {
			buf = appendText(buf, r.at(slots[pt.ref]))
		}
	}
	a.scratch = buf
	return record.Str(a.arena.str(buf))
}

// arith computes one Arithmetic task exactly. A null, missing or empty
// operand gives null (an empty CSV cell is how a missing number looks);
// a non-numeric operand is a record error; division by zero is fatal.
// Results are decimal text: the scale of the operands for addition and
// subtraction ("246.90"), their sum for multiplication; a quotient has no
// trailing zeros ("2.5") and up to 34 significant digits when it does not
// terminate.
//
// arith writes the result to the task's slot. When numOnly (the result is
// read only as a number) and the exact fast path holds it, the slot keeps a
// text-less Decimal and the number in the row's cache (see apply).
func (a *applier) arith(d *derivedStep, r *row, slots []int, numOnly bool) (string, bool) {
	out := slots[d.out]
	if numOnly {
		if res, ok := d.cached(&r.nums[slots[d.refs[0]]], &r.nums[slots[d.refs[1]]], r.seq); ok {
			r.extra[out-r.w] = record.Value{K: record.Decimal}
			r.nums[out] = cachedNum{r.seq, res}
			return "", false
		}
	}
	v, reason, fatal := a.arithText(d, r, slots[d.refs[0]], slots[d.refs[1]], numOnly)
	r.set(out, v)
	if numOnly && reason == "" && v.K == record.Decimal && v.S == "" {
		r.nums[out] = cachedNum{r.seq, a.res}
	}
	return reason, fatal
}

// cached is arith's fast path for a result read only as a number: both
// operands already parsed in row seq (by a Filter, or one field read twice;
// a cached number is neither absent nor empty) and the exact dec result.
func (d *derivedStep) cached(cx, cy *cachedNum, seq uint64) (dec, bool) {
	if cx.seq != seq || cy.seq != seq {
		return dec{}, false
	}
	if d.op == arAdd {
		return addDec(cx.d, cy.d)
	}
	return decOp(d.op, cx.d, cy.d)
}

func (a *applier) arithText(d *derivedStep, r *row, sx, sy int, numOnly bool) (record.Value, string, bool) {
	x, y := r.at(sx), r.at(sy)
	if absentOrEmpty(x) || absentOrEmpty(y) {
		return record.NullVal(), "", false
	}
	nx, ok := a.numAt(r, sx, &a.bx)
	if !ok {
		return record.Value{}, fmt.Sprintf("%s: value %s is not a number", d.fields[0], quoteShort(x.Text())), false
	}
	ny := nx
	if sx != sy {
		if ny, ok = a.numAt(r, sy, &a.by); !ok {
			return record.Value{}, fmt.Sprintf("%s: value %s is not a number", d.fields[1], quoteShort(y.Text())), false
		}
	}
	if nx.big == nil && ny.big == nil {
		if r, ok := decOp(d.op, nx.d, ny.d); ok {
			if numOnly {
				a.res = r
				return record.Value{K: record.Decimal}, "", false
			}
			a.scratch = appendDec(a.scratch[:0], r)
			return record.DecimalVal(a.arena.str(a.scratch)), "", false
		}
	}
	if d.op == arDiv && ny.sign() == 0 {
		return record.Value{}, "division by zero", true
	}
	bx, by, res := nx.toBig(&a.t1), ny.toBig(&a.t2), &a.br
	var err error
	switch d.op {
	case arAdd:
		_, err = exactCtx.Add(res, bx, by)
	case arSub:
		_, err = exactCtx.Sub(res, bx, by)
	case arMul:
		_, err = exactCtx.Mul(res, bx, by)
	case arDiv:
		if _, err = quoCtx.Quo(res, bx, by); err == nil {
			res.Reduce(res)
		}
	}
	if err != nil {
		return record.Value{}, "cannot compute the result: " + err.Error(), false
	}
	a.scratch = res.Append(a.scratch[:0], 'f')
	return record.DecimalVal(a.arena.str(a.scratch)), "", false
}

// decOp is Arithmetic's exact fast path; false when the result does not
// fit a dec or op is a division.
func decOp(op arithOp, x, y dec) (dec, bool) {
	switch op {
	case arAdd:
		return addDec(x, y)
	case arSub:
		return addDec(x, dec{m: -y.m, s: y.s})
	case arMul:
		return mulDec(x, y)
	}
	return dec{}, false
}

func absentOrEmpty(v record.Value) bool {
	return v.K == record.Missing || v.K == record.Null || (v.K == record.String && v.S == "")
}
