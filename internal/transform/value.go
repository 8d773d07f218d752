package transform

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/appflowd/appflowd/internal/record"
)

// typeClass groups the connectors' type vocabularies (DATA_TYPE,
// DESTINATION_DATA_TYPE) into what comparison and conversion need.
type typeClass uint8

const (
	classOther  typeClass = iota // unknown name: left as is
	classString                  // string, text, varchar, id, phone, picklist, ...
	classInt
	classFloat
	classDecimal
	classBool
	classTime
)

func classify(t string) typeClass {
	t = strings.ToLower(strings.TrimSpace(t))
	if i := strings.IndexByte(t, '('); i >= 0 { // varchar(255), decimal(10,2)
		t = strings.TrimSpace(t[:i])
	}
	switch t {
	case "string", "text", "varchar", "char", "character varying", "nvarchar", "id", "email",
		"phone", "picklist", "multipicklist", "reference", "textarea", "url", "address", "combobox":
		return classString
	case "int", "integer", "bigint", "long", "smallint", "short", "tinyint", "byte",
		"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32":
		return classInt
	case "double", "float", "real", "float4", "float8", "float32", "float64", "double precision":
		return classFloat
	case "decimal", "numeric", "number", "currency", "percent", "money":
		return classDecimal
	case "boolean", "bool":
		return classBool
	case "datetime", "timestamp", "date", "timestamptz", "timestamp_ntz", "timestamp_tz",
		"timestamp with time zone", "timestamp without time zone":
		return classTime
	}
	return classOther
}

// parseMillis reads a time as Unix milliseconds: ISO 8601 (date,
// date-time with optional seconds, fraction and zone; no zone means UTC) or
// an integer of epoch milliseconds, the encoding AppFlow uses in task
// properties.
func parseMillis(s string) (int64, bool) {
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' {
		return parseISO(s)
	}
	if s == "" {
		return 0, false
	}
	i := 0
	if s[0] == '-' {
		i = 1
	}
	if i == len(s) {
		return 0, false
	}
	for j := i; j < len(s); j++ {
		if s[j] < '0' || s[j] > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	return ms, err == nil
}

func digitsAt(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for j := i; j < i+n; j++ {
		c := s[j]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func parseISO(s string) (int64, bool) {
	y, ok1 := digitsAt(s, 0, 4)
	mo, ok2 := digitsAt(s, 5, 2)
	d, ok3 := digitsAt(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return 0, false
	}
	var hh, mm, ss, ms, off int
	i := 10
	if i < len(s) {
		if c := s[i]; c != 'T' && c != 't' && c != ' ' {
			return 0, false
		}
		var ok bool
		if hh, ok = digitsAt(s, 11, 2); !ok || hh > 23 || len(s) < 16 || s[13] != ':' {
			return 0, false
		}
		if mm, ok = digitsAt(s, 14, 2); !ok || mm > 59 {
			return 0, false
		}
		i = 16
		if i < len(s) && s[i] == ':' {
			if ss, ok = digitsAt(s, 17, 2); !ok || ss > 60 {
				return 0, false
			}
			if ss == 60 { // a leap second reads as the last second of the minute
				ss = 59
			}
			i = 19
			if i < len(s) && (s[i] == '.' || s[i] == ',') {
				i++
				n := 0
				for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
					if n < 3 {
						ms = ms*10 + int(s[i]-'0')
					}
					n++
				}
				if n == 0 {
					return 0, false
				}
				for ; n < 3; n++ {
					ms *= 10
				}
			}
		}
		if i < len(s) {
			switch s[i] {
			case 'Z', 'z':
				i++
			case '+', '-':
				sign := 1
				if s[i] == '-' {
					sign = -1
				}
				oh, ok := digitsAt(s, i+1, 2)
				if !ok {
					return 0, false
				}
				i += 3
				om := 0
				if i < len(s) && s[i] == ':' {
					i++
				}
				if i < len(s) {
					if om, ok = digitsAt(s, i, 2); !ok {
						return 0, false
					}
					i += 2
				}
				if oh > 23 || om > 59 {
					return 0, false
				}
				off = sign * (oh*3600 + om*60)
			}
			if i != len(s) {
				return 0, false
			}
		}
	}
	days := daysFromCivil(y, mo, d)
	secs := days*86400 + int64(hh*3600+mm*60+ss) - int64(off)
	return secs*1000 + int64(ms), true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is Howard Hinnant's algorithm: days since 1970-01-01.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// millisOf reads v as a time: Time values directly, ints as epoch
// milliseconds, text as ISO 8601 or epoch milliseconds.
func millisOf(v record.Value) (int64, bool) {
	switch v.K {
	case record.Time, record.Int:
		return v.Int(), true
	case record.Float:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
			return 0, false
		}
		return int64(f), true
	case record.String, record.Decimal:
		s := v.S
		if len(s) > 0 && (s[0] == ' ' || s[len(s)-1] == ' ') {
			s = strings.TrimSpace(s)
		}
		return parseMillis(s)
	}
	return 0, false
}

// parseBool accepts true/false in any case, and 1/0.
func parseBool(s string) (bool, bool) {
	switch {
	case s == "1" || strings.EqualFold(s, "true"):
		return true, true
	case s == "0" || strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// parseList reads a list-valued task property: a JSON array literal given
// as a string (`["a","b"]`, how AppFlow sends EXCLUDE_SOURCE_FIELDS_LIST),
// or a comma list (`a,b`, how CDK sends VALUES). Items are trimmed and
// empty items dropped.
func parseList(s string) ([]string, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "[") {
		d := json.NewDecoder(strings.NewReader(t))
		d.UseNumber()
		var items []any
		if err := d.Decode(&items); err != nil {
			return nil, fmt.Errorf("is not a JSON array: %v", err)
		}
		if d.More() {
			return nil, fmt.Errorf("has text after the JSON array")
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			switch x := it.(type) {
			case string:
				out = append(out, x)
			case json.Number:
				out = append(out, x.String())
			case bool:
				out = append(out, strconv.FormatBool(x))
			default:
				return nil, fmt.Errorf("holds %v, want strings, numbers or booleans", it)
			}
		}
		return out, nil
	}
	var out []string
	for _, p := range strings.Split(t, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// convert makes v fit a typed destination column. An empty string becomes
// null for every non-string type (an empty CSV cell in an integer column is
// a missing value, not an error); null and missing stay as they are.
// The reason is "" on success.
func convert(v record.Value, c typeClass, scratch []byte, big *apd.Decimal) (record.Value, string) {
	if v.K == record.Missing || v.K == record.Null {
		return v, ""
	}
	if v.K == record.String || v.K == record.Decimal {
		// Fast paths for text that parseDec takes (it takes no spaces, so
		// trimming would change nothing); the rest goes the long way.
		switch c {
		case classString:
			if v.K == record.String {
				return v, ""
			}
		case classInt:
			if d, ok := parseDec(v.S); ok {
				if i, ok := integral(&number{d: d}); ok {
					return record.IntVal(i), ""
				}
			}
		case classFloat:
			if d, ok := parseDec(v.S); ok && d.m > -1<<53 && d.m < 1<<53 {
				return record.FloatVal(float64(d.m) / float64(pow10[d.s])), ""
			}
		}
	}
	text := v.S
	if v.K == record.String || v.K == record.Decimal {
		if len(text) > 0 && (text[0] <= ' ' || text[len(text)-1] <= ' ') {
			text = strings.TrimSpace(text)
		}
		if text == "" && c != classString && c != classOther {
			return record.NullVal(), ""
		}
	}
	switch c {
	case classString:
		if v.K == record.String {
			return v, ""
		}
		return record.Str(v.Text()), ""
	case classInt:
		switch v.K {
		case record.Int:
			return v, ""
		case record.String, record.Decimal:
			if d, ok := parseDec(text); ok {
				if i, ok := integral(&number{d: d}); ok {
					return record.IntVal(i), ""
				}
			} else if i, err := strconv.ParseInt(text, 10, 64); err == nil {
				return record.IntVal(i), ""
			} else if n, ok := parseNumberText(text, big); ok {
				if i, ok := integral(&n); ok {
					return record.IntVal(i), ""
				}
			}
		case record.Float:
			f := v.Float()
			if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
				return record.IntVal(int64(f)), ""
			}
		case record.Bool:
			return record.IntVal(int64(v.N)), ""
		}
		return v, doesNotFit(v, "an integer")
	case classFloat:
		switch v.K {
		case record.Float:
			return v, ""
		case record.Int:
			return record.FloatVal(float64(v.Int())), ""
		case record.String, record.Decimal:
			// Exact fast path: m and 10^s are exact doubles, so one
			// division rounds correctly (Clinger).
			if d, ok := parseDec(text); ok && d.m > -1<<53 && d.m < 1<<53 {
				return record.FloatVal(float64(d.m) / float64(pow10[d.s])), ""
			}
			f, err := strconv.ParseFloat(text, 64)
			if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return record.FloatVal(f), ""
			}
		}
		return v, doesNotFit(v, "a double")
	case classDecimal:
		switch v.K {
		case record.Decimal, record.Int:
			return v, ""
		case record.Float:
			if n, ok := numberOf(v, scratch, big); ok {
				if n.big != nil {
					return record.DecimalVal(n.big.Text('f')), ""
				}
				return record.DecimalVal(string(appendDec(scratch[:0], n.d))), ""
			}
		case record.String:
			if _, ok := parseNumberText(text, big); ok {
				return record.DecimalVal(text), ""
			}
		}
		return v, doesNotFit(v, "a decimal")
	case classBool:
		switch v.K {
		case record.Bool:
			return v, ""
		case record.Int:
			if v.N <= 1 {
				return record.BoolVal(v.N == 1), ""
			}
		case record.String:
			if b, ok := parseBool(text); ok {
				return record.BoolVal(b), ""
			}
		}
		return v, doesNotFit(v, "a boolean")
	case classTime:
		if v.K == record.Time {
			return v, ""
		}
		if ms, ok := millisOf(v); ok {
			return record.MillisVal(ms), ""
		}
		return v, doesNotFit(v, "a datetime (ISO 8601 or epoch milliseconds)")
	}
	return v, ""
}

func integral(n *number) (int64, bool) {
	if n.big == nil {
		if n.d.s == 0 {
			return n.d.m, true
		}
		p := pow10[n.d.s]
		if n.d.m%p == 0 {
			return n.d.m / p, true
		}
		return 0, false
	}
	var r apd.Decimal
	if r.Reduce(n.big); r.Exponent < 0 {
		return 0, false
	}
	i, err := r.Int64()
	return i, err == nil
}

func doesNotFit(v record.Value, what string) string {
	return fmt.Sprintf("value %s (%s) is not %s", quoteShort(v.Text()), v.K, what)
}

// quoteShort quotes s for a message, cut to 64 runes.
func quoteShort(s string) string {
	r := []rune(s)
	if len(r) > 64 {
		return strconv.Quote(string(r[:64])) + "..."
	}
	return strconv.Quote(s)
}
