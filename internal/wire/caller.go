package wire

import "context"

// Caller is who made a request: the SigV4 access key and the account it maps
// to, and the region the request was signed for.
type Caller struct {
	AccessKeyID string // empty when signatures are not checked
	AccountID   string
	Region      string // from the credential scope; the default region if unsigned
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the Caller in ctx, or the zero Caller.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}
