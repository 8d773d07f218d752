package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// TestNoResponseShapeEncodesNull encodes the zero value of every struct a
// response can hold: no member may come out null (a required list or map
// that is nil must be [] or {}; SDKs drop a null required member).
func TestNoResponseShapeEncodesNull(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var visit func(reflect.Type)
	visit = func(rt reflect.Type) {
		switch rt.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			visit(rt.Elem())
			return
		case reflect.Struct:
		default:
			return
		}
		if seen[rt] || rt.PkgPath() != reflect.TypeOf(Operation{}).PkgPath() {
			return
		}
		seen[rt] = true
		b, err := json.Marshal(reflect.New(rt).Interface())
		if err != nil {
			t.Errorf("%s: %v", rt.Name(), err)
		}
		if bytes.Contains(b, []byte("null")) {
			t.Errorf("%s encodes a null member: %s", rt.Name(), b)
		}
		for i := range rt.NumField() {
			visit(rt.Field(i).Type)
		}
	}
	for _, op := range Operations {
		visit(reflect.TypeOf(op.NewOutput()))
	}
	if len(seen) < 30 {
		t.Fatalf("visited only %d shapes; the walk is broken", len(seen))
	}
	// The case that broke the JS SDK: a field without operators.
	b, _ := json.Marshal(DescribeConnectorEntityResponse{ConnectorEntityFields: []ConnectorEntityField{{Identifier: "id",
		SupportedFieldTypeDetails: &SupportedFieldTypeDetails{V1: &FieldTypeDetails{FieldType: "string"}}}}})
	if !bytes.Contains(b, []byte(`"filterOperators":[]`)) {
		t.Errorf("a field without operators: %s, want \"filterOperators\":[]", b)
	}
}
