//go:build cgo

package pipeline

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/wire"
)

// modelBudgetRig is modelRig's tree (with slownet beside convnet) served
// by a worker with the given memory budget and two decode slots.
func modelBudgetRig(t *testing.T, budget int64) *rig {
	t.Helper()
	r, files := modelRig(t)
	slow, err := os.ReadFile("../model/testdata/slownet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	files["/data/models/slownet.onnx"] = slow
	b1, err := os.ReadFile("../model/testdata/convnet_b1.onnx")
	if err != nil {
		t.Fatal(err)
	}
	files["/data/models/convnet_b1.onnx"] = b1
	wc := r.work.Config()
	wc.MemoryBudget, wc.Parallelism = budget, 2
	return newRig(t, files, planner.DefaultCoordinatorConfig(), wc, "")
}

// TestModelMemoryBudget: a model's session counts in the worker's memory
// budget — 4× its file while open, plus the activations of its largest
// call (16× a tensor per image) for every call that may run at once —
// and a budget too small for it answers ResourceExhausted naming the
// model and the flag, before any image is read, instead of running it.
func TestModelMemoryBudget(t *testing.T) {
	convnet, err := os.ReadFile("../model/testdata/convnet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(convnet))
	const tensor = 3 * 4 * 4 * 4                                               // the rig's 3×4×4 float tensors
	weights, act := sessionFileFactor*size, int64(activationFactor*tensor*2*2) // calls of miniBatchSize 2, 2 slots
	cmd := strings.Replace(modelCmd, "MODEL", "convnet.onnx", 1)
	for _, tc := range []struct {
		name   string
		budget int64
		want   string // "" reads every row
		held   int64  // reserved after a refusal
	}{
		// Refused before the model is fetched.
		{"session too large", weights - 1, "needs " + strconv.FormatInt(weights, 10) + " bytes of worker memory (4× its " + strconv.FormatInt(size, 10) + "-byte file for the session)", 0},
		// Refused once the session is open (the model's fixed batch, if
		// any, sizes its calls): the cache keeps the idle session, counted.
		{"activations too large", weights + act - 1, "activations for 2 calls of 2 images at once", weights},
		{"fits", weights + act + 64<<20, "", 0},
		// No room left for images: each decode goes alone beside the
		// session (pinned memory never blocks the rule that one
		// reservation may go alone).
		{"fits with no room for images", weights + act, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := modelBudgetRig(t, tc.budget)
			info := r.plan(t, cmd)
			sp, err := r.work.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
			if tc.want != "" {
				if wire.KindOf(err) != wire.KindResourceExhausted || !strings.Contains(err.Error(), tc.want) ||
					!strings.Contains(err.Error(), "models/convnet.onnx") || !strings.Contains(err.Error(), "--memory-budget") {
					t.Fatalf("Open with a budget of %d: %v (kind %v), want ResourceExhausted naming the model, %q and --memory-budget", tc.budget, err, wire.KindOf(err), tc.want)
				}
				if used, high := r.work.Memory(); used != tc.held || high > weights {
					t.Fatalf("after the refusal: %d bytes reserved (high %d), want %d (and no image read)", used, high, tc.held)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if used, _ := r.work.Memory(); used != weights+act {
				t.Errorf("model open: %d bytes reserved, want %d (session %d + activations %d)", used, weights+act, weights, act)
			}
			rows := 0
			if err := sp.Run(context.Background(), func(rec arrow.RecordBatch, _ wire.BatchMeta) error {
				rows += int(rec.NumRows())
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			sp.Close()
			if rows != 4 {
				t.Fatalf("%d rows, want 4", rows)
			}
			// The session stays open in the cache for the next stream: its
			// memory stays counted.
			if used, _ := r.work.Memory(); used != weights+act {
				t.Errorf("after the stream: %d bytes reserved, want the cached session's %d", used, weights+act)
			}
		})
	}
}

// TestModelCancelledStream: cancelling a stream stops the model call its
// batch is running — slownet's calls never end by themselves — and frees
// the worker's model slot: the next stream runs.
func TestModelCancelledStream(t *testing.T) {
	r := modelBudgetRig(t, 256<<20)
	slow := strings.Replace(modelCmd, "MODEL", "slownet.onnx", 1)
	slow = strings.Replace(slow, `"fetchDict": {"features": "features", "logits": "logits"}, "softMaxDict": {"logits": "prob"}, "argMaxDict": {"prob": "pred"}`, `"fetchDict": {"features": "features"}`, 1)
	info := r.plan(t, slow)
	sp, err := r.work.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	sent := 0
	go func() {
		done <- sp.Run(ctx, func(arrow.RecordBatch, wire.BatchMeta) error { sent++; return nil })
	}()
	// Wait until the stream holds a model slot, its call running.
	for len(r.work.modelSlots) == 0 {
		select {
		case err := <-done:
			t.Fatalf("stream ended before its model call: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute): // liveness bound only
		t.Fatal("the cancelled stream's model call still runs")
	}
	sp.Close()
	if wire.KindOf(err) != wire.KindCanceled || sent != 0 {
		t.Fatalf("cancelled stream: %v (kind %v) after %d batches, want Canceled and none", err, wire.KindOf(err), sent)
	}
	if n := len(r.work.modelSlots); n != 0 {
		t.Fatalf("%d model slots still held", n)
	}
	if rows := r.readColumns(t, strings.Replace(modelCmd, "MODEL", "convnet.onnx", 1), false); len(rows) != 4 {
		t.Fatalf("next stream: %d rows, want 4", len(rows))
	}
}

// TestModelSessionsShareTheBudget: with a budget that holds one model's
// session but not two, a read of a second model closes the first, idle in
// the cache, to make room; while the first is in use, the second answers
// ResourceExhausted naming what holds the memory.
func TestModelSessionsShareTheBudget(t *testing.T) {
	sizes := map[string]int64{}
	for _, m := range []string{"convnet.onnx", "convnet_b1.onnx"} {
		fi, err := os.Stat("../model/testdata/" + m)
		if err != nil {
			t.Fatal(err)
		}
		sizes[m] = fi.Size()
	}
	const tensor = 3 * 4 * 4 * 4
	need := map[string]int64{
		"convnet.onnx":    sessionFileFactor*sizes["convnet.onnx"] + activationFactor*tensor*2*2,    // calls of 2, 2 slots
		"convnet_b1.onnx": sessionFileFactor*sizes["convnet_b1.onnx"] + activationFactor*tensor*1*2, // fixed batch 1
	}
	budget := need["convnet.onnx"] + need["convnet_b1.onnx"] - 1
	r := modelBudgetRig(t, budget)
	open := func(m string) (*Split, error) {
		info := r.plan(t, strings.Replace(modelCmd, "MODEL", m, 1))
		return r.work.Open(context.Background(), info.GetEndpoint()[0].GetTicket().GetTicket())
	}
	if rows := r.readColumns(t, strings.Replace(modelCmd, "MODEL", "convnet.onnx", 1), false); len(rows) != 4 {
		t.Fatalf("convnet: %d rows", len(rows))
	}
	if rows := r.readColumns(t, strings.Replace(modelCmd, "MODEL", "convnet_b1.onnx", 1), false); len(rows) != 4 {
		t.Fatalf("convnet_b1 after convnet: %d rows", len(rows))
	}
	if used, _ := r.work.Memory(); used != need["convnet_b1.onnx"] || r.work.models.Len() != 1 {
		t.Fatalf("after both reads: %d bytes reserved and %d sessions open, want convnet_b1's %d alone", used, r.work.models.Len(), need["convnet_b1.onnx"])
	}
	sp, err := open("convnet_b1.onnx") // in use while convnet is asked for
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	_, err = open("convnet.onnx")
	// (convnet's session opens — its weights fit beside convnet_b1's
	// session — and its activations do not.)
	if wire.KindOf(err) != wire.KindResourceExhausted || !strings.Contains(err.Error(), "models/convnet.onnx needs") ||
		!strings.Contains(err.Error(), "the models in use on this worker hold") {
		t.Fatalf("second model while the first is in use: %v (kind %v)", err, wire.KindOf(err))
	}
}
