package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

// Model is the subset of a botocore service model the generator understands.
// Every key it does not know is an error: reading it silently would mean
// generating code that ignores a constraint.
type Model struct {
	Metadata   map[string]any
	Operations map[string]*Operation
	Shapes     map[string]*Shape
}

type Operation struct {
	Name   string
	Method string
	URI    string
	Input  string
	Output string
	Errors []string
}

type Shape struct {
	Name      string
	Type      string
	Members   []*Member // structure, in model order
	Required  map[string]bool
	Member    string // list element shape
	Key       string // map key shape
	Value     string // map value shape
	Min, Max  *int64
	Pattern   *string
	Enum      []string
	Sensitive bool
	Exception bool
	HTTPCode  int // error.httpStatusCode
}

type Member struct {
	Name             string // model member name
	Shape            string
	JSONName         string
	Location         string // "", "uri", "querystring"
	LocationName     string
	IdempotencyToken bool
}

// WireName is the name of the member in a JSON body.
func (m *Member) WireName() string {
	if m.JSONName != "" {
		return m.JSONName
	}
	return m.Name
}

func loadModel(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseModel(data)
}

func parseModel(data []byte) (*Model, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("parse model: %w", err)
	}
	if err := onlyKeys("model", top, "metadata", "operations", "shapes", "version", "documentation"); err != nil {
		return nil, err
	}
	m := &Model{Operations: map[string]*Operation{}, Shapes: map[string]*Shape{}}
	if err := json.Unmarshal(top["metadata"], &m.Metadata); err != nil {
		return nil, fmt.Errorf("parse metadata: %w", err)
	}
	if p, _ := m.Metadata["protocol"].(string); p != "rest-json" {
		return nil, fmt.Errorf("metadata.protocol %q: only rest-json is supported", p)
	}

	var ops map[string]json.RawMessage
	if err := json.Unmarshal(top["operations"], &ops); err != nil {
		return nil, fmt.Errorf("parse operations: %w", err)
	}
	for name, raw := range ops {
		op, err := parseOperation(name, raw)
		if err != nil {
			return nil, err
		}
		m.Operations[name] = op
	}

	var shapes map[string]json.RawMessage
	if err := json.Unmarshal(top["shapes"], &shapes); err != nil {
		return nil, fmt.Errorf("parse shapes: %w", err)
	}
	for name, raw := range shapes {
		s, err := parseShape(name, raw)
		if err != nil {
			return nil, err
		}
		m.Shapes[name] = s
	}
	return m, m.check()
}

func parseOperation(name string, raw json.RawMessage) (*Operation, error) {
	var o struct {
		Name string
		HTTP struct {
			Method     string
			RequestURI string
		}
		Input  struct{ Shape string }
		Output struct{ Shape string }
		Errors []struct{ Shape string }
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, fmt.Errorf("operation %s: %w", name, err)
	}
	if err := onlyKeys("operation "+name, keys, "name", "http", "input", "output", "errors"); err != nil {
		return nil, err
	}
	var httpKeys map[string]json.RawMessage
	if err := json.Unmarshal(keys["http"], &httpKeys); err != nil {
		return nil, fmt.Errorf("operation %s http: %w", name, err)
	}
	// responseCode, authtype, endpoint, httpChecksum ... would change behaviour.
	if err := onlyKeys("operation "+name+" http", httpKeys, "method", "requestUri"); err != nil {
		return nil, err
	}
	if err := strictUnmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("operation %s: %w", name, err)
	}
	if o.Input.Shape == "" || o.Output.Shape == "" {
		return nil, fmt.Errorf("operation %s: input and output shapes are required", name)
	}
	op := &Operation{Name: name, Method: o.HTTP.Method, URI: o.HTTP.RequestURI, Input: o.Input.Shape, Output: o.Output.Shape}
	for _, e := range o.Errors {
		op.Errors = append(op.Errors, e.Shape)
	}
	return op, nil
}

var shapeKeys = map[string][]string{
	"structure": {"type", "members", "required", "error", "exception"},
	"string":    {"type", "min", "max", "pattern", "enum", "sensitive"},
	"list":      {"type", "member", "min", "max"},
	"map":       {"type", "key", "value", "min", "max"},
	"integer":   {"type", "min", "max"},
	"long":      {"type", "min", "max"},
	"double":    {"type"},
	"boolean":   {"type"},
	"timestamp": {"type"},
}

func parseShape(name string, raw json.RawMessage) (*Shape, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, fmt.Errorf("shape %s: %w", name, err)
	}
	var typ string
	if err := json.Unmarshal(keys["type"], &typ); err != nil {
		return nil, fmt.Errorf("shape %s: type: %w", name, err)
	}
	allowed, ok := shapeKeys[typ]
	if !ok {
		return nil, fmt.Errorf("shape %s: type %q is not supported", name, typ)
	}
	if err := onlyKeys("shape "+name, keys, allowed...); err != nil {
		return nil, err
	}
	s := &Shape{Name: name, Type: typ, Required: map[string]bool{}}
	var err error
	if s.Min, err = intKey(keys, "min"); err != nil {
		return nil, fmt.Errorf("shape %s: %w", name, err)
	}
	if s.Max, err = intKey(keys, "max"); err != nil {
		return nil, fmt.Errorf("shape %s: %w", name, err)
	}
	if r, ok := keys["pattern"]; ok {
		var p string
		if err := json.Unmarshal(r, &p); err != nil {
			return nil, fmt.Errorf("shape %s: pattern: %w", name, err)
		}
		s.Pattern = &p
	}
	if r, ok := keys["enum"]; ok {
		if err := json.Unmarshal(r, &s.Enum); err != nil || len(s.Enum) == 0 {
			return nil, fmt.Errorf("shape %s: enum must be a non-empty list of strings", name)
		}
	}
	if r, ok := keys["sensitive"]; ok {
		if err := json.Unmarshal(r, &s.Sensitive); err != nil {
			return nil, fmt.Errorf("shape %s: sensitive: %w", name, err)
		}
	}
	if r, ok := keys["exception"]; ok {
		if err := json.Unmarshal(r, &s.Exception); err != nil {
			return nil, fmt.Errorf("shape %s: exception: %w", name, err)
		}
	}
	if r, ok := keys["error"]; ok {
		var e map[string]json.RawMessage
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("shape %s: error: %w", name, err)
		}
		// senderFault and code would change what we send; not handled.
		if err := onlyKeys("shape "+name+" error", e, "httpStatusCode"); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(e["httpStatusCode"], &s.HTTPCode); err != nil {
			return nil, fmt.Errorf("shape %s: error.httpStatusCode: %w", name, err)
		}
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"member", &s.Member}, {"key", &s.Key}, {"value", &s.Value}} {
		r, ok := keys[k.key]
		if !ok {
			continue
		}
		var ref map[string]json.RawMessage
		if err := json.Unmarshal(r, &ref); err != nil {
			return nil, fmt.Errorf("shape %s: %s: %w", name, k.key, err)
		}
		if err := onlyKeys("shape "+name+" "+k.key, ref, "shape"); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(ref["shape"], k.dst); err != nil {
			return nil, fmt.Errorf("shape %s: %s.shape: %w", name, k.key, err)
		}
	}
	if r, ok := keys["required"]; ok {
		var req []string
		if err := json.Unmarshal(r, &req); err != nil {
			return nil, fmt.Errorf("shape %s: required: %w", name, err)
		}
		for _, q := range req {
			s.Required[q] = true
		}
	}
	if r, ok := keys["members"]; ok {
		order, err := objectKeys(r)
		if err != nil {
			return nil, fmt.Errorf("shape %s: members: %w", name, err)
		}
		var members map[string]map[string]json.RawMessage
		if err := json.Unmarshal(r, &members); err != nil {
			return nil, fmt.Errorf("shape %s: members: %w", name, err)
		}
		for _, mn := range order {
			mk := members[mn]
			// box: every scalar is a pointer in Go already, so nothing to do.
			// idempotencyToken: the service fills a missing token; kept as data.
			if err := onlyKeys("shape "+name+" member "+mn, mk, "shape", "location", "locationName", "jsonName", "idempotencyToken", "box"); err != nil {
				return nil, err
			}
			mem := &Member{Name: mn}
			for _, f := range []struct {
				key string
				dst *string
			}{{"shape", &mem.Shape}, {"location", &mem.Location}, {"locationName", &mem.LocationName}, {"jsonName", &mem.JSONName}} {
				if rv, ok := mk[f.key]; ok {
					if err := json.Unmarshal(rv, f.dst); err != nil {
						return nil, fmt.Errorf("shape %s member %s: %s: %w", name, mn, f.key, err)
					}
				}
			}
			if rv, ok := mk["idempotencyToken"]; ok {
				if err := json.Unmarshal(rv, &mem.IdempotencyToken); err != nil {
					return nil, fmt.Errorf("shape %s member %s: idempotencyToken: %w", name, mn, err)
				}
			}
			switch mem.Location {
			case "", "uri", "querystring":
			default:
				return nil, fmt.Errorf("shape %s member %s: location %q is not supported", name, mn, mem.Location)
			}
			s.Members = append(s.Members, mem)
		}
	}
	return s, nil
}

// check verifies cross-references once every shape is parsed.
func (m *Model) check() error {
	ref := func(from, to string) error {
		if _, ok := m.Shapes[to]; !ok {
			return fmt.Errorf("%s refers to unknown shape %q", from, to)
		}
		return nil
	}
	for _, s := range m.Shapes {
		switch s.Type {
		case "structure":
			names := map[string]bool{}
			for _, mem := range s.Members {
				names[mem.Name] = true
				if err := ref("shape "+s.Name+" member "+mem.Name, mem.Shape); err != nil {
					return err
				}
			}
			for r := range s.Required {
				if !names[r] {
					return fmt.Errorf("shape %s: required member %q does not exist", s.Name, r)
				}
			}
		case "list":
			if err := ref("list "+s.Name, s.Member); err != nil {
				return err
			}
		case "map":
			if err := ref("map "+s.Name, s.Key); err != nil {
				return err
			}
			if err := ref("map "+s.Name, s.Value); err != nil {
				return err
			}
			if m.Shapes[s.Key].Type != "string" {
				return fmt.Errorf("map %s: key shape %s is %s; only string keys are supported", s.Name, s.Key, m.Shapes[s.Key].Type)
			}
		}
	}
	for _, op := range m.Operations {
		for _, n := range append([]string{op.Input, op.Output}, op.Errors...) {
			if err := ref("operation "+op.Name, n); err != nil {
				return err
			}
		}
		for _, e := range op.Errors {
			if !m.Shapes[e].Exception {
				return fmt.Errorf("operation %s: error %s is not an exception shape", op.Name, e)
			}
		}
	}
	return nil
}

func onlyKeys(where string, obj map[string]json.RawMessage, allowed ...string) error {
	var bad []string
	for k := range obj {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("%s: unsupported key(s) %q (wiregen handles %q)", where, bad, allowed)
	}
	return nil
}

func intKey(keys map[string]json.RawMessage, k string) (*int64, error) {
	r, ok := keys[k]
	if !ok {
		return nil, nil
	}
	var f json.Number
	if err := json.Unmarshal(r, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	n, err := f.Int64()
	if err != nil {
		return nil, fmt.Errorf("%s: %s is not an integer; fractional bounds are not supported", k, f)
	}
	return &n, nil
}

// objectKeys returns the keys of a JSON object in document order.
func objectKeys(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("expected an object")
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func strictUnmarshal(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
