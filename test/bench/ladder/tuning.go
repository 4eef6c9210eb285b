package ladder

import "google.golang.org/grpc"

// Tuning is a set of gRPC transport sizes; zero fields keep grpc-go's
// defaults (dynamic BDP flow-control window from 64 KiB up to 16 MiB, 32
// KiB write and read buffers). grpc-go writes HTTP/2 DATA frames of at
// most 16 KiB whatever the peer allows: the frame size is not a knob.
type Tuning struct {
	Window, ConnWindow int32 // flow-control windows (setting one turns BDP off)
	WriteBuf, ReadBuf  int   // bytes batched per write syscall / read per read syscall
}

// Tunings are the ladder's variants, by name.
var Tunings = map[string]Tuning{
	"default": {},
	"win":     {Window: 16 << 20, ConnWindow: 64 << 20},
	"buf":     {WriteBuf: 1 << 20, ReadBuf: 1 << 20},
	"win+buf": {Window: 16 << 20, ConnWindow: 64 << 20, WriteBuf: 1 << 20, ReadBuf: 1 << 20},
}

// ServerOptions are t's server options.
func (t Tuning) ServerOptions() []grpc.ServerOption {
	var o []grpc.ServerOption
	if t.Window > 0 {
		o = append(o, grpc.InitialWindowSize(t.Window), grpc.InitialConnWindowSize(t.ConnWindow))
	}
	if t.WriteBuf > 0 {
		o = append(o, grpc.WriteBufferSize(t.WriteBuf), grpc.ReadBufferSize(t.ReadBuf))
	}
	return o
}

// DialOptions are t's client options.
func (t Tuning) DialOptions() []grpc.DialOption {
	var o []grpc.DialOption
	if t.Window > 0 {
		o = append(o, grpc.WithInitialWindowSize(t.Window), grpc.WithInitialConnWindowSize(t.ConnWindow))
	}
	if t.WriteBuf > 0 {
		o = append(o, grpc.WithWriteBufferSize(t.WriteBuf), grpc.WithReadBufferSize(t.ReadBuf))
	}
	return o
}
