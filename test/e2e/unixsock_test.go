package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/peer"
)

// Workers with --unix-socket-dir, as separate processes: the Go client on
// their host reads every batch through their sockets, with the same rows
// as the corpus. After a worker is SIGKILLed (its socket file stays
// behind), a plan made before still reads completely: the dead socket and
// the dead TCP address fail over to the other worker.
func TestReadOverUnixSockets(t *testing.T) {
	dir := t.TempDir()
	entries, err := corpus.Write(dir, corpus.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(t.TempDir(), "run")
	c := startCluster(t, 0, dir)
	for i := range 2 {
		c.addWorker(fmt.Sprintf("w%d", i+1), "--unix-socket-dir", run)
	}
	c.waitWorkers(2)
	want := map[string]corpus.Entry{}
	for _, e := range entries {
		want["file:"+dir+"/"+e.Rel] = e
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness only
	defer cancel()
	cl := client.New(client.DefaultConfig(c.location()))
	defer cl.Close()
	info, err := cl.Plan(ctx, []byte(`{"path": "`+dir+`", "recursive": true, "numPartitions": 4}`))
	if err != nil {
		t.Fatal(err)
	}
	read := func() ([]got, map[string]int, client.Stats) {
		var (
			mu   sync.Mutex
			rows []got
			via  = map[string]int{}
		)
		st, err := cl.ReadAll(ctx, info, func(b client.Batch) error {
			mu.Lock()
			defer mu.Unlock()
			rows = append(rows, rowsOf(b)...)
			via[b.Location]++
			return nil
		})
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		sortRows(rows)
		return rows, via, st
	}

	rows, via, _ := read()
	checkRows(t, rows, want)
	for loc := range via {
		if path, ok := peer.UnixPath(loc); !ok || filepath.Dir(path) != run {
			t.Errorf("batches from %s, want only the workers' sockets in %s", loc, run)
		}
	}

	c.workers[0].kill(syscall.SIGKILL)
	dead := peer.UnixPrefix + filepath.Join(run, "w1.sock")
	if fi, err := os.Stat(filepath.Join(run, "w1.sock")); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("w1's socket after SIGKILL: %v (the failover below must start at a dead socket)", err)
	}
	rows, via, st := read()
	checkRows(t, rows, want)
	if via[dead] != 0 || st.Failovers == 0 {
		t.Errorf("after killing w1: batches %v, %d failovers; want none from %s and failovers", via, st.Failovers, dead)
	}
	for loc := range via {
		if !strings.HasSuffix(loc, "w2.sock") {
			t.Errorf("after killing w1, batches from %s, want w2's socket", loc)
		}
	}
}
