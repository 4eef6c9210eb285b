package pipeline

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// slab is a pooled pixel buffer. Images are decoded straight into it and
// record batches wrap ranges of it as their data column, so the bytes
// that go on the wire are the bytes the decoder wrote. Every holder — an
// arena filling it, a decoded row in it, a batch (and through the batch's
// record, gRPC's transport) — owns one reference; the last release returns
// it to the pool. A slab whose references are lost (a stream cancelled
// with rows in flight) is simply garbage collected.
type slab struct {
	buf  []byte
	refs atomic.Int32
}

func (s *slab) ref() { s.refs.Add(1) }

func (s *slab) unref() {
	switch n := s.refs.Add(-1); {
	case n == 0:
		putSlab(s)
	case n < 0:
		panic("pipeline: slab released too often")
	}
}

// minSlabShift is the smallest pooled size (64 KiB): smaller buffers are
// cheap to allocate and not worth a pool's bookkeeping.
const minSlabShift = 16

// slabPools holds free slabs by capacity class: class k holds 2^k bytes.
// sync.Pool lets the runtime drop idle slabs at GC, so a worker that went
// quiet gives its batch memory back.
var slabPools [48]sync.Pool

// slabsNew counts slabs allocated because the pool had none: next to
// the rows served it tells how well buffers are reused.
var slabsNew = promauto.NewCounter(prometheus.CounterOpts{
	Name: "imageflight_slabs_allocated_total",
	Help: "Pixel buffers (slabs) allocated because none was free to reuse.",
})

// slabClass is the class holding n bytes: the next power of two, so a
// slab serves any request up to its size and classes stay few.
func slabClass(n int) int {
	if n <= 1<<minSlabShift {
		return minSlabShift
	}
	return bits.Len(uint(n - 1))
}

// getSlab returns a slab of at least n bytes holding one reference. Its
// contents are whatever the last user left: every decoder writes all the
// bytes it asks for, so skipping the runtime's zeroing is safe.
func getSlab(n int) *slab {
	k := slabClass(n)
	s, _ := slabPools[k].Get().(*slab)
	if s == nil {
		slabsNew.Inc()
		s = &slab{buf: make([]byte, 1<<k)}
	}
	s.refs.Store(1)
	return s
}

func putSlab(s *slab) { slabPools[slabClass(len(s.buf))].Put(s) }

// slabRelease is the arrow allocator behind a batch's data buffer: its
// Free, called when the last reference to the buffer goes (the record
// released by the batcher and by the gRPC transport once it wrote the
// bytes), drops the batch's reference to the slab and runs after (the
// rows' memory reservations go back to the budget only then).
type slabRelease struct {
	s     *slab
	after func()
}

func (r slabRelease) Allocate(int) []byte { panic("pipeline: slab buffers do not grow") }

func (r slabRelease) Reallocate(int, []byte) []byte { panic("pipeline: slab buffers do not grow") }

func (r slabRelease) Free([]byte) {
	r.s.unref()
	if r.after != nil {
		r.after()
	}
}

// newDataBuffer wraps s.buf[start:end] as an arrow buffer that owns one
// reference to s (the caller's, handed over); after, if set, runs once the
// buffer is freed.
func newDataBuffer(s *slab, start, end int, after func()) *memory.Buffer {
	return memory.NewBufferWithAllocator(s.buf[start:end:end], slabRelease{s, after})
}
