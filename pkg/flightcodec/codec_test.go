package flightcodec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "origin", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "data", Type: arrow.BinaryTypes.Binary},
	{Name: "n", Type: arrow.PrimitiveTypes.Int32},
}, nil)

// testRecord has rows of 0..max bytes of pixels (large buffers, passed by
// reference) beside small columns (copied into the prefix).
func testRecord(t testing.TB, rows, maxLen int, seed uint64) arrow.RecordBatch {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := array.NewRecordBuilder(memory.DefaultAllocator, testSchema)
	defer b.Release()
	for i := range rows {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("file-%d", i))
		v := make([]byte, rng.IntN(maxLen+1))
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		b.Field(1).(*array.BinaryBuilder).Append(v)
		b.Field(2).(*array.Int32Builder).Append(int32(i))
	}
	return b.NewRecordBatch()
}

type captured struct{ msgs []any }

func (c *captured) SendMsg(m any) error { c.msgs = append(c.msgs, m); return nil }
func (c *captured) Send(fd *aflight.FlightData) error {
	c.msgs = append(c.msgs, proto.Clone(fd))
	return nil
}

// TestMarshalMatchesStockWriter: for the same records, Codec's bytes for
// Writer's messages are byte for byte proto.Marshal of what the stock
// aflight writer sends, and the stock proto codec (the fallback) agrees.
func TestMarshalMatchesStockWriter(t *testing.T) {
	var ours, stock captured
	w := NewWriter(&ours, testSchema)
	sw := aflight.NewRecordWriter(&stock, ipc.WithSchema(testSchema))
	for i, rows := range []int{0, 1, 7, 50} {
		rec := testRecord(t, rows, 100<<10, uint64(i))
		meta := []byte(fmt.Sprintf("next=%d", i))
		if err := w.WriteWithAppMetadata(rec, meta); err != nil {
			t.Fatal(err)
		}
		if err := sw.WriteWithAppMetadata(rec, meta); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	w.Close()
	sw.Close()
	if len(ours.msgs) != len(stock.msgs) {
		t.Fatalf("%d messages, stock writer sent %d", len(ours.msgs), len(stock.msgs))
	}
	std := encoding.GetCodecV2(protocodec.Name)
	for i := range ours.msgs {
		m := ours.msgs[i].(*Message)
		want, err := proto.Marshal(stock.msgs[i].(*aflight.FlightData))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Codec{}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if b := got.Materialize(); !bytes.Equal(b, want) {
			t.Fatalf("message %d: %d bytes, proto.Marshal gives %d", i, len(b), len(want))
		}
		got.Free()
		fb, err := std.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if b := fb.Materialize(); !bytes.Equal(b, want) {
			t.Fatalf("message %d through the proto codec differs", i)
		}
		fb.Free()
	}
}

// TestUnmarshalAliasesOneCopy: a FlightData split into frames of any size
// decodes equal to proto.Unmarshal's, with an 8-byte-aligned body.
func TestUnmarshalAliasesOneCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	for i := range 20 {
		body := make([]byte, rng.IntN(200<<10))
		for j := range body {
			body[j] = byte(j * i)
		}
		want := &aflight.FlightData{DataHeader: make([]byte, rng.IntN(300)), AppMetadata: []byte("m")[:rng.IntN(2)], DataBody: body}
		if i == 3 {
			want.FlightDescriptor = &aflight.FlightDescriptor{Path: []string{"x"}}
		}
		wire, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var frames mem.BufferSlice
		for rest := wire; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(20000))
			frames = append(frames, mem.SliceBuffer(bytes.Clone(rest[:n])))
			rest = rest[n:]
		}
		got := &aflight.FlightData{AppMetadata: []byte("stale")}
		if err := (Codec{}).Unmarshal(frames, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("case %d: decoded message differs", i)
		}
		if len(got.DataBody) > 0 && i != 3 && uintptr(unsafe.Pointer(&got.DataBody[0]))%8 != 0 {
			t.Fatalf("case %d: body not 8-byte aligned", i)
		}
	}
}

// marshalling marshals in SendMsg as gRPC does, keeping what the
// transport would hold.
type marshalling struct{ held []mem.BufferSlice }

func (m *marshalling) SendMsg(v any) error {
	bs, err := Codec{}.Marshal(v)
	m.held = append(m.held, bs)
	return err
}

// TestReleaseWaitsForTransport: a written record's memory is released only
// when the sender and every buffer handed to gRPC are done.
func TestReleaseWaitsForTransport(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := array.NewRecordBuilder(mem, testSchema)
	for i := range 10 {
		b.Field(0).(*array.StringBuilder).Append("f")
		b.Field(1).(*array.BinaryBuilder).Append(make([]byte, 50<<10))
		b.Field(2).(*array.Int32Builder).Append(int32(i))
	}
	rec := b.NewRecordBatch()
	b.Release()
	var s marshalling
	w := NewWriter(&s, testSchema)
	if err := w.WriteWithAppMetadata(rec, []byte("m")); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	w.Close()
	for i, bs := range s.held {
		if mem.CurrentAlloc() == 0 {
			t.Fatalf("record released with %d marshalled messages still held", len(s.held)-i)
		}
		bs.Free()
	}
	mem.AssertSize(t, 0)
}
