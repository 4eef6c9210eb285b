package wire

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Kind classifies an error by what the caller should do about it. Logic
// returns errors carrying a kind; the Flight edge turns the kind into a gRPC
// code (pkg/flight's status mapping), and clients decide from the code
// whether another location may succeed (see docs/protocol.md).
type Kind int

// Error kinds, each with the gRPC code the edge answers and what a client
// does about it.
const (
	// KindInternal is a bug or an inconsistency (gRPC Internal).
	KindInternal Kind = iota
	// KindInvalidArgument: the request is wrong; retrying cannot help
	// (InvalidArgument).
	KindInvalidArgument
	// KindNotFound: a path does not exist (NotFound).
	KindNotFound
	// KindPermission: outside the roots, or a ticket this cluster did not
	// sign (PermissionDenied).
	KindPermission
	// KindUnavailable: a node or storage cannot serve now; another location
	// may (Unavailable).
	KindUnavailable
	// KindExpired: the plan behind a ticket is gone or expired; plan again
	// (FailedPrecondition).
	KindExpired
	// KindCanceled: the caller went away (Canceled).
	KindCanceled
	// KindDeadline: a deadline passed (DeadlineExceeded).
	KindDeadline
	// KindUnimplemented: this process does not serve the call (Unimplemented).
	KindUnimplemented
	// KindResourceExhausted: a limit was reached; retry later or ask for
	// less (ResourceExhausted).
	KindResourceExhausted
)

var kindNames = [...]string{"internal", "invalid argument", "not found", "permission denied",
	"unavailable", "expired", "canceled", "deadline exceeded", "unimplemented", "resource exhausted"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error with a kind. Msg is what the client reads; Err, when
// set, is the cause (kept for errors.Is, not repeated in Error()).
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an error of kind k. A %w verb in format becomes the
// cause, as with fmt.Errorf.
func Errorf(k Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: k, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// KindOf says what kind err is: the kind of the outermost *Error in its
// chain, else derived from the standard sentinels (fs.ErrNotExist → not
// found, fs.ErrPermission → permission, context errors → canceled or
// deadline), else unavailable — an unclassified I/O failure is assumed to
// be the node's or the storage's, which another location may not share.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return KindInternal
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return KindDeadline
	case errors.Is(err, fs.ErrNotExist):
		return KindNotFound
	case errors.Is(err, fs.ErrPermission):
		return KindPermission
	case errors.Is(err, fs.ErrInvalid):
		return KindInvalidArgument
	}
	return KindUnavailable
}

// Wrap gives err a kind (KindOf(err) when k is negative) and prefixes its
// message with what, keeping err as the cause.
func Wrap(k Kind, err error, what string) error {
	if err == nil {
		return nil
	}
	if k < 0 {
		k = KindOf(err)
	}
	return &Error{Kind: k, Msg: what + ": " + err.Error(), Err: err}
}

// AutoKind asks Wrap to classify the error itself.
const AutoKind Kind = -1

// MountError classifies a failure to reach a file system (planning's or a
// worker's): a refused login is a permission problem (retrying elsewhere
// cannot help), anything else makes the storage unavailable for now.
func MountError(err error) error {
	if KindOf(err) == KindPermission {
		return Wrap(KindPermission, err, "mount")
	}
	return Wrap(KindUnavailable, err, "mount")
}
