package salesforceconn

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
)

// soqlString quotes s as a SOQL string literal (SOQL and SOSL Reference,
// Quoted String Escape Sequences): backslash escapes for quotes, backslash
// and control characters. like also escapes the LIKE wildcards % and _.
func soqlString(s string, like bool) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '%', '_':
			if like {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

var soqlNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// numberLiteral renders a filter value as a SOQL number, or "" if it is not one.
func numberLiteral(v string) string {
	v = strings.TrimSpace(v)
	if soqlNumber.MatchString(v) {
		return v
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != f || f > 1e300 || f < -1e300 {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// parseTimeValue reads a filter's datetime value: epoch milliseconds, as
// AppFlow sends them, or ISO 8601.
func parseTimeValue(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// timeUnit is the precision of a SOQL literal for a date or datetime field.
type timeUnit struct {
	d      time.Duration
	layout string
}

var (
	secondUnit = timeUnit{time.Second, "2006-01-02T15:04:05Z"} // SOQL dateTime: YYYY-MM-DDThh:mm:ssZ
	dayUnit    = timeUnit{24 * time.Hour, "2006-01-02"}        // SOQL date: YYYY-MM-DD
)

func (u timeUnit) floor(t time.Time) time.Time { return t.Truncate(u.d) }
func (u timeUnit) ceil(t time.Time) time.Time {
	if f := t.Truncate(u.d); !f.Equal(t) {
		return f.Add(u.d)
	}
	return t
}
func (u timeUnit) exact(t time.Time) bool { return u.floor(t).Equal(t) }
func (u timeUnit) lit(t time.Time) string { return t.UTC().Format(u.layout) }

// dataTypeClass classes a filter's DATA_TYPE as the engine does, so a
// filter is pushed only where SOQL compares the way the engine will.
func dataTypeClass(t string) class {
	t = strings.ToLower(strings.TrimSpace(t))
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	switch t {
	case "int", "integer", "bigint", "long", "smallint", "short", "double", "float", "real",
		"decimal", "numeric", "number", "currency", "percent", "money":
		return classFloat
	case "boolean", "bool":
		return classBool
	case "datetime", "timestamp", "date", "timestamptz":
		return classDateTime
	}
	return classString
}

// filterClause renders one filter as a SOQL condition that keeps at least
// every record the engine's filter keeps, or "" when no such condition is
// worth sending (the engine then filters alone).
func filterClause(f connector.Filter, fld *sobjectField) string {
	if fld == nil || !fld.Filterable || len(f.Values) == 0 {
		return ""
	}
	name := fld.Name
	fc, dc := typeClass(fld.Type), dataTypeClass(f.DataType)
	switch fc {
	case classString:
		if dc != classString || fld.Type == "multipicklist" {
			return ""
		}
		switch f.Operator {
		case "EQUAL_TO": // SOQL = ignores case: a superset of the engine's match
			return inList(name, f.Values, func(v string) string { return soqlString(v, false) })
		case "CONTAINS":
			if fld.Type == "id" || fld.Type == "reference" {
				return "" // LIKE takes text fields only
			}
			var parts []string
			for _, v := range f.Values {
				parts = append(parts, name+" LIKE '%"+unquoteBody(soqlString(v, true))+"%'")
			}
			return orJoin(parts)
		}
		return "" // NOT_EQUAL_TO and ordering: SOQL's case-blind collation could drop records the engine keeps
	case classInt, classFloat:
		if dc != classFloat {
			return ""
		}
		return compare(name, f, numberLiteral)
	case classBool:
		if dc != classBool {
			return ""
		}
		lit := func(v string) string {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
				return "true"
			case "false":
				return "false"
			}
			return ""
		}
		if f.Operator != "EQUAL_TO" && f.Operator != "NOT_EQUAL_TO" {
			return ""
		}
		return compare(name, f, lit)
	case classDateTime, classDate:
		if dc != classDateTime {
			return ""
		}
		u := secondUnit
		if fc == classDate {
			u = dayUnit
		}
		return timeCompare(name, f, u)
	}
	return ""
}

// unquoteBody strips the quotes soqlString adds.
func unquoteBody(q string) string { return q[1 : len(q)-1] }

func inList(name string, values []string, lit func(string) string) string {
	var lits []string
	for _, v := range values {
		l := lit(v)
		if l == "" {
			return ""
		}
		lits = append(lits, l)
	}
	if len(lits) == 1 {
		return name + " = " + lits[0]
	}
	return name + " IN (" + strings.Join(lits, ", ") + ")"
}

func orJoin(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

var opSymbol = map[string]string{
	"LESS_THAN": "<", "LESS_THAN_OR_EQUAL_TO": "<=", "GREATER_THAN": ">", "GREATER_THAN_OR_EQUAL_TO": ">=",
}

// compare renders exact comparisons; VALUES are ORed (EQUAL_TO: IN,
// NOT_EQUAL_TO: NOT IN, ordering: OR of each).
func compare(name string, f connector.Filter, lit func(string) string) string {
	switch f.Operator {
	case "EQUAL_TO":
		return inList(name, f.Values, lit)
	case "NOT_EQUAL_TO":
		in := inList(name, f.Values, lit)
		if in == "" {
			return ""
		}
		if len(f.Values) == 1 {
			return strings.Replace(in, " = ", " != ", 1)
		}
		return strings.Replace(in, " IN (", " NOT IN (", 1)
	case "BETWEEN":
		if len(f.Values) != 2 {
			return ""
		}
		lo, hi := lit(f.Values[0]), lit(f.Values[1])
		if lo == "" || hi == "" {
			return ""
		}
		return "(" + name + " >= " + lo + " AND " + name + " <= " + hi + ")"
	}
	sym, ok := opSymbol[f.Operator]
	if !ok {
		return ""
	}
	var parts []string
	for _, v := range f.Values {
		l := lit(v)
		if l == "" {
			return ""
		}
		parts = append(parts, name+" "+sym+" "+l)
	}
	return orJoin(parts)
}

// timeCompare renders date and datetime comparisons. SOQL literals stop at
// seconds (dateTime) or days (date), so bounds are widened outwards to the
// unit and equality is pushed only for values exact to it.
func timeCompare(name string, f connector.Filter, u timeUnit) string {
	ts := make([]time.Time, len(f.Values))
	for i, v := range f.Values {
		t, ok := parseTimeValue(v)
		if !ok {
			return ""
		}
		ts[i] = t
	}
	switch f.Operator {
	case "EQUAL_TO":
		var parts []string
		for _, t := range ts {
			if !u.exact(t) {
				return ""
			}
			parts = append(parts, name+" = "+u.lit(t))
		}
		return orJoin(parts)
	case "NOT_EQUAL_TO":
		var parts []string
		for _, t := range ts {
			if u.exact(t) { // excluding fewer values keeps a superset
				parts = append(parts, name+" != "+u.lit(t))
			}
		}
		if len(parts) == 0 {
			return ""
		}
		if len(parts) == 1 {
			return parts[0]
		}
		return "(" + strings.Join(parts, " AND ") + ")"
	case "BETWEEN":
		if len(ts) != 2 {
			return ""
		}
		return "(" + name + " >= " + u.lit(u.floor(ts[0])) + " AND " + name + " <= " + u.lit(u.ceil(ts[1])) + ")"
	}
	var parts []string
	for _, t := range ts {
		switch f.Operator {
		case "GREATER_THAN":
			parts = append(parts, name+" > "+u.lit(u.floor(t)))
		case "GREATER_THAN_OR_EQUAL_TO":
			parts = append(parts, name+" >= "+u.lit(u.floor(t)))
		case "LESS_THAN":
			parts = append(parts, name+" < "+u.lit(u.ceil(t)))
		case "LESS_THAN_OR_EQUAL_TO":
			parts = append(parts, name+" <= "+u.lit(u.ceil(t)))
		default:
			return ""
		}
	}
	return orJoin(parts)
}

// windowClause renders the incremental window [start, end) on a date or
// datetime field, widened to the literal's unit.
func windowClause(w *connector.Window, fld *sobjectField) string {
	if w == nil || fld == nil {
		return ""
	}
	u := secondUnit
	switch typeClass(fld.Type) {
	case classDate:
		u = dayUnit
	case classDateTime:
	default:
		return ""
	}
	return fld.Name + " >= " + u.lit(u.floor(w.Start)) + " AND " + fld.Name + " < " + u.lit(u.ceil(w.End))
}

// buildWhere joins the pushed-down filters and the window with AND.
func buildWhere(desc *sobjectDescribe, filters []connector.Filter, w *connector.Window) string {
	var parts []string
	for _, f := range filters {
		if c := filterClause(f, desc.field(f.Field)); c != "" {
			parts = append(parts, c)
		}
	}
	if w != nil {
		if c := windowClause(w, desc.field(w.Field)); c != "" {
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, " AND ")
}

func buildSOQL(fields []string, object, where string) string {
	q := "SELECT " + strings.Join(fields, ", ") + " FROM " + object
	if where != "" {
		q += " WHERE " + where
	}
	return q
}
