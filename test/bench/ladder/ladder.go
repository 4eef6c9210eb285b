// Package ladder is the transport ladder's fixtures (issue 23): the same
// payload moved by a plain copy loop over loopback TCP or a Unix socket, by
// raw gRPC streaming of 8 MiB messages, and by a Flight DoGet that sends
// Arrow batches through pkg/flightcodec exactly as a worker does but with
// no decoding behind it. Each rung's CPU per GB is the cost of the
// transport alone; test/bench/ladder_test.go and ladder_pyarrow.py
// measure them in one run.
package ladder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	"github.com/imageflight/imageflight/pkg/flight"
	"github.com/imageflight/imageflight/pkg/flightcodec"
)

// MessageBytes is one message or batch: by default the worker's default
// batch size. A multiple of 1 MiB; set it before starting servers.
var MessageBytes = 8 << 20

// rowBytes is one Flight row: about a 640x480 BGR image.
const rowBytes = 1 << 20

// Payload is MessageBytes of non-zero bytes (zero pages would flatter
// the copies).
func Payload() []byte {
	b := make([]byte, MessageBytes)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

// Messages is how many MessageBytes messages carry total bytes.
func Messages(total int64) int64 { return (total + int64(MessageBytes) - 1) / int64(MessageBytes) }

// Send writes total bytes of payload to w in MessageBytes writes.
func Send(w io.Writer, payload []byte, total int64) error {
	for n := Messages(total); n > 0; n-- {
		if _, err := w.Write(payload); err != nil {
			return err
		}
	}
	return nil
}

// Drain reads r to its end into a 1 MiB buffer, returning the byte count:
// the receiving half of a plain copy loop.
func Drain(r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// rawCodec moves a *[]byte as the whole gRPC message: no protobuf, the
// sender's buffer handed to the transport by reference, the receiver's
// frames gathered once into its buffer (as flightcodec does).
type rawCodec struct{}

func (rawCodec) Name() string { return "ladderraw" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	dst := v.(*[]byte)
	if n := data.Len(); cap(*dst) < n {
		*dst = make([]byte, n)
	} else {
		*dst = (*dst)[:n]
	}
	data.CopyTo(*dst)
	return nil
}

// rawDesc is a one-method service: Pull streams N messages, N being the
// request's decimal text.
var rawDesc = grpc.ServiceDesc{
	ServiceName: "ladder.Bytes",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{StreamName: "Pull", ServerStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
		var req []byte
		if err := s.RecvMsg(&req); err != nil {
			return err
		}
		n, err := strconv.ParseInt(string(req), 10, 64)
		if err != nil {
			return err
		}
		payload := Payload()
		for ; n > 0; n-- {
			if err := s.SendMsg(&payload); err != nil {
				return err
			}
		}
		return nil
	}}},
}

// NewRawServer is a gRPC server of raw 8 MiB messages.
func NewRawServer(opts ...grpc.ServerOption) *grpc.Server {
	base := append([]grpc.ServerOption{grpc.ForceServerCodecV2(rawCodec{})}, flight.TransportOptions()...)
	s := grpc.NewServer(append(base, opts...)...)
	s.RegisterService(&rawDesc, nil)
	return s
}

// PullRaw streams total bytes from a raw server over conn, returning the
// bytes received.
func PullRaw(ctx context.Context, conn *grpc.ClientConn, total int64) (int64, error) {
	s, err := conn.NewStream(ctx, &rawDesc.Streams[0], "/ladder.Bytes/Pull", grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallRecvMsgSize(2*MessageBytes))
	if err != nil {
		return 0, err
	}
	req := []byte(strconv.FormatInt(Messages(total), 10))
	if err := s.SendMsg(&req); err != nil {
		return 0, err
	}
	if err := s.CloseSend(); err != nil {
		return 0, err
	}
	var got int64
	var buf []byte
	for {
		err := s.RecvMsg(&buf)
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got += int64(len(buf))
	}
}

// flightSource serves DoGet tickets "N": N batches of one binary column,
// eight 1 MiB rows each, all cut from one payload — the worker's send
// path (flightcodec.Writer) without the decode.
type flightSource struct {
	aflight.BaseFlightServer
	rec arrow.RecordBatch
}

// Schema is the Flight source's: one binary column.
var Schema = arrow.NewSchema([]arrow.Field{{Name: "data", Type: arrow.BinaryTypes.Binary}}, nil)

func newFlightSource() *flightSource {
	rows := MessageBytes / rowBytes
	offsets := make([]int32, rows+1)
	for i := range offsets {
		offsets[i] = int32(i * rowBytes)
	}
	data := array.NewData(arrow.BinaryTypes.Binary, rows,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offsets)), memory.NewBufferBytes(Payload())}, nil, 0, 0)
	defer data.Release()
	col := array.MakeFromData(data)
	defer col.Release()
	return &flightSource{rec: array.NewRecordBatch(Schema, []arrow.Array{col}, int64(rows))}
}

func (f *flightSource) DoGet(t *aflight.Ticket, stream aflight.FlightService_DoGetServer) error {
	n, err := strconv.ParseInt(string(t.GetTicket()), 10, 64)
	if err != nil {
		return err
	}
	w := flightcodec.NewWriter(stream, Schema)
	defer w.Close()
	for ; n > 0; n-- {
		if err := w.WriteWithAppMetadata(f.rec, nil); err != nil {
			return err
		}
	}
	return nil
}

// NewFlightServer is a Flight server of synthetic batches, with the
// worker's codec and transport options (pkg/flight.NewServer's), then
// opts (which override them).
func NewFlightServer(opts ...grpc.ServerOption) aflight.Server {
	base := append([]grpc.ServerOption{grpc.ForceServerCodecV2(flightcodec.Codec{})}, flight.TransportOptions()...)
	srv := aflight.NewServerWithMiddleware(nil, append(base, opts...)...)
	srv.RegisterFlightService(newFlightSource())
	return srv
}

// Ticket asks a Flight source for total bytes.
func Ticket(total int64) *aflight.Ticket {
	return &aflight.Ticket{Ticket: []byte(strconv.FormatInt(Messages(total), 10))}
}

// PullFlight reads one DoGet of total bytes with fc, returning the data
// column's bytes received.
func PullFlight(ctx context.Context, fc aflight.Client, total int64) (int64, error) {
	s, err := fc.DoGet(ctx, Ticket(total))
	if err != nil {
		return 0, err
	}
	rdr, err := aflight.NewRecordReader(s)
	if err != nil {
		return 0, err
	}
	defer rdr.Release()
	var got int64
	for rdr.Next() {
		col, ok := rdr.RecordBatch().Column(0).(*array.Binary)
		if !ok {
			return got, fmt.Errorf("column 0 is %s, not binary", rdr.RecordBatch().Column(0).DataType())
		}
		got += int64(len(col.ValueBytes()))
	}
	return got, rdr.Err()
}

// Listen opens a listener for a ladder rung: "tcp" on 127.0.0.1:0 or
// "unix" at path.
func Listen(network, path string) (net.Listener, error) {
	if network == "unix" {
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", "127.0.0.1:0")
}
