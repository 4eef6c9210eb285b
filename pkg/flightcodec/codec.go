// Package flightcodec moves Arrow Flight data through gRPC without copying
// record batch bodies. The stock path copies every body twice before the
// transport sees it: ipc.Payload.SerializeBody into a bytes.Buffer, then
// the protobuf marshal of FlightData into another; the reading side copies
// twice as well (gathering the frames, then protobuf's copy of data_body).
//
// Codec is a gRPC CodecV2 for both ends. Sending, a *Message — a FlightData
// whose body is a list of buffers (the record's own Arrow buffers) — is
// marshalled as the protobuf field tags and lengths followed by references
// to those buffers, so the bytes on the wire are exactly proto.Marshal's
// and any Flight client (pyarrow, the stock Go codec) reads them. The
// buffers are handed to the transport as mem.Buffers whose release tells
// the Message when gRPC has written them. Receiving, a FlightData is
// gathered once into a fresh buffer and its fields alias that buffer.
// Every other message goes through gRPC's proto codec.
package flightcodec

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
)

// Codec is the CodecV2 of this package; install it with
// grpc.ForceServerCodecV2 on a server and grpc.ForceCodecV2 on a client.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// protoCodec is gRPC's own codec, for every message but ours.
var protoCodec = encoding.GetCodecV2(protocodec.Name)

// Name is the codec's content-subtype: the messages are plain protobuf.
func (Codec) Name() string { return protocodec.Name }

// Marshal encodes v: a *Message without copying its large body buffers,
// anything else as gRPC's proto codec does.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*Message); ok {
		return m.marshal(), nil
	}
	return protoCodec.Marshal(v)
}

// Unmarshal decodes data into v: a *FlightData with its bytes fields
// aliasing one gathered copy of data, anything else as gRPC's proto codec
// does.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if fd, ok := v.(*aflight.FlightData); ok {
		return unmarshalFlightData(data, fd)
	}
	return protoCodec.Unmarshal(data, v)
}

// FlightData field numbers (Flight.proto).
const (
	fieldDescriptor  protowire.Number = 1
	fieldDataHeader  protowire.Number = 2
	fieldAppMetadata protowire.Number = 3
	fieldDataBody    protowire.Number = 1000
)

// refThreshold is the smallest body buffer passed to gRPC by reference.
// Smaller ones (offsets, lengths, origins, padding) are copied into the
// message's own prefix: a copy of a few KiB costs less than a reference,
// and gRPC gives no release callback for buffers under its pooling
// threshold (1 KiB), so they could not be tracked anyway.
const refThreshold = 32 << 10

// marshal lays m out as proto.Marshal would lay out the equivalent
// FlightData (fields in number order, empty ones omitted): one owned
// buffer holds the tags, lengths, header, app metadata and small body
// buffers, in segments between the referenced large body buffers.
func (m *Message) marshal() mem.BufferSlice {
	bodyLen, small := 0, 0
	for _, p := range m.Body {
		bodyLen += len(p)
		if len(p) < refThreshold {
			small += len(p)
		}
	}
	own := make([]byte, 0, 32+len(m.Header)+len(m.AppMetadata)+small)
	own = appendBytesField(own, fieldDataHeader, m.Header)
	own = appendBytesField(own, fieldAppMetadata, m.AppMetadata)
	if bodyLen > 0 {
		own = protowire.AppendTag(own, fieldDataBody, protowire.BytesType)
		own = protowire.AppendVarint(own, uint64(bodyLen))
	}
	out := make(mem.BufferSlice, 0, 2*len(m.Body)+1)
	seg := 0 // start of the owned segment not yet in out
	for _, p := range m.Body {
		if len(p) < refThreshold {
			own = append(own, p...)
			continue
		}
		if seg < len(own) {
			out = append(out, mem.SliceBuffer(own[seg:len(own):len(own)]))
			seg = len(own)
		}
		m.refs.Add(1)
		ref := p[:len(p):len(p)]
		out = append(out, mem.NewBuffer(&ref, (*messagePool)(m)))
	}
	if seg < len(own) {
		out = append(out, mem.SliceBuffer(own[seg:]))
	}
	return out
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// messagePool is the mem.BufferPool of a Message's referenced buffers:
// gRPC "returns" each when its transport has written it (or dropped the
// stream), which drops one reference of the message.
type messagePool Message

func (p *messagePool) Get(int) *[]byte {
	panic(fmt.Sprintf("flightcodec: Get on a message's buffers (%p)", p))
}

func (p *messagePool) Put(*[]byte) { (*Message)(p).unref() }
