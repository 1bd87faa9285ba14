package corral

import (
	"errors"
	"fmt"
)

// Code is the status code of a failed call: the number of an
// absl::StatusCode, which the master and the drivers answer with (the same
// numbers as gRPC's codes).
type Code int

const (
	OK                 Code = 0
	Cancelled          Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16
)

var codeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE(%d)", int(c))
}

// Error is what the master or the driver answered to a call: inspect it
// with errors.As, or match a code with errors.Is(err, &corral.Error{Code: corral.NotFound}).
type Error struct {
	Op      string // the call, "ACCEPT", "start", ...
	Code    Code
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("corral: %s: %s: %s", e.Op, e.Code, e.Message) }

// Is matches another *Error with the same code whose Op and Message are
// empty or equal, and ErrClosed for a call on a closed driver.
func (e *Error) Is(target error) bool {
	if target == ErrClosed {
		return e.Code == FailedPrecondition && e.Message == closedMessage
	}
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Op == "" || t.Op == e.Op) && (t.Message == "" || t.Message == e.Message)
}

// ErrClosed is returned (wrapped in an *Error) by every call on a driver
// after Close.
var ErrClosed = errors.New("corral: the driver is closed")

const closedMessage = "the driver was closed"

// HandlerError is what Run returns when a handler failed: it returned an
// error, or panicked (Err is then a *PanicError). The driver was aborted
// before it acknowledged anything the event carried, so the master sends
// that status update again.
type HandlerError struct {
	Event string // the event's type, "UPDATE", "OFFERS", ...
	Err   error
}

func (e *HandlerError) Error() string { return fmt.Sprintf("corral: %s handler: %v", e.Event, e.Err) }
func (e *HandlerError) Unwrap() error { return e.Err }

// PanicError is a handler's panic, with the stack where it happened.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

func answer(op string, code int, message string) error {
	if code == 0 {
		return nil
	}
	return &Error{Op: op, Code: Code(code), Message: message}
}
