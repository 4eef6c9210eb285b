package flightcodec

import (
	"errors"
	"strings"
	"unsafe"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// unmarshalFlightData gathers data (gRPC's received frames) into one
// buffer of its own and points fd's fields into it. The stock codec
// gathers into a pooled buffer and then proto.Unmarshal copies data_body
// out of it: one copy of every body byte instead of two. The buffer is
// garbage collected with the last array reading it, since records handed
// to callers have no release hook to return it to a pool.
func unmarshalFlightData(data mem.BufferSlice, fd *aflight.FlightData) error {
	buf := gather(data)
	fd.Reset()
	for b := buf; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType || (num != fieldDataHeader && num != fieldAppMetadata && num != fieldDataBody) {
			// A descriptor, an unknown field or a malformed one: let
			// protobuf decide (copying, but no stream sends these with
			// a body).
			return proto.Unmarshal(buf, fd)
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		v = v[:len(v):len(v)] // appending to a field must not overwrite the next
		switch num {
		case fieldDataHeader:
			fd.DataHeader = v
		case fieldAppMetadata:
			fd.AppMetadata = v
		case fieldDataBody:
			fd.DataBody = v
		}
	}
	return nil
}

// gather copies data into a new buffer, placed so that the body starts
// 8-byte aligned as Arrow buffers expect (when the prefix before it, read
// first, says where it starts).
//
// The buffer comes from strings.Builder.Grow, the standard library's one
// way to allocate without zeroing: every byte is overwritten at once, so
// zeroing megabytes first would be wasted work. The bytes are then used as
// a []byte; nothing else ever sees the string.
func gather(data mem.BufferSlice) []byte {
	n := data.Len()
	if n == 0 {
		return nil
	}
	shift := 0
	if off, err := bodyOffset(data); err == nil {
		shift = (8 - off%8) % 8
	}
	var sb strings.Builder
	sb.Grow(shift + n)
	for range shift {
		sb.WriteByte(0)
	}
	for _, b := range data {
		sb.Write(b.ReadOnlyData())
	}
	s := sb.String()
	return unsafe.Slice(unsafe.StringData(s), len(s))[shift:]
}

// bodyOffset is where data_body's bytes start in data, found from the
// first bytes (tags and the small header and metadata fields come first).
func bodyOffset(data mem.BufferSlice) (int, error) {
	var scratch [4096]byte
	r := data.Reader()
	defer r.Close()
	k, _ := r.Read(scratch[:])
	p := scratch[:k]
	for off := 0; off < len(p); {
		num, typ, n := protowire.ConsumeTag(p[off:])
		if n < 0 || typ != protowire.BytesType {
			break
		}
		off += n
		l, n := protowire.ConsumeVarint(p[off:])
		if n < 0 {
			break
		}
		off += n
		if num == fieldDataBody {
			return off, nil
		}
		off += int(l)
	}
	return 0, errors.New("no body in the first bytes")
}
