package flightcodec

import (
	"bytes"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Stream is where a Writer sends: a DoGet server stream (any
// grpc.ServerStream).
type Stream interface {
	SendMsg(m any) error
}

// Writer writes record batches to a Flight stream as aflight.Writer does
// (same messages: the schema first, then one FlightData per batch, app
// metadata on every message of a write), but sends each batch as a
// Message that references the record's buffers instead of a serialized
// copy. A written record is retained until gRPC has written its bytes.
// Not safe for concurrent use.
type Writer struct {
	ipc *ipc.Writer
	pw  payloadWriter
	// OnWritten, if set, runs once per written record when gRPC is done
	// with all of its messages (written to the connection, or dropped by a
	// failed send): the client's progress, as the server can see it.
	OnWritten func()
}

// NewWriter returns a writer of schema's batches to s. The server must
// use Codec for the references to reach the transport; with another
// codec the messages are copied as the stock writer does.
func NewWriter(s Stream, schema *arrow.Schema) *Writer {
	w := &Writer{pw: payloadWriter{s: s}}
	// Buffers the IPC encoder makes itself (rebased offsets, sliced
	// values) must outlive its Release while gRPC still reads them: Go
	// memory is only reclaimed when unreferenced, whatever allocator
	// DefaultAllocator is in this build.
	w.ipc = ipc.NewWriterWithPayloadWriter(&w.pw, ipc.WithSchema(schema), ipc.WithAllocator(memory.NewGoAllocator()))
	return w
}

// WriteWithAppMetadata sends rec with appMeta (copied) on its messages.
func (w *Writer) WriteWithAppMetadata(rec arrow.RecordBatch, appMeta []byte) error {
	rec.Retain()
	h := &hold{release: rec.Release, written: w.OnWritten}
	h.refs.Store(1)
	w.pw.hold, w.pw.appMeta = h, bytes.Clone(appMeta)
	err := w.ipc.Write(rec)
	w.pw.hold, w.pw.appMeta = nil, nil
	h.unref()
	return err
}

// Close ends the stream's IPC writer (nothing is sent: Flight has no
// end-of-stream message).
func (w *Writer) Close() error { return w.ipc.Close() }

// hold keeps a record alive while messages referencing it are in flight.
type hold struct {
	refs    atomic.Int32
	release func()
	written func() // may be nil
}

func (h *hold) unref() {
	if h.refs.Add(-1) == 0 {
		h.release()
		if h.written != nil {
			h.written()
		}
	}
}

type payloadWriter struct {
	s       Stream
	hold    *hold // the record being written
	appMeta []byte
}

func (p *payloadWriter) Start() error { return nil }
func (p *payloadWriter) Close() error { return nil }

// WritePayload sends one IPC message: the metadata copied (small), the
// body as references to the payload's buffers, collected by letting
// SerializeBody "write" them.
func (p *payloadWriter) WritePayload(pl ipc.Payload) error {
	var header []byte
	if meta := pl.Meta(); meta != nil {
		header = bytes.Clone(meta.Bytes())
		meta.Release()
	}
	var body collector
	if err := pl.SerializeBody(&body); err != nil {
		return err
	}
	var done func()
	if h := p.hold; h != nil {
		h.refs.Add(1)
		done = h.unref
	}
	m := NewMessage(header, p.appMeta, body.parts, done)
	defer m.Release()
	return p.s.SendMsg(m)
}

// collector records the slices written to it without copying them; the
// IPC encoder writes each body buffer (and its padding) once.
type collector struct{ parts [][]byte }

func (c *collector) Write(b []byte) (int, error) {
	c.parts = append(c.parts, b)
	return len(b), nil
}
