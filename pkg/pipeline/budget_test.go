package pipeline

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/wire"
)

// streamCount runs a ticket and counts its rows; send may block.
func streamCount(ctx context.Context, w *Worker, ticket []byte, send func(context.Context) error) (int, error) {
	sp, err := w.Open(ctx, ticket)
	if err != nil {
		return 0, err
	}
	defer sp.Close()
	rows := 0
	err = sp.Run(ctx, func(rec arrow.RecordBatch, _ wire.BatchMeta) error {
		rows += int(rec.NumRows())
		return send(ctx)
	})
	return rows, err
}

func noWait(context.Context) error { return nil }

func TestMemoryBudgetBoundsConcurrentStreams(t *testing.T) {
	const side = 64
	est := decodedEstimate(plannertest.RGBPNG(t, side, side), 1<<30, nil) + int64(len(plannertest.RGBPNG(t, side, side)))
	tests := []struct {
		name       string
		budget     int64
		batchBytes int64
		wantHigh   int64 // high-water bound
	}{
		// Batches would hold every row: only the pressure flush frees memory.
		{"three images, large batches", 3 * est, 1 << 30, 3 * est},
		{"three images, small batches", 3 * est, 1, 3 * est},
		// Each image alone exceeds the budget: one at a time, no deadlock.
		{"image larger than the budget", est / 2, 1 << 30, est},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wc := DefaultWorkerConfig()
			wc.MemoryBudget, wc.BatchBytes, wc.Parallelism, wc.MaxStreams = tc.budget, tc.batchBytes, 2, 8
			r := newRig(t, plannertest.RGBTree(t, 24, side), planner.DefaultCoordinatorConfig(), wc, "")
			info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 8}`)
			var wg sync.WaitGroup
			total := make([]int, len(info.GetEndpoint()))
			for i, ep := range info.GetEndpoint() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := streamCount(context.Background(), r.work, ep.GetTicket().GetTicket(), noWait)
					if err != nil {
						t.Errorf("stream %d: %v", i, err)
					}
					total[i] = n
				}()
			}
			wg.Wait()
			sum := 0
			for _, n := range total {
				sum += n
			}
			if sum != 24 {
				t.Errorf("%d rows, want 24", sum)
			}
			plannertest.WaitFor(t, "budget back to zero", func() bool { u, _ := r.work.mem.stats(); return u == 0 })
			if _, high := r.work.mem.stats(); high > tc.wantHigh || high == 0 {
				t.Errorf("high-water %d bytes, want within (0, %d]", high, tc.wantHigh)
			}
		})
	}
}

// TestStalledConsumerHoldsOnlyItsShare: a stream whose client never reads
// keeps what it reserved, the budget still holds, and other streams finish.
func TestStalledConsumerHoldsOnlyItsShare(t *testing.T) {
	const side = 64
	est := decodedEstimate(plannertest.RGBPNG(t, side, side), 1<<30, nil) + int64(len(plannertest.RGBPNG(t, side, side)))
	wc := DefaultWorkerConfig()
	// The stalled stream holds at most its batch in send, two decoded
	// images queued (2×Parallelism) and one decoding: 4 images.
	wc.MemoryBudget, wc.BatchBytes, wc.Parallelism, wc.MaxStreams = 6*est, 1, 1, 4
	r := newRig(t, plannertest.RGBTree(t, 24, side), planner.DefaultCoordinatorConfig(), wc, "")
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 4}`)
	eps := info.GetEndpoint()
	stallCtx, cancel := context.WithCancel(context.Background())
	stalled := make(chan error, 1)
	go func() {
		_, err := streamCount(stallCtx, r.work, eps[0].GetTicket().GetTicket(), func(ctx context.Context) error {
			<-ctx.Done() // a client that never reads
			return ctx.Err()
		})
		stalled <- err
	}()
	for i, ep := range eps[1:] {
		if n, err := streamCount(context.Background(), r.work, ep.GetTicket().GetTicket(), noWait); err != nil || n != 6 {
			t.Errorf("stream %d beside the stalled one: %d rows, %v", i+1, n, err)
		}
	}
	if _, high := r.work.mem.stats(); high > wc.MemoryBudget {
		t.Errorf("high-water %d over the budget %d", high, wc.MemoryBudget)
	}
	cancel()
	if err := <-stalled; wire.KindOf(err) != wire.KindCanceled {
		t.Errorf("stalled stream: %v, want canceled", err)
	}
	plannertest.WaitFor(t, "stalled stream's memory and slots back", func() bool {
		u, _ := r.work.mem.stats()
		return u == 0 && len(r.work.decodeSlots) == 0 && len(r.work.streamSlots) == 0
	})
}

// trickleFS serves endless files a byte per Read, counting open files.
type trickleFS struct {
	hdfsio.FileSystem
	open *atomic.Int64
}

type trickle struct{ done func() }

func (trickle) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = 0x89
	return 1, nil
}

func (t trickle) Close() error { t.done(); return nil }

func (f trickleFS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	f.open.Add(1)
	var once sync.Once
	return trickle{done: func() { once.Do(func() { f.open.Add(-1) }) }}, nil
}

// TestCancelReleasesDecodeSlots: cancelling a stream whose reads never end
// (storage trickling bytes) stops the reads and frees every decode slot and
// byte of budget.
func TestCancelReleasesDecodeSlots(t *testing.T) {
	for _, budget := range []int64{1 << 30, 1} { // reads under way; reads waiting for memory
		t.Run(fmt.Sprintf("budget=%d", budget), func(t *testing.T) {
			wc := DefaultWorkerConfig()
			wc.Parallelism, wc.MaxFileBytes, wc.MemoryBudget = 2, 1<<62, budget
			r := newRig(t, plannertest.RGBTree(t, 8, 4), planner.DefaultCoordinatorConfig(), wc, "")
			info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 1}`)
			var open atomic.Int64
			r.work.deps.Mounts = &hdfsio.Mounts{DialHDFS: func(context.Context, string) (hdfsio.FileSystem, error) {
				return trickleFS{FileSystem: r.fs, open: &open}, nil
			}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := streamCount(ctx, r.work, info.GetEndpoint()[0].GetTicket().GetTicket(), noWait)
				done <- err
			}()
			plannertest.WaitFor(t, "both decode slots busy", func() bool { return len(r.work.decodeSlots) == 2 })
			cancel()
			if err := <-done; wire.KindOf(err) != wire.KindCanceled {
				t.Errorf("cancelled stream: %v", err)
			}
			plannertest.WaitFor(t, "reads stopped, decode slots and memory released", func() bool {
				u, _ := r.work.mem.stats()
				return len(r.work.decodeSlots) == 0 && u == 0 && open.Load() == 0
			})
		})
	}
}

func TestBudgetWaitersInOrderAndCancellable(t *testing.T) {
	b := newMemBudget(10)
	ctx := context.Background()
	if err := b.acquire(ctx, 8); err != nil {
		t.Fatal(err)
	}
	big := make(chan error, 1)
	go func() { big <- b.acquire(ctx, 5) }()
	plannertest.WaitFor(t, "waiter queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.waiters.Len() == 1 })
	select {
	case <-b.pressure():
	default:
		t.Error("no pressure while a waiter waits")
	}
	// A small request that fits must not overtake the queued one.
	cctx, cancel := context.WithCancel(ctx)
	small := make(chan error, 1)
	go func() { small <- b.acquire(cctx, 1) }()
	plannertest.WaitFor(t, "second waiter queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.waiters.Len() == 2 })
	cancel()
	if err := <-small; wire.KindOf(err) != wire.KindCanceled {
		t.Errorf("cancelled waiter: %v", err)
	}
	b.release(8)
	if err := <-big; err != nil {
		t.Fatal(err)
	}
	if used, high := b.stats(); used != 5 || high != 8 {
		t.Errorf("used %d high %d, want 5 and 8", used, high)
	}
	b.release(5)
	if err := b.acquire(ctx, 50); err != nil { // alone: over the budget
		t.Fatal(err)
	}
	select {
	case <-b.pressure():
		t.Error("pressure with nobody waiting")
	default:
	}
}

// TestBudgetHoldsPixelsUntilTheTransportFreesThem: a batch's rows stay
// counted after send returns for as long as something (gRPC's transport)
// still holds the batch, and go back to the budget when it is released.
func TestBudgetHoldsPixelsUntilTheTransportFreesThem(t *testing.T) {
	files := map[string][]byte{"/data/a.png": plannertest.RGBPNG(t, 64, 64), "/data/b.png": plannertest.RGBPNG(t, 64, 48)}
	r := newRig(t, files, planner.DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 1}`)
	sp, err := r.work.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
	if err != nil {
		t.Fatal(err)
	}
	var kept []arrow.RecordBatch
	err = sp.Run(context.Background(), func(rec arrow.RecordBatch, _ wire.BatchMeta) error {
		rec.Retain() // as the transport does until it wrote the bytes
		kept = append(kept, rec)
		return nil
	})
	sp.Close()
	if err != nil {
		t.Fatal(err)
	}
	if used, _ := r.work.mem.stats(); used < 64*64*3+64*48*3 {
		t.Fatalf("%d bytes counted while the batch is still held, want at least its pixels", used)
	}
	for _, rec := range kept {
		rec.Release()
	}
	if used, _ := r.work.mem.stats(); used != 0 {
		t.Errorf("%d bytes still counted after the batch was freed", used)
	}
}
