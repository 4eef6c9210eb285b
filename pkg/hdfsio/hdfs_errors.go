package hdfsio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// ErrUnavailable is wrapped by errors that mean no NameNode could be reached
// (refused, timed out, connection lost). errors.Is(err, ErrUnavailable).
var ErrUnavailable = errors.New("namenode unavailable")

// Error is what HDFS methods return: the operation, the file's URI and the
// NameNodes asked, around the cause (which wraps fs.ErrNotExist,
// fs.ErrPermission, ErrUnavailable, context errors, ...).
type Error struct {
	Op        string
	URI       string
	NameNodes string
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("hdfs %s %s (namenode %s): %v", e.Op, e.URI, e.NameNodes, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func (h *HDFS) wrap(op, name string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err // we name the path ourselves
	}
	if isUnavailable(err) && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return &Error{Op: op, URI: h.URI(name), NameNodes: h.nameNodes, Err: err}
}

func isUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	return strings.Contains(err.Error(), "no available namenodes")
}
