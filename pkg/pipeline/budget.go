package pipeline

import (
	"container/list"
	"context"
	"sync"

	"github.com/imageflight/imageflight/pkg/wire"
)

// memBudget is the worker-wide memory budget in bytes: every image being
// read or decoded, every decoded image waiting for its batch and every row
// in a batch not yet sent holds a reservation against it. Waiters are served
// first come, first served, so a large image is not starved by small ones.
// A reservation larger than the whole budget is granted once nothing else
// is reserved: it goes alone instead of deadlocking. Open model sessions
// are pinned (pin): counted in used, never waited for, and not "something
// else" for that rule, since they stay open while images must flow.
type memBudget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	pinned  int64         // of used, held by open model sessions
	high    int64         // high-water mark of used, for tests and metrics
	waiters list.List     // of *budgetWaiter, oldest first
	press   chan struct{} // closed while anyone waits (see pressure)
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when granted
}

func newMemBudget(limit int64) *memBudget {
	return &memBudget{limit: limit, press: make(chan struct{})}
}

// fits says whether n more bytes may be granted now.
func (b *memBudget) fits(n int64) bool {
	return b.used+n <= b.limit || b.used == b.pinned
}

// pin takes n bytes for an open model session, without waiting, if the
// sessions' bytes stay within the limit (images' reservations make room
// as they are released: decodes wait for them, not the reverse).
func (b *memBudget) pin(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pinned+n > b.limit {
		return false
	}
	b.pinned += n
	b.take(n)
	return true
}

// unpin gives back what pin took.
func (b *memBudget) unpin(n int64) {
	b.mu.Lock()
	b.pinned -= n
	b.mu.Unlock()
	b.release(n)
}

func (b *memBudget) take(n int64) {
	b.used += n
	b.high = max(b.high, b.used)
	budgetBytes.Set(float64(b.used))
}

// acquire waits until n bytes are granted or ctx ends.
func (b *memBudget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.fits(n) {
		b.take(n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	e := b.waiters.PushBack(w)
	if b.waiters.Len() == 1 {
		close(b.press)
	}
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted while giving up: hand it back
		b.used -= n
	default:
		b.waiters.Remove(e)
	}
	b.wake()
	return wire.Wrap(wire.AutoKind, ctx.Err(), "waiting for worker memory")
}

// release returns n bytes and grants waiters that now fit, in order.
func (b *memBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.wake()
	b.mu.Unlock()
}

// force takes n bytes without waiting: an estimate turned out low and the
// memory is already allocated.
func (b *memBudget) force(n int64) {
	b.mu.Lock()
	b.take(n)
	b.mu.Unlock()
}

func (b *memBudget) wake() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if !b.fits(w.n) {
			break
		}
		b.take(w.n)
		close(w.ready)
		b.waiters.Remove(e)
	}
	if b.waiters.Len() == 0 {
		select {
		case <-b.press:
			b.press = make(chan struct{})
		default:
		}
	}
	budgetBytes.Set(float64(b.used))
}

// pressure is closed while a reservation waits: streams then send the rows
// they hold in partial batches instead of waiting to fill them, so the
// memory those rows hold comes back. Without this, streams whose next
// image waits for memory held by their own unsent batches would deadlock.
func (b *memBudget) pressure() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.press
}

// stats reports bytes reserved now and the high-water mark.
func (b *memBudget) stats() (used, high int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.high
}

// reservation is one image's share of the budget, from before its file is
// read until the batch holding its row is sent.
type reservation struct {
	b    *memBudget
	n    int64
	turn turn // reservations of one split are made in split order
	// pipeline is what the image's transforms and tensor add to its
	// decode, by the image's size (nil: nothing).
	pipeline func(h, w int) int64
}

// reserve waits for its turn in the split, then for n bytes, unless the
// reservation already holds some (a retried read keeps what the first
// attempt reserved).
func (r *reservation) reserve(ctx context.Context, n int64) error {
	if r == nil || r.n > 0 {
		return nil
	}
	defer r.turn.pass()
	if err := r.turn.wait(ctx); err != nil {
		return err
	}
	if n <= 0 {
		return nil
	}
	if err := r.b.acquire(ctx, n); err != nil {
		return err
	}
	r.n = n
	return nil
}

// turn orders the reservations of one split: a stream consumes rows in
// split order, so a later row holding memory while an earlier one waits for
// it would deadlock (the stream cannot send the later row first).
type turn struct {
	prev <-chan struct{} // closed when the previous row reserved (nil: first)
	done chan struct{}   // closed when this row reserved, or never will
}

// turns hands out the turns of one split, in order.
type turns struct{ last chan struct{} }

func (t *turns) next() turn {
	tn := turn{prev: t.last, done: make(chan struct{})}
	t.last = tn.done
	return tn
}

func (t turn) wait(ctx context.Context) error {
	if t.prev == nil {
		return nil
	}
	select {
	case <-t.prev:
		return nil
	case <-ctx.Done():
		return wire.Wrap(wire.AutoKind, ctx.Err(), "waiting for worker memory")
	}
}

// pass lets the next row reserve; safe to call more than once.
func (t turn) pass() {
	if t.done == nil {
		return
	}
	select {
	case <-t.done:
	default:
		close(t.done)
	}
}

// settle adjusts the reservation to what the decoded row really holds: the
// file bytes and the decoder's working memory are garbage now.
func (r *reservation) settle(n int64) {
	if r == nil {
		return
	}
	switch {
	case n < r.n:
		r.b.release(r.n - n)
	case n > r.n:
		r.b.force(n - r.n)
	}
	r.n = n
}

func (r *reservation) release() { r.settle(0) }

// cover grows the reservation to at least n bytes without waiting: the
// header gave no size to reserve by, and the memory is about to be used.
func (r *reservation) cover(n int64) {
	if r != nil && n > r.n {
		r.settle(n)
	}
}

type reservationKey struct{}

// withReservation hands a decode's reservation down to the read, which
// sizes it once it has seen the file's header; a context value keeps
// decodeOne's signature out of it.
func withReservation(ctx context.Context, r *reservation) context.Context {
	return context.WithValue(ctx, reservationKey{}, r)
}

func reservationFrom(ctx context.Context) *reservation {
	r, _ := ctx.Value(reservationKey{}).(*reservation)
	return r
}
