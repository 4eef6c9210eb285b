//go:build hdfsbench

// Package bench holds measurements that are not tests. This one starts the
// real MiniDFSCluster, writes many tiny files and times a full recursive
// listing through hdfsio.HDFS.ReadDir, parallel over directories.
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
	"path"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/hdfstest"
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

	for round := range 3 {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		tl := time.Now()
		files, dirs, err := walk(ctx, h, "/bench", listPar)
		ldur := time.Since(tl)
		if err != nil {
			t.Fatal(err)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if files != nFiles {
			t.Fatalf("listed %d files, want %d", files, nFiles)
		}
		t.Logf("round %d: listed %d files in %d dirs: %v (%.0f files/s, %d dirs in parallel); allocated %d MiB; max RSS %d MiB",
			round, files, dirs, ldur.Round(time.Millisecond), float64(files)/ldur.Seconds(), listPar,
			(after.TotalAlloc-before.TotalAlloc)>>20, maxRSS()>>10)
	}
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
	for i := 0; ; i++ {
		err = w.Close()
		if err == nil || !hdfs.IsErrReplicating(err) || i == 50 {
			return err
		}
		time.Sleep(time.Duration(10*(i+1)) * time.Millisecond)
	}
}

// walk counts files below root, at most par ReadDir calls in flight.
func walk(ctx context.Context, fsys hdfsio.FileSystem, root string, par int) (files, dirs int, err error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
		sem   = make(chan struct{}, par)
	)
	var visit func(string)
	visit = func(dir string) {
		defer wg.Done()
		sem <- struct{}{}
		ents, err := fsys.ReadDir(ctx, dir)
		<-sem
		n := 0
		for _, e := range ents {
			if e.IsDir() {
				wg.Add(1)
				go visit(path.Join(dir, e.Name()))
			} else {
				n++
			}
		}
		mu.Lock()
		dirs++
		files += n
		if err != nil && first == nil {
			first = err
		}
		mu.Unlock()
	}
	wg.Add(1)
	visit(root)
	wg.Wait()
	return files, dirs, first
}

// maxRSS is this process's peak resident set in KiB.
func maxRSS() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss
}
