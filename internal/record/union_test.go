package record

import (
	"slices"
	"testing"
)

func TestUnion(t *testing.T) {
	var u Union
	for _, c := range []struct {
		fields, union []string
		cols          []int
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, []int{0, 1}},
		{[]string{"c", "a"}, []string{"a", "b", "c"}, []int{2, 0}},
		{nil, []string{"a", "b", "c"}, []int{}},
		{[]string{"b", "d", "c"}, []string{"a", "b", "c", "d"}, []int{1, 3, 2}},
	} {
		if cols := u.Columns(c.fields); !slices.Equal(cols, c.cols) || !slices.Equal(u.Fields, c.union) {
			t.Errorf("Columns(%v) = %v with fields %v, want %v with %v", c.fields, cols, u.Fields, c.cols, c.union)
		}
	}
}
