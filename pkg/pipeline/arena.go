package pipeline

import (
	"context"
	"sync"
	"time"
	"unsafe"

	"github.com/imageflight/imageflight/pkg/imagerow"
)

// arena lays a split's decoded images out in slabs in split order, so a
// run of consecutive rows is one contiguous range that a batch sends as
// its data column as is. Decodes run in parallel and reach their Alloc in
// any order, so file i gets its place only once every earlier file has
// taken or given up its own (its turn). A decode whose turn does not come
// within allocWait — its predecessor is still reading, or uses a decoder
// that allocates only after decoding — takes a pooled buffer of its own
// instead and is copied into its batch once: waiting longer would leave a
// decode slot idle.
type arena struct {
	size int           // bytes of a new slab: a full batch
	wait time.Duration // allocWait (tests wait longer)

	mu      sync.Mutex
	next    int                   // lowest index whose turn has not passed
	passed  map[int]bool          // indexes above next whose turn passed
	waiting map[int]chan struct{} // closed when next reaches the index
	cur     *slab                 // slab being filled (one reference held)
	used    int                   // bytes of cur placed
	acct    int                   // bytes of cur as Run counts them (rowBytes)
	closed  bool
}

// rowOverhead is what a row costs a batch beside its pixels and origin,
// in Run's and the arena's accounting alike.
const rowOverhead = 32

// allocWait bounds how long a decode waits for its turn (see arena).
const allocWait = 2 * time.Millisecond

func newArena(first, size int) *arena {
	return &arena{size: size, wait: allocWait, next: first, passed: map[int]bool{}, waiting: map[int]chan struct{}{}}
}

// place returns room for n bytes of file i — the slab holding a new
// reference for the row, and the offset — or nil when i's turn did not
// come in time. Either way i's turn has passed when it returns. A slab
// takes rows while their cost (n plus extra, the origin and rowOverhead)
// stays within size, the rule by which Run cuts batches, so slabs end
// where batches do and no batch is cut short by a full slab.
func (a *arena) place(ctx context.Context, i, n, extra int) (*slab, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i > a.next && !a.closed {
		ch := make(chan struct{})
		a.waiting[i] = ch
		a.mu.Unlock()
		t := time.NewTimer(a.wait)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		a.mu.Lock()
		delete(a.waiting, i)
	}
	if i != a.next || a.closed {
		a.pass(i)
		return nil, 0
	}
	if a.cur == nil || (a.acct > 0 && a.acct+n+extra > a.size) || a.used+n > len(a.cur.buf) {
		if a.cur != nil {
			a.cur.unref()
		}
		a.cur, a.used, a.acct = getSlab(max(a.size, n)), 0, 0
	}
	s, off := a.cur, a.used
	a.used += n
	a.acct += n + extra
	s.ref()
	a.pass(i)
	return s, off
}

// passTurn gives up i's turn without a place (the file failed before its
// Alloc, or decoded with its own buffer); passing it twice is harmless.
func (a *arena) passTurn(i int) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.pass(i)
	a.mu.Unlock()
}

func (a *arena) pass(i int) {
	if i < a.next {
		return
	}
	if i > a.next {
		a.passed[i] = true
		return
	}
	a.next++
	for a.passed[a.next] {
		delete(a.passed, a.next)
		a.next++
	}
	if ch := a.waiting[a.next]; ch != nil {
		close(ch)
		delete(a.waiting, a.next)
	}
}

// close releases the slab being filled; later places fail, so decodes
// still running after the stream ended take their own buffers.
func (a *arena) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil {
		a.cur.unref()
		a.cur = nil
	}
	a.closed = true
}

// rowMem is where a decoded row's pixels live: a slab reference, and the
// offset when the row sits at its place in the split's arena.
type rowMem struct {
	s       *slab
	off     int
	inArena bool
}

func (m *rowMem) release() {
	if m.s != nil {
		m.s.unref()
		*m = rowMem{}
	}
}

// rowAlloc is one decode's imagerow.Options.Alloc.
type rowAlloc struct {
	ctx   context.Context
	arena *arena // nil: no place in a layout, a buffer of its own
	i     int
	extra int // the row's cost beside its pixels (see arena.place)
	mem   rowMem
}

// prepare makes opts decode through r. A format whose decoder allocates
// only after decoding gives up its turn at once rather than hold up the
// files after it, and takes a buffer of its own.
func (r *rowAlloc) prepare(origin string, data []byte, opts *imagerow.Options) {
	opts.Alloc = r.alloc
	r.extra = len(origin) + rowOverhead
	if r.arena != nil && !imagerow.AllocsEarly(imagerow.Sniff(data)) {
		r.arena.passTurn(r.i)
		r.arena = nil
	}
}

// done ends the decode: its turn passes (if nothing took it) and memory
// the result did not keep goes back.
func (r *rowAlloc) done() {
	r.arena.passTurn(r.i)
	r.mem.release()
}

func (r *rowAlloc) alloc(n int) []byte {
	if r.mem.s != nil {
		// A decoder asking twice (none does today) gets plain memory
		// rather than a second place in the layout.
		return make([]byte, n)
	}
	if r.arena != nil {
		if s, off := r.arena.place(r.ctx, r.i, n, r.extra); s != nil {
			r.mem = rowMem{s: s, off: off, inArena: true}
			return s.buf[off : off+n : off+n]
		}
	}
	r.mem = rowMem{s: getSlab(n)}
	return r.mem.s.buf[:n:n]
}

// keep hands the row's memory to the decoded result when data (the
// row's final pixels, after transforms) still lies in it, and releases it
// otherwise (failed decode, or transforms that made new pixels).
func (r *rowAlloc) keep(data []byte) rowMem {
	m := r.mem
	r.mem = rowMem{}
	if m.s == nil {
		return m
	}
	if len(data) == 0 || !within(data, m.s.buf) {
		m.release()
		return rowMem{}
	}
	if m.inArena && unsafe.SliceData(data) != unsafe.SliceData(m.s.buf[m.off:]) {
		m.inArena = false // not at its place: copied like a foreign row
	}
	return m
}

// within reports whether sub starts inside buf's backing array.
func within(sub, buf []byte) bool {
	p, b := uintptr(unsafe.Pointer(unsafe.SliceData(sub))), uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= b && p < b+uintptr(cap(buf))
}

// newArena returns the split's arena, or nil when transforms replace the
// decoded pixels anyway (each decode then takes a pooled buffer of its
// own, and its batch copies the transformed pixels once), a tensor
// column dwarfs them (its bytes count in Run's batch cuts, not in the
// arena's, so slabs would end mid-batch), or no pixels are kept.
func (sp *Split) newArena() *arena {
	if len(sp.pipe.Stages) > 0 || sp.pipe.Tensor != nil || sp.pipe.HeaderOnly {
		return nil // header-only decodes keep no pixels
	}
	return newArena(sp.skip, int(min(sp.w.cfg.BatchBytes, 64<<20)))
}

// decodeFile decodes file i of the split into the split's arena.
func (sp *Split) decodeFile(ctx context.Context, i int) decoded {
	ra := &rowAlloc{ctx: ctx, arena: sp.arena, i: i}
	defer ra.done()
	return sp.w.decodeOne(ctx, sp.fsys, sp.locs[i], sp.t.Files[i].Size, sp.t.Drop, &sp.pipe, ra)
}
