// Package wire holds the AppFlow API shapes, their validation, the Service
// interface and the operation routes, generated from the pinned model by
// cmd/wiregen, plus a few hand-written types the generated code uses
// (Timestamp, Caller, Operation, the validator).
package wire

//go:generate go run ../../cmd/wiregen -model ../../model/appflow-2020-08-23.model.json -out .
