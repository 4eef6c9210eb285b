//go:build cgo

package model

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/stage"
)

// BenchmarkSessions compares the ways a worker can run one model from its
// streams (issue 21): one session shared by every stream, or one session
// per decode slot, with as many intra-op threads as cores or one per
// caller. Each caller stands for a stream: it runs calls of benchCall
// images (what a 224×224 float tensor batch holds at the default
// --batch-bytes) until the images of the op are done.
//
//	.venv/bin/python test/bench/model_bench.py --write-model /tmp/resnet18.onnx
//	for c in shared-t1-c2 shared-t2-c1 shared-t2-c1-spin shared-t2-c2 shared-t2-c2-spin \
//	    shared-t1-c2-noarena perslot-t1-c2 perslot-t2-c2; do
//	    BENCH_MODEL=/tmp/resnet18.onnx go test -run '^$' -bench "Sessions/$c\$" -benchtime 3x ./pkg/model
//	done
//
// Run each case in its own process: RSS figures are the process's (weights
// MB: growth from opening the sessions; peak MB: VmHWM over the start).
// Figures and the choice they led to: docs/models.md.
func BenchmarkSessions(b *testing.B) {
	path := os.Getenv("BENCH_MODEL")
	if path == "" {
		b.Skip("BENCH_MODEL names a ResNet-18-sized model with input [N, 3, 224, 224] (see the doc comment)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	const benchCall, perOp = 13, 52
	cases := []struct {
		name                       string
		sessions, threads, callers int
		noArena, spin              bool
	}{
		{"shared-t2-c1", 1, 2, 1, false, false},
		{"shared-t2-c1-spin", 1, 2, 1, false, true},
		{"shared-t2-c2", 1, 2, 2, false, false},
		{"shared-t2-c2-spin", 1, 2, 2, false, true},
		{"shared-t1-c2", 1, 1, 2, false, false},
		{"shared-t1-c2-noarena", 1, 1, 2, true, false},
		{"perslot-t1-c2", 2, 1, 2, false, false},
		{"perslot-t2-c2", 2, 2, 2, false, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// The framework calls this function more than once (b.N = 1
			// first): the sessions are opened once per process, so that
			// the RSS figures see one opening.
			o := opened[c.name]
			if o == nil {
				o = &benchSessions{rss0: procStatusKB("VmRSS")}
				r := NewRuntime(Config{Library: TestLibrary(), Threads: c.threads})
				r.noArena, r.spin = c.noArena, c.spin
				for range c.sessions {
					s, err := r.Open(data)
					if err != nil {
						b.Fatal(err)
					}
					o.s = append(o.s, s)
				}
				o.rssOpen = procStatusKB("VmRSS")
				opened[c.name] = o
			}
			sessions, rss0, rssOpen := o.s, o.rss0, o.rssOpen
			spec := &stage.ModelParams{Feed: map[string]string{"input": "tensor"}, Fetch: map[string]string{"features": "features"}, MiniBatch: benchCall}
			shape := [3]int{3, 224, 224}
			plan, err := stage.PlanModel(spec, sessions[0].IO, shape, false)
			if err != nil {
				b.Fatal(err)
			}
			in := Batch{N: benchCall, F32: make([]float32, benchCall*3*224*224)}
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range in.F32 {
				in.F32[i] = rng.Float32()*4 - 2
			}
			if _, err := sessions[0].Run(context.Background(), plan, benchCall, in, shape); err != nil { // warm-up
				b.Fatal(err)
			}
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				var left atomic.Int64
				left.Store(perOp)
				var wg sync.WaitGroup
				for k := range c.callers {
					s := sessions[k%len(sessions)]
					wg.Go(func() {
						for left.Add(-benchCall) > -benchCall {
							if _, err := s.Run(context.Background(), plan, benchCall, in, shape); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			elapsed := time.Since(start)
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			images := float64(b.N * perOp)
			b.ReportMetric(images/elapsed.Seconds(), "img/s")
			b.ReportMetric(cpu.Seconds()/images*1000, "cpu-ms/img")
			b.ReportMetric(float64(rssOpen-rss0)/1024, "weights-MB")
			b.ReportMetric(float64(procStatusKB("VmHWM")-rss0)/1024, "peak-MB")
			b.ReportMetric(float64(len(data))/(1<<20), "file-MB")
		})
	}
}

// benchSessions are a BenchmarkSessions case's sessions, opened once,
// and the process's RSS before and after opening them.
type benchSessions struct {
	s             []*Session
	rss0, rssOpen int64
}

var opened = map[string]*benchSessions{}

// procStatusKB is a kB field of /proc/self/status (VmRSS, VmHWM).
func procStatusKB(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), key+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return 0
}
