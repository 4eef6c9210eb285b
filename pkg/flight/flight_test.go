package flight

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

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/memfs"
	"github.com/imageflight/imageflight/pkg/wire"
)

// The planning and streaming logic, tested without a network: a
// coordinator and a worker over an in-memory file system mounted as
// hdfs://mem (Mounts dials it like any HDFS namespace).

const testBase = "hdfs://mem/data"

var testSecret = []byte("test secret, long enough to sign")

// pngOf is a w×h gray PNG whose pixels depend on seed.
func pngOf(t testing.TB, w, h int, seed byte) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = seed + byte(i)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rgbPNG is a w×h RGB PNG (3 channels in Spark's rows).
func rgbPNG(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{R: byte(x), G: byte(y), B: 7, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testTree is a labelled folder: two classes, typed partition values, a
// broken file and a file beside the partition folders.
func testTree(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"/data/cls=cat/n=1/a.png": pngOf(t, 4, 3, 1),
		"/data/cls=cat/n=1/b.png": pngOf(t, 5, 2, 2),
		"/data/cls=cat/n=2/c.png": rgbPNG(t, 3, 3),
		"/data/cls=dog/n=1/d.png": pngOf(t, 2, 2, 3),
		"/data/cls=dog/n=1/e.png": []byte("not an image"),
		"/data/cls=dog/n=3/f.png": pngOf(t, 1, 1, 4),
		"/data/top.png":           pngOf(t, 2, 1, 5),
	}
}

type staticWorkers []WorkerInfo

func (s staticWorkers) LiveWorkers() []WorkerInfo { return s }

// rig is a coordinator and a worker sharing one in-memory tree.
type rig struct {
	fs    *memfs.FS
	coord *Coordinator
	work  *Worker
}

// coordinatorCaller answers a worker's split action from the coordinator
// in-process, as the split action would over the network.
type coordinatorCaller struct{ c *Coordinator }

func (cc coordinatorCaller) Action(_ context.Context, _, action string, body []byte) ([]byte, error) {
	if action != wire.ActionSplit {
		return nil, wire.Errorf(wire.KindUnimplemented, "action %q", action)
	}
	return cc.c.Split(body)
}

func newRig(t testing.TB, files map[string][]byte, cc CoordinatorConfig, wc WorkerConfig, self string) *rig {
	t.Helper()
	r := &rig{fs: memfs.New(files)}
	mounts := &hdfsio.Mounts{DialHDFS: func(context.Context, string) (hdfsio.FileSystem, error) { return r.fs, nil }}
	roots, err := hdfsio.ParseRoots([]string{testBase})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	workers := staticWorkers{{Name: "w1", Location: "grpc://w1:1", Capacity: 1}, {Name: "w2", Location: "grpc://w2:1", Capacity: 1}}
	if r.coord, err = NewCoordinator(cc, CoordinatorDeps{Roots: roots, Secret: testSecret, Mounts: mounts, Workers: workers, Self: self, Logger: log}); err != nil {
		t.Fatal(err)
	}
	if r.work, err = NewWorker(wc, WorkerDeps{Roots: roots, Secret: testSecret, Mounts: mounts, Peers: coordinatorCaller{r.coord}, Logger: log}); err != nil {
		t.Fatal(err)
	}
	return r
}

func defaultRig(t testing.TB) *rig {
	return newRig(t, testTree(t), DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
}

func descriptor(cmd string) *aflight.FlightDescriptor {
	return &aflight.FlightDescriptor{Type: aflight.DescriptorCMD, Cmd: []byte(cmd)}
}

// row is what a test compares of a streamed row.
type row struct {
	Origin string
	H, W   int32
	Parts  string // partition values, formatted
}

// batch is one streamed batch.
type batch struct {
	rows  []row
	next  int
	bytes int
}

// stream runs a ticket through the worker and collects its batches.
func (r *rig) stream(t testing.TB, ticket []byte) ([]batch, error) {
	t.Helper()
	sp, err := r.work.Open(context.Background(), ticket)
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	var out []batch
	err = sp.Run(context.Background(), func(rec arrow.RecordBatch, m wire.BatchMeta) error {
		b := batch{next: m.Next}
		img := rec.Column(0).(*array.Struct)
		for i := 0; i < int(rec.NumRows()); i++ {
			ir := imagerow.At(img, i)
			rw := row{Origin: ir.Origin, H: ir.Height, W: ir.Width}
			for c := 1; c < int(rec.NumCols()); c++ {
				rw.Parts += fmt.Sprintf("%s=%s;", rec.Schema().Field(c).Name, rec.Column(c).ValueStr(i))
			}
			b.rows = append(b.rows, rw)
			b.bytes += len(ir.Data)
		}
		out = append(out, b)
		return nil
	})
	return out, err
}

func rowsOf(bs []batch) []row {
	var out []row
	for _, b := range bs {
		out = append(out, b.rows...)
	}
	return out
}

// plan asks the coordinator for a FlightInfo.
func (r *rig) plan(t testing.TB, cmd string) *aflight.FlightInfo {
	t.Helper()
	info, err := r.coord.GetFlightInfo(context.Background(), descriptor(cmd))
	if err != nil {
		t.Fatalf("plan %s: %v", cmd, err)
	}
	return info
}

// readAll streams every endpoint of a plan in order.
func (r *rig) readAll(t testing.TB, info *aflight.FlightInfo) []row {
	t.Helper()
	var out []row
	for i, ep := range info.GetEndpoint() {
		bs, err := r.stream(t, ep.GetTicket().GetTicket())
		if err != nil {
			t.Fatalf("endpoint %d: %v", i, err)
		}
		out = append(out, rowsOf(bs)...)
	}
	return out
}

func TestWorkerConfigValidateAndDefaults(t *testing.T) {
	if err := DefaultWorkerConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := DefaultCoordinatorConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(*WorkerConfig){
		func(c *WorkerConfig) { c.BatchBytes = 0 }, func(c *WorkerConfig) { c.Parallelism = 0 },
		func(c *WorkerConfig) { c.MaxStreams = -1 }, func(c *WorkerConfig) { c.MaxFileBytes = 0 },
		func(c *WorkerConfig) { c.ReadRetries = -1 }, func(c *WorkerConfig) { c.Decode.MaxPixels = 0 },
		func(c *WorkerConfig) { c.MemoryBudget = 0 }, func(c *WorkerConfig) { c.SendTimeout = 0 },
	}
	for i, f := range bad {
		c := DefaultWorkerConfig()
		f(&c)
		if c.Validate() == nil {
			t.Errorf("worker config change %d accepted", i)
		}
	}
	cc := DefaultCoordinatorConfig()
	cc.TicketTTL = 0
	if _, err := NewCoordinator(cc, CoordinatorDeps{}); err == nil {
		t.Error("coordinator with a zero ticket TTL accepted")
	}
	cc = DefaultCoordinatorConfig()
	cc.MaxConcurrentPlans = 0
	if cc.Validate() == nil {
		t.Error("coordinator without planning slots accepted")
	}
	if b := DefaultWorkerConfig().MemoryBudget; b < minMemoryBudget {
		t.Errorf("default memory budget %d under the floor", b)
	}
}

func TestReadAllRowsWithTypedPartitions(t *testing.T) {
	r := defaultRig(t)
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 3}`)
	if len(info.GetEndpoint()) != 3 || info.GetTotalRecords() != 7 {
		t.Fatalf("%d endpoints, %d records; want 3, 7", len(info.GetEndpoint()), info.GetTotalRecords())
	}
	got := r.readAll(t, info)
	want := []row{
		{"mem:/data/cls=cat/n=1/a.png", 3, 4, "cls=cat;n=1;"},
		{"mem:/data/cls=cat/n=1/b.png", 2, 5, "cls=cat;n=1;"},
		{"mem:/data/cls=cat/n=2/c.png", 3, 3, "cls=cat;n=2;"},
		{"mem:/data/cls=dog/n=1/d.png", 2, 2, "cls=dog;n=1;"},
		{"mem:/data/cls=dog/n=1/e.png", -1, -1, "cls=dog;n=1;"},
		{"mem:/data/cls=dog/n=3/f.png", 1, 1, "cls=dog;n=3;"},
		{"mem:/data/top.png", 1, 2, "cls=(null);n=(null);"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows\n got %v\nwant %v", got, want)
	}
	sch := r.work.mustSchema(t, info)
	if sch.Field(2).Type.ID() != arrow.INT32 || sch.Field(1).Type.ID() != arrow.STRING {
		t.Errorf("partition types: %s", sch)
	}
}

func TestEmptyFolderPlansNoEndpoints(t *testing.T) {
	r := newRig(t, map[string][]byte{"/data/.hidden.png": pngOf(t, 1, 1, 0)}, DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	info := r.plan(t, `{"path": "`+testBase+`"}`)
	if len(info.GetEndpoint()) != 0 || info.GetTotalRecords() != 0 {
		t.Errorf("%d endpoints, %d records for an empty folder", len(info.GetEndpoint()), info.GetTotalRecords())
	}
}

// mustSchema is the schema the worker streams for a plan's first endpoint.
func (w *Worker) mustSchema(t testing.TB, info *aflight.FlightInfo) *arrow.Schema {
	t.Helper()
	sp, err := w.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	return sp.Schema()
}
