package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Timestamp is a model timestamp. On the wire (restJson1, no
// timestampFormat) it is epoch seconds as a JSON number with millisecond
// precision: 1700000000.123.
type Timestamp struct{ time.Time }

// NewTimestamp returns a pointer to t as a Timestamp, for filling outputs.
func NewTimestamp(t time.Time) *Timestamp { return &Timestamp{t} }

// maxEpoch is 9999-12-31T23:59:59Z; larger values are refused on input so a
// hostile number cannot overflow time arithmetic downstream.
const maxEpoch = 253402300799

// MarshalJSON writes epoch seconds with exactly three decimals.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Appendf(nil, "%s%d.%03d", sign, ms/1000, ms%1000), nil
}

// UnmarshalJSON accepts epoch seconds as an integer or fractional number
// (SDKs send these) and, leniently, an RFC 3339 string.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		parsed, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("timestamp %q is neither epoch seconds nor RFC 3339", s)
		}
		t.Time = parsed
		return nil
	}
	parsed, err := parseEpoch(string(b))
	if err != nil {
		return err
	}
	t.Time = parsed
	return nil
}

// parseEpoch reads decimal epoch seconds without float rounding when the
// number is plain ("1700000000.123"), falling back to float for exponents.
func parseEpoch(s string) (time.Time, error) {
	bad := fmt.Errorf("timestamp %.40q is not epoch seconds in range", s)
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.Abs(f) > maxEpoch {
			return time.Time{}, bad
		}
		sec, frac := math.Modf(f)
		// float64 carries ~16 digits: keep microseconds, drop the noise below.
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), nil
	}
	intPart, fracPart, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	sec, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || sec > maxEpoch || sec < -maxEpoch {
		return time.Time{}, bad
	}
	var nsec int64
	if fracPart != "" {
		if len(fracPart) > 9 {
			fracPart = fracPart[:9]
		}
		n, err := strconv.ParseUint(fracPart, 10, 64)
		if err != nil {
			return time.Time{}, bad
		}
		nsec = int64(n) * int64(math.Pow10(9-len(fracPart)))
	}
	if neg {
		nsec = -nsec
	}
	return time.Unix(sec, nsec).UTC(), nil
}
