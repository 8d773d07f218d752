package s3conn

import (
	"context"
	"reflect"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/record"
)

func TestCatalog(t *testing.T) {
	for _, mk := range []func(testing.TB) *env{localEnv, motoEnv} {
		e := mk(t)
		ctx := context.Background()
		bucket := e.makeBucket(t)
		e.put(t, bucket, "sales/2024/a.csv", []byte("id,amount,ok,at,name,blank\n1,2.5,true,2024-03-05T14:07:00Z,x,\n2,3,false,2024-03-06 10:00:00,y,\n"))
		e.put(t, bucket, "events/e.jsonl", []byte(`{"id":1,"v":1.5,"tags":["a"],"at":"2024-03-05"}`+"\n"+`{"id":2,"extra":true}`+"\n"))
		e.put(t, bucket, "top.csv", []byte("a\n1\n"))
		e.put(t, bucket, "sales/.appflowd-staging/x/000001", []byte("zz\n1\n"))

		got, err := e.drv.ListEntities(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, b := range got["Buckets"] {
			found = found || (b.Name == bucket && b.HasNestedEntities)
		}
		if !found {
			t.Errorf("%s: buckets %v lack %s", e.name, got, bucket)
		}

		got, err = e.drv.ListEntities(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]connector.Entity{"Folders": {
			{Name: bucket + "/events", Label: "events", HasNestedEntities: true},
			{Name: bucket + "/sales", Label: "sales", HasNestedEntities: true},
		}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: folders %v, want %v", e.name, got, want)
		}
		got, err = e.drv.ListEntities(ctx, bucket+"/sales")
		if err != nil {
			t.Fatal(err)
		}
		if f := got["Folders"]; len(f) != 1 || f[0].Name != bucket+"/sales/2024" {
			t.Errorf("%s: sub-folders %v, want sales/2024 only (staging hidden)", e.name, got)
		}

		types := func(name string) map[string]record.FieldType {
			fs, err := e.drv.DescribeEntity(ctx, name)
			if err != nil {
				t.Fatalf("%s: describe %s: %v", e.name, name, err)
			}
			m := map[string]record.FieldType{}
			for _, f := range fs {
				m[f.Name] = f.Type
				if len(f.FilterOperators) == 0 {
					t.Errorf("%s: field %s has no operators", name, f.Name)
				}
			}
			return m
		}
		if got, want := types(bucket+"/sales"), map[string]record.FieldType{"id": "integer", "amount": "double", "ok": "boolean",
			"at": "datetime", "name": "string", "blank": "string"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: csv fields %v, want %v", e.name, got, want)
		}
		if got, want := types(bucket+"/events"), map[string]record.FieldType{"id": "integer", "v": "double", "tags": "string",
			"at": "datetime", "extra": "boolean"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: json fields %v, want %v", e.name, got, want)
		}
		if _, err := e.drv.DescribeEntity(ctx, bucket+"/nothing-here"); err == nil {
			t.Errorf("%s: describing an empty folder succeeded", e.name)
		}
	}
}
