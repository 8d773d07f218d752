package wire

import (
	"context"
	"net/url"
)

// Input is implemented by every operation's input shape.
type Input interface {
	// Validate checks every model constraint; the error is a *fault.Error
	// with Code fault.Invalid listing every violation.
	Validate() error
}

// Operation is one route of the API. The table Operations is generated, so
// the protocol layer needs no per-operation code.
type Operation struct {
	Name    string // "CreateFlow"
	Method  string // "POST"
	Path    string // template, "/tags/{resourceArn}"; labels are single, non-greedy segments
	HasBody bool   // the input has members carried in the JSON body

	NewInput  func() Input
	NewOutput func() any

	// Bind copies path labels (already unescaped) and query parameters into
	// in. Nil when the input has no members outside the body.
	Bind func(in Input, labels map[string]string, query url.Values)

	// Invoke calls the Service method of this operation. in must come from
	// NewInput. A nil output with a nil error means an empty response.
	Invoke func(ctx context.Context, svc Service, in Input) (any, error)

	Errors []string // modeled exception names
}

// OperationByName finds an operation in Operations.
func OperationByName(name string) (Operation, bool) {
	for _, op := range Operations {
		if op.Name == name {
			return op, true
		}
	}
	return Operation{}, false
}
