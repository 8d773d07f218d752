package record

// Union is the fields of the batches a writer is given, each at the
// column it took when first seen.
type Union struct {
	Fields []string
	index  map[string]int
}

// Columns adds the fields not seen before, in order, and returns the
// column of each.
func (u *Union) Columns(fields []string) []int {
	if u.index == nil {
		u.index = map[string]int{}
	}
	cols := make([]int, len(fields))
	for i, f := range fields {
		c, ok := u.index[f]
		if !ok {
			c = len(u.Fields)
			u.Fields = append(u.Fields, f)
			u.index[f] = c
		}
		cols[i] = c
	}
	return cols
}
