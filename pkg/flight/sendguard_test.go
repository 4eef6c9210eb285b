package flight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/imageflight/imageflight/pkg/pipeline"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/wire"
)

// TestSendTimeoutFreesAStalledStream: a client that opens DoGet and never
// reads loses its stream after the send timeout, and its slot serves the
// next client.
func TestSendTimeoutFreesAStalledStream(t *testing.T) {
	wc := pipeline.DefaultWorkerConfig()
	// The send timeout also applies to the client that does read: under
	// -race at load 20 a reader paused longer than 200 ms and lost its
	// stream, so the timeout is far above a reader's pauses (the stalled
	// client costs the test that long).
	wc.SendTimeout, wc.MaxStreams, wc.BatchBytes = 10*time.Second, 1, 1
	r := newRig(t, plannertest.RGBTree(t, 6, 512), wc) // 768 KiB rows
	info := r.Plan(t, `{"path": "`+plannertest.Base+`", "numPartitions": 1}`)
	ticket := info.GetEndpoint()[0].GetTicket()

	// Small fixed windows (serveRig): a client that does not read blocks
	// the server's Send after a few hundred KiB.
	cc := serveRig(t, r)()
	defer cc.Close()
	fc := aflight.NewFlightServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stalled, err := fc.DoGet(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	plannertest.WaitFor(t, "the stalled stream to take the only slot", func() bool { return r.work.Active() == 1 })
	plannertest.WaitFor(t, "the stalled stream to be closed", func() bool { return r.work.Active() == 0 })

	next, err := fc.DoGet(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if n := drain(t, next); n != 6 {
		t.Errorf("next client read %d batches, want 6", n)
	}
	for {
		_, err := stalled.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("stalled client finally reads %v, want DeadlineExceeded", err)
		}
		break
	}
}

// drain reads a DoGet stream to its end and counts its data messages.
func drain(t *testing.T, s aflight.FlightService_DoGetClient) int {
	t.Helper()
	n := 0
	for {
		d, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(d.GetDataBody()) > 0 {
			n++
		}
	}
}

// TestSendTimeoutFiresWhileWaitingForMemory: a client that read one batch
// and stopped leaves the next batch queued in the transport, where it holds
// the memory the stream's next image waits for. The stream is then blocked
// on memory, not in a send, and must still fail after the send timeout,
// freeing the only stream slot for a fresh client; the stalled client's
// queued batch stays counted until its connection closes.
func TestSendTimeoutFiresWhileWaitingForMemory(t *testing.T) {
	files := map[string][]byte{}
	for i := range 6 {
		files[fmt.Sprintf("/data/big/%d.png", i)] = plannertest.RGBPNG(t, 512, 512) // 768 KiB rows, ~2 MiB to decode
		files[fmt.Sprintf("/data/small/%d.png", i)] = plannertest.RGBPNG(t, 16, 16)
	}
	wc := pipeline.DefaultWorkerConfig()
	// Long enough that the fresh client, reading, never trips it on a loaded machine.
	wc.SendTimeout, wc.MaxStreams, wc.BatchBytes, wc.Parallelism = 10*time.Second, 1, 1, 1
	wc.MemoryBudget = 5 << 19 // 2.5 MiB: one queued row and the next decode do not fit together
	r := newRig(t, files, wc)
	dial := serveRig(t, r)
	big := r.Plan(t, `{"path": "`+plannertest.Base+`/big", "numPartitions": 1}`).GetEndpoint()[0].GetTicket()
	small := r.Plan(t, `{"path": "`+plannertest.Base+`/small", "numPartitions": 1}`).GetEndpoint()[0].GetTicket()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	slow := dial()
	s, err := aflight.NewFlightServiceClient(slow).DoGet(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 2; n++ { // the schema, then one batch; then the client stops reading
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	plannertest.WaitFor(t, "the stalled stream to free its slot", func() bool { return r.work.Active() == 0 })
	if used, _ := r.work.Memory(); used == 0 {
		t.Error("the batch queued for the stalled client is no longer counted")
	}

	if n := readTicket(ctx, t, dial, small); n != 6 {
		t.Errorf("fresh client read %d batches, want 6", n)
	}
	slow.Close()
	plannertest.WaitFor(t, "budget back to zero", func() bool { u, _ := r.work.Memory(); return u == 0 })
}

// fakeWriter accepts every write at once and keeps the records, as a
// transport with queued messages does; free hands one back.
type fakeWriter struct{ kept chan arrow.RecordBatch }

func (f *fakeWriter) WriteWithAppMetadata(rec arrow.RecordBatch, _ []byte) error {
	rec.Retain()
	f.kept <- rec
	return nil
}

func (f *fakeWriter) Close() error { return nil }

// TestSendGuardClock: the clock runs only while a batch is unwritten, and
// each written batch restarts it.
func TestSendGuardClock(t *testing.T) {
	rec := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 0)
	defer rec.Release()

	fw := &fakeWriter{kept: make(chan arrow.RecordBatch, 16)}
	long, _ := newSendGuard(context.Background(), fw, time.Hour)
	defer long.Close()
	for range 3 {
		if err := long.send(rec, wire.BatchMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	first := long.deadline
	(<-fw.kept).Release()
	long.written()
	if long.pending != 2 || !long.deadline.After(first) {
		t.Errorf("after one batch written: %d pending, deadline %v (was %v); want 2 and a later deadline", long.pending, long.deadline, first)
	}
	(<-fw.kept).Release()
	long.written()
	(<-fw.kept).Release()
	long.written()
	if long.pending != 0 {
		t.Errorf("%d pending after every batch was written", long.pending)
	}

	short, ctx := newSendGuard(context.Background(), fw, 20*time.Millisecond)
	defer short.Close()
	time.Sleep(100 * time.Millisecond) // nothing pending: no clock
	if short.tripped() != nil {
		t.Fatal("tripped with nothing pending")
	}
	if err := short.send(rec, wire.BatchMeta{}); err != nil { // queued, never written
		t.Fatal(err)
	}
	<-ctx.Done()
	if err := short.tripped(); wire.KindOf(err) != wire.KindDeadline {
		t.Errorf("tripped with %v, want a deadline error", err)
	}
	if err := context.Cause(ctx); wire.KindOf(err) != wire.KindDeadline {
		t.Errorf("stream context ended with %v, want the guard's error", err)
	}
	(<-fw.kept).Release()
}
