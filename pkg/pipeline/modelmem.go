package pipeline

import (
	"context"
	"fmt"
	"sync"

	"github.com/imageflight/imageflight/pkg/model"
	"github.com/imageflight/imageflight/pkg/wire"
)

// What an open ONNX Runtime session holds, measured by pkg/model's
// BenchmarkSessions on a ResNet-18-sized model (ONNX Runtime 1.32, 224×224
// float input; docs/models.md has the figures):
const (
	// sessionFileFactor × the model file: opening the session grew the
	// process by 3.3–3.75× the file (the file's bytes, ONNX Runtime's
	// initializers and its pre-packed convolution weights).
	sessionFileFactor = 4
	// activationFactor × an image's input tensor, per image of a call: a
	// call grew the process by 4.2–8.0 MB per 224×224 image (7–13× its
	// 602 KB tensor). ONNX Runtime's arena keeps it for the next call, so
	// it is held while the session is open, for every call that may run
	// at once.
	activationFactor = 16
)

// modelMem counts open sessions against the memory budget (pinned): a
// session's weights from before its model is read, and the activations of
// the largest call any stream asked of it, times the calls that may run
// at once, while it stays open.
type modelMem struct {
	mu  sync.Mutex
	act map[*model.Session]int64 // activations reserved per open session
}

// modelNeed is the memory a session of a size-byte model takes to run
// calls of call images of tensorBytes each, slots calls at once.
func modelNeed(size, tensorBytes int64, call, slots int) (weights, activations int64) {
	return sessionFileFactor * size, activationFactor * tensorBytes * int64(call) * int64(slots)
}

// modelFits refuses a model whose session cannot fit the whole budget:
// ResourceExhausted, naming the model and what to change, before any of
// it is read (no waiting could make it fit, and running it anyway would
// risk the worker's memory).
func (w *Worker) modelFits(name string, size, tensorBytes int64, call int) error {
	weights, act := modelNeed(size, tensorBytes, call, cap(w.modelSlots))
	if weights+act <= w.mem.limit {
		return nil
	}
	what := fmt.Sprintf("%d× its %d-byte file for the session", sessionFileFactor, size)
	if act > 0 {
		what += fmt.Sprintf(", %d bytes of activations for %d calls of %d images at once", act, cap(w.modelSlots), call)
	}
	return wire.Errorf(wire.KindResourceExhausted,
		"model %s needs %d bytes of worker memory (%s), more than the worker's --memory-budget of %d bytes; raise --memory-budget, or lower miniBatchSize or --batch-bytes",
		name, weights+act, what, w.mem.limit)
}

// pinModel counts n bytes of a session in the budget (pin): when the open
// sessions would pass the budget, idle cached sessions are closed first;
// sessions in use that still leave no room answer ResourceExhausted — a
// worker does not open more models than its memory holds.
func (w *Worker) pinModel(name string, n int64) error {
	if w.mem.pin(n) {
		return nil
	}
	w.models.CloseIdle()
	if w.mem.pin(n) {
		return nil
	}
	w.mem.mu.Lock()
	pinned := w.mem.pinned
	w.mem.mu.Unlock()
	return wire.Errorf(wire.KindResourceExhausted,
		"model %s needs %d more bytes of worker memory, and the models in use on this worker hold %d of its --memory-budget of %d; try again when they are done, or raise --memory-budget",
		name, n, pinned, w.mem.limit)
}

// reserveWeights counts a size-byte model's session in the budget
// (unpinned when the session closes).
func (w *Worker) reserveWeights(name string, size int64) (int64, error) {
	n, _ := modelNeed(size, 0, 0, 0)
	if err := w.pinModel(name, n); err != nil {
		return 0, err
	}
	return n, nil
}

// reserveActivations grows s's reservation to the activations of calls
// of call images; a session keeps what its largest call needed until it
// closes.
func (w *Worker) reserveActivations(name string, s *model.Session, tensorBytes int64, call int) error {
	_, want := modelNeed(0, tensorBytes, call, cap(w.modelSlots))
	w.modelMem.mu.Lock()
	if w.modelMem.act == nil {
		w.modelMem.act = map[*model.Session]int64{}
	}
	if _, ok := w.modelMem.act[s]; !ok {
		w.modelMem.act[s] = 0
		s.OnClose(func() {
			w.modelMem.mu.Lock()
			n := w.modelMem.act[s]
			delete(w.modelMem.act, s)
			w.modelMem.mu.Unlock()
			w.mem.unpin(n)
		})
	}
	w.modelMem.mu.Unlock()
	for {
		// Not holding the lock while pinning: pinning may close idle
		// sessions, whose OnClose takes it.
		w.modelMem.mu.Lock()
		held := w.modelMem.act[s]
		w.modelMem.mu.Unlock()
		if want <= held {
			return nil
		}
		if err := w.pinModel(name, want-held); err != nil {
			return err
		}
		w.modelMem.mu.Lock()
		if w.modelMem.act[s] == held {
			w.modelMem.act[s] = want
			w.modelMem.mu.Unlock()
			return nil
		}
		w.modelMem.mu.Unlock()
		w.mem.unpin(want - held) // another stream grew it meanwhile: look again
	}
}

// callImages is the most images one model call of a stream takes: the
// model's fixed batch, else miniBatchSize, but no more than a record
// batch of tensors holds (a batch is cut at --batch-bytes).
func (w *Worker) callImages(miniBatch, fixed int, tensorBytes int64) int {
	if fixed > 0 {
		return fixed
	}
	perBatch := (w.cfg.BatchBytes + tensorBytes - 1) / max(tensorBytes, 1)
	return int(max(1, min(int64(miniBatch), perBatch)))
}

// modelSlot waits for one of the worker's model slots: calls running at
// once × each call's intra-op threads stay within the worker's decode
// slots (its cores). A cancelled stream stops waiting.
func (w *Worker) modelSlot(ctx context.Context) (release func(), err error) {
	select {
	case w.modelSlots <- struct{}{}:
		return func() { <-w.modelSlots }, nil
	case <-ctx.Done():
		return nil, wire.Wrap(wire.AutoKind, ctx.Err(), "waiting for a model slot")
	}
}
