package redshiftconn

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/appflowd/appflowd/internal/record"
)

// category groups column types by how a value is checked and rendered.
type category uint8

const (
	catText category = iota
	catInt16
	catInt32
	catInt64
	catFloat
	catNumeric
	catBool
	catDate
	catTimestamp
	catTimestampTZ
	catTime
	catJSON
	catUUID
	catOther // passed as text; the server parses it
)

func categorize(dataType string) category {
	switch strings.ToLower(dataType) {
	case "character varying", "character", "text", "varchar", "char", "bpchar", "name", "citext":
		return catText
	case "smallint", "int2":
		return catInt16
	case "integer", "int", "int4":
		return catInt32
	case "bigint", "int8":
		return catInt64
	case "real", "double precision", "float4", "float8":
		return catFloat
	case "numeric", "decimal":
		return catNumeric
	case "boolean", "bool":
		return catBool
	case "date":
		return catDate
	case "timestamp without time zone", "timestamp":
		return catTimestamp
	case "timestamp with time zone", "timestamptz":
		return catTimestampTZ
	case "time without time zone", "time", "time with time zone", "timetz":
		return catTime
	case "json", "jsonb", "super":
		return catJSON
	case "uuid":
		return catUUID
	}
	return catOther
}

// target is one mapped destination field: its declared type and its column.
type target struct {
	Field    string
	Declared record.FieldType
	Col      *column
	cat      category
}

// cellError is a value that does not fit its column; Reason names the
// column and says why.
type cellError struct{ Reason string }

func (e *cellError) Error() string { return e.Reason }

func reject(t *target, format string, args ...any) *cellError {
	return &cellError{Reason: fmt.Sprintf("column %q (%s): %s", t.Col.Name, t.Col.DataType, fmt.Sprintf(format, args...))}
}

// convert checks v against the field's declared type and the column, and
// returns the canonical text to load (null: load NULL).
func convert(v record.Value, t *target) (text string, null bool, err error) {
	if v.IsAbsent() {
		if !t.Col.Nullable {
			return "", false, reject(t, "null value in a NOT NULL column")
		}
		return "", true, nil
	}
	v, err = declare(v, t)
	if err != nil {
		return "", false, err
	}
	switch t.cat {
	case catInt16, catInt32, catInt64:
		n, err := toInt(v)
		if err != nil {
			return "", false, reject(t, "%s", err)
		}
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if t.cat == catInt16 {
			lo, hi = math.MinInt16, math.MaxInt16
		} else if t.cat == catInt32 {
			lo, hi = math.MinInt32, math.MaxInt32
		}
		if n < lo || n > hi {
			return "", false, reject(t, "%d is out of range [%d, %d]", n, lo, hi)
		}
		return strconv.FormatInt(n, 10), false, nil
	case catFloat:
		f, err := toFloat(v)
		if err != nil {
			return "", false, reject(t, "%s", err)
		}
		switch {
		case math.IsNaN(f):
			return "NaN", false, nil
		case math.IsInf(f, 1):
			return "Infinity", false, nil
		case math.IsInf(f, -1):
			return "-Infinity", false, nil
		}
		return strconv.FormatFloat(f, 'g', -1, 64), false, nil
	case catNumeric:
		s, err := toDecimal(v)
		if err != nil {
			return "", false, reject(t, "%s", err)
		}
		if t.Col.Precision > 0 {
			intDigits := len(strings.TrimLeft(strings.TrimLeft(strings.SplitN(s, ".", 2)[0], "+-"), "0"))
			if intDigits > t.Col.Precision-t.Col.Scale {
				return "", false, reject(t, "%s has %d integer digits; numeric(%d,%d) allows %d", s, intDigits, t.Col.Precision, t.Col.Scale, t.Col.Precision-t.Col.Scale)
			}
		}
		return s, false, nil
	case catBool:
		b, err := toBool(v)
		if err != nil {
			return "", false, reject(t, "%s", err)
		}
		return strconv.FormatBool(b), false, nil
	case catDate, catTimestamp, catTimestampTZ:
		tm, err := toTime(v)
		if err != nil {
			return "", false, reject(t, "%s", err)
		}
		switch t.cat {
		case catDate:
			return tm.Format("2006-01-02"), false, nil
		case catTimestamp:
			return tm.Format("2006-01-02 15:04:05.999999"), false, nil
		}
		return tm.Format("2006-01-02 15:04:05.999999Z07:00"), false, nil
	case catJSON:
		s := v.Text()
		if !json.Valid([]byte(s)) {
			return "", false, reject(t, "%q is not JSON", clip(s))
		}
		return s, false, nil
	case catUUID:
		s := v.Text()
		if !isUUID(s) {
			return "", false, reject(t, "%q is not a UUID", clip(s))
		}
		return s, false, nil
	}
	s := v.Text()
	if !utf8.ValidString(s) {
		return "", false, reject(t, "value is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", false, reject(t, "value contains a NUL byte")
	}
	if t.cat == catText && t.Col.MaxLen > 0 {
		if t.Col.ByteLen {
			if n := len(s); n > t.Col.MaxLen {
				return "", false, reject(t, "value of %d bytes is longer than %d (Redshift counts VARCHAR length in bytes)", n, t.Col.MaxLen)
			}
		} else if n := utf8.RuneCountInString(s); n > t.Col.MaxLen {
			return "", false, reject(t, "value of %d characters is longer than %d", n, t.Col.MaxLen)
		}
	}
	return s, false, nil
}

// declare applies the field's DESTINATION_DATA_TYPE: a value that cannot be
// read as that type is refused before the column is considered.
func declare(v record.Value, t *target) (record.Value, error) {
	var err error
	switch strings.ToLower(string(t.Declared)) {
	case "", "string", "text", "varchar", "textarea", "picklist", "id", "reference", "email", "url", "phone":
		return v, nil
	case "int", "integer", "long", "short", "byte", "bigint", "smallint":
		var n int64
		if n, err = toInt(v); err == nil {
			return record.IntVal(n), nil
		}
	case "double", "float", "real", "percent", "currency":
		var f float64
		if f, err = toFloat(v); err == nil {
			return record.FloatVal(f), nil
		}
	case "decimal", "number", "numeric":
		var s string
		if s, err = toDecimal(v); err == nil {
			return record.DecimalVal(s), nil
		}
	case "boolean", "bool":
		var b bool
		if b, err = toBool(v); err == nil {
			return record.BoolVal(b), nil
		}
	case "datetime", "timestamp", "date", "time":
		if strings.EqualFold(string(t.Declared), "time") {
			return v, nil // a time of day: the column parses it
		}
		var tm time.Time
		if tm, err = toTime(v); err == nil {
			return record.TimeVal(tm), nil
		}
	default:
		return v, nil
	}
	return v, &cellError{Reason: fmt.Sprintf("field %q: does not fit its declared type %s: %s", t.Field, t.Declared, err)}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func toInt(v record.Value) (int64, error) {
	switch v.K {
	case record.Int:
		return v.Int(), nil
	case record.Float:
		f := v.Float()
		if f != math.Trunc(f) || f < -9.223372036854775e18 || f >= 9.223372036854775e18 {
			return 0, fmt.Errorf("%v is not an integer", f)
		}
		return int64(f), nil
	case record.String, record.Decimal:
		s := strings.TrimSpace(v.S)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if whole, frac, ok := strings.Cut(s, "."); ok && strings.Trim(frac, "0") == "" {
			if n, err := strconv.ParseInt(whole, 10, 64); err == nil {
				return n, nil
			}
		}
		return 0, fmt.Errorf("%q is not an integer", clip(v.S))
	case record.Bool:
		return 0, fmt.Errorf("boolean %v is not an integer", v.Bool())
	}
	return 0, fmt.Errorf("a %s value is not an integer", v.K)
}

func toFloat(v record.Value) (float64, error) {
	switch v.K {
	case record.Int:
		return float64(v.Int()), nil
	case record.Float:
		return v.Float(), nil
	case record.String, record.Decimal:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.S), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", clip(v.S))
		}
		return f, nil
	}
	return 0, fmt.Errorf("a %s value is not a number", v.K)
}

func toDecimal(v record.Value) (string, error) {
	switch v.K {
	case record.Int:
		return strconv.FormatInt(v.Int(), 10), nil
	case record.Float:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", fmt.Errorf("%v is not a decimal", f)
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	case record.String, record.Decimal:
		s := strings.TrimSpace(v.S)
		if !isDecimal(s) {
			return "", fmt.Errorf("%q is not a decimal number", clip(v.S))
		}
		return s, nil
	}
	return "", fmt.Errorf("a %s value is not a decimal number", v.K)
}

func isDecimal(s string) bool {
	s = strings.TrimLeft(s, "+-")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return false
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

func toBool(v record.Value) (bool, error) {
	switch v.K {
	case record.Bool:
		return v.Bool(), nil
	case record.Int:
		if n := v.Int(); n == 0 || n == 1 {
			return n == 1, nil
		}
	case record.String:
		switch strings.ToLower(strings.TrimSpace(v.S)) {
		case "true", "t", "yes", "y", "1":
			return true, nil
		case "false", "f", "no", "n", "0":
			return false, nil
		}
	}
	return false, fmt.Errorf("%q is not a boolean", clip(v.Text()))
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// toTime reads a Time, epoch milliseconds, or ISO-8601 text; text without
// an offset is UTC.
func toTime(v record.Value) (time.Time, error) {
	switch v.K {
	case record.Time:
		return v.Time(), nil
	case record.Int:
		return time.UnixMilli(v.Int()).UTC(), nil
	case record.String, record.Decimal:
		s := strings.TrimSpace(v.S)
		for _, l := range timeLayouts {
			if tm, err := time.Parse(l, s); err == nil {
				return tm.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is not a date or time (want ISO 8601)", clip(v.S))
	}
	return time.Time{}, fmt.Errorf("a %s value is not a date or time", v.K)
}

func isUUID(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// appendJSONLine appends one row as a JSON object keyed by column name,
// numbers and booleans bare, for COPY ... FORMAT AS JSON 'auto ignorecase'.
func appendJSONLine(buf []byte, ts []target, cells []string, nulls []bool) []byte {
	buf = append(buf, '{')
	for i, s := range cells {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf, _ = appendJSONString(buf, ts[i].Col.Name)
		buf = append(buf, ':')
		switch {
		case nulls[i]:
			buf = append(buf, "null"...)
		case ts[i].cat == catInt16 || ts[i].cat == catInt32 || ts[i].cat == catInt64 || ts[i].cat == catNumeric || ts[i].cat == catBool:
			buf = append(buf, s...)
		case ts[i].cat == catFloat && !strings.ContainsAny(s, "NI"): // NaN and Inf are not JSON numbers
			buf = append(buf, s...)
		default:
			buf, _ = appendJSONString(buf, s)
		}
	}
	return append(buf, '}', '\n')
}

func appendJSONString(buf []byte, s string) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return buf, err
	}
	return append(buf, b...), nil
}
