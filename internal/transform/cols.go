package transform

import (
	"github.com/appflowd/appflowd/internal/record"
)

// Column-at-a-time execution. applyCols runs a batch one task at a time
// over all its rows: each Filter over the rows still selected, then each
// edit, each derived field, and last each output column. A task's loop
// reads the same slot of every row, with the per-value functions the row
// path uses (match, edit, arith, check, quick, convertAt), so the two give
// the same values; only the order of the work differs.
//
// That order changes which problem a batch would report first, so
// applyCols reports none: at the first record error or fatal error of any
// row it gives up and apply runs the batch again row at a time, which
// reports exactly what it always did. Batches without an error, nearly all
// of them, are done once.
//
// Each row keeps its own overlay and number cache for the batch (cols.extra
// and cols.nums, laid out per row as the row path's), and the batch has one
// seq, so a row view over them is what the row path's row is.

// cols is an applier's column-path scratch.
type cols struct {
	// extra holds row i's overlay at [i*E, (i+1)*E). Its last slot, the
	// missing one, is never written; bind clears extra when the layout
	// changes, so it stays Missing.
	extra []record.Value
	nums  []cachedNum // row i's number cache: [i*S, (i+1)*S), S = w+E
	sel   []int       // the rows still selected, ascending
}

// colBatch is one batch under column-at-a-time work.
type colBatch struct {
	in    []record.Value
	extra []record.Value
	nums  []cachedNum
	w, e  int // input and overlay width
	sw    int // w + e: a row's slots
	seq   uint64
}

// at is row i's slot s.
func (c *colBatch) at(i, s int) record.Value {
	if s < c.w {
		return c.in[i*c.w+s]
	}
	return c.extra[i*c.e+s-c.w]
}

// num is row i's cache entry for slot s.
func (c *colBatch) num(i, s int) *cachedNum {
	return &c.nums[i*c.sw+s]
}

// view points r at row i.
func (c *colBatch) view(r *row, i int) {
	r.in = c.in[i*c.w : (i+1)*c.w]
	r.extra = c.extra[i*c.e : (i+1)*c.e]
	r.nums = c.nums[i*c.sw : (i+1)*c.sw]
}

// colBlock is how many rows applyCols takes at a time, so that their
// overlays and number caches stay in cache between tasks.
const colBlock = 256

// applyCols runs the program over in column at a time, appending the
// output rows to cells (empty, with room for every row). It returns false,
// having reported nothing, when a row has a record error or a fatal one.
func (a *applier) applyCols(in *record.Batch, b *binding, cells []record.Value) (Stats, []record.Value, bool) {
	n, w, e := in.Len(), in.Width(), b.extra
	st := Stats{In: n}
	m := min(n, colBlock)
	if cap(a.cols.extra) < m*e {
		a.cols.extra = make([]record.Value, m*e)
	}
	if cap(a.cols.nums) < m*(w+e) {
		a.cols.nums = make([]cachedNum, m*(w+e))
	}
	if cap(a.cols.sel) < m {
		a.cols.sel = make([]int, m)
	}
	for lo := 0; lo < n; lo += colBlock {
		hi := min(lo+colBlock, n)
		a.seq++
		c := colBatch{in: in.Cells[lo*w : hi*w], extra: a.cols.extra[:(hi-lo)*e], nums: a.cols.nums[:(hi-lo)*(w+e)],
			w: w, e: e, sw: w + e, seq: a.seq}
		var ok bool
		if cells, ok = a.colRows(&c, hi-lo, b, &st, cells); !ok {
			return st, cells, false
		}
	}
	return st, cells, true
}

// colRows is applyCols over the n rows of c: it adds to st and appends
// their output rows to cells.
func (a *applier) colRows(c *colBatch, n int, b *binding, st *Stats, cells []record.Value) ([]record.Value, bool) {
	p := a.p
	w, e := c.w, c.e
	r := row{w: w, seq: c.seq}
	sel := a.cols.sel[:n]
	for i := range sel {
		sel[i] = i
	}
	orig, slots := b.orig, b.slots

	for k := range p.filters {
		f := &p.filters[k]
		s := orig[f.ref]
		numeric := f.one != nil && (f.class == classInt || f.class == classFloat || f.class == classDecimal)
		keep := sel[:0]
		for _, i := range sel {
			if v := c.at(i, s); numeric && v.K > record.Null {
				// match's first case, without a row view. Text that
				// parseDec takes is what a cached number of it holds.
				if v.K == record.String {
					if x, ok := parseDec(v.S); ok {
						*c.num(i, s) = cachedNum{c.seq, x}
						if f.one.match(x) {
							keep = append(keep, i)
						}
						continue
					}
				}
				if x, ok := decIn(c.num(i, s), c.seq, v); ok {
					if f.one.match(x) {
						keep = append(keep, i)
					}
					continue
				}
			}
			c.view(&r, i)
			if a.match(f, &r, s) {
				keep = append(keep, i)
			}
		}
		st.Filtered += len(sel) - len(keep)
		sel = keep
	}
	if win := p.window; win != nil {
		s := orig[win.ref]
		keep := sel[:0]
		for _, i := range sel {
			if ms, ok := millisOf(c.at(i, s)); ok && ms >= win.start && ms < win.end {
				keep = append(keep, i)
			}
		}
		st.Filtered += len(sel) - len(keep)
		sel = keep
	}
	for k := range p.validates {
		v := &p.validates[k]
		if v.action == actNone {
			continue
		}
		s := orig[v.ref]
		keep := sel[:0]
		for _, i := range sel {
			if a.check(v, c.at(i, s)) == "" {
				keep = append(keep, i)
			} else if v.action != actDrop {
				return cells, false
			}
		}
		st.Invalid += len(sel) - len(keep)
		sel = keep
	}
	for k := range p.edits {
		ed := &p.edits[k]
		from, to := b.editFrom[k], b.editTo[k]
		for _, i := range sel {
			c.extra[i*e+to-w] = a.edit(ed, c.at(i, from))
			c.num(i, to).seq = 0 // as row.set does
		}
	}
	for k := range p.derived {
		d := &p.derived[k]
		out := slots[d.out]
		if d.typ == "Merge" {
			for _, i := range sel {
				c.view(&r, i)
				r.set(out, a.merge(d, &r, slots))
			}
			continue
		}
		numOnly := b.numOnly[k]
		sx, sy := slots[d.refs[0]], slots[d.refs[1]]
		for _, i := range sel {
			if numOnly {
				if res, ok := d.cached(c.num(i, sx), c.num(i, sy), c.seq); ok {
					c.extra[i*e+out-w] = record.Value{K: record.Decimal}
					*c.num(i, out) = cachedNum{c.seq, res}
					continue
				}
			}
			c.view(&r, i)
			if reason, _ := a.arith(d, &r, slots, numOnly); reason != "" {
				return cells, false
			}
		}
	}

	st.Out += len(sel)
	outW := len(b.outs)
	if len(sel) == 0 || outW == 0 {
		return cells, true
	}
	base := len(cells)
	cells = cells[:base+len(sel)*outW]
	for k := range b.outs {
		o := &b.outs[k]
		s := o.slot
		src, stride, off := c.in, w, s
		if s >= w {
			src, stride, off = c.extra, e, s-w
		}
		dst := cells[base+k:]
		for j, i := range sel {
			v := &src[i*stride+off]
			if o.passes(v.K) {
				dst[j*outW] = *v
				continue
			}
			if v.K == record.String {
				if cv, ok := o.fromText(*v); ok {
					dst[j*outW] = cv
					continue
				}
			}
			cv, ok := o.quick(*v, c.num(i, s), c.seq)
			if !ok {
				c.view(&r, i)
				var reason string
				if cv, reason = a.convertAt(&r, s, *v, o.conv); reason != "" {
					return cells, false
				}
			}
			dst[j*outW] = cv
		}
	}
	return cells, true
}
