package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/client"
	"github.com/imageflight/imageflight/pkg/corpus"
	"github.com/imageflight/imageflight/pkg/wire"
	"google.golang.org/grpc/codes"
)

// A plan whose tickets would not fit in FlightInfo stays on the
// coordinator: tickets carry a reference and workers fetch the file lists.
func TestPlanByReference(t *testing.T) {
	dir := t.TempDir()
	entries, err := corpus.Write(dir, corpus.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, roots: []string{dir}, secret: filepath.Join(t.TempDir(), "secret")}
	c.coord = c.start("coord", "127.0.0.1", "--max-flightinfo-bytes", "1000")
	c.addWorker("w1")
	c.addWorker("w2")
	c.waitWorkers(2)

	info, rows, _ := readAll(t, c.location(), map[string]any{"path": dir, "recursive": true, "numPartitions": 4})
	want := map[string]corpus.Entry{}
	for _, e := range entries {
		want["file:"+dir+"/"+e.Rel] = e
	}
	checkRows(t, rows, want)

	secret, err := os.ReadFile(c.secret)
	if err != nil {
		t.Fatal(err)
	}
	signer := wire.NewSigner(bytes.TrimSpace(secret))
	for i, ep := range info.GetEndpoint() {
		tk, _, err := signer.Verify(ep.GetTicket().GetTicket(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if tk.Files != nil || tk.Count == 0 || tk.Coordinator != c.location() {
			t.Errorf("endpoint %d: ticket carries %d files inline, count %d, coordinator %q; want a reference", i, len(tk.Files), tk.Count, tk.Coordinator)
		}
	}

	// A restarted coordinator no longer holds the plan: the documented
	// answer is FailedPrecondition, and the client plans again. (A worker
	// that fetched the split before still serves it from its cache, so ask
	// one that joined after the restart.)
	c.coord.kill(syscall.SIGKILL)
	c.run(c.coord)
	w3 := c.addWorker("w3")
	t.Logf("3 workers seen %s after the coordinator restart", c.waitWorkers(3))
	cl := client.New(client.DefaultConfig(c.location()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ep := &aflight.FlightEndpoint{Ticket: info.GetEndpoint()[0].GetTicket(), Location: []*aflight.Location{{Uri: "grpc://" + w3.flight}}}
	_, err = cl.ReadEndpoint(ctx, 0, ep, func(client.Batch) error { return nil })
	if !containsCode(err, codes.FailedPrecondition) || !strings.Contains(err.Error(), "GetFlightInfo again") {
		t.Errorf("stale reference ticket: %v, want FailedPrecondition telling to plan again", err)
	}
}
