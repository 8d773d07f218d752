package wire

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/appflowd/appflowd/internal/fault"
)

// RedactedValue stands in for the value of a sensitive shape in messages.
const RedactedValue = "*** Sensitive Data Redacted ***"

// stringRule holds the constraints of one string shape. min and max count
// runes; -1 means unbounded.
type stringRule struct {
	min, max  int
	re        *regexp.Regexp // anchored
	pattern   string         // the model's text, for messages
	enum      []string
	sensitive bool
}

type numberRule struct {
	min, max       int64
	hasMin, hasMax bool
}

// sizeRule bounds the element count of a list or map; -1 means unbounded.
type sizeRule struct {
	min, max  int
	sensitive bool // elements (or keys/values) are sensitive
}

// validator collects violations in AWS's wording.
type validator struct {
	msgs []string
}

func (vd *validator) add(value, path, constraint string) {
	vd.msgs = append(vd.msgs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

func (vd *validator) missing(path string) {
	vd.msgs = append(vd.msgs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", path))
}

// violations lists the constraints of r that s breaks.
func (r *stringRule) violations(s string) []string {
	var out []string
	if r.min >= 0 || r.max >= 0 {
		n := utf8.RuneCountInString(s)
		if r.min >= 0 && n < r.min {
			out = append(out, "Member must have length greater than or equal to "+strconv.Itoa(r.min))
		}
		if r.max >= 0 && n > r.max {
			out = append(out, "Member must have length less than or equal to "+strconv.Itoa(r.max))
		}
	}
	if r.re != nil && !r.re.MatchString(s) {
		out = append(out, "Member must satisfy regular expression pattern: "+r.pattern)
	}
	if r.enum != nil {
		found := false
		for _, e := range r.enum {
			if e == s {
				found = true
				break
			}
		}
		if !found {
			out = append(out, "Member must satisfy enum value set: ["+strings.Join(r.enum, ", ")+"]")
		}
	}
	return out
}

func (r *stringRule) show(s string) string {
	if r.sensitive {
		return RedactedValue
	}
	return s
}

func (vd *validator) str(path, s string, r *stringRule) {
	for _, c := range r.violations(s) {
		vd.add(r.show(s), path, c)
	}
}

func (vd *validator) num(path string, n int64, r *numberRule) {
	if r.hasMin && n < r.min {
		vd.add(strconv.FormatInt(n, 10), path, "Member must have value greater than or equal to "+strconv.FormatInt(r.min, 10))
	}
	if r.hasMax && n > r.max {
		vd.add(strconv.FormatInt(n, 10), path, "Member must have value less than or equal to "+strconv.FormatInt(r.max, 10))
	}
}

func (vd *validator) size(path string, n int, r *sizeRule, render func() string) {
	show := func() string {
		if r.sensitive {
			return RedactedValue
		}
		return render()
	}
	if r.min >= 0 && n < r.min {
		vd.add(show(), path, "Member must have length greater than or equal to "+strconv.Itoa(r.min))
	}
	if r.max >= 0 && n > r.max {
		vd.add(show(), path, "Member must have length less than or equal to "+strconv.Itoa(r.max))
	}
}

// mapKey and mapValue report in the form AWS uses for map entries:
// "Map keys must satisfy constraint: [c1, c2]".
func (vd *validator) mapKey(path, k string, r *stringRule) {
	if cs := r.violations(k); len(cs) > 0 {
		vd.add(r.show(k), path, "Map keys must satisfy constraint: ["+strings.Join(cs, ", ")+"]")
	}
}

func (vd *validator) mapValue(path, v string, r *stringRule) {
	if cs := r.violations(v); len(cs) > 0 {
		vd.add(r.show(v), path, "Map value must satisfy constraint: ["+strings.Join(cs, ", ")+"]")
	}
}

func (vd *validator) err() error {
	switch len(vd.msgs) {
	case 0:
		return nil
	case 1:
		return &fault.Error{Code: fault.Invalid, Msg: "1 validation error detected: " + vd.msgs[0]}
	}
	return &fault.Error{Code: fault.Invalid, Msg: strconv.Itoa(len(vd.msgs)) + " validation errors detected: " + strings.Join(vd.msgs, "; ")}
}

// renderList and renderMap print collections as Java's toString does, which
// is how AWS echoes them: [a, b] and {k=v, k2=v2}.
func renderList[S ~string](xs []S) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = string(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func renderMap[V ~string](m map[string]V) string {
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + string(m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// sortedKeys makes map validation report in a stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
