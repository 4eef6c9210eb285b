package flightcodec

import (
	"sync"
	"sync/atomic"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Message is a FlightData (header, app metadata, body) whose body is kept
// as the list of buffers an IPC payload is made of. Send it with the
// stream's SendMsg, then call Release: the buffers stay untouched until
// both the sender and gRPC's transport are done with them, and then done
// runs (once).
//
// Message also implements proto.Message, as a FlightData with the body
// concatenated, so that a server without Codec still sends it correctly
// (at the cost of the copies Codec avoids).
type Message struct {
	Header      []byte
	AppMetadata []byte
	Body        [][]byte

	refs atomic.Int32 // the sender's, plus one per buffer gRPC holds
	done func()

	fdOnce sync.Once
	fd     *aflight.FlightData
}

// NewMessage returns a message holding the sender's reference; done (may
// be nil) runs when the last reference goes.
func NewMessage(header, appMetadata []byte, body [][]byte, done func()) *Message {
	m := &Message{Header: header, AppMetadata: appMetadata, Body: body, done: done}
	m.refs.Store(1)
	return m
}

// Release drops the sender's reference.
func (m *Message) Release() { m.unref() }

func (m *Message) unref() {
	switch n := m.refs.Add(-1); {
	case n == 0:
		if m.done != nil {
			m.done()
		}
	case n < 0:
		panic("flightcodec: message released too often")
	}
}

// ProtoReflect makes Message a proto.Message for codecs other than Codec:
// the FlightData it stands for, built (and the body copied) once.
func (m *Message) ProtoReflect() protoreflect.Message {
	m.fdOnce.Do(func() {
		n := 0
		for _, p := range m.Body {
			n += len(p)
		}
		body := make([]byte, 0, n)
		for _, p := range m.Body {
			body = append(body, p...)
		}
		m.fd = &aflight.FlightData{DataHeader: m.Header, AppMetadata: m.AppMetadata, DataBody: body}
	})
	return m.fd.ProtoReflect()
}
