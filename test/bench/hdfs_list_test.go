//go:build hdfsbench

// Package bench holds measurements that are not tests. This one starts the
// real MiniDFSCluster, writes many tiny files and times a full recursive
// listing through the planner's walk (plan.List over hdfsio.HDFS), then
// plans the folder with the real coordinator binary and reports its time,
// FlightInfo size and peak memory.
//
//	go test -tags hdfsbench -run TestHDFSListing -v -timeout 30m ./test/bench
//
// Env: BENCH_FILES (default 100000), BENCH_PER_DIR (default 1000),
// BENCH_LIST_PAR (default 16), BENCH_WRITE_PAR (default 32),
// BENCH_FILE_BYTES (default 16; 0 writes empty files, no DataNode traffic).
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/hdfstest"
	"github.com/imageflight/imageflight/pkg/plan"
	"google.golang.org/protobuf/proto"
)

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func TestHDFSListing(t *testing.T) {
	nFiles := envInt("BENCH_FILES", 100000)
	perDir := envInt("BENCH_PER_DIR", 1000)
	listPar := envInt("BENCH_LIST_PAR", 16)
	writePar := envInt("BENCH_WRITE_PAR", 32)
	fileBytes := envInt("BENCH_FILE_BYTES", 16)

	t0 := time.Now()
	c := hdfstest.Start(t, hdfstest.Options{DataNodes: 2, Replication: 1, JVMArgs: []string{"-Xmx4g"}})
	t.Logf("cluster start: %v wall (JVM reported %v to READY incl. JVM boot)", time.Since(t0).Round(time.Millisecond), c.Startup().Round(time.Millisecond))

	ctx := context.Background()
	cfg := hdfsio.DefaultHDFSConfig()
	cfg.NameNodes = []string{c.NameNode()}
	cfg.Connections = 16
	h, err := hdfsio.NewHDFS(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	// Layout: /bench/gNN/dNNNN/fNNNNN.jpg, perDir files a directory, 10
	// leaf directories a group.
	nDirs := (nFiles + perDir - 1) / perDir
	cl, _ := h.Client(ctx)
	for d := range nDirs {
		if err := cl.MkdirAll(leaf(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	payload := make([]byte, fileBytes)
	jobs := make(chan int, 1024)
	var written atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	tw := time.Now()
	for range writePar {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				cl, err := h.Client(ctx)
				if err == nil {
					err = writeFile(cl, path.Join(leaf(i/perDir), fmt.Sprintf("f%06d.jpg", i)), payload)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				written.Add(1)
			}
		}()
	}
	for i := range nFiles {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		t.Fatal(e)
	}
	wdur := time.Since(tw)
	t.Logf("wrote %d files of %d bytes in %d dirs: %v (%.0f files/s, %d writers)", written.Load(), fileBytes, nDirs, wdur.Round(time.Millisecond), float64(nFiles)/wdur.Seconds(), writePar)

	for round := range 2 {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		tl := time.Now()
		files, err := plan.List(ctx, h, "/bench", plan.ListOptions{Recursive: true, Parallelism: listPar})
		ldur := time.Since(tl)
		if err != nil {
			t.Fatal(err)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if len(files) != nFiles {
			t.Fatalf("listed %d files, want %d", len(files), nFiles)
		}
		t.Logf("round %d: plan.List found %d files: %v (%.0f files/s, %d dirs in parallel); allocated %d MiB",
			round, len(files), ldur.Round(time.Millisecond), float64(len(files))/ldur.Seconds(), listPar,
			(after.TotalAlloc-before.TotalAlloc)>>20)
	}
	planWithCoordinator(t, c, nFiles)
}

// planWithCoordinator runs the real coordinator binary (standalone, so it
// has a worker to plan for) over the HDFS folder and reports GetFlightInfo
// time, FlightInfo size and the coordinator's peak RSS.
func planWithCoordinator(t *testing.T, c *hdfstest.Cluster, nFiles int) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../../cmd/coordinator")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	root := c.URI("/bench")
	coord := exec.Command(bin+"/coordinator", "--standalone", "--listen", "127.0.0.1:18815", "--gossip-listen", "127.0.0.1:0",
		"--root", root, "--secret-file", bin+"/secret", "--hdfs-namenode-http", c.HTTPAddr(), "--log-level", "warn")
	coord.Stderr = os.Stderr
	if err := coord.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { coord.Process.Kill(); coord.Wait() }()
	cl := client.New(client.DefaultConfig("grpc://127.0.0.1:18815"))
	defer cl.Close()
	cmd := []byte(`{"path": "` + root + `", "recursive": true, "numPartitions": 64}`)
	for round := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		start := time.Now()
		info, err := cl.Plan(ctx, cmd)
		for err != nil && round == 0 && time.Since(start) < 30*time.Second {
			time.Sleep(200 * time.Millisecond) // coordinator still starting
			start = time.Now()
			info, err = cl.Plan(ctx, cmd)
		}
		took := time.Since(start)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if info.GetTotalRecords() != int64(nFiles) {
			t.Fatalf("planned %d files, want %d", info.GetTotalRecords(), nFiles)
		}
		t.Logf("coordinator plan %d: %d files → %d endpoints in %v; FlightInfo %d KiB; coordinator peak RSS %d MiB",
			round, nFiles, len(info.GetEndpoint()), took.Round(time.Millisecond), proto.Size(info)>>10, peakRSS(coord.Process.Pid)>>20)
	}
}

// peakRSS reads VmHWM of a process, in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

func leaf(d int) string { return fmt.Sprintf("/bench/g%02d/d%04d", d/10, d) }

func writeFile(cl *hdfs.Client, p string, data []byte) error {
	w, err := cl.Create(p)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err := w.Write(data); err != nil {
			w.Close()
			return err
		}
	}
	return hdfstest.CloseWriter(w)
}
