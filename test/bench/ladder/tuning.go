package ladder

import "google.golang.org/grpc"

// Tuning is a set of gRPC transport sizes for both ends of a rung. Product
// adds nothing: the rung runs with pkg/flight.TransportOptions and
// pkg/peer's dial options, what imageflight ships. Otherwise every size is
// set, a zero buffer meaning grpc-go's default (32 KiB), so the product's
// own options are overridden; zero windows keep grpc-go's dynamic BDP
// window (64 KiB growing up to 16 MiB). grpc-go writes HTTP/2 DATA frames
// of at most 16 KiB whatever the peer allows: the frame size is not a
// knob.
type Tuning struct {
	Product            bool
	Window, ConnWindow int32 // flow-control windows (setting one turns BDP off)
	WriteBuf, ReadBuf  int   // bytes gathered per write syscall / read per read syscall
}

// grpcDefaultBuf is grpc-go's write and read buffer size.
const grpcDefaultBuf = 32 << 10

// Tunings are the ladder's variants, by name.
var Tunings = map[string]Tuning{
	"product": {Product: true},
	"default": {},
	"win":     {Window: 16 << 20, ConnWindow: 64 << 20},
	"wbuf":    {WriteBuf: 1 << 20},
	"rbuf":    {ReadBuf: 1 << 20},
	"buf":     {WriteBuf: 1 << 20, ReadBuf: 1 << 20},
	"buf4":    {WriteBuf: 4 << 20, ReadBuf: 4 << 20},
	"win+buf": {Window: 16 << 20, ConnWindow: 64 << 20, WriteBuf: 1 << 20, ReadBuf: 1 << 20},
}

func orDefault(n int) int {
	if n == 0 {
		return grpcDefaultBuf
	}
	return n
}

// ServerOptions are t's server options.
func (t Tuning) ServerOptions() []grpc.ServerOption {
	if t.Product {
		return nil
	}
	o := []grpc.ServerOption{grpc.WriteBufferSize(orDefault(t.WriteBuf)), grpc.ReadBufferSize(orDefault(t.ReadBuf))}
	if t.Window > 0 {
		o = append(o, grpc.InitialWindowSize(t.Window), grpc.InitialConnWindowSize(t.ConnWindow))
	}
	return o
}

// DialOptions are t's client options.
func (t Tuning) DialOptions() []grpc.DialOption {
	if t.Product {
		return nil
	}
	o := []grpc.DialOption{grpc.WithWriteBufferSize(orDefault(t.WriteBuf)), grpc.WithReadBufferSize(orDefault(t.ReadBuf))}
	if t.Window > 0 {
		o = append(o, grpc.WithInitialWindowSize(t.Window), grpc.WithInitialConnWindowSize(t.ConnWindow))
	}
	return o
}
