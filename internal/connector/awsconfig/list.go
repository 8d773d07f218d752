package awsconfig

import (
	"context"
	"errors"
	"io"
	"iter"

	"gocloud.dev/blob"
)

// List ranges over what a listing of b returns, page after page; an error
// ends it, as the last pair.
func List(ctx context.Context, b *blob.Bucket, opts *blob.ListOptions) iter.Seq2[*blob.ListObject, error] {
	return func(yield func(*blob.ListObject, error) bool) {
		it := b.List(opts)
		for {
			obj, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(obj, err) || err != nil {
				return
			}
		}
	}
}
