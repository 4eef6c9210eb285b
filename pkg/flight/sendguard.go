package flight

import (
	"context"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/imageflight/imageflight/pkg/flightcodec"
	"github.com/imageflight/imageflight/pkg/wire"
)

// sendGuard fails a DoGet stream whose client stops making progress.
// Progress is the transport finishing a batch (writing it to the
// connection), not Send returning: gRPC queues a message beyond the
// client's flow-control window, so a stream whose client stopped reading
// may never block in Send again — it goes on to wait for memory, a decode
// or its next image while its queued batches hold the budget. The guard's
// clock therefore runs whenever a batch is queued and unwritten, whatever
// the stream is doing; when it runs out the stream's context is cancelled,
// every wait in the pipeline ends, and the stream frees its slot and the
// memory it was not yet sending.
//
// What the transport already queued stays held (and counted) until that
// client reads it or its connection closes: gRPC cannot reset the stream
// from the server side while its trailers wait behind that data.
type sendGuard struct {
	wr      recordWriter
	timeout time.Duration
	ctx     context.Context // the stream's; cancelled when the guard trips
	cancel  context.CancelCauseFunc

	mu       sync.Mutex
	pending  int       // batches handed to the transport and not yet written
	deadline time.Time // when the oldest pending batch must have been written
	timer    *time.Timer
	err      error // why the guard tripped
	stalled  bool  // a send was abandoned: the writer must not be touched again
}

// recordWriter writes a stream's record batches (flightcodec.Writer).
type recordWriter interface {
	WriteWithAppMetadata(rec arrow.RecordBatch, appMeta []byte) error
	Close() error
}

// newSendGuard guards writes to wr and returns the context the stream
// must run under. Written must be called once per record the transport
// is done with (flightcodec.Writer.OnWritten).
func newSendGuard(ctx context.Context, wr recordWriter, timeout time.Duration) (*sendGuard, context.Context) {
	g := &sendGuard{wr: wr, timeout: timeout}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	g.timer = time.AfterFunc(time.Hour, g.check)
	g.timer.Stop()
	return g, g.ctx
}

// newGuardedWriter is newSendGuard on a Flight stream writer.
func newGuardedWriter(ctx context.Context, fw *flightcodec.Writer, timeout time.Duration) (*sendGuard, context.Context) {
	g, ctx := newSendGuard(ctx, fw, timeout)
	fw.OnWritten = g.written
	return g, ctx
}

// send writes one batch with its metadata.
func (g *sendGuard) send(rec arrow.RecordBatch, m wire.BatchMeta) error {
	meta := wire.AppendBatchMeta(nil, m)
	g.mu.Lock()
	if g.pending++; g.pending == 1 {
		g.arm()
	}
	g.mu.Unlock()
	rec.Retain() // the batch outlives send if the client stalls
	done := make(chan error, 1)
	go func() {
		defer rec.Release()
		done <- g.wr.WriteWithAppMetadata(rec, meta)
	}()
	select {
	case err := <-done:
		return err
	case <-g.ctx.Done():
		g.stalled = true
		if err := g.tripped(); err != nil {
			return err
		}
		return wire.Wrap(wire.AutoKind, g.ctx.Err(), "send batch")
	}
}

// written notes that the transport is done with one batch: the client
// made progress, so the next pending batch gets a whole timeout.
func (g *sendGuard) written() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending--; g.pending > 0 {
		g.arm()
	} else {
		g.timer.Stop()
	}
}

func (g *sendGuard) arm() {
	g.deadline = time.Now().Add(g.timeout)
	g.timer.Reset(g.timeout)
}

// check runs when the timer fires: a timer that raced with progress
// re-arms for what is left instead of tripping.
func (g *sendGuard) check() {
	g.mu.Lock()
	if g.pending == 0 || g.err != nil {
		g.mu.Unlock()
		return
	}
	if left := time.Until(g.deadline); left > 0 {
		g.timer.Reset(left)
		g.mu.Unlock()
		return
	}
	g.err = wire.Errorf(wire.KindDeadline, "client read nothing for %s (the worker's --send-timeout); stream closed to free its slot", g.timeout)
	g.mu.Unlock()
	sendTimeouts.Inc()
	g.cancel(g.err)
}

// tripped is the guard's error once it fired, else nil.
func (g *sendGuard) tripped() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Close ends the stream unless a send was abandoned (gRPC forbids a second
// concurrent Send; the handler's return ends that stream instead), and
// stops the clock.
func (g *sendGuard) Close() {
	g.mu.Lock()
	g.timer.Stop()
	g.pending = 0
	g.mu.Unlock()
	if !g.stalled {
		g.wr.Close()
	}
	g.cancel(nil)
}
