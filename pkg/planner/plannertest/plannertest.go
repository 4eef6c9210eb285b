// Package plannertest runs a coordinator's planner over an in-memory tree
// mounted as hdfs://mem, for the tests of the packages after it in the
// data flow (the worker's pipeline, the Flight edge), with the image
// fixtures they read and what a worker beside the coordinator is wired to.
package plannertest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/memfs"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/wire"
)

// Base is the served root of a Cluster.
const Base = "hdfs://mem/data"

// Secret signs a Cluster's tickets.
var Secret = []byte("test secret, long enough to sign")

// Cluster is a coordinator over an in-memory tree with two live workers,
// w1 and w2, and what a worker beside it is wired to.
type Cluster struct {
	FS     *memfs.FS
	Coord  *planner.Coordinator
	Roots  hdfsio.Roots
	Mounts *hdfsio.Mounts // dials FS for hdfs://mem
	Logger *slog.Logger   // discards
}

// New plans over files (path → bytes); self is the coordinator's location
// in by-reference tickets ("": plans always inline).
func New(t testing.TB, files map[string][]byte, cc planner.CoordinatorConfig, self string) *Cluster {
	t.Helper()
	c := &Cluster{FS: memfs.New(files), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c.Mounts = &hdfsio.Mounts{DialHDFS: func(context.Context, string) (hdfsio.FileSystem, error) { return c.FS, nil }}
	var err error
	if c.Roots, err = hdfsio.ParseRoots([]string{Base}); err != nil {
		t.Fatal(err)
	}
	workers := StaticWorkers{{Name: "w1", Location: "grpc://w1:1", Capacity: 1}, {Name: "w2", Location: "grpc://w2:1", Capacity: 1}}
	if c.Coord, err = planner.NewCoordinator(cc, planner.CoordinatorDeps{Roots: c.Roots, Secret: Secret, Mounts: c.Mounts, Workers: workers, Self: self, Logger: c.Logger}); err != nil {
		t.Fatal(err)
	}
	return c
}

// Plan asks the coordinator for a FlightInfo.
func (c *Cluster) Plan(t testing.TB, cmd string) *aflight.FlightInfo {
	t.Helper()
	info, err := c.Coord.GetFlightInfo(context.Background(), Descriptor(cmd))
	if err != nil {
		t.Fatalf("plan %s: %v", cmd, err)
	}
	return info
}

// Caller answers a worker's split action from the coordinator
// in-process, as the split action would over the network.
type Caller struct{ C *planner.Coordinator }

// Action implements the worker's peer caller.
func (cc Caller) Action(_ context.Context, _, action string, body []byte) ([]byte, error) {
	if action != wire.ActionSplit {
		return nil, wire.Errorf(wire.KindUnimplemented, "action %q", action)
	}
	return cc.C.Split(body)
}

// StaticWorkers is a fixed set of live workers.
type StaticWorkers []planner.WorkerInfo

// LiveWorkers implements planner.WorkerSet.
func (s StaticWorkers) LiveWorkers() []planner.WorkerInfo { return s }

// Descriptor is a command descriptor of JSON cmd.
func Descriptor(cmd string) *aflight.FlightDescriptor {
	return &aflight.FlightDescriptor{Type: aflight.DescriptorCMD, Cmd: []byte(cmd)}
}

// Tree is a labelled folder: two classes, typed partition values, a
// broken file and a file beside the partition folders.
func Tree(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"/data/cls=cat/n=1/a.png": PNG(t, 4, 3, 1),
		"/data/cls=cat/n=1/b.png": PNG(t, 5, 2, 2),
		"/data/cls=cat/n=2/c.png": RGBPNG(t, 3, 3),
		"/data/cls=dog/n=1/d.png": PNG(t, 2, 2, 3),
		"/data/cls=dog/n=1/e.png": []byte("not an image"),
		"/data/cls=dog/n=3/f.png": PNG(t, 1, 1, 4),
		"/data/top.png":           PNG(t, 2, 1, 5),
	}
}

// RGBTree is n RGB PNGs of side×side pixels.
func RGBTree(t testing.TB, n, side int) map[string][]byte {
	files := map[string][]byte{}
	for i := range n {
		files[fmt.Sprintf("/data/%03d.png", i)] = RGBPNG(t, side, side)
	}
	return files
}

// PNG is a w×h gray PNG whose pixels depend on seed.
func PNG(t testing.TB, w, h int, seed byte) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = seed + byte(i)
	}
	return encode(t, img)
}

// RGBPNG is a w×h RGB PNG (3 channels in Spark's rows).
func RGBPNG(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{R: byte(x), G: byte(y), B: 7, A: 255})
		}
	}
	return encode(t, img)
}

func encode(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// WaitFor polls cond: a liveness bound, not a timing assertion.
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}
