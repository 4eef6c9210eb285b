package bench

// BenchmarkDecodeDir is the in-process reference for the Flight overhead figure: the
// same decode the worker does (imagerow.DecodeContext with the worker's default
// options, optionally followed by the same transform stages), on every file of
// BENCH_DIR, by GOMAXPROCS goroutines, with no Arrow, no gRPC and no client.
// Files are read with os.ReadFile inside the timed loop (page cache), as the
// worker reads them.
//
//	BENCH_DIR=~/.cache/imageflight-bench/photos go test -run '^$' -bench DecodeDir -benchtime 3x ./test/bench
//
// Env: BENCH_DIR (required), BENCH_TRANSFORMS (a transforms JSON list, optional),
// BENCH_FAST_RESIZE=1 (decode JPEGs with DCT scaling when the first stage shrinks).
// Metrics: images/s, MP/s of decoded (source) pixels, cpu-s/op (user+sys of the
// whole process per pass, from getrusage).

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/transform"
)

func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func BenchmarkDecodeDir(b *testing.B) {
	dir := os.Getenv("BENCH_DIR")
	if dir == "" {
		b.Skip("BENCH_DIR not set")
	}
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && d.Name()[0] != '.' && d.Name()[0] != '_' {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	sort.Strings(files)
	var stages []stage.Stage
	if raw := os.Getenv("BENCH_TRANSFORMS"); raw != "" {
		if stages, err = stage.Parse([]byte(raw)); err != nil {
			b.Fatal(err)
		}
	}
	fast := os.Getenv("BENCH_FAST_RESIZE") == "1"

	pass := func() (rows, pixels, outBytes int64) {
		var r, px, ob atomic.Int64
		next := make(chan string)
		var wg sync.WaitGroup
		for g := 0; g < runtime.GOMAXPROCS(0); g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range next {
					data, err := os.ReadFile(p)
					if err != nil {
						b.Error(err)
						continue
					}
					opts := imagerow.DefaultOptions()
					var fullH, fullW int
					if fast && len(stages) > 0 {
						opts.Shrink = func(h, w int) int {
							fullH, fullW = h, w
							return stage.ShrinkFactor(stages, h, w)
						}
					}
					row, err := imagerow.DecodeContext(context.Background(), p, data, opts)
					if err != nil {
						r.Add(1) // an invalid row, as the worker would send
						continue
					}
					px.Add(int64(row.Height) * int64(row.Width))
					st := stages
					if fullH > 0 && (int(row.Height) != fullH || int(row.Width) != fullW) {
						px.Add(int64(fullH)*int64(fullW) - int64(row.Height)*int64(row.Width))
						st = stage.FastStages(stages, fullH, fullW)
					}
					if len(st) > 0 {
						if row, err = transform.ApplyRow(st, row); err != nil {
							b.Error(err)
							continue
						}
					}
					r.Add(1)
					ob.Add(int64(len(row.Data)))
				}
			}()
		}
		for _, p := range files {
			next <- p
		}
		close(next)
		wg.Wait()
		return r.Load(), px.Load(), ob.Load()
	}

	rows, pixels, out := pass() // warm-up: page cache, allocator
	b.Logf("%s: %d files, %d rows, %.1f MP decoded, %.1f MB out per pass, GOMAXPROCS %d",
		dir, len(files), rows, float64(pixels)/1e6, float64(out)/1e6, runtime.GOMAXPROCS(0))
	b.SetBytes(out)
	cpu0 := cpuSeconds(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r, _, _ := pass(); r != rows {
			b.Fatalf("pass %d: %d rows, first pass had %d", i, r, rows)
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(rows)*float64(b.N)/sec, "images/s")
	b.ReportMetric(float64(pixels)*float64(b.N)/sec/1e6, "MP/s")
	b.ReportMetric((cpuSeconds(b)-cpu0)/float64(b.N), "cpu-s/op")
}
