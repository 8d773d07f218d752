package httpconn

import (
	"context"
	"encoding/json"
	"maps"
	"testing"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

func TestBufferKeep(t *testing.T) {
	type kept struct {
		*Pending
		n int
	}
	b := &Buffer[kept]{Vendor: "Acme"}
	batch := &record.Batch{Fields: []string{"a", "b"}, Split: "in.csv", FirstLine: 5}
	batch.AppendRow([]record.Value{record.IntVal(1), {}})
	batch.AppendRow([]record.Value{record.NullVal(), record.Str("x")})
	n := 0
	set := func(p *Pending, field string, v record.Value) { p.Body[field] = JSONValue(v) }
	keep := func(p *Pending) kept { n++; return kept{p, n} }
	if err := b.Keep(context.Background(), batch, set, keep); err != nil {
		t.Fatal(err)
	}
	if len(b.Recs) != 2 {
		t.Fatalf("kept %d records, want 2", len(b.Recs))
	}
	for i, c := range []struct {
		line int64
		text map[string]string
		body map[string]any
	}{
		{5, map[string]string{"a": "1"}, map[string]any{"a": int64(1)}}, // b Missing: left out
		{6, map[string]string{"a": "", "b": "x"}, map[string]any{"a": nil, "b": "x"}},
	} {
		r := b.Recs[i]
		if r.n != i+1 || r.Split != "in.csv" || r.Line != c.line || !maps.Equal(r.Text, c.text) || !maps.Equal(r.Body, c.body) {
			t.Errorf("record %d = %d %s:%d text %v body %v, want %d in.csv:%d text %v body %v", i, r.n, r.Split, r.Line, r.Text, r.Body, i+1, c.line, c.text, c.body)
		}
	}
	if err := b.Abort(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Keep(context.Background(), batch, set, keep); fault.CodeOf(err) != fault.Internal {
		t.Errorf("Keep after Abort: %v, want fault.Internal", err)
	}
}

func TestJSONValue(t *testing.T) {
	for _, c := range []struct {
		v    record.Value
		want string
	}{
		{record.NullVal(), `null`},
		{record.IntVal(-3), `-3`},
		{record.FloatVal(1.5), `1.5`},
		{record.BoolVal(true), `true`},
		{record.DecimalVal("12345678901234567890.5"), `12345678901234567890.5`},
		{record.JSONVal(`{"k":[1]}`), `{"k":[1]}`},
		{record.Str("s"), `"s"`},
		{record.MillisVal(0), `"1970-01-01T00:00:00.000Z"`},
	} {
		got, err := json.Marshal(JSONValue(c.v))
		if err != nil || string(got) != c.want {
			t.Errorf("JSONValue(%v) = %s, %v; want %s", c.v, got, err, c.want)
		}
	}
}
