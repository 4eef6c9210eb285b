package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/wire"
)

func TestBatchesRespectTheByteCap(t *testing.T) {
	files := map[string][]byte{}
	for i := range 10 {
		files[fmt.Sprintf("/data/%02d.png", i)] = plannertest.PNG(t, 10, 10, byte(i)) // 100 pixel bytes each
	}
	files["/data/99-big.png"] = plannertest.PNG(t, 50, 50, 9) // 2,500 bytes: alone in its batch
	tests := []struct {
		name       string
		batchBytes int64
		wantSizes  []int // rows per batch
	}{
		{"everything in one batch", 1 << 20, []int{11}},
		{"three images per batch", int64(3 * (100 + len("mem:/data/00.png") + 32)), []int{3, 3, 3, 1, 1}},
		{"one image per batch", 1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wc := DefaultWorkerConfig()
			wc.BatchBytes = tc.batchBytes
			r := newRig(t, files, planner.DefaultCoordinatorConfig(), wc, "")
			info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 1}`)
			bs, err := r.stream(t, info.GetEndpoint()[0].GetTicket().GetTicket())
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			pos := 0
			for _, b := range bs {
				sizes = append(sizes, len(b.rows))
				pos += len(b.rows)
				if b.next != pos {
					t.Errorf("batch ends at row %d but says next %d", pos, b.next)
				}
				if len(b.rows) > 1 && int64(b.bytes) > tc.batchBytes {
					t.Errorf("batch of %d rows holds %d pixel bytes, over the cap %d", len(b.rows), b.bytes, tc.batchBytes)
				}
			}
			if !slices.Equal(sizes, tc.wantSizes) {
				t.Errorf("rows per batch %v, want %v", sizes, tc.wantSizes)
			}
		})
	}
}

// TestResumeSkipsFilesConsumed checks the resume contract: skip=N counts
// the split's files consumed — dropped ones included — so resuming at any
// batch's next gives exactly the rows not yet received.
func TestResumeSkipsFilesConsumed(t *testing.T) {
	files := map[string][]byte{
		"/data/0.png": plannertest.PNG(t, 2, 2, 0), "/data/1.png": []byte("broken"), "/data/2.png": plannertest.PNG(t, 2, 2, 2),
		"/data/3.png": []byte("broken"), "/data/4.png": []byte("broken"), "/data/5.png": plannertest.PNG(t, 2, 2, 5),
	}
	wc := DefaultWorkerConfig()
	wc.BatchBytes = 1 // one row per batch
	r := newRig(t, files, planner.DefaultCoordinatorConfig(), wc, "")
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("drop=%v", drop), func(t *testing.T) {
			info := r.plan(t, fmt.Sprintf(`{"path": %q, "numPartitions": 1, "dropImageFailures": %v}`, testBase, drop))
			tk := info.GetEndpoint()[0].GetTicket().GetTicket()
			full, err := r.stream(t, tk)
			if err != nil {
				t.Fatal(err)
			}
			all := rowsOf(full)
			wantRows := map[bool]int{false: 6, true: 3}[drop]
			if len(all) != wantRows {
				t.Fatalf("%d rows, want %d", len(all), wantRows)
			}
			for i, b := range full {
				rest, err := r.stream(t, wire.ResumeTicket(tk, b.next))
				if err != nil {
					t.Fatalf("resume at %d: %v", b.next, err)
				}
				received := len(rowsOf(full[:i+1]))
				if got := rowsOf(rest); fmt.Sprint(got) != fmt.Sprint(all[received:]) {
					t.Errorf("resume at next=%d gave %v, want %v", b.next, got, all[received:])
				}
			}
			if _, err := r.stream(t, wire.ResumeTicket(tk, 7)); wire.KindOf(err) != wire.KindInvalidArgument {
				t.Errorf("resume past the split: %v, want invalid argument", err)
			}
		})
	}
}

func TestPlanByReference(t *testing.T) {
	cc := planner.DefaultCoordinatorConfig()
	cc.MaxInfoBytes = 100 // any plan goes by reference
	r := newRig(t, plannertest.Tree(t), cc, DefaultWorkerConfig(), "grpc://coordinator:1")
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 2}`)
	for _, ep := range info.GetEndpoint() {
		tk, _, err := wire.NewSigner(plannertest.Secret).Verify(ep.GetTicket().GetTicket(), time.Now())
		if err != nil || tk.Coordinator != "grpc://coordinator:1" || tk.Files != nil {
			t.Fatalf("ticket %+v, %v; want a reference", tk, err)
		}
	}
	inline := defaultRig(t)
	want := inline.readAll(t, inline.plan(t, `{"path": "`+testBase+`", "numPartitions": 2}`))
	if got := r.readAll(t, info); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("by reference: %v\ninline: %v", got, want)
	}
	// A new worker without the cached split, asking a coordinator that no
	// longer holds the plan (restarted: the same secret, an empty store).
	r.work.deps.Peers = plannertest.Caller{C: plannertest.New(t, plannertest.Tree(t), cc, "grpc://coordinator:1").Coord}
	r.work.splitCache = map[string]wire.SplitList{}
	_, err := r.stream(t, info.GetEndpoint()[0].GetTicket().GetTicket())
	if wire.KindOf(err) != wire.KindExpired {
		t.Errorf("evicted plan: %v, want expired", err)
	}
}

// TestSelectionKeepsTheSchemaAndPrunesReads: a partition filter leaves
// the stream's columns as the unfiltered listing implies them, and the
// worker opens only the files it kept.
func TestSelectionKeepsTheSchemaAndPrunesReads(t *testing.T) {
	files := plannertest.Tree(t)
	files["/data/cls=dog/README.txt"] = []byte("not an image either")
	r := newRig(t, files, planner.DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	info := r.plan(t, `{"path": "hdfs://mem/data", "partitionFilters": [{"column": "cls", "op": "=", "value": "cat"}]}`)
	if info.GetTotalRecords() != 3 {
		t.Fatalf("%d records, want 3", info.GetTotalRecords())
	}
	sch := r.work.mustSchema(t, info)
	if sch.NumFields() != 3 || sch.Field(1).Name != "cls" || sch.Field(2).Name != "n" {
		t.Errorf("schema %s, want the unfiltered columns", sch)
	}
	r.readAll(t, info)
	for p, want := range map[string]int{"/data/cls=cat/n=1/a.png": 1, "/data/cls=dog/n=1/d.png": 0, "/data/top.png": 0} {
		if got := r.fs.Opens(p); got != want {
			t.Errorf("%s opened %d times, want %d", p, got, want)
		}
	}
}

func TestFileVanishedAfterPlanningFailsTheStreamNamingIt(t *testing.T) {
	r := defaultRig(t)
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 1}`)
	r.fs.Remove("/data/cls=cat/n=2/c.png")
	_, err := r.stream(t, info.GetEndpoint()[0].GetTicket().GetTicket())
	if wire.KindOf(err) != wire.KindNotFound || !strings.Contains(err.Error(), "c.png") {
		t.Errorf("vanished file: %v, want not found naming it", err)
	}
}

func TestDrainRefusesNewStreams(t *testing.T) {
	r := defaultRig(t)
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 1}`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.work.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.stream(t, info.GetEndpoint()[0].GetTicket().GetTicket()); wire.KindOf(err) != wire.KindUnavailable {
		t.Errorf("draining worker: %v, want unavailable", err)
	}
}
