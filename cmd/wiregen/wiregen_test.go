package main

import (
	"regexp"
	"strings"
	"testing"
)

// overrideExamples are what each original (Java) pattern intends to accept
// and refuse; every override must agree with all of them.
var overrideExamples = map[string]map[string]bool{
	`^(?!aws:)[a-zA-Z+-=._:/]+$`: {
		"env": true, "a": true, "aw": true, "aws": true, "awsx": true, "aws-": true, "aws/": true, "aws;": true,
		"AWS:x": true, "Aws:": true, "x:aws:": true, "k=v.1_2/3:4": true, "a+b-c<d": true,
		"aws:": false, "aws:x": false, "aws:aws": false, "": false, "with space": false, "é": false, "a*b": false, "a\n": false,
	},
	`[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*`: {
		"": true, "db_name": true, "with space\tand tab": true, "ümlaut 名前": true, "emoji 😀": true, "\U0010FFFF": true, "\uFFFD": true,
		"new\nline": false, "cr\r": false, "nul\x00": false, "\x1f": false, "\uFFFE": false, "\uFFFF": false,
	},
}

func TestPatternOverrides(t *testing.T) {
	m, err := loadModel("../../model/appflow-2020-08-23.model.json")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, s := range m.Shapes {
		if s.Pattern != nil {
			used[*s.Pattern] = true
		}
	}
	for orig, repl := range patternOverrides {
		if !used[orig] {
			t.Errorf("override for %q: no shape in the model uses this pattern; remove it", orig)
		}
		if _, err := regexp.Compile(orig); err == nil {
			t.Errorf("override for %q: RE2 compiles the original, so the override is not needed", orig)
		}
		re := regexp.MustCompile("^(?:" + repl + ")$")
		examples := overrideExamples[orig]
		if len(examples) == 0 {
			t.Errorf("override for %q has no examples", orig)
		}
		for s, want := range examples {
			if got := re.MatchString(s); got != want {
				t.Errorf("override for %q on %q: match = %t, want %t", orig, s, got, want)
			}
		}
	}
}

func TestGenerateRefusesWhatItCannotHandle(t *testing.T) {
	const base = `{"metadata":{"protocol":"rest-json"},"operations":{"Op":{"name":"Op","http":{"method":"POST","requestUri":"/op"},"input":{"shape":"In"},"output":{"shape":"Out"},"errors":[]}},"shapes":{%s}}`
	okShapes := `"In":{"type":"structure","members":{"a":{"shape":"S"}}},"Out":{"type":"structure","members":{}},"S":{"type":"string","pattern":"\\S+"}`
	tests := []struct {
		name, shapes, want string
	}{
		{"accepts a minimal model", okShapes, ""},
		{"unknown shape type", okShapes + `,"B":{"type":"blob"}`, `type "blob" is not supported`},
		{"unknown shape trait", `"In":{"type":"structure","members":{}},"Out":{"type":"structure","members":{}},"S":{"type":"string","deprecated":true}`, `unsupported key(s) ["deprecated"]`},
		{"unknown member trait", `"In":{"type":"structure","members":{"a":{"shape":"S","hostLabel":true}}},"Out":{"type":"structure","members":{}},"S":{"type":"string"}`, `unsupported key(s) ["hostLabel"]`},
		{"header binding", `"In":{"type":"structure","members":{"a":{"shape":"S","location":"header","locationName":"X-A"}}},"Out":{"type":"structure","members":{}},"S":{"type":"string"}`, `location "header" is not supported`},
		{"uncompilable pattern without override", `"In":{"type":"structure","members":{"a":{"shape":"S"}}},"Out":{"type":"structure","members":{}},"S":{"type":"string","pattern":"(?=x)y"}`, "add an override"},
		{"fractional bound", `"In":{"type":"structure","members":{"a":{"shape":"S"}}},"Out":{"type":"structure","members":{}},"S":{"type":"string","max":1.5}`, "fractional bounds"},
		{"constraint on a double", `"In":{"type":"structure","members":{"a":{"shape":"D"}}},"Out":{"type":"structure","members":{}},"D":{"type":"double","min":1}`, `unsupported key(s) ["min"]`},
		{"size limit on a list of structures", `"In":{"type":"structure","members":{"a":{"shape":"L"}}},"Out":{"type":"structure","members":{}},"L":{"type":"list","member":{"shape":"Out"},"max":2}`, "size constraint on a list of structure"},
		{"unknown required member", `"In":{"type":"structure","members":{},"required":["x"]},"Out":{"type":"structure","members":{}}`, `required member "x" does not exist`},
		{"shape named like a hand-written type", `"In":{"type":"structure","members":{"a":{"shape":"Timestamp"}}},"Out":{"type":"structure","members":{}},"Timestamp":{"type":"structure","members":{}}`, "collides with a hand-written identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseModel([]byte(strings.Replace(base, "%s", tt.shapes, 1)))
			if err == nil {
				_, err = generate(m)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got error %v, want success", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEnumConstNames(t *testing.T) {
	g := &generator{typeNames: map[string]string{"E": "E"}}
	got := g.enumConsts(&Shape{Name: "E", Enum: []string{"LESS_THAN", "Map_all", "S3", "OnDemand", "a-b", "A_B", "9x", "BULKV2"}})
	want := []string{"ELessThan", "EMapAll", "ES3", "EOnDemand", "EAB", "EAB2", "EValue9x", "EBulkv2"}
	for i, c := range got {
		if c.name != want[i] {
			t.Errorf("value %q: const %s, want %s", c.value, c.name, want[i])
		}
	}
}
