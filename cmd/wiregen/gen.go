package main

import (
	"bytes"
	"fmt"
	"go/format"
	"go/token"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// handWritten are identifiers declared by hand in package wire; a shape with
// one of these names would not compile, so the generator refuses it.
var handWritten = map[string]bool{
	"Timestamp": true, "Caller": true, "Service": true, "Operation": true, "Operations": true,
	"Exceptions": true, "Input": true, "ExceptionFor": true, "WithCaller": true, "CallerFrom": true,
	"RedactedValue": true,
}

type generator struct {
	m         *Model
	validated map[string]bool // structures reachable from an operation input
	patterns  map[string]string
	patternID map[string]string // effective pattern -> Go var name
	typeNames map[string]string // shape -> Go type name (structures and enums)
	rules     map[string]bool   // shapes that need a rule var
}

// generate returns file name -> gofmt'ed source.
func generate(m *Model) (map[string][]byte, error) {
	g := &generator{m: m, validated: map[string]bool{}, patternID: map[string]string{}, typeNames: map[string]string{}, rules: map[string]bool{}}
	if err := g.names(); err != nil {
		return nil, err
	}
	for _, op := range g.ops() {
		g.reach(op.Input)
	}
	files := map[string]func() ([]byte, error){
		"shapes_gen.go":   g.shapesFile,
		"validate_gen.go": g.validateFile,
		"service_gen.go":  g.serviceFile,
	}
	out := map[string][]byte{}
	for name, f := range files {
		src, err := f()
		if err != nil {
			return nil, err
		}
		formatted, err := format.Source(src)
		if err != nil {
			return nil, fmt.Errorf("%s: gofmt: %w\n%s", name, err, src)
		}
		out[name] = formatted
	}
	return out, nil
}

func (g *generator) ops() []*Operation {
	var ops []*Operation
	for _, op := range g.m.Operations {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Name < ops[j].Name })
	return ops
}

func (g *generator) sortedShapes() []*Shape {
	var ss []*Shape
	for _, s := range g.m.Shapes {
		ss = append(ss, s)
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
	return ss
}

func exported(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// names assigns Go names and refuses anything that would not compile.
func (g *generator) names() error {
	used := map[string]string{}
	claim := func(id, owner string) error {
		if !token.IsIdentifier(id) || !token.IsExported(id) {
			return fmt.Errorf("%s: %q is not an exported Go identifier", owner, id)
		}
		if handWritten[id] {
			return fmt.Errorf("%s: Go name %s collides with a hand-written identifier in package wire", owner, id)
		}
		if prev, ok := used[id]; ok {
			return fmt.Errorf("%s: Go name %s already used by %s", owner, id, prev)
		}
		used[id] = owner
		return nil
	}
	for _, s := range g.sortedShapes() {
		if s.Type == "structure" || (s.Type == "string" && s.Enum != nil) {
			name := exported(s.Name)
			if err := claim(name, "shape "+s.Name); err != nil {
				return err
			}
			g.typeNames[s.Name] = name
		}
	}
	for _, s := range g.sortedShapes() {
		if s.Enum == nil {
			continue
		}
		for _, c := range g.enumConsts(s) {
			if err := claim(c.name, "enum "+s.Name+" value "+strconv.Quote(c.value)); err != nil {
				return err
			}
		}
	}
	for _, s := range g.sortedShapes() {
		if s.Type != "structure" {
			continue
		}
		fields := map[string]string{"Validate": "method"}
		for _, mem := range s.Members {
			f := exported(mem.Name)
			if !token.IsIdentifier(f) {
				return fmt.Errorf("shape %s member %s: %q is not a Go identifier", s.Name, mem.Name, f)
			}
			if prev, ok := fields[f]; ok {
				return fmt.Errorf("shape %s member %s: field name %s collides with %s", s.Name, mem.Name, f, prev)
			}
			fields[f] = "member " + mem.Name
		}
	}
	return nil
}

type enumConst struct{ name, value string }

// enumConsts names an enum's constants: type name + value in Go case
// ("LESS_THAN" -> LessThan, "Map_all" -> MapAll), numbered on a clash.
func (g *generator) enumConsts(s *Shape) []enumConst {
	var out []enumConst
	seen := map[string]int{}
	for _, v := range s.Enum {
		var b strings.Builder
		for _, part := range strings.FieldsFunc(v, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if strings.ToUpper(part) == part {
				part = strings.ToLower(part)
			}
			b.WriteString(exported(part))
		}
		suffix := b.String()
		if suffix == "" || !unicode.IsLetter([]rune(suffix)[0]) {
			suffix = "Value" + suffix
		}
		name := g.typeNames[s.Name] + suffix
		seen[name]++
		if n := seen[name]; n > 1 {
			name += strconv.Itoa(n)
		}
		out = append(out, enumConst{name, v})
	}
	return out
}

// goType is the Go type of a shape used as a list element or map value.
func (g *generator) goType(name string) (string, error) {
	s := g.m.Shapes[name]
	switch s.Type {
	case "structure":
		return g.typeNames[name], nil
	case "string":
		if s.Enum != nil {
			return g.typeNames[name], nil
		}
		return "string", nil
	case "integer":
		return "int32", nil
	case "long":
		return "int64", nil
	case "double":
		return "float64", nil
	case "boolean":
		return "bool", nil
	case "timestamp":
		return "Timestamp", nil
	case "list":
		t, err := g.goType(s.Member)
		return "[]" + t, err
	case "map":
		t, err := g.goType(s.Value)
		return "map[string]" + t, err
	}
	return "", fmt.Errorf("shape %s: type %s has no Go mapping", name, s.Type)
}

// fieldType is the Go type of a structure member: optional scalars and
// nested structures are pointers so "absent" survives a round trip.
func (g *generator) fieldType(name string) (string, error) {
	t, err := g.goType(name)
	if err != nil {
		return "", err
	}
	switch g.m.Shapes[name].Type {
	case "structure", "integer", "long", "double", "boolean", "timestamp":
		return "*" + t, nil
	}
	return t, nil
}

func (g *generator) reach(name string) {
	s := g.m.Shapes[name]
	switch s.Type {
	case "structure":
		if g.validated[name] {
			return
		}
		g.validated[name] = true
		for _, mem := range s.Members {
			g.reach(mem.Shape)
		}
	case "list":
		g.reach(s.Member)
	case "map":
		g.reach(s.Key)
		g.reach(s.Value)
	}
}

// ---- shapes_gen.go

func (g *generator) shapesFile() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("package wire\n\n")
	for _, s := range g.sortedShapes() {
		switch {
		case s.Type == "structure":
			if err := g.writeStruct(&b, s); err != nil {
				return nil, err
			}
		case s.Enum != nil:
			g.writeEnum(&b, s)
		}
	}
	return b.Bytes(), nil
}

func (g *generator) writeStruct(b *bytes.Buffer, s *Shape) error {
	name := g.typeNames[s.Name]
	switch {
	case s.Exception:
		fmt.Fprintf(b, "// %s is the %s exception (HTTP %d).\n", name, s.Name, s.HTTPCode)
	default:
		fmt.Fprintf(b, "// %s is the model shape %s.\n", name, s.Name)
	}
	fmt.Fprintf(b, "type %s struct {\n", name)
	var echoed [][2]string // field name, type: collections sent even when empty
	for _, mem := range s.Members {
		t, err := g.fieldType(mem.Shape)
		if err != nil {
			return fmt.Errorf("shape %s member %s: %w", s.Name, mem.Name, err)
		}
		tag := mem.WireName() + ",omitempty"
		if (s.Required[mem.Name] || echoedResults[s.Name+"."+mem.Name]) && g.isCollection(mem.Shape) {
			// A required list or map is echoed even when empty: Map_all's
			// "sourceFields": [] must come back as given (Terraform diffs it).
			// So are the results of list calls (echoedResults).
			tag = mem.WireName()
			if mem.Location == "" {
				echoed = append(echoed, [2]string{exported(mem.Name), t})
			}
		}
		comment := ""
		switch mem.Location {
		case "uri":
			tag, comment = "-", " // HTTP path label {"+mem.LocationName+"}"
		case "querystring":
			tag, comment = "-", " // HTTP query parameter "+mem.LocationName
		}
		if s.Required[mem.Name] && comment == "" {
			comment = " // required"
		} else if s.Required[mem.Name] {
			comment += ", required"
		}
		fmt.Fprintf(b, "\t%s %s `json:%q`%s\n", exported(mem.Name), t, tag, comment)
	}
	b.WriteString("}\n\n")
	if len(echoed) > 0 {
		// A nil collection would encode as null, which SDKs drop from a
		// required member (JS then throws on .includes): send [] or {}.
		fmt.Fprintf(b, "// MarshalJSON sends nil required lists and maps as [] and {}, never null.\n")
		fmt.Fprintf(b, "func (v %s) MarshalJSON() ([]byte, error) {\n\ttype plain %s\n", name, name)
		for _, f := range echoed {
			fmt.Fprintf(b, "\tif v.%s == nil {\n\t\tv.%s = %s{}\n\t}\n", f[0], f[0], f[1])
		}
		b.WriteString("\treturn marshalPlain(plain(v))\n}\n\n")
	}
	return nil
}

func (g *generator) writeEnum(b *bytes.Buffer, s *Shape) {
	name := g.typeNames[s.Name]
	consts := g.enumConsts(s)
	fmt.Fprintf(b, "// %s is the model enum %s.\ntype %s string\n\n", name, s.Name, name)
	fmt.Fprintf(b, "// Values of %s.\nconst (\n", name)
	for _, c := range consts {
		fmt.Fprintf(b, "\t%s %s = %q\n", c.name, name, c.value)
	}
	b.WriteString(")\n\n")
	fmt.Fprintf(b, "// Values lists every value of %s in model order.\nfunc (%s) Values() []%s {\n\treturn []%s{", name, name, name, name)
	for i, c := range consts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	b.WriteString("}\n}\n\n")
}

// ---- validate_gen.go

// hasRule says whether a scalar shape carries any constraint.
func hasRule(s *Shape) bool {
	return s.Min != nil || s.Max != nil || s.Pattern != nil || s.Enum != nil
}

func (g *generator) ruleName(shape string) string { return "rule" + exported(shape) }

func (g *generator) validateFile() ([]byte, error) {
	var body bytes.Buffer
	var names []string
	for n := range g.validated {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := g.writeValidate(&body, g.m.Shapes[n]); err != nil {
			return nil, err
		}
	}

	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("package wire\n\nimport (\n\t\"regexp\"\n")
	if bytes.Contains(body.Bytes(), []byte("strconv.")) {
		b.WriteString("\t\"strconv\"\n")
	}
	b.WriteString(")\n\n")

	var ruleShapes []string
	for n := range g.rules {
		ruleShapes = append(ruleShapes, n)
	}
	sort.Strings(ruleShapes)
	var rules bytes.Buffer
	rules.WriteString("var (\n")
	for _, n := range ruleShapes {
		if err := g.writeRule(&rules, g.m.Shapes[n]); err != nil {
			return nil, err
		}
	}
	rules.WriteString(")\n\n")

	// Patterns, compiled once, anchored: AWS matches the whole value.
	var pats []string
	for p := range g.patternID {
		pats = append(pats, p)
	}
	sort.Slice(pats, func(i, j int) bool { return g.patternID[pats[i]] < g.patternID[pats[j]] })
	b.WriteString("var (\n")
	for _, p := range pats {
		fmt.Fprintf(&b, "\t%s = regexp.MustCompile(%s)\n", g.patternID[p], goString(p))
	}
	b.WriteString(")\n\n")
	b.Write(rules.Bytes())
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

func goString(s string) string {
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

// pattern returns the Go var holding the compiled, anchored form of p.
func (g *generator) pattern(shape, p string) (string, error) {
	eff := p
	if o, ok := patternOverrides[p]; ok {
		eff = o
	}
	eff = "^(?:" + eff + ")$"
	if _, err := regexp.Compile(eff); err != nil {
		return "", fmt.Errorf("shape %s: pattern %q does not compile in RE2 (%v); add an override to patternOverrides in cmd/wiregen/overrides.go", shape, p, err)
	}
	if id, ok := g.patternID[eff]; ok {
		return id, nil
	}
	id := fmt.Sprintf("pattern%d", len(g.patternID))
	g.patternID[eff] = id
	return id, nil
}

func (g *generator) writeRule(b *bytes.Buffer, s *Shape) error {
	min, max := int64(-1), int64(-1)
	if s.Min != nil {
		min = *s.Min
	}
	if s.Max != nil {
		max = *s.Max
	}
	switch s.Type {
	case "string":
		fmt.Fprintf(b, "\t%s = &stringRule{min: %d, max: %d", g.ruleName(s.Name), min, max)
		if s.Pattern != nil {
			id, err := g.pattern(s.Name, *s.Pattern)
			if err != nil {
				return err
			}
			fmt.Fprintf(b, ", re: %s, pattern: %s", id, goString(*s.Pattern))
		}
		if s.Enum != nil {
			b.WriteString(", enum: []string{")
			for i, v := range s.Enum {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(strconv.Quote(v))
			}
			b.WriteString("}")
		}
		if s.Sensitive {
			b.WriteString(", sensitive: true")
		}
		b.WriteString("}\n")
	case "integer", "long":
		fmt.Fprintf(b, "\t%s = &numberRule{min: %d, max: %d, hasMin: %t, hasMax: %t}\n", g.ruleName(s.Name), min, max, s.Min != nil, s.Max != nil)
	case "list", "map":
		sensitive := false
		if s.Type == "list" {
			sensitive = g.m.Shapes[s.Member].Sensitive
		} else {
			sensitive = g.m.Shapes[s.Key].Sensitive || g.m.Shapes[s.Value].Sensitive
		}
		fmt.Fprintf(b, "\t%s = &sizeRule{min: %d, max: %d, sensitive: %t}\n", g.ruleName(s.Name), min, max, sensitive)
	default:
		return fmt.Errorf("shape %s: constraints on %s are not supported", s.Name, s.Type)
	}
	return nil
}

func (g *generator) writeValidate(b *bytes.Buffer, s *Shape) error {
	name := g.typeNames[s.Name]
	fmt.Fprintf(b, "// Validate checks v against every constraint of the model and returns a\n// *fault.Error (fault.Invalid) listing each violation, or nil.\n")
	fmt.Fprintf(b, "func (v *%s) Validate() error {\n\tvd := new(validator)\n\tv.validate(vd, \"\")\n\treturn vd.err()\n}\n\n", name)
	fmt.Fprintf(b, "func (v *%s) validate(vd *validator, p string) {\n\tif v == nil {\n\t\treturn\n\t}\n", name)
	for _, mem := range s.Members {
		if err := g.writeMember(b, s, mem); err != nil {
			return fmt.Errorf("shape %s member %s: %w", s.Name, mem.Name, err)
		}
	}
	b.WriteString("}\n\n")
	return nil
}

func (g *generator) writeMember(b *bytes.Buffer, parent *Shape, mem *Member) error {
	t := g.m.Shapes[mem.Shape]
	field := "v." + exported(mem.Name)
	path := "p+" + strconv.Quote(mem.WireName())
	req := parent.Required[mem.Name]

	var absent, present, check string
	var err error
	switch t.Type {
	case "string":
		absent, present = field+` == ""`, field+` != ""`
		if hasRule(t) {
			g.rules[t.Name] = true
			check = fmt.Sprintf("vd.str(%s, %s, %s)\n", path, asString(t, field), g.ruleName(t.Name))
		}
	case "integer", "long":
		absent, present = field+" == nil", field+" != nil"
		if hasRule(t) {
			g.rules[t.Name] = true
			check = fmt.Sprintf("vd.num(%s, int64(*%s), %s)\n", path, field, g.ruleName(t.Name))
		}
	case "double", "boolean", "timestamp":
		absent, present = field+" == nil", field+" != nil"
		if hasRule(t) {
			return fmt.Errorf("constraints on %s shape %s are not supported", t.Type, t.Name)
		}
	case "structure":
		absent, present = field+" == nil", field+" != nil"
		check = fmt.Sprintf("%s.validate(vd, %s)\n", field, dotted(path))
	case "list", "map":
		absent, present = field+" == nil", field+" != nil"
		check, err = g.collectionCheck(t, field, path)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("type %s is not supported", t.Type)
	}

	switch {
	case req && check != "":
		fmt.Fprintf(b, "\tif %s {\n\t\tvd.missing(%s)\n\t} else {\n%s\t}\n", absent, path, check)
	case req:
		fmt.Fprintf(b, "\tif %s {\n\t\tvd.missing(%s)\n\t}\n", absent, path)
	case check != "":
		fmt.Fprintf(b, "\tif %s {\n%s\t}\n", present, check)
	}
	return nil
}

// collectionCheck validates a present list or map: its size, then each
// element (list paths "x.1.member", AWS style) or each key and value.
func (g *generator) collectionCheck(t *Shape, field, path string) (string, error) {
	var b strings.Builder
	if t.Min != nil || t.Max != nil {
		g.rules[t.Name] = true
		render, err := g.renderFunc(t, field)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "vd.size(%s, len(%s), %s, %s)\n", path, field, g.ruleName(t.Name), render)
	}
	if t.Type == "list" {
		elem := g.m.Shapes[t.Member]
		elemPath := path[:len(path)-1] + ".\"+strconv.Itoa(i+1)+\".member\""
		inner, err := g.valueCheck(elem, field+"[i]", elemPath)
		if err != nil {
			return "", fmt.Errorf("list %s: %w", t.Name, err)
		}
		if inner != "" {
			fmt.Fprintf(&b, "for i := range %s {\n%s}\n", field, inner)
		}
		return b.String(), nil
	}
	key, val := g.m.Shapes[t.Key], g.m.Shapes[t.Value]
	var inner strings.Builder
	if hasRule(key) {
		g.rules[key.Name] = true
		fmt.Fprintf(&inner, "vd.mapKey(%s, k, %s)\n", path, g.ruleName(key.Name))
	}
	switch val.Type {
	case "string":
		if hasRule(val) {
			g.rules[val.Name] = true
			fmt.Fprintf(&inner, "vd.mapValue(%s, %s, %s)\n", path, asString(val, field+"[k]"), g.ruleName(val.Name))
		}
	case "structure":
		fmt.Fprintf(&inner, "elem := %s[k]\nelem.validate(vd, %s+\".\"+k+\".\")\n", field, path)
	default:
		if hasRule(val) || val.Type == "list" || val.Type == "map" {
			return "", fmt.Errorf("map %s: values of type %s are not supported in input shapes", t.Name, val.Type)
		}
	}
	if inner.Len() > 0 {
		fmt.Fprintf(&b, "for _, k := range sortedKeys(%s) {\n%s}\n", field, inner.String())
	}
	return b.String(), nil
}

// valueCheck validates one list element.
func (g *generator) valueCheck(s *Shape, expr, path string) (string, error) {
	switch s.Type {
	case "string":
		if !hasRule(s) {
			return "", nil
		}
		g.rules[s.Name] = true
		return fmt.Sprintf("vd.str(%s, %s, %s)\n", path, asString(s, expr), g.ruleName(s.Name)), nil
	case "integer", "long":
		if !hasRule(s) {
			return "", nil
		}
		g.rules[s.Name] = true
		return fmt.Sprintf("vd.num(%s, int64(%s), %s)\n", path, expr, g.ruleName(s.Name)), nil
	case "structure":
		return fmt.Sprintf("%s.validate(vd, %s)\n", expr, dotted(path)), nil
	case "double", "boolean", "timestamp":
		if hasRule(s) {
			return "", fmt.Errorf("constraints on %s shape %s are not supported", s.Type, s.Name)
		}
		return "", nil
	}
	return "", fmt.Errorf("elements of type %s (shape %s) are not supported in input shapes", s.Type, s.Name)
}

// renderFunc returns a func literal that renders a collection for a size
// violation message, as Java's toString would.
func (g *generator) renderFunc(t *Shape, field string) (string, error) {
	if t.Type == "list" {
		if e := g.m.Shapes[t.Member]; e.Type != "string" {
			return "", fmt.Errorf("list %s: a size constraint on a list of %s is not supported", t.Name, e.Type)
		}
		return fmt.Sprintf("func() string { return renderList(%s) }", field), nil
	}
	if v := g.m.Shapes[t.Value]; v.Type != "string" {
		return "", fmt.Errorf("map %s: a size constraint on a map of %s is not supported", t.Name, v.Type)
	}
	return fmt.Sprintf("func() string { return renderMap(%s) }", field), nil
}

// ---- service_gen.go

var labelRE = regexp.MustCompile(`\{([^}]*)\}`)

func (g *generator) serviceFile() ([]byte, error) {
	var ops bytes.Buffer
	for _, op := range g.ops() {
		if err := g.writeOperation(&ops, op); err != nil {
			return nil, fmt.Errorf("operation %s: %w", op.Name, err)
		}
	}
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("package wire\n\nimport (\n\t\"context\"\n")
	if bytes.Contains(ops.Bytes(), []byte("url.Values")) {
		b.WriteString("\t\"net/url\"\n")
	}
	b.WriteString(")\n\n")

	b.WriteString("// Exceptions maps each modeled exception to its HTTP status.\nvar Exceptions = map[string]int{\n")
	for _, s := range g.sortedShapes() {
		if s.Exception {
			if s.HTTPCode < 400 || s.HTTPCode > 599 {
				return nil, fmt.Errorf("exception %s: httpStatusCode %d is not an error status", s.Name, s.HTTPCode)
			}
			fmt.Fprintf(&b, "\t%q: %d,\n", s.Name, s.HTTPCode)
		}
	}
	b.WriteString("}\n\n")

	b.WriteString("// Service is the AppFlow API, one method per operation.\ntype Service interface {\n")
	for _, op := range g.ops() {
		fmt.Fprintf(&b, "\t%s(ctx context.Context, in *%s) (*%s, error)\n", op.Name, g.typeNames[op.Input], g.typeNames[op.Output])
	}
	b.WriteString("}\n\n")

	b.WriteString("// Operations lists every operation with its route, sorted by name.\nvar Operations = []Operation{\n")
	b.Write(ops.Bytes())
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func (g *generator) writeOperation(b *bytes.Buffer, op *Operation) error {
	switch op.Method {
	case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD":
	default:
		return fmt.Errorf("HTTP method %q is not supported", op.Method)
	}
	if !strings.HasPrefix(op.URI, "/") || strings.ContainsAny(op.URI, "?#") {
		return fmt.Errorf("requestUri %q: only a plain path is supported", op.URI)
	}
	in, out := g.m.Shapes[op.Input], g.m.Shapes[op.Output]
	if in.Type != "structure" || out.Type != "structure" {
		return fmt.Errorf("input and output must be structures")
	}
	for _, mem := range out.Members {
		if mem.Location != "" {
			return fmt.Errorf("output member %s: location %q is not supported", mem.Name, mem.Location)
		}
	}
	labels := map[string]bool{}
	for _, m := range labelRE.FindAllStringSubmatch(op.URI, -1) {
		if strings.HasSuffix(m[1], "+") {
			return fmt.Errorf("greedy label %s is not supported", m[0])
		}
		labels[m[1]] = true
	}
	inName := g.typeNames[op.Input]
	var bind strings.Builder
	bodyMembers := false
	for _, mem := range in.Members {
		t := g.m.Shapes[mem.Shape]
		field := "v." + exported(mem.Name)
		switch mem.Location {
		case "":
			bodyMembers = true
		case "uri":
			if !labels[mem.LocationName] {
				return fmt.Errorf("member %s is bound to {%s}, which is not in %s", mem.Name, mem.LocationName, op.URI)
			}
			delete(labels, mem.LocationName)
			if t.Type != "string" || t.Enum != nil {
				return fmt.Errorf("path label %s: only plain strings are supported", mem.Name)
			}
			fmt.Fprintf(&bind, "%s = labels[%q]\n", field, mem.LocationName)
		case "querystring":
			switch {
			case t.Type == "string" && t.Enum == nil:
				fmt.Fprintf(&bind, "%s = query.Get(%q)\n", field, mem.LocationName)
			case t.Type == "list" && g.m.Shapes[t.Member].Type == "string" && g.m.Shapes[t.Member].Enum == nil:
				fmt.Fprintf(&bind, "%s = query[%q]\n", field, mem.LocationName)
			default:
				return fmt.Errorf("query parameter %s: type %s is not supported", mem.Name, t.Type)
			}
		}
	}
	if len(labels) > 0 {
		return fmt.Errorf("path labels %v have no input member", labels)
	}
	fmt.Fprintf(b, "\t{\n\t\tName: %q,\n\t\tMethod: %q,\n\t\tPath: %q,\n\t\tHasBody: %t,\n", op.Name, op.Method, op.URI, bodyMembers)
	fmt.Fprintf(b, "\t\tNewInput: func() Input { return new(%s) },\n", inName)
	fmt.Fprintf(b, "\t\tNewOutput: func() any { return new(%s) },\n", g.typeNames[op.Output])
	if bind.Len() > 0 {
		fmt.Fprintf(b, "\t\tBind: func(in Input, labels map[string]string, query url.Values) {\n\t\t\tv := in.(*%s)\n%s\t\t},\n", inName, bind.String())
	}
	fmt.Fprintf(b, "\t\tInvoke: func(ctx context.Context, svc Service, in Input) (any, error) {\n\t\t\tout, err := svc.%s(ctx, in.(*%s))\n\t\t\tif out == nil {\n\t\t\t\treturn nil, err\n\t\t\t}\n\t\t\treturn out, err\n\t\t},\n", op.Name, inName)
	var errs []string
	for _, e := range op.Errors {
		errs = append(errs, strconv.Quote(e))
	}
	fmt.Fprintf(b, "\t\tErrors: []string{%s},\n\t},\n", strings.Join(errs, ", "))
	return nil
}

const header = "// Code generated by cmd/wiregen from model/appflow-2020-08-23.model.json. DO NOT EDIT.\n\n"

// asString converts an enum-typed expression to string for the validator.
func asString(s *Shape, expr string) string {
	if s.Enum != nil {
		return "string(" + expr + ")"
	}
	return expr
}

// dotted turns a path expression ending in a quoted literal into the prefix
// for nested members: p+"a" -> p+"a.", p+"x.1.member" likewise.
func dotted(path string) string { return path[:len(path)-1] + ".\"" }

// isCollection reports whether a shape is a list or a map.
func (g *generator) isCollection(name string) bool {
	t := g.m.Shapes[name].Type
	return t == "list" || t == "map"
}
