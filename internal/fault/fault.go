// Package fault classifies errors by what a caller can do about them.
//
// Every layer below the HTTP boundary returns errors that carry a Code; the
// protocol layer maps each Code to one AWS exception. Drivers return native
// errors and let the portable layer wrap them once.
package fault

import (
	"context"
	"errors"
	"fmt"
)

// Code says what kind of failure an error is. Do not renumber: codes may be
// recorded in metrics and logs.
type Code int

const (
	Unknown         Code = iota // not classified; maps to InternalServerException
	Invalid                     // bad input: ValidationException
	NotFound                    // ResourceNotFoundException
	Conflict                    // ConflictException
	Unsupported                 // UnsupportedOperationException
	AuthFailed                  // ConnectorAuthenticationException
	ConnectorServer             // ConnectorServerException
	QuotaExceeded               // ServiceQuotaExceededException
	Throttled                   // ThrottlingException
	AccessDenied                // AccessDeniedException
	Internal                    // InternalServerException
	Canceled                    // the caller's context ended
)

var codeNames = [...]string{"Unknown", "Invalid", "NotFound", "Conflict", "Unsupported",
	"AuthFailed", "ConnectorServer", "QuotaExceeded", "Throttled", "AccessDenied", "Internal", "Canceled"}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Error is an error with a Code and a message meant for the API caller.
type Error struct {
	Code Code
	Msg  string
	Err  error // the cause, if any; never shown to API callers unless Msg includes it
}

func (e *Error) Error() string {
	if e.Err != nil && e.Msg == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error that keeps err as its cause. A nil err gives nil.
func Wrap(code Code, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf finds the Code of the outermost *Error in err's chain. Context
// errors are Canceled; anything else unclassified is Unknown.
func CodeOf(err error) Code {
	if err == nil {
		return Unknown
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Canceled
	}
	return Unknown
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }

// Message returns the text to show an API caller: the message of the
// outermost *Error (with its cause), or the error's own text.
func Message(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
