package flight_test

// The end-to-end check of the one-copy path: pixels decoded into pooled
// slabs, sent by reference through flightcodec, read back by pkg/client.
// Small batches and many parallel streams reuse slabs as fast as the
// transport frees them; a slab reused while gRPC still read it would show
// as a wrong checksum. Run with -race.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"

	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/server"
)

func TestPooledBuffersSurviveTheWire(t *testing.T) {
	dir := t.TempDir()
	if _, err := corpus.Write(dir, corpus.Options{Scale: 2}); err != nil {
		t.Fatal(err)
	}
	want := referenceSums(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := server.DefaultConfig()
	cfg.Role = server.RoleStandalone
	cfg.Roots = []string{dir}
	cfg.Listen, cfg.GossipListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.SecretFile = filepath.Join(t.TempDir(), "secret")
	cfg.LocalGossip = true
	cfg.MetricsListen = ""
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Worker.BatchBytes = 64 << 10 // many small batches: slabs cycle fast
	p, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	c := client.New(client.DefaultConfig(p.Location()))
	defer c.Close()
	cmd, _ := json.Marshal(map[string]any{"path": dir, "recursive": true, "numPartitions": 6})

	for pass := range 3 {
		got := readSums(t, ctx, c, cmd)
		if len(got) != len(want) {
			t.Fatalf("pass %d: %d rows, want %d", pass, len(got), len(want))
		}
		for name, sum := range want {
			if got[name] != sum {
				t.Fatalf("pass %d: %s: pixels differ from a direct decode", pass, name)
			}
		}
	}
}

// referenceSums decodes every image file under dir directly.
func referenceSums(t *testing.T, dir string) map[string][32]byte {
	sums := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, h := range corpus.Hidden {
			if path.Base(h) == d.Name() {
				return nil
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		row, _ := imagerow.Decode(p, data, imagerow.DefaultOptions())
		sums[d.Name()] = sha256.Sum256(row.Data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// readSums reads the plan, holding every batch a little so the worker's
// sends queue up behind the transport.
func readSums(t *testing.T, ctx context.Context, c *client.Client, cmd []byte) map[string][32]byte {
	var info *aflight.FlightInfo
	var err error
	deadline := time.Now().Add(3 * time.Minute)
	for { // the in-process worker joins gossip asynchronously
		if info, err = c.Plan(ctx, cmd); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sums := map[string][32]byte{}
	_, err = c.ReadAll(ctx, info, func(b client.Batch) error {
		img := b.Record.Column(0).(*array.Struct)
		for i := 0; i < img.Len(); i++ {
			r := imagerow.At(img, i)
			s := sha256.Sum256(r.Data)
			mu.Lock()
			sums[path.Base(r.Origin)] = s
			mu.Unlock()
		}
		time.Sleep(time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}
