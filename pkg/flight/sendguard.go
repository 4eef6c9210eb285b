package flight

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/imageflight/imageflight/pkg/wire"
)

// guardedWriter writes a DoGet stream's batches with a send timeout.
// gRPC's Send blocks while the client's flow-control window is full, so a
// client that opens a stream and never reads would hold its stream slot and
// memory forever. A send runs in its own goroutine; when it does not finish
// within the timeout the stream fails (KindDeadline) and the handler
// returns, which makes gRPC cancel the stream and unblocks the abandoned
// Send.
type guardedWriter struct {
	wr      recordWriter
	timeout time.Duration
	stalled bool // a send was abandoned: the writer must not be touched again
}

// recordWriter writes a stream's record batches (flightcodec.Writer).
type recordWriter interface {
	WriteWithAppMetadata(rec arrow.RecordBatch, appMeta []byte) error
	Close() error
}

// send writes one batch with its metadata.
func (g *guardedWriter) send(rec arrow.RecordBatch, m wire.BatchMeta) error {
	meta := wire.AppendBatchMeta(nil, m)
	rec.Retain() // the batch outlives send if the client stalls
	done := make(chan error, 1)
	go func() {
		defer rec.Release()
		done <- g.wr.WriteWithAppMetadata(rec, meta)
	}()
	t := time.NewTimer(g.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		g.stalled = true
		sendTimeouts.Inc()
		return wire.Errorf(wire.KindDeadline, "client read nothing for %s (the worker's --send-timeout); stream closed to free its slot", g.timeout)
	}
}

// Close ends the stream unless a send was abandoned (gRPC forbids a second
// concurrent Send; the handler's return ends that stream instead).
func (g *guardedWriter) Close() {
	if !g.stalled {
		g.wr.Close()
	}
}
