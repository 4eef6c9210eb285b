package flight

import (
	"context"

	"google.golang.org/grpc/stats"
)

// connLife gives each gRPC connection a context that ends when the
// connection does. The worker needs it because gRPC's transport frees the
// buffers of a stream's queued messages when the stream is reset, but not
// when the whole connection dies under them (a client process that exits
// mid-stream): those buffers are simply dropped for the garbage collector,
// and the memory budget their rows hold would never come back. Batches in
// flight give their reservations back when their connection ends instead.
type connLife struct{}

type connLifeKey struct{}

type connState struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// TagConn implements stats.Handler.
func (connLife) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	life, cancel := context.WithCancel(context.Background())
	return context.WithValue(ctx, connLifeKey{}, &connState{ctx: life, cancel: cancel})
}

// HandleConn implements stats.Handler: ConnEnd comes once the transport is
// closed, so nothing it held will be written any more.
func (connLife) HandleConn(ctx context.Context, s stats.ConnStats) {
	if _, end := s.(*stats.ConnEnd); end {
		if st, ok := ctx.Value(connLifeKey{}).(*connState); ok {
			st.cancel()
		}
	}
}

// TagRPC implements stats.Handler.
func (connLife) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

// HandleRPC implements stats.Handler.
func (connLife) HandleRPC(context.Context, stats.RPCStats) {}

// connDone returns a context that ends with ctx's gRPC connection, or nil
// when ctx is not a served call's (in-process streams).
func connDone(ctx context.Context) context.Context {
	if st, ok := ctx.Value(connLifeKey{}).(*connState); ok {
		return st.ctx
	}
	return nil
}
