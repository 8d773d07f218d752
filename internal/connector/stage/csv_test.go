package stage

import "testing"

func TestAppendCSV(t *testing.T) {
	got := AppendCSV([]byte("x\n"), []string{"a", "", "", `say "hi"`, "l1\r\nl2,", `"`}, []bool{false, false, true, false, false, false})
	want := "x\n" + `"a","",,"say ""hi""","l1` + "\r\n" + `l2,",""""` + "\n"
	if string(got) != want {
		t.Errorf("AppendCSV = %q, want %q", got, want)
	}
}
