package record

import (
	"encoding/json"
	"math"
	"testing"
	"time"
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
