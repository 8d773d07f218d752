package record

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func naive(s string, i int, stop func(byte) bool) int {
	for ; i < len(s); i++ {
		if stop(s[i]) {
			return i
		}
	}
	return len(s)
}

var scanners = []struct {
	name string
	fn   func(string, int) int
	stop func(byte) bool
}{
	{"JSONStop", JSONStop, func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }},
	{"JSONEscape", JSONEscape, func(c byte) bool { return c < 0x20 || c >= 0x80 || c == '"' || c == '\\' }},
	{"CSVStop", CSVStop, func(c byte) bool { return c == ',' || c == '\n' || c == '"' }},
}

func check(t *testing.T, s string) {
	t.Helper()
	checkByteMask(t, s)
	checkCSVPlainWord(t, s)
	for _, sc := range scanners {
		for i := 0; i <= len(s); i++ {
			if got, want := sc.fn(s, i), naive(s, i, sc.stop); got != want {
				t.Fatalf("%s(%q, %d) = %d, want %d", sc.name, s, i, got, want)
			}
		}
	}
}

// checkByteMask compares ByteMask with a byte-by-byte reading at each
// position of s, for each byte s holds.
func checkByteMask(t *testing.T, s string) {
	t.Helper()
	for i := 0; i+8 <= len(s); i++ {
		for _, c := range []byte(s) {
			var want uint64
			for k := range 8 {
				if s[i+k] == c {
					want |= uint64(0x80) << (8 * k)
				}
			}
			if got := ByteMask(s, i, c); got != want {
				t.Fatalf("ByteMask(%q, %d, %q) = %#x, want %#x", s, i, c, got, want)
			}
		}
	}
}

// checkCSVPlainWord checks CSVPlainWord at each position of s: its esc's
// lowest byte is JSONEscape's stop (none when that is past the word), its
// commas ByteMask's.
func checkCSVPlainWord(t *testing.T, s string) {
	t.Helper()
	for i := 0; i+8 <= len(s); i++ {
		esc, commas := CSVPlainWord(s, i)
		stop := 8
		if esc != 0 {
			stop = FirstByte(esc)
		}
		if want := min(JSONEscape(s, i)-i, 8); stop != want {
			t.Fatalf("CSVPlainWord(%q, %d) stops at %d, want %d", s, i, stop, want)
		}
		if e := EscapeWord(s, i); e != esc {
			t.Fatalf("EscapeWord(%q, %d) = %#x, CSVPlainWord's esc %#x", s, i, e, esc)
		}
		if w := Word(s, i); byte(w) != s[i] || byte(w>>56) != s[i+7] {
			t.Fatalf("Word(%q, %d) = %#x", s, i, w)
		}
		if want := ByteMask(s, i, ','); commas != want {
			t.Fatalf("CSVPlainWord(%q, %d) commas %#x, want %#x", s, i, commas, want)
		}
	}
}

func TestScannersFindTheFirstStop(t *testing.T) {
	for _, s := range []string{
		"", "a", "abcdefgh", "abcdefghi", `abcdefg"`, `"`, `plain text, then "quotes" and \escapes`,
		"tab\there", "new\nline", "\x00\x01\x1f\x20", "caf\u00e9 \u2603", "\x7f\x80\xff",
		// a stop byte right after a byte whose subtraction borrows
		"\x00\"", "\x01\x1f", "\x21\x20\x1f", "\xff,", strings.Repeat("x", 17) + ",",
		"a,b\r\nc,d\r\n", "abcdefg\r\nxyz", "\r\r\n\n,\x00,\x7f\x80\x1f\x20\x0a\x0d", ",,,,,,,,\n\n\n\n\n\n\n\n",
	} {
		check(t, s)
	}
	alphabet := []byte{'a', 'Z', ' ', ',', '\n', '\r', '"', '\\', 0, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xc3, 0xff, '!', '#', '+', 0x5b, 0x5d}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = 'a' + byte(r.IntN(26))
			}
		}
		check(t, string(b))
	}
}

func FuzzScanners(f *testing.F) {
	f.Add(`abcdefgh"ij\kl`)
	f.Add("\x00\x80,\n")
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}
