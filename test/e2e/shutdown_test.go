package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// writeGradients writes n side×side gray PNGs: megabytes decoded, a few
// kilobytes on disk.
func writeGradients(t *testing.T, dir string, n, side int) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = byte(i / side)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("g%02d.png", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// stalledDoGet opens a DoGet on location with small fixed flow-control
// windows and never reads it.
func stalledDoGet(t *testing.T, ctx context.Context, location string, ticket *aflight.Ticket) {
	t.Helper()
	fc, err := aflight.NewClientWithMiddleware(location, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fc.Close() })
	if _, err := fc.DoGet(ctx, ticket); err != nil {
		t.Fatal(err)
	}
}

// TestSIGTERMWithStalledReaderStopsHard: a worker serving a client that
// never reads exits after SIGTERM within its drain timeout plus slack,
// saying it stopped hard.
func TestSIGTERMWithStalledReaderStopsHard(t *testing.T) {
	dir := t.TempDir()
	writeGradients(t, dir, 8, 1024) // 8 MiB of rows: Send blocks on flow control
	const drain = 2 * time.Second
	c := &cluster{t: t, roots: []string{dir}, secret: filepath.Join(t.TempDir(), "secret")}
	c.coord = c.start("coord", "127.0.0.1")
	// A send timeout far above the wait below: only the drain timeout can
	// end the stalled stream in time.
	w := c.addWorker("w1", "--drain-timeout", drain.String(), "--send-timeout", "1h")
	c.waitWorkers(1)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := client.New(client.DefaultConfig(c.location()))
	defer cl.Close()
	cmd, _ := json.Marshal(map[string]any{"path": dir, "numPartitions": 1})
	info, err := cl.Plan(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	stalledDoGet(t, ctx, w.flight, info.GetEndpoint()[0].GetTicket())
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		st, err := c.status(ctx)
		if err == nil && len(st.Workers) == 1 && st.Workers[0].Active == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stalled stream never showed as active (last %+v, %v)", st, err)
		}
	}
	w.kill(syscall.SIGTERM)
	if err := w.wait(2 * time.Minute); err != nil && strings.Contains(err.Error(), "still running") {
		t.Fatalf("worker did not exit after its drain timeout (liveness bound 2 minutes): %v", err)
	}
	if log := w.log.String(); !strings.Contains(log, "stopped hard") {
		t.Errorf("worker log does not say it stopped hard:\n%s", log)
	}
}
