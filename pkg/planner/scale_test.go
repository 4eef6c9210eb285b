package planner_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/memfs"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
)

// synthTree is dirs×perDir files /data/cls=NNNNN/img_NNNNNNN.jpg, made on
// demand so that millions of files cost no memory until listed.
func synthTree(dirs, perDir int) *memfs.FS {
	return memfs.Generated(func(dir string) []fs.FileInfo {
		if dir == "/" {
			return []fs.FileInfo{&memfs.Info{N: "data", M: fs.ModeDir | 0o755}}
		}
		if dir == "/data" {
			out := make([]fs.FileInfo, dirs)
			for i := range out {
				out[i] = &memfs.Info{N: fmt.Sprintf("cls=%05d", i), M: fs.ModeDir | 0o755}
			}
			return out
		}
		rest, ok := strings.CutPrefix(dir, "/data/cls=")
		c, err := strconv.Atoi(rest)
		if !ok || err != nil || c >= dirs {
			return nil
		}
		out := make([]fs.FileInfo, perDir)
		for i := range out {
			out[i] = &memfs.Info{N: fmt.Sprintf("img_%07d.jpg", c*perDir+i), S: int64(50_000 + i%100_000), M: 0o644}
		}
		return out
	})
}

// BenchmarkPlanScale plans a synthetic listing through the whole coordinator
// (list, sample, partition columns, cut, assign, pack, sign) for 100
// workers of capacity 4 (800 splits), and reports the FlightInfo's size.
// IMAGEFLIGHT_PLAN_SCALE=10000000 adds the 10M case.
func BenchmarkPlanScale(b *testing.B) {
	sizes := []int{10_000, 100_000, 1_000_000}
	if n, err := strconv.Atoi(os.Getenv("IMAGEFLIGHT_PLAN_SCALE")); err == nil {
		sizes = append(sizes, n)
	}
	workers := make(plannertest.StaticWorkers, 100)
	for i := range workers {
		workers[i] = planner.WorkerInfo{Name: fmt.Sprintf("w%d", i), Location: fmt.Sprintf("grpc://10.0.%d.%d:8816", i/250, i%250), Capacity: 4}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			fsys := synthTree(max(n/1000, 1), min(n, 1000))
			mounts := &hdfsio.Mounts{DialHDFS: func(context.Context, string) (hdfsio.FileSystem, error) { return fsys, nil }}
			roots, _ := hdfsio.ParseRoots([]string{plannertest.Base})
			c, err := planner.NewCoordinator(planner.DefaultCoordinatorConfig(), planner.CoordinatorDeps{Roots: roots, Secret: plannertest.Secret, Mounts: mounts,
				Workers: workers, Self: "grpc://coordinator:8815", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				runtime.GC()
				stop := peakHeap()
				start := time.Now()
				info, err := c.GetFlightInfo(context.Background(), plannertest.Descriptor(`{"path": "`+plannertest.Base+`"}`))
				took := time.Since(start)
				high := stop()
				if err != nil {
					b.Fatal(err)
				}
				size := proto.Size(info)
				b.ReportMetric(took.Seconds(), "s/plan")
				b.ReportMetric(float64(high)/(1<<20), "MiB-peak-heap")
				b.ReportMetric(float64(size), "FlightInfo-bytes")
				b.ReportMetric(float64(size)/float64(len(info.GetEndpoint())), "bytes/endpoint")
				b.ReportMetric(float64(c.StoredBytes())/float64(n), "stored-bytes/file")
			}
		})
	}
}

// peakHeap samples the heap every few milliseconds until stopped.
func peakHeap() (stop func() uint64) {
	var high atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > high.Load() {
				high.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return high.Load() }
}
