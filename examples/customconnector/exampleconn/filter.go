package exampleconn

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A small evaluator of the Custom Connector SDK's filter language (AND, OR,
// NOT, parentheses, = != < <= > >=, CONTAINS, BETWEEN x AND y, IN (...)),
// enough for a connector to apply what AppFlow pushes down.

type token struct {
	kind string // "ident", "str", "lit", "op", "(", ")", ","
	text string
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')' || c == ',':
			out = append(out, token{string(c), string(c)})
			i++
		case c == '\'' || c == '"':
			var sb strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				sb.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, token{"str", sb.String()})
			i = j + 1
		case strings.ContainsRune("=!<>", rune(c)):
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			out = append(out, token{"op", s[i:j]})
			i = j
		default:
			j := i
			for j < len(s) && !unicode.IsSpace(rune(s[j])) && !strings.ContainsRune("()',\"=!<>", rune(s[j])) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			w := s[i:j]
			kind := "ident"
			if c == '-' || (c >= '0' && c <= '9') {
				kind = "lit"
			}
			out = append(out, token{kind, w})
			i = j
		}
	}
	return out, nil
}

// predicate is a compiled filter over a record.
type predicate func(rec map[string]any) bool

type parser struct {
	toks []token
	pos  int
}

// compileFilter parses expr; "" matches everything.
func compileFilter(expr string) (predicate, error) {
	if strings.TrimSpace(expr) == "" {
		return func(map[string]any) bool { return true }, nil
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	pred, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		if p.keyword("limit") {
			return pred, nil // LIMIT n: the page size bounds results already
		}
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return pred, nil
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{}
}

func (p *parser) keyword(k string) bool {
	if t := p.peek(); t.kind == "ident" && strings.EqualFold(t.text, k) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) or() (predicate, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a := l
		l = func(m map[string]any) bool { return a(m) || r(m) }
	}
	return l, nil
}

func (p *parser) and() (predicate, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		a := l
		l = func(m map[string]any) bool { return a(m) && r(m) }
	}
	return l, nil
}

func (p *parser) unary() (predicate, error) {
	if p.keyword("not") {
		in, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(m map[string]any) bool { return !in(m) }, nil
	}
	if p.peek().kind == "(" {
		p.pos++
		in, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek().kind != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return in, nil
	}
	return p.comparison()
}

func (p *parser) value() (token, error) {
	t := p.peek()
	if t.kind != "str" && t.kind != "lit" && t.kind != "ident" {
		return t, fmt.Errorf("expected a value, got %q", t.text)
	}
	p.pos++
	return t, nil
}

func (p *parser) comparison() (predicate, error) {
	f := p.peek()
	if f.kind != "ident" {
		return nil, fmt.Errorf("expected a field name, got %q", f.text)
	}
	p.pos++
	switch {
	case p.keyword("between"):
		lo, err := p.value()
		if err != nil {
			return nil, err
		}
		if !p.keyword("and") {
			return nil, fmt.Errorf("BETWEEN needs AND")
		}
		hi, err := p.value()
		if err != nil {
			return nil, err
		}
		return func(m map[string]any) bool {
			return compare(m[f.text], lo) >= 0 && compare(m[f.text], hi) <= 0
		}, nil
	case p.keyword("contains"):
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return func(m map[string]any) bool { return strings.Contains(fmt.Sprint(m[f.text]), v.text) }, nil
	case p.keyword("in"):
		if p.peek().kind != "(" {
			return nil, fmt.Errorf("IN needs (")
		}
		p.pos++
		var vals []token
		for {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			if p.peek().kind == "," {
				p.pos++
				continue
			}
			break
		}
		if p.peek().kind != ")" {
			return nil, fmt.Errorf("missing ) after IN")
		}
		p.pos++
		return func(m map[string]any) bool {
			for _, v := range vals {
				if compare(m[f.text], v) == 0 {
					return true
				}
			}
			return false
		}, nil
	}
	op := p.peek()
	if op.kind != "op" {
		return nil, fmt.Errorf("expected an operator after %s, got %q", f.text, op.text)
	}
	p.pos++
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	return func(m map[string]any) bool {
		c := compare(m[f.text], v)
		switch op.text {
		case "=":
			return c == 0
		case "!=":
			return c != 0
		case "<":
			return c < 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		case ">=":
			return c >= 0
		}
		return false
	}, nil
}

// compare orders a record value against a literal: as numbers, as times,
// as booleans, else as text. A missing value sorts first.
func compare(v any, lit token) int {
	if v == nil {
		if lit.kind == "ident" && strings.EqualFold(lit.text, "null") {
			return 0
		}
		return -1
	}
	s := fmt.Sprint(v)
	if lit.kind != "str" {
		if a, err := strconv.ParseFloat(s, 64); err == nil {
			if b, err := strconv.ParseFloat(lit.text, 64); err == nil {
				return cmp(a, b)
			}
		}
		if a, ok := parseTime(s); ok {
			if b, ok := parseTime(lit.text); ok {
				return a.Compare(b)
			}
		}
	}
	return strings.Compare(s, lit.text)
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func cmp(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
