package pipeline

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/memfs"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/wire"
)

// The streaming logic, tested without a network: a worker beside a
// coordinator over an in-memory file system mounted as hdfs://mem
// (plannertest), reading the tickets it plans.

const testBase = plannertest.Base

// rig is a coordinator and a worker sharing one in-memory tree.
type rig struct {
	fs    *memfs.FS
	coord *planner.Coordinator
	work  *Worker
}

func newRig(t testing.TB, files map[string][]byte, cc planner.CoordinatorConfig, wc WorkerConfig, self string) *rig {
	t.Helper()
	c := plannertest.New(t, files, cc, self)
	r := &rig{fs: c.FS, coord: c.Coord}
	var err error
	if r.work, err = NewWorker(wc, WorkerDeps{Roots: c.Roots, Secret: plannertest.Secret, Mounts: c.Mounts, Peers: plannertest.Caller{C: c.Coord}, Logger: c.Logger}); err != nil {
		t.Fatal(err)
	}
	return r
}

func defaultRig(t testing.TB) *rig {
	return newRig(t, plannertest.Tree(t), planner.DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
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
	info, err := r.coord.GetFlightInfo(context.Background(), plannertest.Descriptor(cmd))
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
