package plan

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// planSynthetic lists dirs×perDir synthetic files and plans them the way
// the coordinator does (List, Columns, Cut, Assign), returning the plan so
// it stays live while the heap is measured.
func planSynthetic(tb testing.TB, dirs, perDir int) (Listing, []Split, [][]int) {
	l, err := ListDirs(context.Background(), synthFS(dirs, perDir), "/bench", ListOptions{Parallelism: 4})
	if err != nil {
		tb.Fatal(err)
	}
	if len(l.Files) != dirs*perDir || len(l.Columns()) != 1 {
		tb.Fatalf("listed %d files, %d columns; want %d, 1", len(l.Files), len(l.Columns()), dirs*perDir)
	}
	workers := make([]Worker, 8)
	for i := range workers {
		workers[i] = Worker{Name: fmt.Sprintf("w%d", i), Host: fmt.Sprintf("h%d", i), Capacity: 8}
	}
	splits := Cut(l.Files, DefaultPartitions(workers, 4))
	return l, splits, Assign(splits, workers, nil, 3)
}

// peakHeap samples the heap while fn runs; the maximum is an estimate
// (sampled every few milliseconds), reported, never asserted.
func peakHeap(fn func()) (peak uint64) {
	runtime.GC()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	return peak
}

// TestPlanScale100k plans 100,000 synthetic files and checks the plan is
// whole and in order; the benchmark below covers up to 10M.
func TestPlanScale100k(t *testing.T) {
	var l Listing
	var splits []Split
	var locs [][]int
	start := time.Now()
	peak := peakHeap(func() { l, splits, locs = planSynthetic(t, 100, 1000) })
	t.Logf("100k files: %v, peak heap %d MiB", time.Since(start).Round(time.Millisecond), peak>>20)
	n := 0
	for i, s := range splits {
		n += len(s.Files)
		if len(locs[i]) != 3 {
			t.Fatalf("split %d: %d locations", i, len(locs[i]))
		}
	}
	if n != len(l.Files) || len(splits) != 8*8*4 {
		t.Fatalf("%d splits cover %d of %d files", len(splits), n, len(l.Files))
	}
	for i := 1; i < len(l.Files); i++ {
		if l.Files[i-1].Path >= l.Files[i].Path {
			t.Fatalf("not in path order at %d: %s, %s", i, l.Files[i-1].Path, l.Files[i].Path)
		}
		if d := l.Dirs[l.Files[i].Dir]; d.Values[0] != l.Files[i].Path[len("/bench/cls="):len("/bench/cls=00000")] {
			t.Fatalf("%s: partition value %v", l.Files[i].Path, d.Values)
		}
	}
}

// BenchmarkPlan reports list+plan time and peak heap from 10k to 10M
// files (go test -run - -bench Plan -benchtime 1x ./pkg/plan/).
func BenchmarkPlan(b *testing.B) {
	for _, size := range []struct {
		name         string
		dirs, perDir int
	}{{"10k", 10, 1000}, {"100k", 100, 1000}, {"1M", 1000, 1000}, {"10M", 10000, 1000}} {
		b.Run(size.name, func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakHeap(func() { planSynthetic(b, size.dirs, size.perDir) }))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
