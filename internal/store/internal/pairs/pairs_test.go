package pairs

import "testing"

func TestParse(t *testing.T) {
	for _, bad := range []string{"x", "3 ab", "1 a", "-1 a0 ", "1 a1", "2 ab2 cd3"} {
		if m, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, m)
		}
	}
	m, err := Parse([]byte("1 a0 3 b c1  "))
	if err != nil || len(m) != 2 || m["a"] != "" || m["b c"] != " " {
		t.Errorf("Parse: %q, %v", m, err)
	}
}
