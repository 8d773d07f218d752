package customconn

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
)

// identifier is what the SDK's filter grammar accepts as a field name.
var identifier = regexp.MustCompile(`^[a-zA-Z][A-Za-z0-9_.-]*$`)

// filterExpression renders the pushed filters and the incremental window in
// the SDK's filter language, AND-ed. A filter is left out (the engine
// applies every filter anyway) when its field is unknown, cannot be named in
// the grammar, does not declare the operator, or a value does not fit the
// field's type.
func filterExpression(e *entity, filters []connector.Filter, w *connector.Window) string {
	var terms []string
	for _, f := range filters {
		if t := filterTerm(e, f); t != "" {
			terms = append(terms, t)
		}
	}
	if w != nil {
		terms = append(terms, windowTerms(e, w)...)
	}
	return strings.Join(terms, " and ")
}

func filterTerm(e *entity, f connector.Filter) string {
	fd, ok := e.byName[f.Field]
	if !ok || !identifier.MatchString(f.Field) || !slices.Contains(operatorsOf(fd), f.Operator) || len(f.Values) == 0 {
		return ""
	}
	lits := make([]string, 0, len(f.Values))
	for _, v := range f.Values {
		l, ok := literal(fd.DataType, v)
		if !ok {
			return ""
		}
		lits = append(lits, l)
	}
	if fd.DataType == "Boolean" && f.Operator != "EQUAL_TO" && f.Operator != "NOT_EQUAL_TO" {
		return "" // the grammar compares booleans only with = and !=
	}
	name := f.Field
	any := func(op, join string) string {
		parts := make([]string, len(lits))
		for i, l := range lits {
			parts[i] = name + " " + op + " " + l
		}
		if len(parts) == 1 {
			return parts[0]
		}
		return "(" + strings.Join(parts, " "+join+" ") + ")"
	}
	switch f.Operator {
	case "EQUAL_TO":
		return any("=", "or")
	case "NOT_EQUAL_TO":
		return any("!=", "and")
	case "CONTAINS":
		return any("contains", "or")
	case "LESS_THAN":
		return one(name, "<", lits)
	case "LESS_THAN_OR_EQUAL_TO":
		return one(name, "<=", lits)
	case "GREATER_THAN":
		return one(name, ">", lits)
	case "GREATER_THAN_OR_EQUAL_TO":
		return one(name, ">=", lits)
	case "BETWEEN":
		if len(lits) != 2 {
			return ""
		}
		return name + " between " + lits[0] + " and " + lits[1]
	}
	return ""
}

func one(name, op string, lits []string) string {
	if len(lits) != 1 {
		return ""
	}
	return name + " " + op + " " + lits[0]
}

// windowTerms bound the timestamp field to [Start, End): with >= and < where
// the field declares them, else with BETWEEN (whose inclusivity is the
// connector's; the engine re-applies the exact window).
func windowTerms(e *entity, w *connector.Window) []string {
	fd, ok := e.byName[w.Field]
	if !ok || !identifier.MatchString(w.Field) {
		return nil
	}
	ops := operatorsOf(fd)
	lo, hi := timeLiteral(fd.DataType, w.Start), timeLiteral(fd.DataType, w.End)
	if slices.Contains(ops, "GREATER_THAN_OR_EQUAL_TO") && slices.Contains(ops, "LESS_THAN") {
		return []string{w.Field + " >= " + lo, w.Field + " < " + hi}
	}
	if slices.Contains(ops, "BETWEEN") {
		return []string{w.Field + " between " + lo + " and " + hi}
	}
	return nil
}

// literal renders a task value for a field of dataType, or false when it
// does not fit the type. Datetime values arrive as epoch milliseconds.
func literal(dataType, v string) (string, bool) {
	v = strings.TrimSpace(v)
	switch {
	case isNumeric(dataType):
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "", false
		}
		return v, true
	case dataType == "Boolean":
		switch strings.ToLower(v) {
		case "true", "false":
			return strings.ToLower(v), true
		}
		return "", false
	case dataType == "Date" || dataType == "DateTime":
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			return timeLiteral(dataType, time.UnixMilli(ms)), true
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return timeLiteral(dataType, t), true
		}
		return "", false
	}
	return quote(v), true
}

// timeLiteral is an ISO date or UTC datetime, as the grammar's lexer reads
// them (a literal Z zone, optional milliseconds).
func timeLiteral(dataType string, t time.Time) string {
	t = t.UTC()
	if dataType == "Date" {
		return t.Format("2006-01-02")
	}
	if t.Nanosecond()/1e6 != 0 {
		return t.Format("2006-01-02T15:04:05.000Z")
	}
	return t.Format("2006-01-02T15:04:05Z")
}

// quote is a single-quoted string literal with backslash escapes.
func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `\'`)
	return "'" + s + "'"
}
