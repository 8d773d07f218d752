package record

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendJSON(t *testing.T) {
	for _, c := range []struct {
		v    Value
		want string
	}{
		{Str("a\"b\\c\n\x01é"), `"a\"b\\c\n\u0001é"`},
		{Str("bad\xffutf8"), `"bad\ufffdutf8"`},
		{IntVal(-42), `-42`},
		{FloatVal(1.5), `1.5`},
		{FloatVal(math.NaN()), `"NaN"`},
		{DecimalVal("12.50"), `12.50`},
		{DecimalVal("12,5"), `"12,5"`},
		{BoolVal(true), `true`},
		{TimeVal(time.Date(2024, 3, 5, 14, 7, 0, 0, time.UTC)), `"2024-03-05T14:07:00.000Z"`},
		{JSONVal(`{"a":[1]}`), `{"a":[1]}`},
		{NullVal(), `null`},
		{Value{}, `null`},
	} {
		got := string(AppendJSON(nil, c.v))
		if got != c.want {
			t.Errorf("AppendJSON(%v %q): got %s, want %s", c.v.K, c.v.S, got, c.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("AppendJSON(%v %q) = %s is not valid JSON", c.v.K, c.v.S, got)
		}
	}
}

// appendJSONStringByByte is AppendJSONString as a plain byte loop: the
// reference the word-at-a-time version must match.
func appendJSONStringByByte(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c < 0x20:
			dst = append(dst, fmt.Sprintf(`\u%04x`, c)...)
		case c < utf8.RuneSelf:
			dst = append(dst, c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		i++
	}
	return append(dst, '"')
}

func TestAppendJSONStringMatchesByteLoop(t *testing.T) {
	pieces := []string{"a", "plain text ", `"`, `\`, "\n", "\r", "\t", "\x00", "\x1f", "é", "😀", "\xff", "\xe2\x82", "\x7f", "12345678"}
	r := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := b.String()
		got, want := string(AppendJSONString(nil, s)), string(appendJSONStringByByte(nil, s))
		if got != want {
			t.Fatalf("AppendJSONString(%q):\n got %s\nwant %s", s, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("AppendJSONString(%q) = %s is not valid JSON", s, got)
		}
	}
}

func TestAppendJSONObjectAndLine(t *testing.T) {
	b := &Batch{Fields: []string{"id", "note \"q\"", "gone"}}
	b.AppendRow([]Value{IntVal(1), Str("a"), {}})
	b.AppendRow([]Value{{}, NullVal(), {}})
	keys := JSONKeys(b.Fields)
	if got := string(AppendJSONObject(nil, keys, b.Row(0))); got != `{"id":1,"note \"q\"":"a"}` {
		t.Errorf("row 0: %s", got)
	}
	if got := string(AppendJSONObject([]byte("x"), keys, b.Row(1))); got != `x{"note \"q\"":null}` {
		t.Errorf("row 1: %s", got)
	}
	if b.Line(1) != 2 {
		t.Errorf("no FirstLine: line %d, want 2", b.Line(1))
	}
	b.FirstLine = 10
	if b.Line(1) != 11 {
		t.Errorf("FirstLine 10: line %d, want 11", b.Line(1))
	}
}

func TestAppendText(t *testing.T) {
	const text = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
	for n := range 40 {
		for room := range 40 {
			for _, l := range []int{0, 3} {
				dst := make([]byte, l, l+room)
				for i := range dst {
					dst[i] = '.'
				}
				got := AppendText(dst, text[:n])
				if want := strings.Repeat(".", l) + text[:n]; string(got) != want {
					t.Fatalf("len %d, room %d, %d bytes: got %q, want %q", l, room, n, got, want)
				}
			}
		}
	}
}

func TestDecimalNumRoundTrips(t *testing.T) {
	for _, c := range []struct {
		m     int64
		scale int
	}{{0, 0}, {63250, 2}, {-5, 1}, {DecimalNumMax, 0}, {-DecimalNumMax, 16}, {1, 18}, {-1, 18}} {
		v := DecimalNum("text", c.m, c.scale)
		m, scale, ok := v.DecimalParts()
		if !ok || m != c.m || int(scale) != c.scale || v.S != "text" || v.K != Decimal {
			t.Errorf("DecimalNum(%d, %d) reads back %d, %d, %v", c.m, c.scale, m, scale, ok)
		}
	}
	for _, v := range []Value{DecimalVal("1.5"), Str("1.5"), IntVal(-1), FloatVal(1.5)} {
		if _, _, ok := v.DecimalParts(); ok {
			t.Errorf("%v has decimal parts", v)
		}
	}
}
