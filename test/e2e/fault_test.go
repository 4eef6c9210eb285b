package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/imagerow"
)

// faultWorkerArgs: one decoder and small batches so a read spans many
// batches; a drain timeout far above a split's read even on a loaded
// machine, so a SIGTERMed worker finishes its streams instead of cutting
// them (which the drain test would count as failovers).
var faultWorkerArgs = []string{"--decoders", "1", "--batch-bytes", "200000", "--drain-timeout", "5m"}

// faultCorpus is large enough that a read takes seconds with one decoder
// per worker and small batches, so faults land mid-stream.
func faultCluster(t *testing.T, workers int) (*cluster, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := corpus.Write(dir, corpus.Options{Scale: 12}); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, roots: []string{dir}, secret: t.TempDir() + "/secret"}
	c.coord = c.start("coord", "127.0.0.1")
	for i := 0; i < workers; i++ {
		c.addWorker(fmt.Sprintf("w%d", i+1), faultWorkerArgs...)
	}
	c.waitWorkers(workers)
	return c, dir
}

// rowSums is the multiset of rows: origin + hash of data → count.
type rowSums map[string]int

// read plans and reads path, calling onBatch (if set) after each batch is
// counted. It returns the rows and the client's stats.
func readSums(t *testing.T, cl *client.Client, info *aflight.FlightInfo, onBatch func(client.Batch)) (rowSums, client.Stats, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var mu sync.Mutex
	sums := rowSums{}
	start := time.Now()
	stats, err := cl.ReadAll(ctx, info, func(b client.Batch) error {
		img := b.Record.Column(0).(*array.Struct)
		mu.Lock()
		for i := 0; i < int(b.Record.NumRows()); i++ {
			r := imagerow.At(img, i)
			sums[fmt.Sprintf("%s %x", r.Origin, sha256.Sum256(r.Data))]++
		}
		mu.Unlock()
		if onBatch != nil {
			onBatch(b)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return sums, stats, time.Since(start)
}

func plan(t *testing.T, cl *client.Client, dir string, parts int) *aflight.FlightInfo {
	t.Helper()
	cmd, _ := json.Marshal(map[string]any{"path": dir, "recursive": true, "numPartitions": parts})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info, err := cl.Plan(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// killOnFirstBatchFrom signals the worker at location the first time a
// batch from it arrives.
func killOnFirstBatchFrom(w *proc, sig syscall.Signal) func(client.Batch) {
	var once sync.Once
	return func(b client.Batch) {
		if b.Location == "grpc://"+w.flight {
			once.Do(func() { w.kill(sig) })
		}
	}
}

func TestFaults(t *testing.T) {
	c, dir := faultCluster(t, 3)
	cfg := client.DefaultConfig(c.location())
	cfg.StallTimeout = 20 * time.Second // a hung worker; a busy one may be silent for seconds
	cl := client.New(cfg)
	defer cl.Close()

	clean, _, cleanTook := readSums(t, cl, plan(t, cl, dir, 6), nil)
	t.Logf("clean read: %d distinct rows in %s", len(clean), cleanTook)
	same := func(t *testing.T, got rowSums) {
		t.Helper()
		if !reflect.DeepEqual(got, clean) {
			n := 0
			for _, v := range got {
				n += v
			}
			t.Errorf("rows differ from the clean run: %d rows (%d distinct), want %d", n, len(got), len(clean))
		}
	}

	t.Run("SIGKILL worker mid-read", func(t *testing.T) {
		victim := c.workers[0]
		got, stats, took := readSums(t, cl, plan(t, cl, dir, 6), killOnFirstBatchFrom(victim, syscall.SIGKILL))
		t.Logf("read with a worker killed: %s (clean %s), %d streams resumed elsewhere", took, cleanTook, stats.Failovers)
		if stats.Failovers == 0 {
			t.Error("no failover recorded")
		}
		same(t, got)
		t.Logf("failure detection: coordinator dropped the killed worker after %s", c.waitWorkers(2))
	})

	t.Run("killed worker restarts under its name and rejoins", func(t *testing.T) {
		c.run(c.workers[0])
		t.Logf("restarted worker planned for again after %s", c.waitWorkers(3))
		info := plan(t, cl, dir, 6)
		used := false
		for _, ep := range info.GetEndpoint() {
			used = used || ep.GetLocation()[0].GetUri() == "grpc://"+c.workers[0].flight
		}
		if !used {
			t.Error("the restarted worker leads no endpoint")
		}
	})

	t.Run("SIGSTOP worker fails over, no duplicates after SIGCONT", func(t *testing.T) {
		victim := c.workers[1]
		got, stats, took := readSums(t, cl, plan(t, cl, dir, 6), killOnFirstBatchFrom(victim, syscall.SIGSTOP))
		victim.kill(syscall.SIGCONT)
		t.Logf("read with a hung worker: %s, %d streams resumed elsewhere", took, stats.Failovers)
		if stats.Failovers == 0 {
			t.Error("no failover happened: the hung worker was never noticed")
		}
		same(t, got)
	})

	t.Run("worker joins mid-run", func(t *testing.T) {
		w := c.addWorker("w4", faultWorkerArgs...)
		c.waitWorkers(4)
		info := plan(t, cl, dir, 6)
		used := false
		for _, ep := range info.GetEndpoint() {
			for _, l := range ep.GetLocation() {
				used = used || l.GetUri() == "grpc://"+w.flight
			}
		}
		if !used {
			t.Error("a plan made after the join does not use the new worker")
		}
		got, _, _ := readSums(t, cl, info, nil)
		same(t, got)
	})

	t.Run("coordinator killed after GetFlightInfo, then restarted", func(t *testing.T) {
		info := plan(t, cl, dir, 6)
		c.coord.kill(syscall.SIGKILL)
		got, _, _ := readSums(t, cl, info, nil)
		same(t, got)

		// Same address, same secret file: workers rejoin on their own and
		// tickets from before the restart stay redeemable.
		c.run(c.coord)
		t.Logf("workers rejoined the restarted coordinator after %s", c.waitWorkers(4))
		got, _, _ = readSums(t, cl, info, nil)
		same(t, got)
		got, _, _ = readSums(t, cl, plan(t, cl, dir, 6), nil)
		same(t, got)
	})

	t.Run("SIGTERM drains a worker's streams, then it leaves", func(t *testing.T) {
		victim := c.workers[3]
		var once sync.Once
		got, stats, _ := readSums(t, cl, plan(t, cl, dir, 6), func(b client.Batch) {
			if b.Location == "grpc://"+victim.flight {
				once.Do(func() { victim.kill(syscall.SIGTERM) })
			}
		})
		same(t, got)
		if stats.Failovers != 0 {
			t.Errorf("%d failovers: a draining worker should finish its streams", stats.Failovers)
		}
		if err := victim.wait(2 * time.Minute); err != nil {
			t.Errorf("worker after SIGTERM: %v", err)
		}
		c.waitWorkers(3)
	})

	t.Run("SIGTERM on the coordinator: clean exit, reads already planned finish", func(t *testing.T) {
		info := plan(t, cl, dir, 6)
		c.coord.kill(syscall.SIGTERM)
		if err := c.coord.wait(2 * time.Minute); err != nil {
			t.Errorf("coordinator after SIGTERM: %v", err)
		}
		got, _, _ := readSums(t, cl, info, nil)
		same(t, got)
	})
}
