package bench

// BenchmarkStandaloneRead times the whole serving path in one process: plan
// (GetFlightInfo) on a standalone server, then DoGet of every endpoint in
// parallel through pkg/client — list, read, decode, Arrow batches, gRPC on
// loopback, client-side IPC decode. Only Benchmark functions live here, so
// `go test ./...` runs nothing from this file.
//
//	go test -run '^$' -bench StandaloneRead -benchtime 5x ./test/bench
//	go test -run '^$' -bench StandaloneRead -benchtime 5x -cpuprofile /tmp/cpu.out ./test/bench
//
// Env: BENCH_SCALE (pkg/corpus scale, default 20: ~800 small mixed-format
// files), BENCH_DIR (read this existing folder instead, recursively, e.g. a
// corpus kept by `peer_bench.py --keep`), BENCH_PARTITIONS (numPartitions,
// default -1: the server's choice).
//
// Metrics: images/s and MP/s of decoded rows (valid rows only count
// towards MP), MB/s of pixel bytes delivered to the client.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/server"
)

func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

func BenchmarkStandaloneRead(b *testing.B) {
	tmp := b.TempDir()
	dir := os.Getenv("BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(tmp, "corpus")
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if _, err := corpus.Write(dir, corpus.Options{Scale: benchEnvInt(b, "BENCH_SCALE", 20)}); err != nil {
			b.Fatal(err)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		b.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := server.DefaultConfig()
	cfg.Role = server.RoleStandalone
	cfg.Roots = []string{dir}
	cfg.Listen = "127.0.0.1:0"
	cfg.GossipListen = "127.0.0.1:0"
	cfg.SecretFile = filepath.Join(tmp, "secret")
	cfg.LocalGossip = true
	cfg.MetricsListen = ""
	// Broken corpus files log a warning per read; keep the benchmark output clean.
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := server.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := p.Shutdown(sctx); err != nil {
			b.Logf("shutdown: %v", err)
		}
	}()

	c := client.New(client.DefaultConfig(p.Location()))
	defer c.Close()
	cmd, err := json.Marshal(map[string]any{
		"path": dir, "recursive": true, "numPartitions": benchEnvInt(b, "BENCH_PARTITIONS", -1),
	})
	if err != nil {
		b.Fatal(err)
	}

	// The in-process worker joins gossip asynchronously; plan until it is seen.
	read := func() (rows, pixels, bytes int64, err error) {
		info, err := c.Plan(ctx, cmd)
		if err != nil {
			return 0, 0, 0, err
		}
		var r, px, by atomic.Int64
		_, err = c.ReadAll(ctx, info, func(bt client.Batch) error {
			img := bt.Record.Column(0).(*array.Struct)
			h := img.Field(1).(*array.Int32)
			w := img.Field(2).(*array.Int32)
			data := img.Field(5).(*array.Binary)
			var n, p, d int64
			for i := 0; i < img.Len(); i++ {
				j := img.Offset() + i
				n++
				if hh, ww := h.Value(j), w.Value(j); hh > 0 && ww > 0 {
					p += int64(hh) * int64(ww)
				}
				d += int64(len(data.Value(j)))
			}
			r.Add(n)
			px.Add(p)
			by.Add(d)
			return nil
		})
		return r.Load(), px.Load(), by.Load(), err
	}
	deadline := time.Now().Add(30 * time.Second)
	var rows, pixels, bytes int64
	for {
		rows, pixels, bytes, err = read() // also the warm-up pass (page cache, connections)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("server not ready after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rows == 0 {
		b.Fatalf("no rows read from %s", dir)
	}
	b.Logf("%s: %d rows, %.1f MP, %.1f MB pixel bytes per pass", dir, rows, float64(pixels)/1e6, float64(bytes)/1e6)

	b.SetBytes(bytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, _, _, err := read()
		if err != nil {
			b.Fatal(err)
		}
		if r != rows {
			b.Fatalf("pass %d: %d rows, first pass had %d", i, r, rows)
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(rows)*float64(b.N)/sec, "images/s")
	b.ReportMetric(float64(pixels)*float64(b.N)/sec/1e6, "MP/s")
	logPlacement(b)
}

// logPlacement logs how rows reached their batches on the worker (decoded
// in place, or copied once) and how many pixel buffers were allocated
// rather than reused, from the process-wide metrics.
func logPlacement(b *testing.B) {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		b.Logf("metrics: %v", err)
		return
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "imageflight_batch_rows_total":
			for _, m := range mf.GetMetric() {
				b.Logf("rows %s: %.0f", m.GetLabel()[0].GetValue(), m.GetCounter().GetValue())
			}
		case "imageflight_slabs_allocated_total":
			b.Logf("slabs allocated: %.0f", mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
