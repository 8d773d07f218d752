package awsconfig

import (
	"context"
	"slices"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
)

func TestList(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	for _, k := range []string{"a/x", "a/y/z", "b", "c"} {
		if err := b.WriteAll(ctx, k, []byte("1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for obj, err := range List(ctx, b, &blob.ListOptions{Prefix: "a/", Delimiter: "/"}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, obj.Key)
	}
	if want := []string{"a/x", "a/y/"}; !slices.Equal(got, want) {
		t.Errorf("List(a/) = %v, want %v", got, want)
	}
	got = nil
	for obj, err := range List(ctx, b, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if got = append(got, obj.Key); len(got) == 2 {
			break
		}
	}
	if want := []string{"a/x", "a/y/z"}; !slices.Equal(got, want) {
		t.Errorf("List stopped after two = %v, want %v", got, want)
	}
	closed := memblob.OpenBucket(nil)
	closed.Close()
	n := 0
	for obj, err := range List(ctx, closed, nil) {
		n++
		if err == nil || obj != nil {
			t.Errorf("List of a closed bucket yielded %v, %v; want only an error", obj, err)
		}
	}
	if n != 1 {
		t.Errorf("List of a closed bucket yielded %d pairs, want the one error", n)
	}
}
