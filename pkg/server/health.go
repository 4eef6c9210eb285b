package server

import (
	"context"
	"sync"
	"time"

	"github.com/imageflight/imageflight/pkg/planner"
)

// prober gives the coordinator direct evidence about workers: it asks each
// live worker for worker-status every interval and benches one that fails
// twice in a row, well before gossip's suspicion timeout declares it dead.
// A benched worker that answers again is planned for again.
type prober struct {
	workers  func() []planner.WorkerInfo
	active   func(ctx context.Context, location string) int64 // -1: no answer
	interval time.Duration
	timeout  time.Duration

	mu      sync.Mutex
	fails   map[string]int
	benched map[string]bool
}

func newProber(workers func() []planner.WorkerInfo, interval time.Duration, active func(context.Context, string) int64) *prober {
	return &prober{workers: workers, active: active, interval: interval, timeout: max(interval/2, 200*time.Millisecond),
		fails: map[string]int{}, benched: map[string]bool{}}
}

// healthy reports whether a worker is not benched.
func (p *prober) healthy(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.benched[name]
}

func (p *prober) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for _, w := range p.workers() {
			wg.Add(1)
			go func(w planner.WorkerInfo) {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, p.timeout)
				defer cancel()
				p.record(w.Name, p.active(pctx, w.Location) >= 0)
			}(w)
		}
		wg.Wait()
	}
}

func (p *prober) record(name string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok {
		delete(p.fails, name)
		delete(p.benched, name)
		return
	}
	p.fails[name]++
	if p.fails[name] >= 2 {
		p.benched[name] = true
	}
}
