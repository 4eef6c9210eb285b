package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/wire"
)

// TestTransformOutputsWithinTheLimits: a pipeline's output size is known
// before any pixel is made, so an output over --max-pixels is an invalid
// row naming the stage and the flag, and nothing of its size is allocated
// or reserved.
func TestTransformOutputsWithinTheLimits(t *testing.T) {
	tests := []struct {
		name      string
		maxPixels int64
		pipeline  string
		want      string // in the failure reason
	}{
		{"resize far past the limit", 0,
			`"transforms": [{"action": "resize", "height": 18000, "width": 18000}]`, "transforms[0] (resize): output 18000x18000"},
		{"a later stage past a lowered limit", 1 << 20,
			`"transforms": [{"action": "flip", "flipCode": 1}, {"action": "resize", "height": 2000, "width": 2000}]`, "transforms[1] (resize)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wc := DefaultWorkerConfig()
			if tc.maxPixels > 0 {
				wc.Decode.MaxPixels = tc.maxPixels
			}
			r := newRig(t, map[string][]byte{"/data/tiny.png": plannertest.RGBPNG(t, 1, 1)}, planner.DefaultCoordinatorConfig(), wc, "")
			rows, _ := r.fullRows(t, `{"path": "`+testBase+`", "failureReasons": true, `+tc.pipeline+`}`)
			if len(rows) != 1 || rows[0].img.Valid() {
				t.Fatalf("rows %+v, want one invalid row", rows)
			}
			if !strings.Contains(rows[0].failure, tc.want) || !strings.Contains(rows[0].failure, "--max-pixels") {
				t.Errorf("failure %q, want it to name %q and --max-pixels", rows[0].failure, tc.want)
			}
			if _, high := r.work.mem.stats(); high > 1<<20 {
				t.Errorf("%d bytes reserved for a refused 1x1 image", high)
			}
		})
	}
}

// TestTensorPastTheLimitRefusedBeforeReading: every row of a tensor column
// holds the tensor's shape — an invalid row's null tensor too — so a shape
// over --max-pixels fails the stream before any file is read, instead of
// allocating gigabytes per row.
func TestTensorPastTheLimitRefusedBeforeReading(t *testing.T) {
	r := newRig(t, map[string][]byte{"/data/tiny.png": plannertest.RGBPNG(t, 1, 1)}, planner.DefaultCoordinatorConfig(), DefaultWorkerConfig(), "")
	info := r.plan(t, `{"path": "`+testBase+`", "transforms": [{"action": "resize", "height": 18000, "width": 18000}], "tensor": {"tensorElementType": "double"}}`)
	_, err := r.work.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
	if wire.KindOf(err) != wire.KindInvalidArgument || !strings.Contains(fmt.Sprint(err), "--max-pixels") {
		t.Errorf("Open: %v, want InvalidArgument naming --max-pixels", err)
	}
	if _, high := r.work.mem.stats(); high != 0 {
		t.Errorf("%d bytes reserved for a refused stream", high)
	}
}

// TestTransformOutputsReservedFromTheBudget: what the stages and the tensor
// allocate is reserved before they run, so concurrent decodes of tiny files
// with large outputs stay within the budget.
func TestTransformOutputsReservedFromTheBudget(t *testing.T) {
	files := map[string][]byte{}
	for i := range 16 {
		files[fmt.Sprintf("/data/%02d.png", i)] = plannertest.RGBPNG(t, 2, 2)
	}
	// One image: a 1000×1000×3 resize (3 MB) and its float tensor (12 MB).
	const perImage = 1000*1000*3 + 3*1000*1000*4
	wc := DefaultWorkerConfig()
	wc.MemoryBudget, wc.Parallelism, wc.BatchBytes = 2*perImage+perImage/2, 2, 1
	r := newRig(t, files, planner.DefaultCoordinatorConfig(), wc, "")
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 4,
		"transforms": [{"action": "resize", "height": 1000, "width": 1000}], "tensor": {}}`)
	var wg sync.WaitGroup
	for i, ep := range info.GetEndpoint() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n, err := streamCount(context.Background(), r.work, ep.GetTicket().GetTicket(), noWait); err != nil || n != 4 {
				t.Errorf("stream %d: %d rows, %v", i, n, err)
			}
		}()
	}
	wg.Wait()
	plannertest.WaitFor(t, "budget back to zero", func() bool { u, _ := r.work.mem.stats(); return u == 0 })
	if _, high := r.work.mem.stats(); high < perImage || high > wc.MemoryBudget {
		t.Errorf("high-water %d bytes, want the pipeline's %d counted and the budget %d kept", high, perImage, wc.MemoryBudget)
	}
}
