//go:build cgo

package imagerow

/*
#include <stdlib.h>
*/
import "C"

import (
	"context"
	"sync/atomic"
	"unsafe"
)

// Return codes shared by the C decoders (ifl_* functions): 0 is success,
// these name the two failures Go must tell apart from a corrupt file.
const (
	cErr       = -1 // corrupt or unsupported file; message in the C context
	cErrLimit  = -2 // decode work limit (scan count, IDAT size) exceeded
	cErrCancel = -3 // the cancel flag was set
	cUndecided = -4 // valid or not is image/png's call (PNG only)
)

// cancelFlag is an int in C memory that the C decoders poll between
// scanlines and scans (libjpeg's progress monitor, the PNG row loop,
// libwebp's incremental decoder). Go sets it from a context.AfterFunc, so
// cancelling a stream stops a decode that is deep inside C, where no Go
// code runs to notice ctx.Done().
type cancelFlag struct {
	p    *C.int
	stop func() bool
	done chan struct{} // closed when the AfterFunc has set the flag
}

// watchCancel returns the flag for ctx; its ptr is NULL when ctx can never
// be cancelled (Background), which the C side treats as "never".
func watchCancel(ctx context.Context) *cancelFlag {
	f := &cancelFlag{}
	if ctx.Done() == nil {
		return f
	}
	f.p = (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))
	p := (*int32)(unsafe.Pointer(f.p))
	if ctx.Err() != nil {
		// Already done: set the flag now rather than in the AfterFunc's
		// goroutine, which might run only after C has finished.
		*p = 1
		f.stop = func() bool { return true }
		return f
	}
	f.done = make(chan struct{})
	f.stop = context.AfterFunc(ctx, func() {
		atomic.StoreInt32(p, 1)
		close(f.done)
	})
	return f
}

func (f *cancelFlag) ptr() *C.int { return f.p }

// release stops watching and frees the flag, after the AfterFunc has
// finished if it had already started (it must not write freed memory).
func (f *cancelFlag) release() {
	if f.p == nil {
		return
	}
	if !f.stop() {
		<-f.done
	}
	C.free(unsafe.Pointer(f.p))
}
