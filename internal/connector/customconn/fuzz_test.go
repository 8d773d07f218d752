package customconn

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// answerLambda answers every invocation with the same payload.
type answerLambda struct {
	payload []byte
	calls   int
}

func (a *answerLambda) Invoke(context.Context, string, []byte) ([]byte, error) {
	a.calls++
	return a.payload, nil
}

// fuzzQuery reads an entity from a connector Lambda answering payload to
// every QueryData, and returns the rows.
func fuzzQuery(t *testing.T, payload string) (int, error) {
	inv := &answerLambda{payload: []byte(payload)}
	d := &driver{c: &client{inv: inv, arn: "arn:aws:lambda:us-east-1:123456789012:function:conn"}}
	fields := []FieldDefinition{{FieldName: "id", DataType: "String"}, {FieldName: "amount", DataType: "Integer"}, {FieldName: "price", DataType: "Double"}}
	e := &entity{name: "accounts", fields: fields, byName: map[string]FieldDefinition{}}
	for _, f := range fields {
		e.byName[f.FieldName] = f
	}
	s := connector.Split{Name: "accounts", Opaque: &sourceSplit{entity: e, props: &flowProperties{EntityName: "accounts"}}}
	rows, finals := 0, 0
	err := d.ReadSplit(context.Background(), &connector.ReadRequest{}, s, func(b *record.Batch) error {
		if w := len(b.Fields); w > 0 && len(b.Cells)%w != 0 {
			t.Fatalf("%d cells for %d fields", len(b.Cells), w)
		}
		rows += b.Len()
		if b.Final {
			finals++
		}
		return nil
	})
	if inv.calls > 100 {
		t.Fatalf("%d QueryData calls for one answer repeated", inv.calls)
	}
	if err == nil && finals != 1 {
		t.Fatalf("%d Final batches", finals)
	}
	return rows, err
}

// Whatever a connector Lambda answers QueryData, the read fails as a
// classified fault or gives each record of the answer.
func FuzzQueryData(f *testing.F) {
	for _, s := range []string{
		`{"isSuccess":true,"records":["{\"id\":\"A1\",\"amount\":5,\"price\":1.5,\"extra\":{\"x\":[1]}}","{\"id\":\"A2\",\"amount\":null}"]}`,
		`{"isSuccess":true,"nextToken":"2","records":["{\"id\":\"A1\"}"]}`,
		`{"isSuccess":false,"errorDetails":{"errorCode":"InvalidCredentials","errorMessage":"bad key"}}`,
		`{"isSuccess":true,"records":["{\"id\":\"A1\"}{\"id\":\"A2\"}"]}`, `{"isSuccess":true,"records":["[1]"]}`,
		`null`, `{}`, `{"records":["{}"]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		rows, err := fuzzQuery(t, payload)
		if err != nil {
			if fault.CodeOf(err) == fault.Unknown {
				t.Fatalf("%q: unclassified error %v", payload, err)
			}
			return
		}
		var resp struct {
			IsSuccess *bool
			Records   []string
		}
		if json.Unmarshal([]byte(payload), &resp) != nil || resp.IsSuccess == nil || !*resp.IsSuccess {
			t.Fatalf("read %d rows of %q, want an error", rows, payload)
		}
		for _, r := range resp.Records {
			var m map[string]json.RawMessage
			if json.Unmarshal([]byte(r), &m) != nil || m == nil {
				t.Fatalf("read %d rows of %q, whose record %q is not one JSON object", rows, payload, r)
			}
		}
		if rows != len(resp.Records) {
			t.Fatalf("read %d rows of %q, want %d", rows, payload, len(resp.Records))
		}
	})
}

// The fuzzer found two records in one string read as the first alone, and
// an answer without isSuccess (a handler returning null) read as success.
func TestBrokenQueryDataFails(t *testing.T) {
	for _, payload := range []string{`{"isSuccess":true,"records":["{\"id\":\"A1\"}{\"id\":\"A2\"}"]}`, `null`, `{}`, `{"records":["{}"]}`} {
		if _, err := fuzzQuery(t, payload); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", payload, err)
		}
	}
}

// A WriteData answer without isSuccess or record results (a handler that
// returned null) is not taken for every record written.
func TestWriteDataWithoutOutcomeFails(t *testing.T) {
	for _, payload := range []string{`null`, `{}`} {
		d := &driver{c: &client{inv: &answerLambda{payload: []byte(payload)}, arn: "arn:aws:lambda:us-east-1:123456789012:function:conn"}}
		w := &writer{d: d, entity: "accounts", op: "INSERT", req: &connector.WriteRequest{}}
		var res connector.WriteResult
		if err := w.send(context.Background(), []pendingRecord{{json: `{"id":"A1"}`}}, &res); fault.CodeOf(err) != fault.ConnectorServer || res.RecordsWritten != 0 {
			t.Errorf("%s: written %d, err = %v; want none and a ConnectorServer fault", payload, res.RecordsWritten, err)
		}
	}
}
