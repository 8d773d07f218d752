package sqlitestore

import "testing"

func TestPairsRejectsMalformed(t *testing.T) {
	for _, bad := range []string{"x", "3 ab", "1 a", "-1 a0 ", "1 a1", "2 ab2 cd3"} {
		if m, err := pairs([]byte(bad)); err == nil {
			t.Errorf("pairs(%q) = %v, want an error", bad, m)
		}
	}
	m, err := pairs([]byte("1 a0 3 b c1  "))
	if err != nil || len(m) != 2 || m["a"] != "" || m["b c"] != " " {
		t.Errorf("pairs: %q, %v", m, err)
	}
}
